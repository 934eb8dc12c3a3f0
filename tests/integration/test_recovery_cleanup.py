"""Recovery that fails after the journal's replay gives back what it started: the fold of
the store's totals (on its own loop and thread) is stopped before the error reaches
the caller, not left to end after the caller's loop has closed."""

import asyncio
from pathlib import Path

import pytest

from tests.flows import MARKETS
from trade_engine.core import bootstrap
from trade_engine.core.bootstrap import recover_core, start_core
from trade_engine.storage import snapshots
from trade_engine.storage.recovery import StoreTotals


def test_a_recovery_failing_after_the_replay_stops_the_fold_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/store.db"

    async def create() -> None:
        core = await start_core(url, markets=MARKETS)
        await core.close()

    asyncio.run(create())
    fold = bootstrap._fold
    fold_ended: list[str] = []

    async def slow_fold(url: str, fixed: object) -> StoreTotals:
        try:
            totals = await fold(url, fixed)  # type: ignore[arg-type]
            await asyncio.sleep(30)  # a fold still running when recovery fails
            return totals
        except asyncio.CancelledError:
            fold_ended.append("cancelled")
            raise

    async def refused(database: object) -> None:
        raise RuntimeError("the store cannot drop its snapshots")

    monkeypatch.setattr(bootstrap, "_fold", slow_fold)
    monkeypatch.setattr(snapshots, "drop_all", refused)
    with pytest.raises(RuntimeError, match="cannot drop its snapshots"):
        asyncio.run(recover_core(url, markets=MARKETS))
    assert fold_ended == ["cancelled"]

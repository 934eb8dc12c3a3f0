"""Recovery that fails after the journal's replay gives back what it started: the fold of
the store's totals (on its own loop and thread) is stopped before the error reaches
the caller, not left to end after the caller's loop has closed; and neither a failed
recovery nor a refused start leaves a connection to the database open."""

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest

from tests.flows import MARKETS
from tests.integration.test_configured_markets import CONFLICTING
from trade_engine.config import ConfigError
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


async def _others_connected(url: str) -> int:
    """Sessions on the store's database besides this one, once those closing are gone
    (a backend ends a moment after its client closes)."""
    connection = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + 5
        while True:
            others: int = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
            if others == 0 or time.monotonic() > deadline:
                return others
            await asyncio.sleep(0.05)
    finally:
        await connection.close()


def test_a_refused_start_and_a_failed_recovery_leave_no_connection_open(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, both left the core's connection pool open (one connection each): nothing
    in a process that exits, but the service's recovery retries through an outage, and
    every retry kept one. The refused start adds a market first, so its sequencer has
    started and queued rows for the tables when the refusal comes."""

    async def scenario() -> tuple[int, int]:
        core = await start_core(postgres_url, markets=MARKETS[:1])
        await core.close()
        with pytest.raises(ConfigError):  # one market added, then one the engine refuses
            await start_core(postgres_url, markets=[*MARKETS, CONFLICTING])
        after_refused_start = await _others_connected(postgres_url)

        async def refused(database: object) -> None:
            raise RuntimeError("the store cannot drop its snapshots")

        monkeypatch.setattr(snapshots, "drop_all", refused)
        with pytest.raises(RuntimeError, match="cannot drop its snapshots"):
            await recover_core(postgres_url, markets=MARKETS)
        return after_refused_start, await _others_connected(postgres_url)

    assert asyncio.run(scenario()) == (0, 0)

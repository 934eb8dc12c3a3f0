"""A core killed with rows unwritten (test_journal.py runs it as its own process).

It funds the users and lets the tables catch up (and takes an engine snapshot if told
to), then holds every write of the tables
and runs a random flow: every command of the flow is acknowledged from the journal
alone. It writes the engine's state and global sequence number to a file and kills
itself with SIGKILL, as a crash would, leaving the tables behind the journal."""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.flows import MARKETS
from tests.integration.test_storage import fund, random_flow
from trade_engine.core.bootstrap import start_core


class HeldTables:
    """The real writer with every write of the tables held back until `release`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.released = asyncio.Event()

    def release(self) -> None:
        self.released.set()

    async def write(self, batch: Any) -> None:
        await self.released.wait()
        await self.inner.write(batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def crash(url: str, out: Path, snapshot: bool) -> None:
    """`snapshot`: an engine snapshot of the funded state first (the restart then loads
    it rather than the tables)."""
    core = await start_core(url, markets=MARKETS, snapshot_every=10**9 if snapshot else 0)
    await fund(core)
    await core.settled()
    if snapshot:
        assert core.snapshotter is not None
        await core.snapshotter.take()
    core.sequencer.tables._writer = HeldTables(core.writer)
    await random_flow(core, seed=7, count=300)
    lag = core.sequencer.tables.lag(core.sequencer.last_seq)
    out.write_bytes(b"%d %d\n" % (core.sequencer.last_seq, lag) + core.engine.snapshot())
    os.kill(os.getpid(), signal.SIGKILL)


def crash_with_rows_unwritten(url: str, directory: Path, *, snapshot: bool = False) -> tuple[int, int, bytes]:
    """Run `crash` in a process of its own, killed as it leaves itself: (the last
    acknowledged sequence number, how far the tables trailed it, the engine's state)."""
    out = directory / "acknowledged"
    child = subprocess.run(
        [sys.executable, "-m", "tests.integration.journal_child", url, str(out), *(["snapshot"] * snapshot)],
        cwd=Path(__file__).resolve().parents[2],
        check=False,
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    header, state = out.read_bytes().split(b"\n", 1)
    last_seq, lag = map(int, header.split())
    return last_seq, lag, state


if __name__ == "__main__":
    asyncio.run(crash(sys.argv[1], Path(sys.argv[2]), snapshot=sys.argv[3:] == ["snapshot"]))

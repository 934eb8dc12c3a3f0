"""After a crash, recovery writes the rows the tables lack while the replay goes on
(core/catch_up.py): the first of those batches is in the tables before the replay has
made the last. A replay that fails part-way stops those writes and leaves no thread or
connection behind, and the store is refused again on the next start."""

import asyncio
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from tests.integration.test_storage import run
from trade_engine.core.bootstrap import start_core
from trade_engine.storage import schema
from trade_engine.storage.database import normalise_url, open_database
from trade_engine.storage.projection import Projection
from trade_engine.storage.recovery import InconsistentStore, projected_seq

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 20.0


def crashed(database_url: str, tmp_path: Path) -> tuple[int, bytes]:
    """A store whose process was killed with the tables behind the journal: (the last
    acknowledged sequence number, the engine's state then)."""
    out = tmp_path / "acknowledged"
    child = subprocess.run(
        [sys.executable, "-m", "tests.integration.journal_child", database_url, str(out)],
        cwd=ROOT,
        check=False,
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    header, snapshot = out.read_bytes().split(b"\n", 1)
    last_seq, lag = map(int, header.split())
    assert lag > 0
    return last_seq, snapshot


def tables_position(database_url: str) -> int:
    """The tables' position, read on a connection and a thread of its own (the caller's
    loop is inside the replay, which does not give it back until it ends)."""

    async def read() -> int:
        database = open_database(normalise_url(database_url))
        try:
            return await projected_seq(database)
        finally:
            await database.dispose()

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, read()).result()


def test_the_rows_the_tables_lack_are_written_while_the_replay_goes_on(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the writes began once the replay had ended (on PostgreSQL, a 1M-order
    restart then waited a third of a second more for them)."""
    last_seq, snapshot = crashed(database_url, tmp_path)
    at_start = tables_position(database_url)
    project = Projection.project
    seen: list[int] = []

    def projecting_and_watching(self: Projection, *arguments: object) -> object:
        """The replay makes the rows of each batch the tables lack here. At the third,
        wait for the first to be written."""
        seen.append(tables_position(database_url) if len(seen) == 2 else 0)
        deadline = time.monotonic() + WAIT_SECONDS
        while len(seen) == 3 and seen[-1] == at_start and time.monotonic() < deadline:
            time.sleep(0.02)
            seen[-1] = tables_position(database_url)
        return project(self, *arguments)  # type: ignore[arg-type]

    monkeypatch.setattr(Projection, "project", projecting_and_watching)

    async def scenario() -> tuple[int, bytes]:
        core = await start_core(database_url)
        await core.settled()
        recovered = (core.sequencer.last_seq, core.engine.snapshot())
        await core.close()
        return recovered

    recovered_seq, recovered = run(scenario())
    assert len(seen) > 3  # the replay made the rows of more batches after the wait
    assert seen[2] > at_start  # the first batch's rows were written meanwhile
    assert recovered_seq == last_seq
    assert recovered == snapshot
    assert tables_position(database_url) == last_seq


def test_a_replay_failing_part_way_stops_the_writes_and_is_refused_again(
    database_url: str, tmp_path: Path
) -> None:
    """A journal batch missing among those the tables lack: the replay stops there.
    What was written before it is the replay's own rows; the store is refused again."""
    last_seq, _ = crashed(database_url, tmp_path)
    at_start = tables_position(database_url)

    async def lose_a_batch() -> int:
        database = open_database(normalise_url(database_url))
        journal = schema.journal
        try:
            async with database.begin() as connection:
                batches = [int(seq) for (seq,) in await connection.execute(select(journal.c.last_seq))]
                lost = sorted(batches)[len(batches) // 2]
                await connection.execute(delete(journal).where(journal.c.last_seq == lost))
            return lost
        finally:
            await database.dispose()

    lost = run(lose_a_batch())
    assert at_start < lost < last_seq
    for _ in range(2):
        with pytest.raises(InconsistentStore, match="does not follow"):
            run(start_core(database_url))
        for thread in threading.enumerate():
            if thread.name == "tables-catch-up":
                thread.join(5)  # its loop may still be closing
                assert not thread.is_alive()
        assert at_start <= tables_position(database_url) < lost

"""After a crash, recovery writes the rows the tables lack while the replay goes on
(core/catch_up.py): the first of those batches is in the tables before the replay has
made the last, and none before the engine has reached the tables' position. A replay
that fails part-way stops those writes, leaving no thread behind (nor, on PostgreSQL, a
session: tests/conftest.py), and the store is refused again on the next start; writes
that fail are reported when the work is awaited."""

import asyncio
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from tests.integration.journal_child import crash_with_rows_unwritten
from tests.integration.test_storage import run
from trade_engine.core.bootstrap import start_core
from trade_engine.core.catch_up import CatchUp
from trade_engine.sequencer.ports import CommitFailed
from trade_engine.storage import schema
from trade_engine.storage.database import normalise_url, open_database
from trade_engine.storage.migrate import upgrade
from trade_engine.storage.projection import STATE_ROW_ID, BatchRows, Projection
from trade_engine.storage.recovery import InconsistentStore, load_engine, projected_seq
from trade_engine.storage.replay import replay
from trade_engine.storage.writer import writer_for
from trade_engine.storage.writes import PreparedBatch

WAIT_SECONDS = 20.0


def crashed(database_url: str, tmp_path: Path) -> tuple[int, bytes]:
    """A store whose process was killed with the tables behind the journal: (the last
    acknowledged sequence number, the engine's state then)."""
    last_seq, lag, state = crash_with_rows_unwritten(database_url, tmp_path)
    assert lag > 0
    return last_seq, state


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

    async def scenario() -> tuple[int, bytes, bytes]:
        core = await start_core(database_url)
        await core.settled()
        recovered = (core.sequencer.last_seq, core.engine.snapshot())
        await core.close()
        # Started again on the rows written: verified (conservation, the ledger against
        # the balances, holds against the open orders) and the same engine.
        again = await start_core(database_url)
        restarted = again.engine.snapshot()
        await again.close()
        return (*recovered, restarted)

    recovered_seq, recovered, restarted = run(scenario())
    assert restarted == recovered
    assert len(seen) > 3  # the replay made the rows of more batches after the wait
    assert seen[2] > at_start  # the first batch's rows were written meanwhile
    assert recovered_seq == last_seq
    assert recovered == snapshot
    assert tables_position(database_url) == last_seq


def catch_up_threads_end() -> None:
    for thread in threading.enumerate():
        if thread.name == "tables-catch-up":
            thread.join(5)  # its loop may still be closing
            assert not thread.is_alive()


def test_the_replay_hands_over_no_row_before_the_engine_reaches_the_tables(
    database_url: str, tmp_path: Path
) -> None:
    """The store's totals are fixed as of the tables' position (`at_tables`) before any
    write moves it, or verification would compare the engine with a later store."""
    last_seq, _ = crashed(database_url, tmp_path)
    steps: list[str] = []

    async def scenario() -> int:
        database = open_database(normalise_url(database_url))
        writer = writer_for(normalise_url(database_url))
        try:
            engine, report = await load_engine(database)

            async def at_tables() -> None:
                steps.append("at the tables")

            return await replay(
                database,
                engine,
                Projection([]),
                writer,
                report.last_seq,
                lambda batch: steps.append("lacking"),
                at_tables=at_tables,
            )
        finally:
            await writer.close()
            await database.dispose()

    assert run(scenario()) == last_seq
    assert steps[0] == "at the tables"
    assert steps.count("at the tables") == 1
    assert len(steps) > 2


def test_a_replay_failing_part_way_stops_the_writes_and_is_refused_again(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A journal batch missing among those the tables lack: the replay stops there,
    after handing the batches before it over. What was written is the replay's own
    rows; the store is refused again."""
    last_seq, _ = crashed(database_url, tmp_path)
    add = CatchUp.add
    handed_over: list[int] = []

    def counted(self: CatchUp, batch: PreparedBatch) -> None:
        seq = batch.rows.state[0][1]  # the tables' position after the batch
        assert isinstance(seq, int)
        handed_over.append(seq)
        add(self, batch)

    monkeypatch.setattr(CatchUp, "add", counted)
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
    for attempt in range(2):
        handed_over.clear()
        with pytest.raises(InconsistentStore, match="does not follow"):
            run(start_core(database_url))
        # The first start's writes had begun. They may have written every batch before
        # the missing one (those waiting go together): the second then hands none over.
        assert handed_over or attempt > 0
        assert max(handed_over, default=at_start) < lost
        catch_up_threads_end()
        assert at_start <= tables_position(database_url) < lost


def empty_batch(url: str, seq: int) -> PreparedBatch:
    """A batch that only moves the tables' position, prepared for the store at `url`."""
    return writer_for(url).prepare(BatchRows(state=[(STATE_ROW_ID, seq, 0)]))


def test_writes_that_fail_are_reported_when_the_work_is_awaited(tmp_path: Path) -> None:
    """A store that cannot be opened: the batches handed over after the failure are
    dropped without an error there; awaiting the work raises it; the thread ends."""

    async def scenario() -> BaseException | None:
        url = f"sqlite:///{tmp_path}/missing/trade-engine.db"
        catch_up = CatchUp(url)
        catch_up.add(empty_batch(url, 1))
        assert catch_up.work is not None
        await asyncio.wait([catch_up.work.done])
        catch_up.add(empty_batch(url, 2))
        catch_up.end()
        try:
            await catch_up.work
        except CommitFailed as failure:
            return failure
        return None

    failure = run(scenario())
    assert failure is not None
    assert "unable to open" in str(failure)
    catch_up_threads_end()


def test_a_catch_up_stopped_while_it_waits_for_batches_ends(database_url: str) -> None:
    """As when recovery fails between two batches: `stop` returns once the thread has
    closed its writer, and `end` after it changes nothing."""

    async def scenario() -> int:
        database = open_database(normalise_url(database_url))
        try:
            await upgrade(database)
        finally:
            await database.dispose()
        url = normalise_url(database_url)
        catch_up = CatchUp(url)
        catch_up.add(empty_batch(url, 5))
        deadline = time.monotonic() + WAIT_SECONDS
        while tables_position(database_url) != 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await catch_up.stop()
        catch_up.end()
        assert catch_up.work is not None
        assert catch_up.work.ended.is_set()
        return tables_position(database_url)

    assert run(scenario()) == 5
    catch_up_threads_end()


def test_batches_handed_over_while_a_write_runs_go_in_one_write(tmp_path: Path) -> None:
    """The replay makes batches faster than the tables take them: those waiting when a
    write ends go together in the next (one transaction, not one per batch). Another
    connection holds the database's write lock while they are handed over."""
    url = normalise_url(f"sqlite:///{tmp_path}/trade-engine.db")
    handed_over = 40

    async def scenario() -> tuple[int, int, int]:
        database = open_database(url)
        try:
            await upgrade(database)
        finally:
            await database.dispose()
        holder = sqlite3.connect(tmp_path / "trade-engine.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the write lock: the first write waits for it
        catch_up = CatchUp(url)
        for seq in range(1, handed_over + 1):
            catch_up.add(empty_batch(url, seq))
        catch_up.end()
        assert catch_up.work is not None
        await asyncio.sleep(0.2)  # every batch handed over is in its queue
        holder.execute("ROLLBACK")
        holder.close()
        await catch_up.work
        return catch_up.batches, catch_up.writes, tables_position(str(url))

    batches, writes, position = run(scenario())
    assert batches == handed_over
    assert writes <= 2  # the first, then all those that waited for it
    assert position == handed_over
    catch_up_threads_end()

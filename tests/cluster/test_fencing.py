"""The database fence on its own (no lease to stop the stale core first): a core whose
epoch was taken over commits nothing, its journal append and its tables write fail
with TE409 and end it, and the core holding the new epoch commits
and moves the fence's position. The SIGSTOP test (test_faults.py) meets the lease
check first; this is the fence behind it."""

import asyncio
from collections.abc import Awaitable

import asyncpg
import pytest

from tests.flows import MARKETS
from tests.table_rows import one_of_each
from trade_engine.cluster.fencing import FENCED_SQLSTATE, FencedWriter, read_fence, take_epoch
from trade_engine.cluster.node import dsn_of
from trade_engine.core.bootstrap import start_core
from trade_engine.sequencer.messages import journal_entry
from trade_engine.sequencer.ports import CommitFailed
from trade_engine.storage.projection import STATE_ROW_ID


def test_a_stale_epoch_commits_nothing_and_the_current_one_does(postgres_url: str) -> None:
    asyncio.run(_stale_and_current(postgres_url))


async def _taken_over(url: str) -> tuple[str, FencedWriter, FencedWriter, list[str]]:
    """(dsn, the stale core's writer, the current core's, what they were told on being
    fenced): a store whose epoch one core took and then another."""
    core = await start_core(url, markets=MARKETS)  # the schema, the fence rows
    await core.close()
    dsn = dsn_of(url)
    stale_epoch, _ = await take_epoch(dsn, "core-old")
    current_epoch, _ = await take_epoch(dsn, "core-new")  # the takeover
    assert current_epoch == stale_epoch + 1
    ended: list[str] = []
    stale = FencedWriter(
        dsn, stale_epoch, on_fenced=ended.append, lease_valid=lambda: True, on_appended=lambda _: None
    )
    current = FencedWriter(
        dsn, current_epoch, on_fenced=ended.append, lease_valid=lambda: True, on_appended=lambda _: None
    )
    return dsn, stale, current, ended


async def _refused_by_the_fence(attempt: Awaitable[None]) -> None:
    with pytest.raises(CommitFailed) as refused:
        await attempt
    cause = refused.value.__cause__
    assert isinstance(cause, asyncpg.PostgresError)
    assert cause.sqlstate == FENCED_SQLSTATE


async def _stale_and_current(url: str) -> None:
    dsn, stale, current, ended = await _taken_over(url)
    current_epoch = current.epoch
    entry = journal_entry(first_seq=10**9, last_seq=10**9, ts=1, commands=[], position=4242)
    try:
        await _refused_by_the_fence(stale.append(entry))
        assert len(ended) == 1  # told to end the process
        assert await _value(dsn, "SELECT count(*) FROM journal WHERE last_seq = $1", entry.last_seq) == 0
        assert (await read_fence(dsn))[1] < entry.position
        await current.append(entry)
        assert await _value(dsn, "SELECT count(*) FROM journal WHERE last_seq = $1", entry.last_seq) == 1
        # The row names the leader that committed it.
        assert (
            await _value(dsn, "SELECT epoch FROM journal WHERE last_seq = $1", entry.last_seq)
            == current_epoch
        )
        assert await read_fence(dsn) == (current_epoch, entry.position)
        assert len(ended) == 1
    finally:
        await stale.close()
        await current.close()


async def _value(dsn: str, query: str, *arguments: int) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval(query, *arguments))
    finally:
        await connection.close()


def test_a_stale_epoch_writes_nothing_into_the_tables(postgres_url: str) -> None:
    asyncio.run(_stale_tables_write(postgres_url))


async def _stale_tables_write(url: str) -> None:
    dsn, stale, current, ended = await _taken_over(url)
    seq = 10**9
    batch = one_of_each(seq)
    stale.published(seq)  # as the journal stream would say
    current.published(seq)
    written = (
        "SELECT (SELECT count(*) FROM orders WHERE id = $1) + (SELECT count(*) FROM trades WHERE id = $1)"
    )
    ledger = "SELECT count(*) FROM ledger_entries WHERE source_seq = $1"
    try:
        await _refused_by_the_fence(stale.write(batch))
        assert len(ended) == 1
        assert await _value(dsn, written, seq) == 0
        assert await _value(dsn, ledger, seq) == 0
        await current.write(batch)
        assert await _value(dsn, written, seq) == 2
        assert await _value(dsn, ledger, seq) == 1
        assert await _value(dsn, "SELECT last_seq FROM sequencer_state WHERE id = $1", STATE_ROW_ID) == seq
        await current.write(batch)  # its rows are there: written again, fenced, ignoring them
        assert current.repeated_writes == 1
        assert await _value(dsn, written, seq) == 2
        assert await _value(dsn, ledger, seq) == 1
        assert len(ended) == 1
    finally:
        await stale.close()
        await current.close()

"""The database fence on its own (no lease to stop the stale core first): a core whose
epoch was taken over commits nothing, its journal append fails with TE409 and ends it,
and the core holding the new epoch commits and moves the fence's position. The
SIGSTOP test (test_faults.py) meets the lease check first; this is the fence behind it."""

import asyncio

import asyncpg
import pytest

from tests.flows import MARKETS
from trade_engine.cluster.fencing import FENCED_SQLSTATE, FencedWriter, read_fence, take_epoch
from trade_engine.cluster.node import dsn_of
from trade_engine.core.bootstrap import start_core
from trade_engine.sequencer.messages import journal_entry
from trade_engine.sequencer.ports import CommitFailed


def test_a_stale_epoch_commits_nothing_and_the_current_one_does(postgres_url: str) -> None:
    asyncio.run(_stale_and_current(postgres_url))


async def _stale_and_current(url: str) -> None:
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
    entry = journal_entry(first_seq=10**9, last_seq=10**9, ts=1, commands=[], position=4242)
    try:
        with pytest.raises(CommitFailed) as refused:
            await stale.append(entry)
        cause = refused.value.__cause__
        assert isinstance(cause, asyncpg.PostgresError)
        assert cause.sqlstate == FENCED_SQLSTATE
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

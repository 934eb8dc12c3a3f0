"""PostgreSQL's tables writer inserts new orders, trades and ledger entries without a
conflict clause; a write whose rows are there already fails on their key and goes again
as the statement with every clause (storage/postgres_writer.py).

Against a real PostgreSQL: the restart that follows loads the tables and verifies them
against the engine (conservation, the ledger against the balances, holds against the
open orders), and its engine must equal the live one.
"""

from collections.abc import Sequence

import asyncpg
import pytest
from sqlalchemy import func, select

from tests.flows import MARKETS
from tests.integration.test_storage import fund, random_flow, run
from tests.table_rows import one_of_each
from trade_engine.core.bootstrap import start_core
from trade_engine.engine import TradeExecuted
from trade_engine.sequencer.messages import JournalEntry
from trade_engine.sequencer.ports import AppendTiming, CommitFailed
from trade_engine.storage import schema
from trade_engine.storage.database import normalise_url, open_database
from trade_engine.storage.postgres_writer import PostgresBatchWriter, PostgresBulkWriter
from trade_engine.storage.projection import BatchRows
from trade_engine.storage.recovery import projected_seq
from trade_engine.storage.writer import writer_for
from trade_engine.storage.writes import PreparedBatch


class TwiceWrittenTables:
    """The real writer, each tables write made twice, as when the outcome of the first
    was lost and the tables writer writes it again."""

    def __init__(self, inner: PostgresBatchWriter) -> None:
        self.inner = inner
        self.writes = 0

    @property
    def ready_ahead(self) -> bool:
        return self.inner.ready_ahead

    async def append(self, entry: JournalEntry) -> None:
        await self.inner.append(entry)

    @property
    def last_append(self) -> AppendTiming:
        return self.inner.last_append

    def prepare(self, rows: BatchRows) -> PreparedBatch:
        return self.inner.prepare(rows)

    def merge(self, batches: Sequence[PreparedBatch]) -> PreparedBatch:
        return self.inner.merge(batches)

    async def write(self, batch: PreparedBatch) -> None:
        self.writes += 1
        await self.inner.write(batch)
        await self.inner.write(batch)

    async def committed_seq(self) -> int:
        return await self.inner.committed_seq()

    async def close(self) -> None:
        await self.inner.close()


async def count(core, column) -> int:
    async with core.database.connect() as connection:
        return int((await connection.execute(select(func.count(column)))).scalar_one())


async def quantity_traded(core) -> int:
    async with core.database.connect() as connection:
        total = (await connection.execute(select(func.sum(schema.trades.c.quantity)))).scalar_one()
        return int(total or 0)


def test_unchecked_rows_reach_the_tables_and_a_repeated_write_leaves_them_as_once(postgres_url):
    async def scenario():
        core = await start_core(postgres_url, markets=MARKETS)
        writer = core.writer
        assert isinstance(writer, PostgresBatchWriter)
        await fund(core)
        events = await random_flow(core, seed=11, count=400)
        await core.settled()
        repeated_before = writer.repeated_writes
        twice = TwiceWrittenTables(writer)
        core.sequencer.tables._writer = twice
        events += await random_flow(core, seed=12, count=400)
        await core.settled()
        trades = [event for event in events if isinstance(event, TradeExecuted)]
        stored = (await count(core, schema.trades.c.id), await quantity_traded(core))
        ledger = await count(core, schema.ledger_entries.c.leg)
        live = core.engine.snapshot()
        await core.close()
        restarted = await start_core(postgres_url)  # loads the tables, verifies them
        restored = restarted.engine.snapshot()
        ledger_after = await count(restarted, schema.ledger_entries.c.leg)
        await restarted.close()
        return trades, stored, ledger, ledger_after, live, restored, repeated_before, twice

    trades, stored, ledger, ledger_after, live, restored, repeated_before, twice = run(scenario())
    assert len(trades) > 20, "the flow traded"
    assert stored == (len(trades), sum(trade.quantity for trade in trades))
    assert repeated_before == 0  # a write made once goes once
    assert twice.writes > 0
    # A second write found its rows there, unless the write had no new order, trade or
    # ledger entry (a write of rejected commands only: rare, and timing decides it).
    assert 0 < twice.inner.repeated_writes <= twice.writes
    assert ledger == ledger_after > 0
    assert restored == live


async def tables_position(url: str) -> int:
    database = open_database(normalise_url(url))
    try:
        return await projected_seq(database)
    finally:
        await database.dispose()


async def rows_of(url: str, seq: int) -> tuple[int, int, int]:
    """How many orders, trades and ledger entries `one_of_each(seq)` wrote."""
    database = open_database(normalise_url(url))
    try:
        async with database.connect() as connection:
            counts = []
            for column in (schema.orders.c.id, schema.trades.c.id, schema.ledger_entries.c.source_seq):
                query = select(func.count()).where(column == seq)
                counts.append(int((await connection.execute(query)).scalar_one()))
            return counts[0], counts[1], counts[2]
    finally:
        await database.dispose()


@pytest.mark.parametrize("bulk", [False, True], ids=["order-path", "catch-up"])
def test_rows_of_another_write_repeated_are_refused_not_ignored(postgres_url, bulk):
    """A write whose rows are there though the tables have not reached its position
    (a projection that repeated another write's keys: a bug) fails for good and writes
    nothing. Before, it went again with the conflicts ignored, and the repeat was
    hidden. The same write made again still goes, with the conflicts ignored. So with
    recovery's writer, which copies those rows (`bulk`)."""
    seq = 10**9

    async def scenario():
        core = await start_core(postgres_url, markets=MARKETS)  # the schema, the markets
        await core.close()
        writer = writer_for(normalise_url(postgres_url), bulk=bulk)
        assert isinstance(writer, PostgresBulkWriter if bulk else PostgresBatchWriter)
        try:
            await writer.write(one_of_each(seq))
            with pytest.raises(CommitFailed) as refused:
                await writer.write(one_of_each(seq, position=seq + 1))
            after_refusal = await tables_position(postgres_url)
            repeated_after_refusal = writer.repeated_writes
            await writer.write(one_of_each(seq))  # its own rows: repeated
            rows = await rows_of(postgres_url, seq)
            return refused.value, after_refusal, repeated_after_refusal, writer.repeated_writes, rows
        finally:
            await writer.close()

    refusal, after_refusal, repeated_after_refusal, repeated, rows = run(scenario())
    assert rows == (1, 1, 1)  # the order, the trade, the ledger entry: once each
    assert not refusal.transient  # the tables writer stops on it: recovery replays the journal
    assert isinstance(refusal.__cause__, asyncpg.UniqueViolationError)
    assert f"up to {seq + 1}" in str(refusal)
    assert f"at {seq}" in str(refusal)
    assert after_refusal == seq  # the refused write moved nothing
    assert repeated_after_refusal == 0
    assert repeated == 1

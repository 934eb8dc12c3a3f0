"""The journal acknowledges, the tables follow (docs/adr/0001): a command is answered
once its journal entry commits, before its rows are written; reads of history wait for
the rows; the tables never trail by more than the configured lag; and a process killed
with rows unwritten recovers every acknowledged command by replaying the journal."""

import asyncio
import contextlib
import itertools
import logging
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from tests.flows import MARKETS
from tests.integration.journal_child import HeldTables, crash_with_rows_unwritten
from tests.integration.migrations import round_trip
from tests.integration.test_storage import fund, random_flow, run
from trade_engine.config import Config, SequencerConfig
from trade_engine.core.bootstrap import Core, start_core
from trade_engine.core.local import LocalCore
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.edge.gateway import Gateway
from trade_engine.engine import Deposit, OrderAccepted, PlaceOrder
from trade_engine.marketdata.depth import DepthBook
from trade_engine.marketdata.live import LiveMarketData
from trade_engine.readmodel.views import ReadModel
from trade_engine.sequencer import tables as tables_module
from trade_engine.sequencer.messages import decode_commands
from trade_engine.storage import schema
from trade_engine.storage.apikeys import ApiKeyStore
from trade_engine.storage.database import normalise_url, open_database
from trade_engine.storage.listen_keys import ListenKeyStore
from trade_engine.storage.recovery import InconsistentStore, verify
from trade_engine.storage.writer import PreparedBatch, writer_for


def buy(price: int) -> PlaceOrder:
    return PlaceOrder(ts=0, user_id="u1", market="BTC-USDT", side="BUY", price=price, quantity=1000)


async def count(core: Core, table) -> int:
    async with core.database.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


async def held(core: Core) -> HeldTables:
    """Funded, tables level with the journal, and from now on their writes held."""
    await fund(core)
    await core.settled()
    tables = HeldTables(core.writer)
    core.sequencer.tables._writer = tables
    return tables


def test_the_journal_migration_matches_the_schema_and_goes_both_ways(database_url):
    trip = run(round_trip(database_url, "0006", {"journal"}))
    assert trip.after_upgrade == []
    assert "journal" not in trip.tables_below
    assert trip.again == []


def test_the_journal_epoch_migration_matches_the_schema_and_goes_both_ways(database_url):
    trip = run(round_trip(database_url, "0011", {"journal", "epoch"}))
    assert trip.after_upgrade == []
    assert "journal" in trip.tables_below  # only its column went
    assert trip.again == []


def test_a_command_is_acknowledged_before_its_rows_are_written(database_url):
    async def scenario():
        core = await start_core(database_url, markets=MARKETS)
        tables = await held(core)
        port = LocalCore(core)
        events = await core.sequencer.submit(buy(100))
        seq = core.sequencer.last_seq
        acknowledged = (
            await count(core, schema.orders),
            await count(core, schema.journal),
            await port.history_reached(seq, 0.05),
        )
        tables.release()
        reached = await port.history_reached(seq, 10)
        written = (await count(core, schema.orders), await count(core, schema.journal))
        await core.close()
        return events, acknowledged, reached, written

    events, (orders, journal, reached_early), reached, (orders_after, journal_after) = run(scenario())
    assert isinstance(events[0], OrderAccepted)
    # Answered with only its journal entry committed: no order row yet.
    assert (orders, reached_early) == (0, False)
    assert journal >= 1
    # The rows follow, and the journal entries they cover are deleted with them.
    assert reached
    assert (orders_after, journal_after) == (1, 0)


def test_new_commands_wait_while_the_tables_trail_by_more_than_the_lag(tmp_path):
    lag = 3

    async def scenario():
        core = await start_core(
            f"sqlite:///{tmp_path}/lag.db", markets=MARKETS, settings=SequencerConfig(max_projection_lag=lag)
        )
        tables = await held(core)
        answered = 0
        waiting = None
        for price in range(100, 110):
            task = asyncio.ensure_future(core.sequencer.submit(buy(price)))
            done, _ = await asyncio.wait({task}, timeout=0.5)
            if not done:
                waiting = task
                break
            answered += 1
        trailing = core.sequencer.tables.lag(core.sequencer.last_seq)
        tables.release()
        assert waiting is not None
        late = await asyncio.wait_for(waiting, 10)
        await core.close()
        return answered, trailing, late

    answered, trailing, late = run(scenario())
    # The batch that takes the lag past the limit is the last taken before the tables move.
    assert answered == lag + 1
    assert trailing == lag + 1
    assert isinstance(late[0], OrderAccepted)


class ReadiedTables(HeldTables):
    """The real writer, writes held until `release`, recording when each write is readied
    (merged) and when it is written; readied ahead as PostgreSQL's writer is (the
    tables writer's part, on SQLite: no server needed)."""

    ready_ahead = True

    def __init__(self, inner) -> None:
        super().__init__(inner)
        self.events: list[tuple[str, int]] = []

    def merge(self, batches):
        self.events.append(("readied", batches[-1].last_seq))
        return self.inner.merge(batches)

    async def write(self, batch) -> None:
        self.events.append(("writing", batch.last_seq))
        await super().write(batch)
        self.events.append(("written", batch.last_seq))


@pytest.fixture
def small_writes(monkeypatch):
    """A write's worth of rows made small, so that a few hundred batches are the tables
    falling behind by several writes (as 50,000 rows are under load)."""
    monkeypatch.setattr(tables_module, "_MOST_ROWS", 300)


async def several_writes_behind(url, wrap):
    """A core whose tables are written through `wrap(its writer)`, and 600 batches
    committed (one deposit each, of four rows: several writes' worth)."""
    core = await start_core(url, markets=MARKETS)
    await fund(core)
    await core.settled()
    tables = wrap(core.writer)
    core.sequencer.tables._writer = tables
    for _ in range(600):
        await core.sequencer.submit(Deposit(ts=0, user_id="u1", asset="USDT", amount=1))
    return core, tables


def test_the_next_table_write_is_readied_while_the_database_runs_one(tmp_path, small_writes):
    async def scenario():
        core, tables = await several_writes_behind(f"sqlite:///{tmp_path}/ready.db", ReadiedTables)
        last_seq = core.sequencer.last_seq
        reached = asyncio.ensure_future(core.sequencer.tables.reached(last_seq, 30))
        tables.release()
        reached_in_time = await reached
        transfers = await count(core, schema.transfers)
        await core.close()
        return tables.events, reached_in_time, transfers, last_seq

    events, reached, transfers, last_seq = run(scenario())
    assert reached
    assert transfers >= 600
    written = [seq for kind, seq in events if kind == "written"]
    assert written[-1] == last_seq
    assert len(written) >= 3
    # A write was readied while the one ahead of it was still being written.
    assert any(
        events.index(("readied", after)) < events.index(("written", before))
        for before, after in itertools.pairwise(written)
    )


class UnreadiedTables(HeldTables):
    """The real writer, writes held until `release`, readied ahead; readying a write
    while another is under way fails (as a bug would), and so does that write."""

    ready_ahead = True

    def __init__(self, inner) -> None:
        super().__init__(inner)
        self.in_flight = False
        self.readying_failed = False

    def merge(self, batches):
        if self.in_flight:
            self.readying_failed = True
            raise RuntimeError("the next write cannot be readied (simulated)")
        return self.inner.merge(batches)

    async def write(self, batch) -> None:
        self.in_flight = True
        try:
            await self.released.wait()
            await self.inner.write(batch)
            if self.readying_failed:  # meanwhile
                raise ValueError("the write under way failed too (simulated)")
        finally:
            self.in_flight = False


def test_a_write_that_fails_while_the_tables_stop_on_another_error_is_logged(tmp_path, small_writes, caplog):
    """The tables stop on the error that stopped them (readying the next write); the
    write under way, awaited first, failing too was swallowed unseen
    (`contextlib.suppress(Exception)`): now it is logged, with its traceback."""

    async def scenario():
        core, tables = await several_writes_behind(f"sqlite:///{tmp_path}/unready.db", UnreadiedTables)
        tables.release()
        failure = await asyncio.wait_for(core.sequencer.stopped_for_good(), 10)
        await core.close()
        return failure, tables.readying_failed

    with caplog.at_level(logging.WARNING, logger=tables_module.__name__):
        failure, readying_failed = run(scenario())
    assert readying_failed
    assert isinstance(failure, RuntimeError)
    assert "cannot be readied" in str(failure)
    (logged,) = [r for r in caplog.records if r.getMessage() == "the table write under way failed too"]
    assert logged.exc_info is not None
    assert isinstance(logged.exc_info[1], ValueError)


def gateway_of(core: Core, *, following: bool = True) -> Gateway:
    """A gateway over `core` in this process, whose read model follows the commits (or,
    not `following`, stays where it started, as a gateway of a cluster may lag)."""
    config = Config(sequencer=SequencerConfig(history_wait_seconds=0.2))
    port = LocalCore(core)
    view = ReadModel()
    view.start_from(port.attach(view.on_commit if following else lambda batch: None))
    gateway = Gateway(config)
    gateway.ready(
        port=port,
        database=core.database,
        view=view,
        depth=DepthBook(),
        live=LiveMarketData(),
        api_keys=ApiKeyStore(core.database, config.auth.api_key_encryption_key),
        listen_keys=ListenKeyStore(core.database, 60 * 1_000_000_000),
    )
    return gateway


def test_a_read_of_history_waits_for_the_rows_of_what_was_committed_before_it(tmp_path):
    async def scenario():
        core = await start_core(f"sqlite:///{tmp_path}/reads.db", markets=MARKETS)
        tables = await held(core)
        gateway = gateway_of(core)
        await gateway.submit(buy(100))
        with pytest.raises(TradeEngineError) as timed_out:
            await gateway.history()
        reading = asyncio.ensure_future(gateway.history())
        await asyncio.sleep(0.05)
        waited = not reading.done()
        tables.release()
        await asyncio.wait_for(reading, 10)
        orders = await count(core, schema.orders)
        await core.close()
        return timed_out.value, waited, orders

    timed_out, waited, orders = run(scenario())
    assert timed_out.code is ErrorCode.UNAVAILABLE
    assert waited
    assert orders == 1  # the read went ahead once the order's row was written


def test_a_read_of_history_for_a_command_waits_for_it_though_the_read_model_is_behind(tmp_path):
    """A gateway of a cluster may be answered a command before its read model holds it.
    A read of that command's rows (a transfer answered from history) waited only for
    the read model's position, and found no row: a 500 for a deposit that was made."""

    async def scenario():
        core = await start_core(f"sqlite:///{tmp_path}/behind.db", markets=MARKETS)
        tables = await held(core)
        gateway = gateway_of(core, following=False)
        seq, events = await gateway.submit_numbered(
            Deposit(ts=0, user_id="newcomer", asset="USDT", amount=500, reference="wire-1")
        )
        (transfer_id,) = [e.transfer_id for e in events if hasattr(e, "transfer_id")]
        behind = not gateway.holds(seq)
        with pytest.raises(TradeEngineError) as timed_out:
            await gateway.history(seq)  # its row is not written: wait, then 503, not a missing row
        reading = asyncio.ensure_future(gateway.history(seq))
        await asyncio.sleep(0.05)
        waited = not reading.done()
        tables.release()
        history = await asyncio.wait_for(reading, 10)
        found = await history.transfer_with_balance(transfer_id)
        await core.close()
        return behind, timed_out.value, waited, found

    behind, timed_out, waited, found = run(scenario())
    assert behind
    assert timed_out.code is ErrorCode.UNAVAILABLE
    assert waited
    assert found is not None
    row, available, locked = found
    assert (row["user_id"], row["amount"], available, locked) == ("newcomer", 500, 500, 0)


def test_a_process_killed_with_rows_unwritten_recovers_every_acknowledged_command(database_url, tmp_path):
    last_seq, lag, snapshot = crash_with_rows_unwritten(database_url, tmp_path)

    async def scenario():
        core = await start_core(database_url)
        await core.settled()  # the rows recovery replayed are written behind the journal
        state = (core.sequencer.last_seq, core.engine.snapshot(), await count(core, schema.journal))
        problems = await verify(core.database, core.engine)
        await core.close()
        return state, problems

    (recovered_seq, recovered, journal), problems = run(scenario())
    assert lag > 0  # the tables were behind when the process died
    assert recovered_seq == last_seq
    assert recovered == snapshot
    assert journal == 0  # replayed into the tables
    assert problems == []


def test_a_balance_changed_behind_the_engine_is_refused_where_recovery_writes_its_row_again(
    database_url, tmp_path
):
    """Recovery compares the engine with the store at the tables' position, before it
    writes the rows the tables lack: its own writes cannot hide a balance row changed
    behind the engine's back. (It used to write them first and fold the store after:
    with the engine from a snapshot, such a store was accepted, the replay having
    rewritten the row.)"""
    crash_with_rows_unwritten(database_url, tmp_path, snapshot=True)

    async def tamper() -> tuple[str, str]:
        """One more of each asset of a market, for a user who placed an order in the
        journal's last batches (whose rows the replay writes)."""
        database = open_database(normalise_url(database_url))
        journal, balances = schema.journal, schema.balances
        try:
            async with database.begin() as connection:
                batches = await connection.execute(
                    select(journal.c.commands).order_by(journal.c.last_seq.desc())
                )
                placed = next(
                    command
                    for (commands,) in batches
                    for command in decode_commands(bytes(commands))
                    if isinstance(command, PlaceOrder)
                )
                for asset in placed.market.split("-"):
                    await connection.execute(
                        update(balances)
                        .where(balances.c.user_id == placed.user_id, balances.c.asset == asset)
                        .values(available=balances.c.available + 1)
                    )
        finally:
            await database.dispose()
        return placed.user_id, placed.market

    user, market = run(tamper())
    with pytest.raises(InconsistentStore) as refused:
        run(start_core(database_url))
    assert any(user in problem and "balances table" in problem for problem in refused.value.problems), (
        user,
        market,
        refused.value.problems,
    )


def test_batches_written_together_leave_the_tables_as_written_one_by_one(tmp_path):
    """Tables that fell behind catch up with the waiting batches merged into one
    transaction; a copy of the store written batch by batch must end up identical."""
    together, one_by_one = tmp_path / "together.db", tmp_path / "one-by-one.db"

    async def scenario():
        core = await start_core(f"sqlite:///{together}", markets=MARKETS)
        tables = await held(core)
        await random_flow(core, seed=11, count=600)
        waiting = [batch for batch in core.sequencer.tables._pending if isinstance(batch, PreparedBatch)]
        source, copy = sqlite3.connect(together), sqlite3.connect(one_by_one)
        source.backup(copy)
        source.close()
        copy.close()
        written_before = core.sequencer.tables.writes
        tables.release()
        await core.settled()
        transactions = core.sequencer.tables.writes - written_before
        await core.close()
        writer = writer_for(f"sqlite:///{one_by_one}")
        for batch in waiting:
            await writer.write(batch)
        await writer.close()
        return len(waiting), transactions

    batches, transactions = run(scenario())
    assert transactions < batches / 2  # they were merged
    assert table_contents(together) == table_contents(one_by_one)


def table_contents(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return {
            table.name: sorted(connection.execute(f"SELECT * FROM {table.name}"), key=repr)
            for table in schema.metadata.sorted_tables
        }

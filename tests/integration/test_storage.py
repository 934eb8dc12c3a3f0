"""Storage on SQLite and PostgreSQL: what the sequencer commits is what recovery loads."""

import asyncio
import random
from typing import Any

import pytest
from alembic import command as alembic
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from tests.flows import ASSETS, MARKETS, USERS, random_command
from trade_engine.config import SequencerConfig
from trade_engine.core.bootstrap import start_core
from trade_engine.domain.vocabulary import ORDER_TYPES
from trade_engine.engine import (
    CommandRejected,
    Deposit,
    Event,
    OrderAccepted,
    OrderFilled,
    PlaceOrder,
    StopTriggered,
    TradeExecuted,
    Withdraw,
)
from trade_engine.sequencer import Busy, Unavailable
from trade_engine.storage import schema
from trade_engine.storage.database import open_database
from trade_engine.storage.migrate import alembic_config, upgrade
from trade_engine.storage.recovery import InconsistentStore, load_engine, recover, verify
from trade_engine.storage.writer import CommitFailed


def run(coroutine):
    return asyncio.run(coroutine)


async def fund(core) -> None:
    for user in USERS:
        for asset, amount in ASSETS.items():
            await core.sequencer.submit(Deposit(ts=0, user_id=user, asset=asset, amount=amount))


async def random_flow(core, seed: int, count: int, concurrency: int = 20) -> list[Event]:
    """Submit `count` random commands, `concurrency` at a time (so batches form)."""
    rng = random.Random(seed)
    ids: list[tuple[int, str]] = [(o.id, o.user_id) for o in core.engine.all_open_orders()]
    events: list[Event] = []
    for start in range(0, count, concurrency):
        commands = [random_command(rng, 0, ids) for _ in range(min(concurrency, count - start))]
        for result in await asyncio.gather(*(core.sequencer.submit(c) for c in commands)):
            events += result
            ids += [(e.order_id, e.user_id) for e in result if isinstance(e, OrderAccepted)]
    return events


def test_migrations_create_every_table(database_url):
    async def scenario():
        database = open_database(database_url)
        await upgrade(database)
        await upgrade(database)  # idempotent
        async with database.connect() as connection:
            names = await connection.run_sync(lambda c: set(c.dialect.get_table_names(c)))
        await database.dispose()
        return names

    names = run(scenario())
    assert set(schema.metadata.tables) <= names


def test_postgres_partitions_trades_by_day_and_orders_by_month(postgres_url):
    async def scenario():
        core = await start_core(postgres_url, markets=MARKETS)
        async with core.database.connect() as connection:
            kinds: dict[str, str] = dict(
                (
                    await connection.execute(
                        text(
                            "SELECT relname, relkind::text FROM pg_class "
                            "WHERE relname IN ('orders', 'trades')"
                        )
                    )
                ).all()
            )
            children = [
                name
                for (name,) in await connection.execute(
                    text(
                        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                        "JOIN pg_class p ON p.oid = i.inhparent ORDER BY 1"
                    )
                )
            ]
        await core.close()
        return kinds, children

    kinds, children = run(scenario())
    assert kinds == {"orders": "p", "trades": "p"}
    assert "orders_default" in children
    assert "trades_default" in children
    assert sum(name.startswith("trades_p") for name in children) >= 8
    assert sum(name.startswith("orders_p") for name in children) >= 3


def test_committed_state_is_exactly_what_recovery_loads(database_url):
    async def scenario():
        core = await start_core(database_url, markets=MARKETS)
        await fund(core)
        events = await random_flow(core, seed=1, count=1_500)
        snapshot = core.engine.snapshot()
        await core.close()
        restarted = await start_core(database_url, markets=MARKETS)
        restored = restarted.engine.snapshot()
        more = await random_flow(restarted, seed=2, count=300)
        await restarted.close()
        return events, more, snapshot, restored

    events, more, snapshot, restored = run(scenario())
    assert any(isinstance(e, TradeExecuted) for e in events)
    assert restored == snapshot
    assert any(isinstance(e, OrderAccepted) for e in more)


def test_pending_take_profits_survive_a_restart_and_fire_afterwards(database_url):
    def order(user: str, side: str, **fields) -> PlaceOrder:
        return PlaceOrder(ts=0, user_id=user, market="BTC-USDT", side=side, **fields)

    async def scenario():
        seen: dict[str, Any] = {}
        core = await start_core(database_url, markets=MARKETS)
        await fund(core)
        await core.sequencer.submit(order("u1", "SELL", price=200, quantity=1))
        await core.sequencer.submit(order("u2", "BUY", price=200, quantity=1))  # last price 200
        for name, command in (
            (
                "buy_tp",
                order("u3", "BUY", order_type="TAKE_PROFIT_LIMIT", stop_price=195, price=196, quantity=2),
            ),
            ("sell_tp", order("u3", "SELL", order_type="TAKE_PROFIT_MARKET", stop_price=205, quantity=1)),
            ("buy_stop", order("u4", "BUY", order_type="STOP_MARKET", stop_price=205, quantity=1)),
        ):
            (accepted, *_) = await core.sequencer.submit(command)
            assert isinstance(accepted, OrderAccepted), accepted
            seen[name] = accepted.order_id
        seen["pending"] = [o.to_dict() for o in core.engine.pending_stops("BTC-USDT")]
        seen["snapshot"] = core.engine.snapshot()
        await core.close()

        restarted = await start_core(database_url)
        seen["restored"] = [o.to_dict() for o in restarted.engine.pending_stops("BTC-USDT")]
        seen["restored_snapshot"] = restarted.engine.snapshot()
        # The price falls to 195: the buy take-profit fires, not the sell one nor the stop.
        await restarted.sequencer.submit(order("u1", "SELL", price=195, quantity=3))
        seen["events"] = await restarted.sequencer.submit(order("u2", "BUY", price=195, quantity=1))
        seen["left"] = [o.id for o in restarted.engine.pending_stops("BTC-USDT")]
        await restarted.close()

        again = await start_core(database_url)  # recovery verifies holds and the ledger
        seen["left_after_restart"] = [o.id for o in again.engine.pending_stops("BTC-USDT")]
        async with again.database.connect() as connection:
            query = select(schema.orders.c.status).where(schema.orders.c.id == seen["buy_tp"])
            seen["status"] = (await connection.execute(query)).scalar()
        await again.close()
        return seen

    seen = run(scenario())
    buy_tp, sell_tp, buy_stop = seen["buy_tp"], seen["sell_tp"], seen["buy_stop"]
    assert [(o["id"], o["order_type"], o["stop_price"], o["pending"]) for o in seen["pending"]] == [
        (sell_tp, "TAKE_PROFIT_MARKET", 205, True),
        (buy_stop, "STOP_MARKET", 205, True),
        (buy_tp, "TAKE_PROFIT_LIMIT", 195, True),
    ]
    assert seen["restored"] == seen["pending"]
    assert seen["restored_snapshot"] == seen["snapshot"]
    events = seen["events"]
    assert [e.order_id for e in events if isinstance(e, StopTriggered)] == [buy_tp]
    assert [e.order_id for e in events if isinstance(e, OrderFilled)][-1] == buy_tp
    assert seen["left"] == seen["left_after_restart"] == [sell_tp, buy_stop]
    assert seen["status"] == "FILLED"


def test_migration_0002_keeps_existing_orders_and_then_refuses_unknown_order_types(database_url):
    async def scenario():
        core = await start_core(database_url, markets=MARKETS)
        await fund(core)
        await random_flow(core, seed=7, count=300)
        snapshot = core.engine.snapshot()
        await core.close()
        database = open_database(database_url)
        async with database.begin() as connection:
            await connection.run_sync(lambda c: alembic.downgrade(alembic_config(c), "0001"))
        await database.dispose()
        upgraded = await start_core(database_url)  # 0001 -> head with the rows in place
        restored = upgraded.engine.snapshot()
        accepted, refused = [], []
        async with upgraded.database.connect() as connection:
            row = dict((await connection.execute(select(schema.orders).limit(1))).mappings().one())
        for n, kind in enumerate([*sorted(ORDER_TYPES), "TRAILING_STOP"]):
            copy = {**row, "id": 10**12 + n, "order_type": kind, "client_order_id": None}
            async with upgraded.database.connect() as connection:  # never committed
                try:
                    await connection.execute(insert(schema.orders).values(**copy))
                    accepted.append(kind)
                except IntegrityError:
                    refused.append(kind)
        await upgraded.close()
        return snapshot, restored, accepted, refused

    snapshot, restored, accepted, refused = run(scenario())
    assert restored == snapshot
    assert accepted == sorted(ORDER_TYPES)
    assert refused == ["TRAILING_STOP"]


def test_every_committed_trade_and_ledger_entry_is_recorded_once(database_url):
    async def scenario():
        core = await start_core(database_url, markets=MARKETS)
        await fund(core)
        events = await random_flow(core, seed=3, count=800)
        await core.settled()  # the tables are written behind the acknowledgement
        async with core.database.connect() as connection:
            trades = (await connection.execute(select(func.count()).select_from(schema.trades))).scalar()
            problems = await verify(core.database, core.engine)
        await core.close()
        return events, trades, problems

    events, trades, problems = run(scenario())
    assert trades == sum(isinstance(e, TradeExecuted) for e in events)
    assert problems == []


def test_a_rejected_command_writes_nothing(database_url):
    async def scenario():
        core = await start_core(database_url, markets=MARKETS)
        async with core.database.connect() as connection:
            before = (
                await connection.execute(select(func.count()).select_from(schema.ledger_entries))
            ).scalar()
        result = await core.sequencer.submit(
            PlaceOrder(ts=0, user_id="u1", market="BTC-USDT", side="BUY", price=200, quantity=1)
        )
        await core.settled()
        async with core.database.connect() as connection:
            after = (
                await connection.execute(select(func.count()).select_from(schema.ledger_entries))
            ).scalar()
            orders = (await connection.execute(select(func.count()).select_from(schema.orders))).scalar()
        await core.close()
        return result, before, after, orders

    result, before, after, orders = run(scenario())
    assert isinstance(result[0], CommandRejected)
    assert result[0].code == "INSUFFICIENT_BALANCE"
    assert (before, after, orders) == (0, 0, 0)


def test_a_repeated_transfer_reference_is_refused_even_after_a_restart(database_url):
    async def scenario():
        core = await start_core(database_url, markets=MARKETS)
        deposit = Deposit(ts=0, user_id="u1", asset="USDT", amount=500, reference="wallet-tx-1")
        (first,) = await core.sequencer.submit(deposit)
        (again,) = await core.sequencer.submit(deposit)
        await core.close()
        restarted = await start_core(database_url)
        (after_restart,) = await restarted.sequencer.submit(deposit)
        withdrawal = Withdraw(ts=0, user_id="u1", asset="USDT", amount=1, reference="wallet-tx-1")
        (as_withdrawal,) = await restarted.sequencer.submit(withdrawal)
        balance = restarted.engine.balance("u1", "USDT")
        await restarted.close()
        return first, again, after_restart, as_withdrawal, balance

    first, again, after_restart, as_withdrawal, balance = run(scenario())
    for refused in (again, after_restart, as_withdrawal):
        assert isinstance(refused, CommandRejected)
        assert refused.code == "DUPLICATE_REFERENCE"
        assert refused.duplicate_of == first.transfer_id
    assert balance.available == 500


def test_recovery_refuses_a_store_whose_balances_do_not_add_up(database_url):
    async def scenario():
        core = await start_core(database_url, markets=MARKETS)
        await fund(core)
        await random_flow(core, seed=4, count=200)
        await core.close()
        database = open_database(database_url)
        async with database.begin() as connection:
            await connection.execute(
                update(schema.balances)
                .where(schema.balances.c.user_id == "u1", schema.balances.c.asset == "USDT")
                .values(available=schema.balances.c.available + 1)
            )
        engine, _ = await load_engine(database)
        problems = await verify(database, engine)
        with pytest.raises(InconsistentStore) as refused:
            await recover(database)
        await database.dispose()
        return problems, refused.value

    problems, refused = run(scenario())
    assert any("USDT: balances sum to" in p for p in problems)
    assert any("u1/USDT: ledger adds up to" in p for p in problems)
    assert "inconsistent store" in str(refused)


class FlakyWriter:
    """Wraps the real writer; fails the first `failures` journal appends (the commits that
    acknowledge) as a lost connection would (the append may or may not have reached the
    database, so the sequencer must ask)."""

    def __init__(self, inner, failures: int) -> None:
        self.inner, self.failures, self.attempts = inner, failures, 0

    def prepare(self, rows):
        return self.inner.prepare(rows)

    async def append(self, entry) -> None:
        self.attempts += 1
        if self.failures:
            self.failures -= 1
            raise CommitFailed("connection reset (simulated)", maybe_committed=True)
        await self.inner.append(entry)

    @property
    def last_append(self):
        return self.inner.last_append

    @property
    def ready_ahead(self) -> bool:
        ready: bool = self.inner.ready_ahead
        return ready

    def merge(self, batches):
        return self.inner.merge(batches)

    async def write(self, batch) -> None:
        await self.inner.write(batch)

    async def committed_seq(self) -> int:
        seq: int = await self.inner.committed_seq()
        return seq

    async def close(self) -> None:
        await self.inner.close()


def test_transient_commit_failures_are_retried_without_doubling(database_url):
    async def scenario():
        core = await start_core(database_url, markets=MARKETS)
        flaky = FlakyWriter(core.writer, failures=3)
        core.sequencer._writer = flaky
        await fund(core)
        events = await random_flow(core, seed=5, count=200)
        snapshot = core.engine.snapshot()
        retries = core.sequencer.stats.commit_retries
        await core.close()
        restarted = await start_core(database_url)
        restored = restarted.engine.snapshot()
        await restarted.close()
        return events, snapshot, restored, retries

    _events, snapshot, restored, retries = run(scenario())
    assert retries == 3
    assert restored == snapshot


def test_time_never_runs_back_across_a_restart_even_when_the_clock_does(database_url):
    """A restarted core stamps after the last committed command even when the clock went
    back meanwhile (a machine moved, NTP stepped it): orders and trades keep their times
    in commit order, as a cluster's takeover already did."""
    second = 1_000_000_000
    before = 1_800_000_000 * second  # the clock up to the restart
    after = before - 3_600 * second  # an hour earlier after it

    async def scenario():
        core = await start_core(database_url, markets=MARKETS, clock_ns=lambda: before)
        await fund(core)
        await core.close()
        restarted = await start_core(database_url, clock_ns=lambda: after)
        order = PlaceOrder(ts=0, user_id="u1", market="BTC-USDT", side="BUY", price=200, quantity=1)
        events = await restarted.sequencer.submit(order)
        await restarted.close()
        return events

    (accepted,) = [event for event in run(scenario()) if isinstance(event, OrderAccepted)]
    assert accepted.ts > before


def test_storage_that_stays_down_stops_the_sequencer_and_loses_nothing_acknowledged(database_url):
    async def scenario():
        core = await start_core(
            database_url, markets=MARKETS, settings=SequencerConfig(retry_total_seconds=0.3)
        )
        await fund(core)
        await random_flow(core, seed=6, count=200)
        acknowledged = core.engine.snapshot()
        core.sequencer._writer = FlakyWriter(core.writer, failures=10**9)
        command = PlaceOrder(ts=0, user_id="u1", market="BTC-USDT", side="BUY", price=200, quantity=1)
        with pytest.raises(Unavailable):
            await core.sequencer.submit(command)
        with pytest.raises(Unavailable):
            await core.sequencer.submit(command)
        await core.close()
        restarted = await start_core(database_url)
        restored = restarted.engine.snapshot()
        await restarted.close()
        return acknowledged, restored

    acknowledged, restored = run(scenario())
    assert restored == acknowledged


def test_a_full_queue_answers_busy(tmp_path):
    async def scenario():
        core = await start_core(
            f"sqlite:///{tmp_path}/busy.db", markets=MARKETS, settings=SequencerConfig(max_queue=5)
        )
        command = Deposit(ts=0, user_id="u1", asset="USDT", amount=1)
        tasks = [asyncio.ensure_future(core.sequencer.submit(command)) for _ in range(50)]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await core.close()
        return results

    results = run(scenario())
    busy = [r for r in results if isinstance(r, Busy)]
    done = [r for r in results if isinstance(r, list)]
    assert busy
    assert done
    assert len(busy) + len(done) == 50

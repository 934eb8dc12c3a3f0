"""The ledger reproduces every balance, and a restored engine behaves like the original.

Random flows over two markets (all order types, amends, cancels, deposits and
withdrawals) are applied to an engine; then:
- folding `ledger.movements` over every event gives exactly the engine's balances;
- an engine rebuilt through the recovery API from the original's state (markets,
  balances, supply, open orders in time priority, counters) produces byte-identical
  events for the rest of the flow.
"""

import random
from collections import defaultdict

import msgspec
import pytest

from tests.flows import ASSETS, MARKETS, USERS, random_command
from trade_engine.domain.vocabulary import BUY, SELL
from trade_engine.engine import (
    AddMarket,
    Command,
    Deposit,
    Engine,
    Event,
    OrderAccepted,
)
from trade_engine.engine.ledger import movements


def run_flow(seed: int, count: int) -> tuple[Engine, list[Command], list[Event]]:
    rng = random.Random(seed)
    engine = Engine()
    commands: list[Command] = [AddMarket(ts=0, market=market) for market in MARKETS]
    commands += [
        Deposit(ts=0, user_id=user, asset=asset, amount=amount)
        for user in USERS
        for asset, amount in ASSETS.items()
    ]
    events: list[Event] = []
    for command in commands:
        events += engine.apply(command)
    ids: list[tuple[int, str]] = []
    for ts in range(1, count + 1):
        command = random_command(rng, ts, ids)
        commands.append(command)
        for event in engine.apply(command):
            events.append(event)
            if isinstance(event, OrderAccepted):
                ids.append((event.order_id, event.user_id))
    return engine, commands, events


def assets_of(symbol: str) -> tuple[str, str]:
    base, quote = symbol.split("-")
    return base, quote


@pytest.mark.parametrize("seed", range(8))
def test_folding_ledger_movements_reproduces_every_balance(seed):
    engine, _, events = run_flow(seed, 1_500)
    folded: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for event in events:
        by_asset: dict[str, int] = defaultdict(int)
        for movement in movements(event, assets_of):
            entry = folded[(movement.user_id, movement.asset)]
            entry[0] += movement.available
            entry[1] += movement.locked
            if movement.kind not in ("DEPOSIT", "WITHDRAWAL"):
                by_asset[movement.asset] += movement.available + movement.locked
        assert all(total == 0 for total in by_asset.values()), event  # double entry
    actual = {
        (user, asset): [balance.available, balance.locked]
        for user, per_asset in engine.balances().items()
        for asset, balance in per_asset.items()
    }
    assert {key: value for key, value in folded.items() if value != [0, 0]} == actual


def restored_copy(engine: Engine) -> Engine:
    """A new engine rebuilt through the recovery API from `engine`'s state."""
    copy = Engine()
    for market in engine.markets():
        symbol = market.symbol
        copy.restore_market(
            market, status=market.status, seq=engine.sequence(symbol), last_price=engine.last_price(symbol)
        )
    for user, per_asset in engine.balances().items():
        for asset, balance in per_asset.items():
            copy.restore_balance(user, asset, balance.available, balance.locked)
    for asset in ASSETS:
        copy.restore_supply(asset, engine.supply(asset))
    by_id = {order.id: order for order in engine.all_open_orders()}
    for market in engine.markets():
        bids, asks = engine.depth(market.symbol)
        for side, levels in ((BUY, bids), (SELL, asks)):
            for price, _ in levels:
                for order_id in engine.queue(market.symbol, side, price):
                    copy.restore_order(by_id[order_id].copy())
        for stop in engine.pending_stops(market.symbol):
            copy.restore_order(stop)
    next_order, next_trade, next_transfer = engine.counters()
    copy.restore_counters(next_order_id=next_order, next_trade_id=next_trade, next_transfer_id=next_transfer)
    return copy


def assert_continues_alike(engine: Engine, twin: Engine, seed: int) -> None:
    """`twin` (restored from `engine`'s state) holds the same state, answers a thousand
    more random commands with byte-identical events, and ends in the same state."""
    assert twin.snapshot() == engine.snapshot()
    rng = random.Random(seed + 100)
    ids = [(order.id, order.user_id) for order in engine.all_open_orders()]
    for ts in range(10_000, 11_000):
        command = random_command(rng, ts, ids)
        original, restored = engine.apply(command), twin.apply(command)
        assert msgspec.json.encode(restored) == msgspec.json.encode(original)
        ids += [(e.order_id, e.user_id) for e in original if isinstance(e, OrderAccepted)]
    assert twin.snapshot() == engine.snapshot()


@pytest.mark.parametrize("seed", range(6))
def test_a_restored_engine_continues_exactly_like_the_original(seed):
    engine, _, _ = run_flow(seed, 1_000)
    assert_continues_alike(engine, restored_copy(engine), seed)


@pytest.mark.parametrize("seed", range(4))
def test_what_open_orders_hold_is_exactly_every_locked_balance(seed):
    engine, _, _ = run_flow(seed, 1_500)
    locked = {
        (user, asset): balance.locked
        for user, per_asset in engine.balances().items()
        for asset, balance in per_asset.items()
        if balance.locked
    }
    holds = {key: amount for key, amount in engine.holds().items() if amount}
    assert holds == locked
    assert sum(engine.hold_of(order) for order in engine.all_open_orders()) == sum(locked.values())
    # Both walk the books, which keep cancelled orders until they reach the front: the
    # orders listed are exactly the accounts' open orders and stops.
    listed = engine.open_orders_as(lambda order_id, *_: order_id)
    assert sorted(listed) == sorted(order.id for order in engine.all_open_orders())

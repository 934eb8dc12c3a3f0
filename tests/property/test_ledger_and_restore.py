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

from trade_engine.domain.market import MarketSpec, market_from_spec
from trade_engine.domain.vocabulary import BUY, SELL
from trade_engine.engine import (
    AddMarket,
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    Command,
    Deposit,
    Engine,
    Event,
    OrderAccepted,
    PlaceOrder,
    Withdraw,
)
from trade_engine.engine.ledger import movements

MARKETS = [
    market_from_spec(
        MarketSpec(
            symbol="BTC-USDT", tick_size="0.5", step_size="0.001", maker_fee="0.001", taker_fee="0.0025"
        )
    ),
    market_from_spec(
        MarketSpec(
            symbol="ETH-BTC",
            tick_size="0.0001",
            step_size="0.01",
            maker_fee="0",
            taker_fee="0.0007",
            stp_mode="EXPIRE_TAKER",
        )
    ),
]
USERS = ["u1", "u2", "u3", "u4"]
ASSETS = {"BTC": 10**11, "USDT": 10**13, "ETH": 10**12}


def random_command(rng: random.Random, ts: int, ids: list[tuple[int, str]]) -> Command:
    user = rng.choice(USERS)
    market = rng.choice(MARKETS)
    roll = rng.random()
    side = rng.choice((BUY, SELL))
    mid = 200 if market.symbol == "BTC-USDT" else 500
    price = mid + rng.randint(-6, 6)
    if roll < 0.35:
        return PlaceOrder(
            ts=ts,
            user_id=user,
            market=market.symbol,
            side=side,
            price=price,
            quantity=rng.randint(1, 40),
            time_in_force=rng.choice(("GTC", "GTC", "IOC", "FOK")),
            post_only=rng.random() < 0.1,
            client_order_id=rng.choice((None, None, f"c{rng.randint(1, 5)}")),
            stp_mode=rng.choice((None, "NONE", "EXPIRE_MAKER", "EXPIRE_BOTH")),
        )
    if roll < 0.45:
        by_quote = rng.random() < 0.5
        return PlaceOrder(
            ts=ts,
            user_id=user,
            market=market.symbol,
            side=side,
            order_type="MARKET",
            quantity=0 if by_quote else rng.randint(1, 60),
            quote_quantity=rng.randint(1, 10**8) if by_quote else 0,
        )
    if roll < 0.55:
        limit = rng.random() < 0.5
        stop = price + (rng.randint(1, 5) if side == BUY else -rng.randint(1, 5))
        return PlaceOrder(
            ts=ts,
            user_id=user,
            market=market.symbol,
            side=side,
            order_type="STOP_LIMIT" if limit else "STOP_MARKET",
            price=stop if limit else 0,
            stop_price=stop,
            quantity=rng.randint(1, 30),
        )
    if roll < 0.72 and ids:
        order_id, owner = rng.choice(ids)
        return CancelOrder(ts=ts, user_id=owner, order_id=order_id)
    if roll < 0.85 and ids:
        order_id, owner = rng.choice(ids)
        if rng.random() < 0.5:
            return AmendOrder(ts=ts, user_id=owner, order_id=order_id, quantity=rng.randint(1, 40))
        return AmendOrder(ts=ts, user_id=owner, order_id=order_id, price=price)
    if roll < 0.88:
        return CancelAllOrders(ts=ts, user_id=user, market=rng.choice((None, market.symbol)))
    asset = rng.choice(list(ASSETS))
    amount = rng.randint(1, ASSETS[asset] // 10)
    if roll < 0.94:
        return Deposit(ts=ts, user_id=user, asset=asset, amount=amount)
    return Withdraw(ts=ts, user_id=user, asset=asset, amount=amount)


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


@pytest.mark.parametrize("seed", range(6))
def test_a_restored_engine_continues_exactly_like_the_original(seed):
    engine, _, _ = run_flow(seed, 1_000)
    twin = restored_copy(engine)
    assert twin.snapshot() == engine.snapshot()
    rng = random.Random(seed + 100)
    ids = [(order.id, order.user_id) for order in engine.all_open_orders()]
    for ts in range(10_000, 11_000):
        command = random_command(rng, ts, ids)
        original, restored = engine.apply(command), twin.apply(command)
        assert msgspec.json.encode(restored) == msgspec.json.encode(original)
        ids += [(e.order_id, e.user_id) for e in original if isinstance(e, OrderAccepted)]
    assert twin.snapshot() == engine.snapshot()

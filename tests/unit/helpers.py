"""Builders shared by the unit tests: an engine with one market and funded traders.

The market is BTC-USDT with 8-decimal assets, a 0.01 tick and a 0.00001 step, so one
tick × one lot is `K` = 10 USDT minor units and one lot is `LOT` = 1,000 BTC minor
units. Fees are 0.1% for makers and 0.2% for takers; STP defaults to EXPIRE_MAKER.
"""

from collections.abc import Callable, Sequence
from itertools import count
from typing import Any, Final, TypeVar

import msgspec

from trade_engine.domain.market import Market, MarketSpec, market_from_spec
from trade_engine.domain.vocabulary import BUY, FEE_SCALE, SELL
from trade_engine.engine import (
    AddMarket,
    Command,
    CommandRejected,
    Deposit,
    Engine,
    Event,
    Order,
    OrderAccepted,
    PlaceOrder,
)

SYMBOL: Final = "BTC-USDT"
BASE: Final = "BTC"
QUOTE: Final = "USDT"
SPEC: Final = MarketSpec(
    symbol=SYMBOL,
    tick_size="0.01",
    step_size="0.00001",
    maker_fee="0.001",
    taker_fee="0.002",
)
MARKET: Final = market_from_spec(SPEC)
# A second market sharing the quote asset, for per-market commands.
OTHER: Final = market_from_spec(
    msgspec.structs.replace(SPEC, symbol="ETH-USDT", tick_size="0.01", step_size="0.0001")
)
K: Final = MARKET.quote_per_tick_lot
LOT: Final = MARKET.base_per_lot
MAKER_RATE: Final = MARKET.maker_fee
TAKER_RATE: Final = MARKET.taker_fee
MAX_RATE: Final = max(MAKER_RATE, TAKER_RATE)

QUOTE_FUNDS: Final = 10**15
BASE_FUNDS: Final = 10**13
TRADERS: Final = ("alice", "bob", "carol")

E = TypeVar("E", bound=Event)

_clock = count(1)


def ts() -> int:
    """A fresh command timestamp (the engine never reads a clock)."""
    return next(_clock)


def make_engine(
    *users: str,
    markets: Sequence[Market] = (MARKET,),
    quote: int = QUOTE_FUNDS,
    base: int = BASE_FUNDS,
) -> Engine:
    """An engine with `markets`, every user (default: TRADERS) funded in each asset.

    Each user gets `quote` of every quote asset and `base` of every base asset.
    """
    engine = Engine()
    funds: dict[str, int] = {}
    for market in markets:
        events = engine.apply(AddMarket(ts=ts(), market=market))
        assert not isinstance(events[0], CommandRejected), events
        funds[market.quote] = quote
        funds[market.base] = base
    for user in users or TRADERS:
        for asset, amount in funds.items():
            if amount:
                events = engine.apply(Deposit(ts=ts(), user_id=user, asset=asset, amount=amount))
                assert not isinstance(events[0], CommandRejected), events
    return engine


def place(engine: Engine, user: str, side: str, market: str = SYMBOL, **fields: Any) -> list[Event]:
    return engine.apply(PlaceOrder(ts=ts(), user_id=user, market=market, side=side, **fields))


def buy(engine: Engine, user: str, quantity: int, price: int, **fields: Any) -> list[Event]:
    """A limit buy (GTC unless told otherwise)."""
    return place(engine, user, BUY, quantity=quantity, price=price, **fields)


def sell(engine: Engine, user: str, quantity: int, price: int, **fields: Any) -> list[Event]:
    """A limit sell (GTC unless told otherwise)."""
    return place(engine, user, SELL, quantity=quantity, price=price, **fields)


def of_type(events: list[Event], kind: type[E]) -> list[E]:
    return [event for event in events if isinstance(event, kind)]


def order_id(events: list[Event]) -> int:
    """The id of the one order these events accepted."""
    (accepted,) = of_type(events, OrderAccepted)
    return accepted.order_id


def assert_rejected(engine: Engine, command: Command, code: str) -> CommandRejected:
    """Apply `command`, expect one rejection with `code` and no change of state at all."""
    before = engine.snapshot()
    events = engine.apply(command)
    assert len(events) == 1, events
    (rejection,) = events
    assert isinstance(rejection, CommandRejected), rejection
    assert rejection.code == code, rejection
    assert engine.snapshot() == before
    return rejection


def notional(price: int, quantity: int, market: Market = MARKET) -> int:
    """Quote minor units of `quantity` lots at `price` ticks."""
    return price * quantity * market.quote_per_tick_lot


def fee(amount: int, rate: int) -> int:
    """The exact fee on `amount` quote minor units at `rate` millionths, rounded up."""
    return -(-amount * rate // FEE_SCALE)


def buy_hold(quantity: int, price: int) -> int:
    """What a fresh limit buy locks: its notional plus the largest fee it can be charged."""
    n = notional(price, quantity)
    return n + fee(n, MAX_RATE)


def asset_total(engine: Engine, asset: str) -> int:
    """The sum over every account (the fee account included) of available + locked."""
    return sum(
        balance.available + balance.locked
        for per_asset in engine.balances().values()
        for name, balance in per_asset.items()
        if name == asset
    )


def restored_copy(
    original: Engine, last_price: int, convert: Callable[[Order], Order] = Order.copy
) -> Engine:
    """A fresh engine given `original`'s state through the restore calls, as recovery
    does: its market (SYMBOL), balances, supply, open orders in acceptance order (each
    passed through `convert`, e.g. to look as a store hands it over) and counters."""
    copy = Engine()
    market = original.market(SYMBOL)
    assert market is not None
    copy.restore_market(market, status="TRADING", seq=original.sequence(SYMBOL), last_price=last_price)
    for user, per_asset in original.balances().items():
        for asset, balance in per_asset.items():
            copy.restore_balance(user, asset, balance.available, balance.locked)
    for asset in (BASE, QUOTE):
        copy.restore_supply(asset, original.supply(asset))
    for order in sorted(original.all_open_orders(), key=lambda o: o.id):
        copy.restore_order(convert(order))
    next_order, next_trade, next_transfer = original.counters()
    copy.restore_counters(next_order_id=next_order, next_trade_id=next_trade, next_transfer_id=next_transfer)
    return copy

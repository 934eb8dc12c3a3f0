"""Command flows shared by the benchmarks (engine.py: no I/O; durable.py: through the
sequencer into SQLite and PostgreSQL), and the engine's timed tight loop (engine.py and
workload.py).

One market, 1,000 accounts, a warm-up book of about 10,000 resting orders, and a mixed
stream of 40% limit GTC near the touch, 10% IOC, 5% market, 30% cancel, 15% amend.
The flow is generated against a live engine, so cancels and amends name orders that
are really open when they arrive: replaying it in the same order reproduces it exactly.

Funding: every account gets `FUNDED_USDT`, far below the engine's cap on an asset's
total supply (2**62 minor units), so no command of the flow is refused for lack of funds.
"""

import gc
import random
import time
from collections.abc import Sequence

import msgspec

from trade_engine.domain.market import MarketSpec, market_from_spec
from trade_engine.engine import (
    AddMarket,
    AmendOrder,
    CancelOrder,
    Command,
    Deposit,
    Engine,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    PlaceOrder,
    TradeExecuted,
)

AnyCommand = AddMarket | AmendOrder | CancelOrder | Deposit | PlaceOrder
SYMBOL = "BTC-USDT"
SPEC = MarketSpec(
    symbol=SYMBOL,
    tick_size="0.01",
    step_size="0.00001",
    maker_fee="0.001",
    taker_fee="0.002",
    stp_mode="NONE",
)
MID = 5_000_000  # 50,000.00 in ticks
USERS = [f"user-{n}" for n in range(1000)]
# 10,000,000 USDT (8 decimals) per account: 1,000 accounts stay far below the supply cap,
# and each can hold well over 100,000 resting buys of up to 100 lots near the mid.
FUNDED_USDT = 10**15
BTC = 10**13


def setup_commands(usdt: int = FUNDED_USDT) -> list[Command]:
    commands: list[Command] = [AddMarket(ts=0, market=market_from_spec(SPEC))]
    for user in USERS:
        commands.append(Deposit(ts=0, user_id=user, asset="USDT", amount=usdt))
        commands.append(Deposit(ts=0, user_id=user, asset="BTC", amount=BTC))
    return commands


def resting_order(rng: random.Random, ts: int, spread: int) -> PlaceOrder:
    """A non-crossing limit order somewhere in the book."""
    buy = rng.random() < 0.5
    offset = rng.randint(1, spread)
    return PlaceOrder(
        ts=ts,
        user_id=rng.choice(USERS),
        market=SYMBOL,
        side="BUY" if buy else "SELL",
        price=MID - offset if buy else MID + offset,
        quantity=rng.randint(1, 100),
    )


class OpenOrders:
    """Ids of the orders open in the generating engine, with O(1) random pick and removal."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str]] = []
        self.index: dict[int, int] = {}

    def add(self, order_id: int, user: str) -> None:
        self.index[order_id] = len(self.items)
        self.items.append((order_id, user))

    def discard(self, order_id: int) -> None:
        position = self.index.pop(order_id, None)
        if position is None:
            return
        last = self.items.pop()
        if last[0] != order_id:
            self.items[position] = last
            self.index[last[0]] = position

    def pick(self, rng: random.Random) -> tuple[int, str]:
        return self.items[rng.randrange(len(self.items))]

    def track(self, events: Sequence[object]) -> None:
        for event in events:
            if isinstance(event, OrderAccepted):
                if event.order_type == "LIMIT" and event.time_in_force == "GTC":
                    self.add(event.order_id, event.user_id)
            elif isinstance(event, TradeExecuted):
                if event.maker_remaining == 0:
                    self.discard(event.maker_order_id)
            elif isinstance(event, OrderFilled | OrderCancelled | OrderExpired):
                self.discard(event.order_id)


def generate_mixed_flow(
    count: int, seed: int, usdt: int = FUNDED_USDT
) -> tuple[list[Command], list[Command]]:
    """Build the warm-up book and a mixed flow, using a live engine to track open ids."""
    rng = random.Random(seed)
    engine = Engine()
    for setup in setup_commands(usdt):
        engine.apply(setup)
    open_orders = OpenOrders()
    warmup: list[Command] = []
    for n in range(10_000):
        resting = resting_order(rng, n, 200)
        warmup.append(resting)
        open_orders.track(engine.apply(resting))
    flow: list[Command] = []
    ts = 10_000
    for _ in range(count):
        ts += 1
        roll = rng.random()
        user = rng.choice(USERS)
        buy = rng.random() < 0.5
        side = "BUY" if buy else "SELL"
        command: Command
        if roll < 0.40 or not open_orders.items:  # limit GTC near the touch; a few cross
            offset = rng.randint(-3, 60)
            price = MID - offset if buy else MID + offset
            command = PlaceOrder(
                ts=ts, user_id=user, market=SYMBOL, side=side, price=price, quantity=rng.randint(1, 100)
            )
        elif roll < 0.50:  # IOC at or through the touch
            offset = rng.randint(0, 5)
            price = MID + offset if buy else MID - offset
            command = PlaceOrder(
                ts=ts,
                user_id=user,
                market=SYMBOL,
                side=side,
                price=price,
                quantity=rng.randint(1, 100),
                time_in_force="IOC",
            )
        elif roll < 0.55:  # market, by quantity
            command = PlaceOrder(
                ts=ts,
                user_id=user,
                market=SYMBOL,
                side=side,
                order_type="MARKET",
                quantity=rng.randint(1, 100),
            )
        elif roll < 0.85:  # cancel an open order
            order_id, owner = open_orders.pick(rng)
            command = CancelOrder(ts=ts, user_id=owner, order_id=order_id)
        else:  # amend an open order: half shrink (keeps priority), half move price
            order_id, owner = open_orders.pick(rng)
            order = engine.open_order(owner, order_id)
            assert order is not None
            if rng.random() < 0.5 and order.quantity - order.remaining + 1 < order.quantity:
                command = AmendOrder(ts=ts, user_id=owner, order_id=order_id, quantity=order.quantity - 1)
            else:
                step = rng.choice((-2, -1, 1, 2))
                command = AmendOrder(ts=ts, user_id=owner, order_id=order_id, price=order.price + step)
        flow.append(command)
        open_orders.track(engine.apply(command))
    return warmup, flow


def fresh_engine(warmup: Sequence[Command], usdt: int = FUNDED_USDT) -> Engine:
    engine = Engine()
    for command in setup_commands(usdt):
        engine.apply(command)
    for command in warmup:
        engine.apply(command)
    return engine


def applied_in_ns(engine: Engine, commands: Sequence[Command]) -> int:
    """Apply `commands` in a tight loop and return the nanoseconds it took. What the
    engine holds before stays out of the collector's scans, as the service's recovered
    state does (`gc.freeze()`): the loop then measures the engine, not the collector
    walking its warm-up."""
    apply = engine.apply
    gc.collect()
    gc.freeze()
    start = time.perf_counter_ns()
    for command in commands:
        apply(command)
    return time.perf_counter_ns() - start


def percentile(sorted_values: Sequence[int], fraction: float) -> float:
    """The value at `fraction` of a sorted list of nanoseconds, in microseconds."""
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index] / 1000.0


def materialize(commands: list[Command]) -> list[Command]:
    """Fresh copies of commands, laid out one after another as a network decoder would
    hand them over: the timing then measures the engine, not the generator's heap."""
    wire = msgspec.msgpack.encode(commands)
    return list(msgspec.msgpack.decode(wire, type=list[AnyCommand]))

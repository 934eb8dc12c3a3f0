"""Engine benchmark: the full matching core (holds, fees, events) without any I/O.

(a) mixed flow: one market, 1,000 funded accounts, about 10,000 resting orders, and a
    stream of 40% limit GTC near the touch, 10% IOC, 5% market, 30% cancel, 15% amend.
    The flow is generated once against a live engine (cancels and amends need ids of
    orders that are really open), then replayed on a fresh engine: first as a tight
    loop for throughput, then once more timing every command for latency percentiles.
    Replay is exact because the engine is deterministic. Run it on the compiled core
    (`make bench`) to measure what production runs; the interpreted source is slower.
(b) deep book: 1,000,000 resting orders; memory per resting order from the growth of
    the process's resident set (and, separately, of Python's traced allocations).

Prints one JSON object. Run: `.venv/bin/python benchmarks/engine.py [--quick]`.
"""

import argparse
import gc
import json
import os
import platform
import random
import sys
import time
import tracemalloc
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


def setup_commands() -> list[Command]:
    commands: list[Command] = [AddMarket(ts=0, market=market_from_spec(SPEC))]
    for user in USERS:
        commands.append(Deposit(ts=0, user_id=user, asset="USDT", amount=10**17))
        commands.append(Deposit(ts=0, user_id=user, asset="BTC", amount=10**13))
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


def generate_mixed_flow(count: int, seed: int) -> tuple[list[Command], list[Command]]:
    """Build the warm-up book and a mixed flow, using a live engine to track open ids."""
    rng = random.Random(seed)
    engine = Engine()
    for setup in setup_commands():
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


def fresh_engine(warmup: Sequence[Command]) -> Engine:
    engine = Engine()
    for command in setup_commands():
        engine.apply(command)
    for command in warmup:
        engine.apply(command)
    return engine


def percentile(sorted_values: Sequence[int], fraction: float) -> float:
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index] / 1000.0


def materialize(commands: list[Command]) -> list[Command]:
    """Fresh copies of commands, laid out one after another as a network decoder would
    hand them over: the timing then measures the engine, not the generator's heap."""
    wire = msgspec.msgpack.encode(commands)
    return list(msgspec.msgpack.decode(wire, type=list[AnyCommand]))


def bench_mixed(count: int) -> dict[str, object]:
    warmup, flow = generate_mixed_flow(count, seed=7)
    gc.collect()
    warmup, flow = materialize(warmup), materialize(flow)

    engine = fresh_engine(warmup)
    apply = engine.apply
    trades = 0
    # As the service does after recovery: long-lived state leaves the collector's scans.
    gc.collect()
    gc.freeze()
    start = time.perf_counter_ns()
    for command in flow:
        apply(command)
    elapsed = time.perf_counter_ns() - start
    resting = len(engine.all_open_orders())

    engine = fresh_engine(warmup)
    apply = engine.apply
    gc.collect()
    gc.freeze()
    clock = time.perf_counter_ns
    latencies = []
    kinds: dict[str, int] = {}
    for command in flow:
        began = clock()
        events = apply(command)
        latencies.append(clock() - began)
        trades += sum(1 for event in events if type(event) is TradeExecuted)
        kind = type(events[0]).__name__ if events else "none"
        kinds[kind] = kinds.get(kind, 0) + 1
    latencies.sort()
    seconds = elapsed / 1e9
    return {
        "commands": len(flow),
        "seconds": round(seconds, 3),
        "commands_per_s": round(len(flow) / seconds),
        "trades": trades,
        "trades_per_s": round(trades / seconds),
        "latency_us": {
            "p50": percentile(latencies, 0.50),
            "p99": percentile(latencies, 0.99),
            "p99_9": percentile(latencies, 0.999),
            "max": latencies[-1] / 1000.0,
        },
        "resting_orders_at_start": 10_000,
        "resting_orders_at_end": resting,
        "first_event_kinds": kinds,
    }


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bench_deep_book(count: int) -> dict[str, object]:
    """Memory of a book of `count` resting orders; commands are made on the fly so the
    numbers count everything the engine keeps (including the ints its orders hold)."""

    def build(engine: Engine) -> float:
        rng = random.Random(11)
        apply = engine.apply
        start = time.perf_counter()
        for n in range(count):
            apply(resting_order(rng, n, 10_000))
        return time.perf_counter() - start

    engine = Engine()
    for command in setup_commands():
        engine.apply(command)
    gc.collect()
    before = rss_bytes()
    seconds = build(engine)
    gc.collect()
    after = rss_bytes()
    resting = len(engine.all_open_orders())
    del engine
    gc.collect()

    # The same book again under tracemalloc: Python allocations only, no allocator slack.
    engine = Engine()
    for command in setup_commands():
        engine.apply(command)
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    build(engine)
    gc.collect()
    traced_after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {
        "resting_orders": resting,
        "price_levels": 20_000,
        "bytes_per_resting_order_rss": round((after - before) / resting, 1),
        "bytes_per_resting_order_traced": round((traced_after - traced_before) / resting, 1),
        "build_seconds_including_command_generation": round(seconds, 2),
    }


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", choices=("mixed", "deep"), default=None)
    args = parser.parse_args(argv)
    mixed_count, deep_count = (20_000, 50_000) if args.quick else (300_000, 1_000_000)
    result: dict[str, object] = {
        "benchmark": "engine",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpus": os.cpu_count(),
        "gc": "enabled, default thresholds; gc.freeze() after warm-up",
    }
    if args.only in (None, "mixed"):
        result["mixed_flow"] = bench_mixed(mixed_count)
    if args.only in (None, "deep"):
        result["deep_book"] = bench_deep_book(deep_count)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])

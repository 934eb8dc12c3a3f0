"""The field's neutral workload, replayed on the engine alone (issue 12's static case).

flash1-dev/matching-engine-benchmark (MIT) publishes a generator of order flow for one
instrument: 1,000,000 new orders (15% IOC) expanded with cancels, modifies and stale
duplicates into about 2,000,000 messages, in five scenarios. `static` (a fixed mid, the
deepest standing book: ~20,900 resting orders on average, ~41,800 at the peak, by the
harness's docs/METHODOLOGY.md) is the case where our engine measured slowest. The
generator is vendored beside this file (third_party/, with where it came from);
`make bench-workload` builds it and writes the files.

Each message becomes one engine command, as a gateway would hand it over:
- NEW: `PlaceOrder` (LIMIT, GTC or IOC). Buys belong to one account and sells to
  another, both funded far beyond what the flow holds, so no order is refused for funds
  and none trades with itself.
- CANCEL: `CancelOrder` by the engine's id of that order (an id never accepted maps to
  one that never exists, so the engine refuses it: the harness's CancelReject).
- MODIFY: `AmendOrder` to the new price and total quantity (every modify of the
  workload is a size increase, so it loses priority: the harness's cancel + reinsert).
The engine's events are its report stream, written in the harness's canonical form and
hashed (untimed); with `--scenario` a hash other than the published one exits 1.

Timed two ways, each the median of `--runs` fresh replays in this one process:
- `messages_per_s`: the engine on its own API. The commands were made beforehand (a
  modify's total read from the book then) and decoded as a gateway hands them over;
  only `Engine.apply` is on the clock. Not comparable with the harness's figures.
- `messages_per_s_translating`: each message made into a command (reading the book for
  a modify) and applied, on the clock: nearer to what the harness times of an adapter,
  which also times turning events into its report structs and pushing them through an
  inter-thread queue, and takes ten fresh processes per figure. Those are left out.
The collector's thresholds are the service's (`--gc-thresholds` to set others: a side
by side run of two revisions gives both the same). Prints one JSON object.

Run: `make bench-workload` (compiled core) or `.venv/bin/python benchmarks/workload.py
FILE [--runs 3] [--limit N] [--scenario NAME] [--gc-thresholds G0 G1 G2]`.
"""

import argparse
import contextlib
import gc
import hashlib
import json
import platform
import statistics
import struct
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence

from flows import applied_in_ns, materialize
from trade_engine.domain.market import MarketSpec, market_from_spec
from trade_engine.engine import (
    AddMarket,
    AmendOrder,
    CancelOrder,
    Command,
    CommandRejected,
    Deposit,
    Engine,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    PlaceOrder,
    TradeExecuted,
)

MAGIC = 0x4D4542575F303031  # "MEBW_001"
HEADER = struct.Struct("<QII")
RECORD = struct.Struct("<BBBxIQQqq")  # type, side, ioc, qty, sequence, order id, price, reserved
NEW, CANCEL, MODIFY = 0, 1, 2
SYMBOL = "NVDA-USD"
SPEC = MarketSpec(
    symbol=SYMBOL,
    tick_size="0.005",
    step_size="1",
    maker_fee="0",
    taker_fee="0",
    stp_mode="NONE",
)
BUYER, SELLER = "buyer", "seller"
FUNDS = 10**17  # minor units of each asset: far beyond the flow's holds, below the supply cap
NEVER = 0  # an engine order id that is never given
_SIDES = ("BUY", "SELL")  # by the harness's side byte
_SIDE = {side: byte for byte, side in enumerate(_SIDES)}
# reference/correctness_hash.txt of the harness (41656c8): SHA-256 of each scenario's
# canonical report stream at the canonical seed (23) and count (1,000,000 new orders).
REFERENCE_SHA256 = {
    "static": "9803843ee404fc29c9a0aa5614f8f0d5a58b5c44fcac9ef89067886fcaaa30d1",
    "normal": "e9b2e3926854410b01a035aeb25dd05f1e597c233be8263de9eb49b6713d367e",
    "swing-25": "61a84be9469661bd039e00dbc9a7c011e70b6ace37aadfe60045ea083b05f4df",
    "swing-40": "3cb0175e7982ff09ea220d1feaee3844cf9116a5ce455757879dea1d880b9b9f",
    "flash-crash": "cff8d3f94b709fc64a8b2058a6ca4fb6920364904796e46906895e362d2bb16b",
}
Message = tuple[int, int, int, int, int, int]  # type, side, ioc, qty, order id, price ticks


def read_messages(path: str, limit: int | None) -> list[Message]:
    """(type, side, ioc, qty, order id, price ticks) of each record, in wire order."""
    with open(path, "rb") as workload:
        data = workload.read()
    magic, version, count = HEADER.unpack_from(data, 0)
    if magic != MAGIC or version != 1:
        raise SystemExit(f"{path}: not an MEBW_001 workload file")
    if len(data) != HEADER.size + count * RECORD.size:
        raise SystemExit(f"{path}: {len(data):,} bytes, not the {count:,} records its header counts")
    count = count if limit is None else min(count, limit)
    messages = []
    for n in range(count):
        kind, side, ioc, qty, _sequence, order_id, price, _reserved = RECORD.unpack_from(
            data, HEADER.size + n * RECORD.size
        )
        messages.append((kind, side, ioc, qty, order_id, price))
    return messages


def translate(messages: Sequence[Message]) -> tuple[list[Command], float]:
    """Engine commands for the messages, made and applied one by one as an adapter in
    the harness would (a modify's total quantity depends on what the order has filled
    by then), and the seconds the loop took. Replaying the commands on a fresh engine
    reproduces every event, the engine being deterministic.

    Engine ids are given 1, 2, 3 … to accepted orders in arrival order, and every NEW is
    accepted. The harness's modify re-enters the order afresh with the new quantity
    open; an amendment sets the total, so an order that has partly filled is amended to
    what it has filled plus the new quantity."""
    engine = fresh_engine()
    apply, open_order = engine.apply, engine.open_order
    accepted = 0
    engine_ids: dict[int, int] = {}
    owners: dict[int, str] = {}
    commands: list[Command] = []
    start = time.perf_counter_ns()
    for ts, (kind, side, ioc, qty, order_id, price) in enumerate(messages, start=1):
        command: Command
        if kind == NEW:
            # A harness id used again names its newest order (as the harness's adapters do).
            accepted += 1
            engine_ids[order_id] = accepted
            user = BUYER if side == 0 else SELLER
            owners[order_id] = user
            time_in_force = "IOC" if ioc else "GTC"
            command = PlaceOrder(
                ts=ts,
                user_id=user,
                market=SYMBOL,
                side=_SIDES[side],
                price=price,
                quantity=qty,
                time_in_force=time_in_force,
            )
        elif kind == CANCEL:
            owner = owners.get(order_id, BUYER)
            command = CancelOrder(ts=ts, user_id=owner, order_id=engine_ids.get(order_id, NEVER))
        elif kind == MODIFY:
            owner, engine_id = owners.get(order_id, BUYER), engine_ids.get(order_id, NEVER)
            order = open_order(owner, engine_id)
            filled = 0 if order is None else order.quantity - order.remaining
            command = AmendOrder(ts=ts, user_id=owner, order_id=engine_id, price=price, quantity=qty + filled)
        else:
            raise SystemExit(f"unknown message type {kind}")
        apply(command)
        commands.append(command)
    elapsed = time.perf_counter_ns() - start
    return commands, elapsed / 1e9


def fresh_engine() -> Engine:
    """One market and its two funded accounts, nothing else."""
    engine = Engine()
    engine.apply(AddMarket(ts=0, market=market_from_spec(SPEC)))
    for user in (BUYER, SELLER):
        for asset in SPEC.symbol.split("-"):
            engine.apply(Deposit(ts=0, user_id=user, asset=asset, amount=FUNDS))
    return engine


def replay(commands: Sequence[Command]) -> tuple[float, Engine]:
    """Seconds to apply `commands` on a fresh engine, and that engine."""
    engine = fresh_engine()
    elapsed = applied_in_ns(engine, commands)
    gc.unfreeze()  # the previous run's engine may go
    return elapsed / 1e9, engine


def canonical_text(messages: Sequence[Message], commands: Sequence[Command]) -> tuple[str, dict[str, int]]:
    """The harness's canonical report stream of a replay (src/correctness.cpp): one line
    per report, a message's reports together, sorted by report type within it (stably,
    so trades keep their match order); and the count of each event kind. Not timed."""
    engine = fresh_engine()
    harness_id = [NEVER]  # by engine order id
    kinds: Counter[str] = Counter()
    lines: list[str] = []
    for seq, (message, command) in enumerate(zip(messages, commands, strict=True)):
        kind, _side, _ioc, qty, order_id, _price = message
        if kind == NEW:
            harness_id.append(order_id)  # given the next engine id: checked below
        reports: list[tuple[int, str]] = []
        for event in engine.apply(command):
            kinds[type(event).__name__] += 1
            if isinstance(event, OrderAccepted):
                if event.order_id != len(harness_id) - 1:
                    raise SystemExit(f"message {seq}: engine id {event.order_id}, not the one translate gave")
                reports.append((0, f"0,{seq},{_SIDE[event.side]},{order_id},{event.price},{event.quantity}"))
            elif isinstance(event, TradeExecuted):
                maker, taker = harness_id[event.maker_order_id], harness_id[event.taker_order_id]
                reports.append((1, f"1,{seq},{event.price},{event.quantity},{maker},{taker}"))
            elif isinstance(event, OrderCancelled | OrderExpired):  # an IOC's rest expires
                side, price = _SIDE[event.side], event.price
                reports.append((2, f"2,{seq},{side},{harness_id[event.order_id]},{price}"))
            elif isinstance(event, OrderAmended):
                # The harness acknowledges the quantity asked for, open afresh (to_commands).
                reports.append((3, f"3,{seq},{_SIDE[event.side]},{order_id},{event.price},{qty}"))
            elif isinstance(event, CommandRejected):
                if kind == NEW:  # every id after it would be off by one
                    raise SystemExit(f"message {seq}: a new order was refused: {event.code} {event.message}")
                reports.append((4 if kind == CANCEL else 5, f"{4 if kind == CANCEL else 5},{seq},{order_id}"))
        reports.sort(key=_report_type)
        lines.extend(line for _type, line in reports)
    return "\n".join(lines), dict(sorted(kinds.items()))


def verdict(
    messages: Sequence[Message], commands: Sequence[Command], scenario: str | None, limit: int | None
) -> dict[str, object]:
    """The replay's report stream, hashed, and whether it is the reference's."""
    text, kinds = canonical_text(messages, commands)
    digest = hashlib.sha256(text.encode()).hexdigest()
    reference = REFERENCE_SHA256.get(scenario or "") if limit is None else None
    return {
        "events": kinds,
        "reports_sha256": digest,
        "reference_sha256": reference,
        "conforming": None if reference is None else digest == reference,
    }


def _report_type(report: tuple[int, str]) -> int:
    return report[0]


def set_collector(thresholds: Sequence[int] | None) -> str:
    """Set the collector's thresholds: as given, else as every service role sets them
    (app/process.py: commands made per message are young objects, and Python's default
    of a young collection per 700 made the translating loop 6 to 15% slower here)."""
    if thresholds is not None:
        gc.set_threshold(*thresholds)
        return f"{gc.get_threshold()}, as given"
    try:
        from trade_engine.app.process import tune_collector
    except ImportError:  # a revision before dc1a0fc, which set none
        return f"{gc.get_threshold()}, Python's defaults: this revision sets none"
    tune_collector()
    return f"{gc.get_threshold()}, as served"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", help="an MEBW_001 file written by the vendored generator")
    parser.add_argument("--runs", type=_at_least_one, default=3)
    parser.add_argument("--limit", type=int, default=None, help="replay only the first N messages")
    parser.add_argument(
        "--scenario", choices=sorted(REFERENCE_SHA256), default=None, help="check against its reference hash"
    )
    parser.add_argument("--gc-thresholds", type=int, nargs=3, default=None, help="default: the service's")
    args = parser.parse_args()

    collector = set_collector(args.gc_thresholds)
    messages = read_messages(args.workload, args.limit)
    translating = []
    for _ in range(args.runs):
        with _frozen():
            made, elapsed = translate(messages)
        translating.append(elapsed)
    commands = materialize(made)
    del made
    applying = []
    for _ in range(args.runs):
        elapsed, engine = replay(commands)
        applying.append(elapsed)
    resting = len(engine.all_open_orders())
    count = len(commands)
    result = {
        "benchmark": "workload",
        "workload": args.workload,
        "messages": count,
        # The engine on its own API (the module's docstring: what each figure times).
        "apply_runs_seconds": [round(s, 3) for s in applying],
        "messages_per_s": round(count / statistics.median(applying)),
        "translate_and_apply_runs_seconds": [round(s, 3) for s in translating],
        "messages_per_s_translating": round(count / statistics.median(translating)),
        "resting_orders_at_end": resting,
        **verdict(messages, commands, args.scenario, args.limit),
        "gc_thresholds": collector,
        "python": platform.python_version(),
        "compiled_core": (sys.modules[Engine.__module__].__file__ or "").endswith(".so"),
    }
    print(json.dumps(result, indent=2))
    if result["conforming"] is False:
        raise SystemExit(f"{args.workload}: the report stream is not the {args.scenario} reference's")


@contextlib.contextmanager
def _frozen() -> Iterator[None]:
    """What is alive before a translating run (the messages, and the previous run's
    commands until they are replaced) stays out of the collector's scans while it is
    timed, as a service's recovered state does; thawed after, so nothing stays frozen
    past the run. Here, not in `translate`, which tests call in a process whose heap
    is not this script's to freeze or thaw."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


if __name__ == "__main__":
    main()

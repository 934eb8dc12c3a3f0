"""Determinism: the same commands always give the same events, byte for byte.

A seeded flow of a few thousand commands across both markets (limit, market, stop-limit
and stop-market orders, cancels, cancel-all, amendments, cancel-replaces, halts,
deposits, withdrawals, and some invalid commands) is applied to fresh engines:

- two engines emit byte-identical event encodings and end in identical snapshots;
- the same holds in other interpreter processes with other string-hash seeds;
- dropping the rejected commands changes nothing else (a rejection has no effect);
- events and commands survive a msgspec JSON (and msgpack) encode/decode round trip.
"""

import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import get_args

import msgspec

from trade_engine.domain.vocabulary import (
    BUY,
    CANCEL_ONLY,
    FEE_ACCOUNT,
    FOK,
    GTC,
    HALT,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    STOP_LIMIT,
    STOP_MARKET,
    TAKE_PROFIT_LIMIT,
    TAKE_PROFIT_MARKET,
    TRADING,
)
from trade_engine.engine import (
    AddMarket,
    AmendOrder,
    BookLevelChanged,
    CancelAllOrders,
    CancelOrder,
    CancelReplaceOrder,
    Command,
    CommandRejected,
    Deposit,
    Engine,
    Event,
    FundsDeposited,
    FundsWithdrawn,
    MarketAdded,
    MarketStatusChanged,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    PartRejected,
    PlaceOrder,
    ReplaceRejected,
    SetMarketStatus,
    StopTriggered,
    TradeExecuted,
    Withdraw,
)

from .markets import ASSETS, MARKETS, PRICE_GRID, USERS

# Every concrete (tagged) event and command type, for typed decoding.
AnyEvent = (
    MarketAdded
    | MarketStatusChanged
    | FundsDeposited
    | FundsWithdrawn
    | OrderAccepted
    | StopTriggered
    | TradeExecuted
    | OrderFilled
    | OrderCancelled
    | OrderExpired
    | OrderAmended
    | BookLevelChanged
    | PartRejected
    | CommandRejected
    | ReplaceRejected
)
AnyCommand = (
    AddMarket
    | SetMarketStatus
    | Deposit
    | Withdraw
    | PlaceOrder
    | CancelOrder
    | CancelReplaceOrder
    | CancelAllOrders
    | AmendOrder
)
SYMBOLS = sorted(MARKETS)
STPS = [None, None, None, "NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]
FLOW_LENGTH = 3000


def random_flow(seed: int, count: int, replaces: bool = True) -> list[Command]:
    """`count` random commands; a live engine tells the generator which orders are open.
    `replaces` false leaves cancel-replaces out: the flow the recorded digest is of."""
    rng = random.Random(seed)
    engine = Engine()
    commands: list[Command] = []

    def emit(command: Command) -> None:
        commands.append(command)
        engine.apply(command)

    for symbol in SYMBOLS:
        emit(AddMarket(ts=0, market=MARKETS[symbol]))
    for user in USERS:
        for asset in ASSETS:
            emit(Deposit(ts=0, user_id=user, asset=asset, amount=rng.randint(20_000, 60_000)))
    kinds = ["limit", "market", "stop", "cancel", "cancel_all", "amend", "funds", "status", "invalid"]
    weights = [40, 10, 10, 12, 2, 12, 8, 2, 2]
    if replaces:
        kinds.append("replace")
        weights.append(6)
    for ts in range(1, count + 1):
        kind = rng.choices(kinds, weights)[0]
        user, symbol, side = rng.choice(USERS), rng.choice(SYMBOLS), rng.choice([BUY, SELL])
        low, high = PRICE_GRID[symbol]
        price, quantity = rng.randint(low, high), rng.randint(1, 12)
        open_orders = engine.all_open_orders()
        if kind == "limit":
            emit(
                PlaceOrder(
                    ts=ts,
                    user_id=user,
                    market=symbol,
                    side=side,
                    order_type=LIMIT,
                    time_in_force=rng.choice([GTC, GTC, GTC, IOC, FOK]),
                    price=price,
                    quantity=quantity,
                    post_only=rng.random() < 0.1,
                    stp_mode=rng.choice(STPS),
                    client_order_id=rng.choice([None, None, f"c{rng.randint(1, 5)}"]),
                )
            )
        elif kind == "market":
            by_quote = rng.random() < 0.4
            emit(
                PlaceOrder(
                    ts=ts,
                    user_id=user,
                    market=symbol,
                    side=side,
                    order_type=MARKET,
                    quantity=0 if by_quote else quantity,
                    quote_quantity=rng.randint(50, 3000) if by_quote else 0,
                    stp_mode=rng.choice(STPS),
                )
            )
        elif kind == "stop":
            last = engine.last_price(symbol) or (low + high) // 2
            away = rng.randint(-1, 4)
            stop_market = rng.random() < 0.5
            take_profit = rng.random() < 0.5
            by_quote = stop_market and side == BUY and rng.random() < 0.4
            if take_profit:
                order_type = TAKE_PROFIT_MARKET if stop_market else TAKE_PROFIT_LIMIT
            else:
                order_type = STOP_MARKET if stop_market else STOP_LIMIT
            # Beyond the last price in the direction the order fires: a stop buys on a
            # rise, a take-profit on a fall.
            rises = (side == BUY) != take_profit
            emit(
                PlaceOrder(
                    ts=ts,
                    user_id=user,
                    market=symbol,
                    side=side,
                    order_type=order_type,
                    time_in_force=IOC if stop_market else rng.choice([GTC, IOC, FOK]),
                    price=0 if stop_market else price,
                    stop_price=max(1, last + away if rises else last - away),
                    quantity=0 if by_quote else quantity,
                    quote_quantity=rng.randint(50, 3000) if by_quote else 0,
                    stp_mode=rng.choice(STPS),
                )
            )
        elif kind == "cancel":
            if open_orders and rng.random() < 0.85:
                order = rng.choice(open_orders)
                by_client_id = order.client_order_id is not None and rng.random() < 0.5
                emit(
                    CancelOrder(
                        ts=ts,
                        user_id=order.user_id,
                        order_id=None if by_client_id else order.id,
                        client_order_id=order.client_order_id if by_client_id else None,
                    )
                )
            else:
                emit(CancelOrder(ts=ts, user_id=user, order_id=rng.randint(1, 10**4)))
        elif kind == "cancel_all":
            emit(CancelAllOrders(ts=ts, user_id=user, market=rng.choice([None, symbol])))
        elif kind == "amend":
            target = rng.choice(open_orders) if open_orders else None
            emit(
                AmendOrder(
                    ts=ts,
                    user_id=target.user_id if target else user,
                    order_id=target.id if target else 1,
                    price=rng.choice([None, price]),
                    quantity=rng.choice([None, quantity, rng.randint(1, 3)]),
                )
            )
        elif kind == "funds":
            asset = rng.choice(ASSETS)
            if rng.random() < 0.6:
                emit(Deposit(ts=ts, user_id=user, asset=asset, amount=rng.randint(1, 20_000)))
            else:
                who = rng.choice([*USERS, FEE_ACCOUNT])
                emit(Withdraw(ts=ts, user_id=who, asset=asset, amount=rng.randint(1, 20_000)))
        elif kind == "status":
            emit(SetMarketStatus(ts=ts, market=symbol, status=rng.choice([HALT, CANCEL_ONLY])))
            for extra in range(rng.randint(0, 4)):
                emit(CancelAllOrders(ts=ts, user_id=USERS[extra], market=symbol))
            emit(SetMarketStatus(ts=ts, market=symbol, status=TRADING))
        elif kind == "replace":
            emit(random_replace(rng, engine, ts))
        else:
            emit(PlaceOrder(ts=ts, user_id=user, market=symbol, side="SIDEWAYS", price=price, quantity=1))
    return commands


def random_replace(rng: random.Random, engine: Engine, ts: int) -> CancelReplaceOrder:
    """A cancel-replace of an open order (mostly) by a limit order in its market
    (mostly), now and then post-only (which may be refused) or of no size (refused)."""
    open_orders = engine.all_open_orders()
    target = rng.choice(open_orders) if open_orders and rng.random() < 0.8 else None
    user = target.user_id if target else rng.choice(USERS)
    symbol = target.market if target and rng.random() < 0.9 else rng.choice(SYMBOLS)
    low, high = PRICE_GRID[symbol]
    new = PlaceOrder(
        ts=0,
        user_id=user,
        market=symbol,
        side=rng.choice([BUY, SELL]),
        price=rng.randint(low, high),
        quantity=0 if rng.random() < 0.1 else rng.randint(1, 12),
        post_only=rng.random() < 0.3,
        stp_mode=rng.choice(STPS),
    )
    return CancelReplaceOrder(
        ts=ts,
        user_id=user,
        cancel_order_id=target.id if target else rng.randint(1, 10**4),
        place=new,
        allow_failure=rng.random() < 0.5,
    )


def run(commands: list[Command]) -> tuple[list[bytes], bytes]:
    engine = Engine()
    encoded = [msgspec.json.encode(engine.apply(command)) for command in commands]
    return encoded, engine.snapshot()


def digest(commands: list[Command]) -> str:
    encoded, snapshot = run(commands)
    h = hashlib.sha256()
    for chunk in encoded:
        h.update(chunk)
    h.update(snapshot)
    return h.hexdigest()


def test_the_flow_exercises_the_engine() -> None:
    commands = random_flow(seed=1, count=FLOW_LENGTH)
    engine = Engine()
    seen: set[str] = set()
    for command in commands:
        events = engine.apply(command)
        seen.update(type(e).__name__ for e in events)
        seen.update(f"expired {e.reason}" for e in events if isinstance(e, OrderExpired))
    wanted = {cls.__name__ for cls in get_args(AnyEvent)}
    assert wanted <= seen, wanted - seen
    assert {"expired IOC_REMAINDER", "expired FOK_NOT_FILLABLE", "expired SELF_TRADE_PREVENTION"} <= seen


def test_two_engines_emit_identical_bytes_and_state() -> None:
    commands = random_flow(seed=2, count=FLOW_LENGTH)
    first, second = Engine(), Engine()
    for command in commands:
        assert msgspec.json.encode(first.apply(command)) == msgspec.json.encode(second.apply(command)), (
            command
        )
    assert first.snapshot() == second.snapshot()


def test_replay_is_independent_of_the_string_hash_seed() -> None:
    """Other processes (other PYTHONHASHSEED values) emit the same bytes."""
    expected = digest(random_flow(seed=3, count=1500))
    root = Path(__file__).resolve().parents[2]
    script = (
        "from tests.property.test_replay import digest, random_flow\n"
        "print(digest(random_flow(seed=3, count=1500)))\n"
    )
    for hash_seed in ("0", "4242"):
        path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(root)) if p)
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": path}
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == expected, hash_seed


# The digest of `random_flow(seed=6)`: its events' JSON bytes and the final snapshot, as
# the engine of commit 3112d1f emitted them (before the engine was split into stages).
# Other tests compare an engine with itself; this one notices a change of the bytes
# themselves, which storage, the APIs and earlier replays depend on. If a change of the
# engine's behaviour or of an event's encoding is intended, record the new digest here
# and say so in the commit.
RECORDED_DIGEST = "45ca1f0ddb2e3452ca0e58403c734d2daa51e4b31eac22ce8f1571865276a92f"


def test_the_replay_emits_the_recorded_bytes() -> None:
    assert digest(random_flow(seed=6, count=FLOW_LENGTH, replaces=False)) == RECORDED_DIGEST


def test_rejected_commands_have_no_effect_on_the_replay() -> None:
    commands = random_flow(seed=4, count=FLOW_LENGTH)
    engine = Engine()
    accepted: list[Command] = []
    expected: list[bytes] = []
    for command in commands:
        events = engine.apply(command)
        if not (len(events) == 1 and isinstance(events[0], CommandRejected)):
            accepted.append(command)
            expected.append(msgspec.json.encode(events))
    assert len(accepted) < len(commands)
    encoded, snapshot = run(accepted)
    assert encoded == expected
    assert snapshot == engine.snapshot()


def test_events_and_commands_round_trip_through_msgspec() -> None:
    commands = random_flow(seed=5, count=FLOW_LENGTH)
    engine = Engine()
    json_decoder = msgspec.json.Decoder(list[AnyEvent])
    msgpack_decoder = msgspec.msgpack.Decoder(list[AnyEvent])
    for command in commands:
        events = engine.apply(command)
        encoded = msgspec.json.encode(events)
        decoded = json_decoder.decode(encoded)
        assert decoded == events
        assert msgspec.json.encode(decoded) == encoded
        assert msgpack_decoder.decode(msgspec.msgpack.encode(events)) == events
        assert msgspec.json.decode(msgspec.json.encode(command), type=AnyCommand) == command
    assert all(isinstance(e, Event) for e in events)

"""A cancel-replace is exactly a cancel and then a place at the same instant, with nothing
between them, and with Binance's rules for a part that is refused.

Through random flows, every so often a random cancel-replace goes to one engine while a
twin engine gets what it must equal: the cancel, then the new order, as two commands.
Both must emit the same events and end in the same state; a refusal must leave the
state as it was.
"""

import random
from collections import Counter

import msgspec
import pytest

from trade_engine.domain.errors import ErrorCode
from trade_engine.domain.vocabulary import HALT
from trade_engine.engine import (
    CancelOrder,
    CancelReplaceOrder,
    CommandRejected,
    Engine,
    Event,
    PartRejected,
    ReplaceRejected,
)

from .test_replay import FLOW_LENGTH, random_flow, random_replace

# Refusals compare by their codes (their messages are the engine's own wording).
Outcome = list[object]


def refusal(events: list[Event]) -> CommandRejected | None:
    first = events[0] if len(events) == 1 else None
    return first if isinstance(first, CommandRejected) else None


def comparable(events: list[Event]) -> Outcome:
    result: Outcome = []
    for event in events:
        if isinstance(event, PartRejected):
            result.append(("part refused", event.part, event.code))
        elif isinstance(event, ReplaceRejected):
            result.append(("both refused", event.code, event.cancel_code))
        elif isinstance(event, CommandRejected):
            result.append(("refused", event.code))
        else:
            result.append(event)
    return result


def expected(twin: Engine, command: CancelReplaceOrder) -> tuple[str, Outcome]:
    """What `command` must do, worked out on `twin` with a cancel and a place as two
    commands: the case, and the events (refusals by their codes)."""
    ts, user = command.ts, command.user_id
    new = msgspec.structs.replace(command.place, ts=ts)
    target = twin.open_order(user, command.cancel_order_id, command.cancel_client_order_id)
    market = twin.market(new.market)
    in_market = target is not None and market is not None and target.market == new.market
    if in_market and market is not None and market.status != HALT:
        cancelled = twin.apply(CancelOrder(ts=ts, user_id=user, order_id=command.cancel_order_id))
        assert refusal(cancelled) is None, cancelled
        placed = twin.apply(new)
        refused = refusal(placed)
        if refused is None:
            return "replaced", comparable(cancelled + placed)
        return "new refused", [*comparable(cancelled), ("part refused", "new", refused.code)]
    cancel_code = ErrorCode.MARKET_HALTED if in_market else ErrorCode.ORDER_NOT_FOUND
    if not command.allow_failure:
        return "cancel refused", [("refused", cancel_code)]
    placed = twin.apply(new)
    refused = refusal(placed)
    if refused is not None:
        return "both refused", [("both refused", refused.code, cancel_code)]
    return "cancel refused, placed", [("part refused", "cancel", cancel_code), *comparable(placed)]


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_a_cancel_replace_is_a_cancel_then_a_place_with_nothing_between(seed: int) -> None:
    rng = random.Random(seed)
    engine, twin = Engine(), Engine()
    cases: Counter[str] = Counter()
    for command in random_flow(seed=seed, count=FLOW_LENGTH, replaces=False):
        assert engine.apply(command) == twin.apply(command)
        if rng.random() < 0.15:
            replace = random_replace(rng, engine, command.ts)
            before = engine.snapshot()
            case, wanted = expected(twin, replace)
            events = engine.apply(replace)
            assert comparable(events) == wanted, (case, replace)
            assert engine.snapshot() == twin.snapshot(), (case, replace)
            if case in ("cancel refused", "both refused"):
                assert engine.snapshot() == before
            cases[case] += 1
    assert set(cases) == {
        "replaced",
        "new refused",
        "cancel refused",
        "both refused",
        "cancel refused, placed",
    }

"""Cancel-replace as one command: the cancel, then the new order, with nothing between
them; what each mode does when one part or both are refused."""

from typing import Any

import msgspec

from trade_engine.domain.vocabulary import BUY, HALT, SELL
from trade_engine.engine import (
    CancelOrder,
    CancelReplaceOrder,
    Engine,
    OrderAccepted,
    OrderCancelled,
    PartRejected,
    PlaceOrder,
    ReplaceRejected,
    SetMarketStatus,
    TradeExecuted,
)

from .helpers import (
    MARKET,
    OTHER,
    QUOTE,
    SYMBOL,
    assert_rejected,
    buy,
    buy_hold,
    make_engine,
    of_type,
    order_id,
    sell,
    ts,
)


def new_buy(user: str = "alice", quantity: int = 5, price: int = 9_000, **fields: Any) -> PlaceOrder:
    return PlaceOrder(ts=0, user_id=user, market=SYMBOL, side=BUY, quantity=quantity, price=price, **fields)


def replace(
    engine: Engine, oid: int | None, new: PlaceOrder, *, allow_failure: bool = False, user: str = "alice"
) -> CancelReplaceOrder:
    return CancelReplaceOrder(
        ts=ts(), user_id=user, cancel_order_id=oid, place=new, allow_failure=allow_failure
    )


def test_the_order_is_cancelled_and_the_new_one_placed_with_the_events_of_both_commands():
    engine, twin = make_engine(), make_engine()
    resting = order_id(buy(engine, "alice", 5, 9_500))
    assert order_id(buy(twin, "alice", 5, 9_500)) == resting
    command = replace(engine, resting, new_buy(price=9_000))
    events = engine.apply(command)
    # The same as a cancel and a place at the same time, one after the other.
    expected = twin.apply(CancelOrder(ts=command.ts, user_id="alice", order_id=resting))
    expected += twin.apply(msgspec.structs.replace(new_buy(price=9_000), ts=command.ts))
    assert events == expected
    assert engine.snapshot() == twin.snapshot()
    (cancelled,) = of_type(events, OrderCancelled)
    (accepted,) = of_type(events, OrderAccepted)
    assert (cancelled.order_id, accepted.price, accepted.ts) == (resting, 9_000, command.ts)
    assert events.index(cancelled) < events.index(accepted)


def test_the_new_order_may_use_what_the_cancelled_one_held():
    engine = make_engine(quote=buy_hold(5, 9_500))
    resting = order_id(buy(engine, "alice", 5, 9_500))
    assert engine.balance("alice", QUOTE).available == 0
    events = engine.apply(replace(engine, resting, new_buy(quantity=5, price=9_400)))
    assert of_type(events, OrderAccepted)
    assert [o.price for o in engine.open_orders("alice")] == [9_400]


def test_a_refused_cancel_refuses_everything_when_failure_is_not_allowed():
    engine = make_engine()
    order_id(buy(engine, "alice", 5, 9_500))
    rejection = assert_rejected(engine, replace(engine, 999, new_buy()), "ORDER_NOT_FOUND")
    assert not isinstance(rejection, ReplaceRejected)


def test_an_order_of_another_market_or_user_is_not_there_to_cancel():
    engine = make_engine(markets=(MARKET, OTHER))
    elsewhere = order_id(buy(engine, "alice", 5, 9_500, market=OTHER.symbol))
    assert_rejected(engine, replace(engine, elsewhere, new_buy()), "ORDER_NOT_FOUND")
    bobs = order_id(buy(engine, "bob", 5, 9_500))
    assert_rejected(engine, replace(engine, bobs, new_buy()), "ORDER_NOT_FOUND")


def test_a_refused_new_order_leaves_the_cancel_done_and_says_so():
    engine = make_engine()
    resting = order_id(buy(engine, "alice", 5, 9_500))
    order_id(sell(engine, "bob", 5, 10_000))
    # Post-only at the ask would take: refused after the cancel went through.
    events = engine.apply(replace(engine, resting, new_buy(price=10_000, post_only=True)))
    (cancelled,) = of_type(events, OrderCancelled)
    (part,) = of_type(events, PartRejected)
    assert (part.part, part.code, part.user_id) == ("new", "POST_ONLY_WOULD_TAKE", "alice")
    assert events[-1] == part
    assert cancelled.order_id == resting
    assert not of_type(events, OrderAccepted)
    assert engine.open_orders("alice") == []


def test_with_failure_allowed_the_new_order_is_placed_though_the_cancel_is_refused():
    engine = make_engine()
    events = engine.apply(replace(engine, 999, new_buy(price=9_000), allow_failure=True))
    (part,) = of_type(events, PartRejected)
    assert events[0] == part
    assert (part.part, part.code) == ("cancel", "ORDER_NOT_FOUND")
    (accepted,) = of_type(events, OrderAccepted)
    assert [o.id for o in engine.open_orders("alice")] == [accepted.order_id]


def test_with_failure_allowed_both_parts_refused_change_nothing_and_name_both_reasons():
    engine = make_engine()
    rejection = assert_rejected(
        engine, replace(engine, 999, new_buy(quantity=0), allow_failure=True), "QUANTITY_BELOW_MIN"
    )
    assert isinstance(rejection, ReplaceRejected)
    assert (rejection.cancel_code, rejection.user_id) == ("ORDER_NOT_FOUND", "alice")


def test_a_halted_market_refuses_the_cancel():
    engine = make_engine()
    resting = order_id(buy(engine, "alice", 5, 9_500))
    engine.apply(SetMarketStatus(ts=ts(), market=SYMBOL, status=HALT))
    assert_rejected(engine, replace(engine, resting, new_buy()), "MARKET_HALTED")
    rejection = assert_rejected(
        engine, replace(engine, resting, new_buy(), allow_failure=True), "MARKET_HALTED"
    )
    assert isinstance(rejection, ReplaceRejected)
    assert rejection.cancel_code == "MARKET_HALTED"


def test_the_new_order_must_be_the_same_users():
    engine = make_engine()
    resting = order_id(buy(engine, "alice", 5, 9_500))
    assert_rejected(engine, replace(engine, resting, new_buy(user="bob")), "INVALID_ORDER")


def test_a_new_order_that_crosses_trades_within_the_same_command():
    engine = make_engine()
    resting = order_id(buy(engine, "alice", 5, 9_500))
    maker = order_id(sell(engine, "bob", 3, 9_800))
    events = engine.apply(replace(engine, resting, new_buy(quantity=3, price=9_800)))
    (trade,) = of_type(events, TradeExecuted)
    assert (trade.maker_order_id, trade.quantity, trade.price) == (maker, 3, 9_800)
    assert of_type(events, OrderCancelled)[0].order_id == resting


def test_a_cancel_by_client_order_id_frees_that_id_for_the_new_order():
    engine = make_engine()
    buy(engine, "alice", 5, 9_500, client_order_id="grid-1")
    command = CancelReplaceOrder(
        ts=ts(), user_id="alice", cancel_client_order_id="grid-1", place=new_buy(client_order_id="grid-1")
    )
    events = engine.apply(command)
    (accepted,) = of_type(events, OrderAccepted)
    assert accepted.client_order_id == "grid-1"
    assert engine.open_order("alice", client_order_id="grid-1") is not None


def test_a_sell_replaced_by_a_sell_reuses_the_base_it_held():
    engine = make_engine(base=5_000)
    resting = order_id(sell(engine, "alice", 5, 10_500))
    new = PlaceOrder(ts=0, user_id="alice", market=SYMBOL, side=SELL, quantity=5, price=10_400)
    events = engine.apply(replace(engine, resting, new))
    assert of_type(events, OrderAccepted)


# -- restricted cancels (Binance's cancelRestrictions), decided on the engine's state --


def test_a_cancel_restricted_to_new_orders_refuses_a_partly_filled_one_and_changes_nothing():
    engine = make_engine()
    resting = order_id(buy(engine, "alice", 5, 9_500))
    sell(engine, "bob", 2, 9_500)  # alice's order is now partly filled
    before = engine.snapshot()
    rejection = assert_rejected(
        engine,
        CancelOrder(ts=ts(), user_id="alice", order_id=resting, only_status="NEW"),
        "CANCEL_RESTRICTED",
    )
    assert rejection.user_id == "alice"
    assert_rejected(
        engine,
        CancelReplaceOrder(
            ts=ts(), user_id="alice", cancel_order_id=resting, place=new_buy(), cancel_only_status="NEW"
        ),
        "CANCEL_RESTRICTED",
    )
    assert engine.snapshot() == before
    events = engine.apply(
        CancelOrder(ts=ts(), user_id="alice", order_id=resting, only_status="PARTIALLY_FILLED")
    )
    assert [e.order_id for e in of_type(events, OrderCancelled)] == [resting]


def test_a_cancel_restricted_to_partly_filled_orders_fails_on_a_new_one_and_the_new_order_may_go_on():
    engine = make_engine()
    resting = order_id(buy(engine, "alice", 5, 9_500))
    command = CancelReplaceOrder(
        ts=ts(),
        user_id="alice",
        cancel_order_id=resting,
        place=new_buy(price=9_000),
        allow_failure=True,
        cancel_only_status="PARTIALLY_FILLED",
    )
    events = engine.apply(command)
    (part,) = of_type(events, PartRejected)
    assert (part.part, part.code) == ("cancel", "CANCEL_RESTRICTED")
    assert sorted(o.price for o in engine.open_orders("alice")) == [9_000, 9_500]


def test_a_cancel_cannot_be_restricted_to_a_status_an_open_order_never_has():
    engine = make_engine()
    resting = order_id(buy(engine, "alice", 5, 9_500))
    assert_rejected(
        engine, CancelOrder(ts=ts(), user_id="alice", order_id=resting, only_status="FILLED"), "INVALID_ORDER"
    )


def test_a_cancel_s_own_request_id_is_carried_to_its_event_and_nothing_else() -> None:
    """`cancel_request_id` (Binance's newClientOrderId of a cancel) is named by the cancel's
    event alone, in a cancel and in a cancel-replace: the state is as without it, and an
    event without one is as it was before the field existed (encoded without it)."""
    engine, twin = make_engine(), make_engine()
    for e in (engine, twin):
        buy(e, "alice", 5, 9_500)
        buy(e, "alice", 5, 9_400)
    first, second = (o.id for o in engine.open_orders("alice"))
    named = engine.apply(CancelOrder(ts=ts(), user_id="alice", order_id=first, cancel_request_id="cx-1"))
    plain = twin.apply(CancelOrder(ts=named[0].ts, user_id="alice", order_id=first))
    (cancelled,) = of_type(named, OrderCancelled)
    (bare,) = of_type(plain, OrderCancelled)
    assert cancelled.cancel_request_id == "cx-1"
    assert msgspec.structs.replace(cancelled, cancel_request_id=None) == bare
    assert b"cancel_request_id" not in msgspec.json.encode(bare)
    command = CancelReplaceOrder(
        ts=ts(), user_id="alice", cancel_order_id=second, place=new_buy(price=9_000), cancel_request_id="cx-2"
    )
    (replaced,) = of_type(engine.apply(command), OrderCancelled)
    assert (replaced.order_id, replaced.cancel_request_id) == (second, "cx-2")
    twin.apply(msgspec.structs.replace(command, cancel_request_id=None))
    assert engine.snapshot() == twin.snapshot()

"""Order lifecycle: cancels, client order ids, cancel-all and the rules for placing."""

import msgspec
import pytest

from trade_engine.domain.market import market_from_spec
from trade_engine.domain.units import Lots, Ticks
from trade_engine.domain.vocabulary import BUY, FEE_ACCOUNT, SELL
from trade_engine.engine import (
    AmendOrder,
    BookLevelChanged,
    CancelAllOrders,
    CancelOrder,
    OrderAccepted,
    OrderCancelled,
    PlaceOrder,
    TradeExecuted,
)
from trade_engine.engine.holds import buy_hold as hold_after_fills

from .helpers import (
    BASE,
    BASE_FUNDS,
    LOT,
    MAKER_RATE,
    MARKET,
    MAX_RATE,
    OTHER,
    QUOTE,
    QUOTE_FUNDS,
    SPEC,
    SYMBOL,
    TAKER_RATE,
    K,
    assert_rejected,
    buy,
    buy_hold,
    fee,
    make_engine,
    notional,
    of_type,
    order_id,
    place,
    sell,
    ts,
)


def cancel(engine, user, oid=None, coid=None):
    return engine.apply(CancelOrder(ts=ts(), user_id=user, order_id=oid, client_order_id=coid))


def limit(user, side, quantity, price, **fields):
    return PlaceOrder(
        ts=ts(), user_id=user, market=SYMBOL, side=side, quantity=quantity, price=price, **fields
    )


# -- cancel ---------------------------------------------------------------------------


def test_cancel_releases_the_whole_hold_and_empties_the_level():
    engine = make_engine()
    oid = order_id(buy(engine, "alice", 5, 10_000))
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - buy_hold(5, 10_000), buy_hold(5, 10_000))
    events = cancel(engine, "alice", oid)
    (cancelled,) = of_type(events, OrderCancelled)
    assert (cancelled.order_id, cancelled.remaining, cancelled.reason) == (oid, 5, "USER")
    assert cancelled.released == buy_hold(5, 10_000)
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS, 0)
    assert engine.depth(SYMBOL) == ([], [])
    assert engine.open_order("alice", order_id=oid) is None


def test_partial_fill_then_cancel_releases_exactly_the_remaining_hold():
    engine = make_engine()
    oid = order_id(buy(engine, "alice", 10, 10_000))
    sell(engine, "bob", 4, 9_000)  # alice is the maker: fills at her price, maker fee
    resting = engine.open_order("alice", order_id=oid)
    assert resting is not None
    remaining_hold = engine.hold_of(resting)
    assert engine.balance("alice", QUOTE).locked == remaining_hold
    (cancelled,) = of_type(cancel(engine, "alice", oid), OrderCancelled)
    assert (cancelled.remaining, cancelled.released) == (6, remaining_hold)
    spent = notional(10_000, 4) + fee(notional(10_000, 4), MAKER_RATE)
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - spent, 0)
    assert engine.balance("alice", BASE) == (BASE_FUNDS + 4 * LOT, 0)


def test_partially_filled_sell_cancel_releases_the_unsold_base():
    engine = make_engine()
    oid = order_id(sell(engine, "bob", 10, 10_000))
    buy(engine, "alice", 3, 10_000)
    (cancelled,) = of_type(cancel(engine, "bob", oid), OrderCancelled)
    assert (cancelled.remaining, cancelled.released) == (7, 7 * LOT)
    assert engine.balance("bob", BASE) == (BASE_FUNDS - 3 * LOT, 0)


def test_cancel_after_a_full_fill_is_rejected_and_changes_nothing():
    engine = make_engine()
    oid = order_id(sell(engine, "bob", 5, 10_000))
    buy(engine, "alice", 5, 10_000)
    assert_rejected(engine, CancelOrder(ts=ts(), user_id="bob", order_id=oid), "ORDER_NOT_FOUND")


def test_amend_after_a_full_fill_is_rejected_and_changes_nothing():
    engine = make_engine()
    oid = order_id(sell(engine, "bob", 5, 10_000))
    buy(engine, "alice", 5, 10_000)
    command = AmendOrder(ts=ts(), user_id="bob", order_id=oid, quantity=3)
    assert_rejected(engine, command, "ORDER_NOT_FOUND")


def test_cancel_twice_is_rejected_the_second_time():
    engine = make_engine()
    oid = order_id(sell(engine, "bob", 5, 10_000))
    assert of_type(cancel(engine, "bob", oid), OrderCancelled)
    assert_rejected(engine, CancelOrder(ts=ts(), user_id="bob", order_id=oid), "ORDER_NOT_FOUND")


def test_order_id_that_was_never_issued_is_rejected():
    engine = make_engine()
    sell(engine, "bob", 5, 10_000)
    assert_rejected(engine, CancelOrder(ts=ts(), user_id="bob", order_id=999), "ORDER_NOT_FOUND")
    assert_rejected(engine, AmendOrder(ts=ts(), user_id="bob", order_id=999, quantity=1), "ORDER_NOT_FOUND")


def test_another_users_order_cannot_be_cancelled():
    engine = make_engine()
    oid = order_id(sell(engine, "bob", 5, 10_000))
    assert_rejected(engine, CancelOrder(ts=ts(), user_id="alice", order_id=oid), "ORDER_NOT_FOUND")
    assert engine.queue(SYMBOL, SELL, 10_000) == [oid]


def test_cancel_naming_no_order_is_rejected():
    engine = make_engine()
    sell(engine, "bob", 5, 10_000)
    assert_rejected(engine, CancelOrder(ts=ts(), user_id="bob"), "ORDER_NOT_FOUND")


# -- client order ids -----------------------------------------------------------------


def test_duplicate_client_order_id_among_open_orders_is_rejected():
    engine = make_engine()
    buy(engine, "alice", 1, 9_000, client_order_id="a-1")
    rejection = assert_rejected(
        engine, limit("alice", BUY, 1, 9_001, client_order_id="a-1"), "DUPLICATE_CLIENT_ORDER_ID"
    )
    assert (rejection.user_id, rejection.client_order_id) == ("alice", "a-1")


def test_same_client_order_id_is_fine_for_another_user():
    engine = make_engine()
    buy(engine, "alice", 1, 9_000, client_order_id="x")
    events = buy(engine, "bob", 1, 9_000, client_order_id="x")
    (accepted,) = of_type(events, OrderAccepted)
    assert (accepted.user_id, accepted.client_order_id) == ("bob", "x")


def test_client_order_id_is_reusable_after_its_order_is_cancelled():
    engine = make_engine()
    first = order_id(buy(engine, "alice", 1, 9_000, client_order_id="a-1"))
    cancel(engine, "alice", coid="a-1")
    second = order_id(buy(engine, "alice", 2, 9_100, client_order_id="a-1"))
    assert second != first
    reused = engine.open_order("alice", client_order_id="a-1")
    assert reused is not None
    assert (reused.id, reused.price) == (second, 9_100)


def test_client_order_id_is_reusable_after_its_order_is_filled():
    engine = make_engine()
    buy(engine, "alice", 1, 10_000, client_order_id="a-1")
    sell(engine, "bob", 1, 10_000)
    assert engine.open_order("alice", client_order_id="a-1") is None
    assert of_type(buy(engine, "alice", 1, 9_000, client_order_id="a-1"), OrderAccepted)


def test_client_order_id_of_an_expired_ioc_is_free_again():
    engine = make_engine()
    buy(engine, "alice", 1, 9_000, client_order_id="ioc", time_in_force="IOC")
    assert of_type(buy(engine, "alice", 1, 9_000, client_order_id="ioc"), OrderAccepted)


def test_open_order_is_found_by_client_order_id():
    engine = make_engine()
    oid = order_id(sell(engine, "bob", 3, 10_000, client_order_id="b-7"))
    found = engine.open_order("bob", client_order_id="b-7")
    assert found is not None
    assert (found.id, found.remaining, found.client_order_id) == (oid, 3, "b-7")
    assert engine.open_order("alice", client_order_id="b-7") is None
    assert engine.open_order("bob", order_id=oid, client_order_id="other") is None


def test_cancel_by_client_order_id():
    engine = make_engine()
    oid = order_id(sell(engine, "bob", 3, 10_000, client_order_id="b-7"))
    (cancelled,) = of_type(cancel(engine, "bob", coid="b-7"), OrderCancelled)
    assert cancelled.order_id == oid
    assert engine.depth(SYMBOL) == ([], [])


def test_amend_by_client_order_id():
    engine = make_engine()
    oid = order_id(sell(engine, "bob", 3, 10_000, client_order_id="b-7"))
    engine.apply(AmendOrder(ts=ts(), user_id="bob", client_order_id="b-7", price=10_050))
    assert engine.queue(SYMBOL, SELL, 10_050) == [oid]
    amended = engine.open_order("bob", client_order_id="b-7")
    assert amended is not None
    assert amended.price == 10_050


def test_open_order_returns_a_copy():
    engine = make_engine()
    oid = order_id(sell(engine, "bob", 3, 10_000))
    copy = engine.open_order("bob", order_id=oid)
    assert copy is not None
    copy.remaining = Lots(0)
    assert engine.depth(SYMBOL) == ([], [(10_000, 3)])


# -- cancel all -----------------------------------------------------------------------


def test_cancel_all_cancels_every_open_order_and_stop_of_the_user():
    engine = make_engine()
    ids = [order_id(buy(engine, "alice", 1, 9_000 + i)) for i in range(3)]
    ids.append(order_id(sell(engine, "alice", 2, 11_000)))
    stop = place(engine, "alice", BUY, order_type="STOP_LIMIT", quantity=1, price=12_000, stop_price=11_500)
    ids.append(order_id(stop))
    other = order_id(sell(engine, "bob", 1, 10_500))
    events = engine.apply(CancelAllOrders(ts=ts(), user_id="alice"))
    cancelled = of_type(events, OrderCancelled)
    assert [e.order_id for e in cancelled] == ids
    assert {e.reason for e in cancelled} == {"CANCEL_ALL"}
    assert len(of_type(events, BookLevelChanged)) == 4
    assert engine.open_orders("alice") == []
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS, 0)
    assert engine.balance("alice", BASE) == (BASE_FUNDS, 0)
    assert engine.queue(SYMBOL, SELL, 10_500) == [other]
    assert engine.pending_stops(SYMBOL) == []


def test_cancel_all_in_one_market_leaves_the_users_other_markets_alone():
    engine = make_engine(markets=[MARKET, OTHER])
    here = [order_id(buy(engine, "alice", 1, 9_000)), order_id(sell(engine, "alice", 1, 11_000))]
    there = order_id(buy(engine, "alice", 2, 3_000, market=OTHER.symbol))
    events = engine.apply(CancelAllOrders(ts=ts(), user_id="alice", market=SYMBOL))
    assert [e.order_id for e in of_type(events, OrderCancelled)] == here
    assert {e.market for e in events if hasattr(e, "market")} == {SYMBOL}
    assert [o.id for o in engine.open_orders("alice")] == [there]
    assert engine.depth(OTHER.symbol) == ([(3_000, 2)], [])
    assert engine.depth(SYMBOL) == ([], [])


def test_cancel_all_in_an_unknown_market_is_rejected():
    engine = make_engine()
    buy(engine, "alice", 1, 9_000)
    assert_rejected(engine, CancelAllOrders(ts=ts(), user_id="alice", market="XRP-USDT"), "UNKNOWN_MARKET")


def test_cancel_all_for_a_user_without_orders_does_nothing():
    engine = make_engine()
    sell(engine, "bob", 1, 10_500)
    before = engine.snapshot()
    assert engine.apply(CancelAllOrders(ts=ts(), user_id="alice")) == []
    assert engine.apply(CancelAllOrders(ts=ts(), user_id="nobody")) == []
    assert engine.snapshot() == before


# -- placing: validation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"side": "HOLD"}, "INVALID_ORDER"),
        ({"market": "ETH-USDT"}, "UNKNOWN_MARKET"),
        ({"order_type": "TRAILING"}, "INVALID_ORDER"),
        ({"time_in_force": "GTD"}, "INVALID_ORDER"),
        ({"stp_mode": "EXPIRE_ALL"}, "INVALID_ORDER"),
        ({"quantity": 0}, "QUANTITY_BELOW_MIN"),
        ({"quantity": -1}, "VALUE_OUT_OF_RANGE"),
        ({"quantity": 5, "quote_quantity": -100, "order_type": "MARKET", "price": 0}, "VALUE_OUT_OF_RANGE"),
        ({"quantity": MARKET.max_quantity + 1}, "QUANTITY_ABOVE_MAX"),
        ({"price": 0}, "PRICE_OUT_OF_RANGE"),
        ({"price": MARKET.max_price + 1}, "PRICE_OUT_OF_RANGE"),
        ({"quote_quantity": 100}, "INVALID_ORDER"),
        ({"stop_price": 9_000}, "INVALID_ORDER"),
        ({"user_id": FEE_ACCOUNT}, "INVALID_ORDER"),
        ({"user_id": ""}, "INVALID_ORDER"),
    ],
)
def test_invalid_limit_order_is_rejected(fields, code):
    engine = make_engine("alice", FEE_ACCOUNT)
    command = limit("alice", BUY, 1, 10_000)
    assert_rejected(engine, msgspec.structs.replace(command, **fields), code)


def test_order_below_min_notional_is_rejected():
    market = market_from_spec(msgspec.structs.replace(SPEC, min_notional="10"))  # 10 USDT
    engine = make_engine(markets=[market])
    smallest = 10 * 10**8 // (10_000 * K)  # lots at 100.00 that make exactly 10 USDT
    assert_rejected(engine, limit("alice", BUY, smallest - 1, 10_000), "NOTIONAL_BELOW_MIN")
    assert of_type(buy(engine, "alice", smallest, 10_000), OrderAccepted)


def test_resting_buy_hold_covers_price_times_quantity_plus_the_largest_fee():
    engine = make_engine()
    (accepted,) = of_type(buy(engine, "alice", 7, 12_345), OrderAccepted)
    assert accepted.hold == buy_hold(7, 12_345) == hold_after_fills(Lots(7), Ticks(12_345), K, 0, MAX_RATE)
    assert MAX_RATE == TAKER_RATE


def test_resting_sell_holds_its_base_quantity():
    engine = make_engine()
    (accepted,) = of_type(sell(engine, "bob", 7, 12_345), OrderAccepted)
    assert accepted.hold == 7 * LOT
    assert engine.balance("bob", BASE) == (BASE_FUNDS - 7 * LOT, 7 * LOT)
    assert not of_type(sell(engine, "bob", 1, 12_346), TradeExecuted)

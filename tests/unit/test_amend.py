"""Amending a resting order: what keeps time priority, what loses it, what it holds."""

from trade_engine.domain.vocabulary import BUY, SELL
from trade_engine.engine import AmendOrder, BookLevelChanged, OrderAmended, OrderFilled, TradeExecuted

from .helpers import (
    BASE,
    BASE_FUNDS,
    LOT,
    QUOTE,
    QUOTE_FUNDS,
    SYMBOL,
    TAKER_RATE,
    assert_rejected,
    buy,
    buy_hold,
    fee,
    make_engine,
    notional,
    of_type,
    order_id,
    sell,
    ts,
)


def amend(engine, user, oid, price=None, quantity=None):
    return engine.apply(AmendOrder(ts=ts(), user_id=user, order_id=oid, price=price, quantity=quantity))


def three_asks(engine):
    return [order_id(sell(engine, user, 5, 10_000)) for user in ("bob", "carol", "bob")]


def test_quantity_decrease_keeps_its_place_and_its_siblings_order():
    engine = make_engine()
    first, middle, last = three_asks(engine)
    events = amend(engine, "carol", middle, quantity=2)
    (amended,) = of_type(events, OrderAmended)
    assert (amended.priority_kept, amended.quantity, amended.remaining) == (True, 2, 2)
    assert amended.hold_change == -3 * LOT
    assert [(e.price, e.quantity) for e in of_type(events, BookLevelChanged)] == [(10_000, 12)]
    assert engine.queue(SYMBOL, SELL, 10_000) == [first, middle, last]
    assert engine.balance("carol", BASE) == (BASE_FUNDS - 2 * LOT, 2 * LOT)
    fills = buy(engine, "alice", 8, 10_000)
    assert [(t.maker_order_id, t.quantity) for t in of_type(fills, TradeExecuted)] == [
        (first, 5),
        (middle, 2),
        (last, 1),
    ]


def test_quantity_decrease_of_the_head_keeps_it_at_the_head():
    engine = make_engine()
    first, middle, last = three_asks(engine)
    amend(engine, "bob", first, quantity=1)
    assert engine.queue(SYMBOL, SELL, 10_000) == [first, middle, last]
    (trade,) = of_type(buy(engine, "alice", 1, 10_000), TradeExecuted)
    assert trade.maker_order_id == first


def test_quantity_increase_loses_priority():
    engine = make_engine()
    first, middle, last = three_asks(engine)
    (amended,) = of_type(amend(engine, "bob", first, quantity=8), OrderAmended)
    assert (amended.priority_kept, amended.hold_change) == (False, 3 * LOT)
    assert engine.queue(SYMBOL, SELL, 10_000) == [middle, last, first]
    assert engine.depth(SYMBOL)[1] == [(10_000, 18)]
    assert engine.balance("bob", BASE) == (BASE_FUNDS - 13 * LOT, 13 * LOT)


def test_price_change_loses_priority_even_when_changed_back():
    engine = make_engine()
    first, middle, last = three_asks(engine)
    amend(engine, "bob", first, price=10_010)
    assert engine.queue(SYMBOL, SELL, 10_010) == [first]
    amend(engine, "bob", first, price=10_000)
    assert engine.queue(SYMBOL, SELL, 10_000) == [middle, last, first]


def test_price_change_joins_the_back_of_the_new_level():
    engine = make_engine()
    first, _, _ = three_asks(engine)
    there = order_id(sell(engine, "carol", 1, 10_020))
    events = amend(engine, "bob", first, price=10_020)
    assert [(e.price, e.quantity) for e in of_type(events, BookLevelChanged)] == [(10_000, 10), (10_020, 6)]
    assert engine.queue(SYMBOL, SELL, 10_020) == [there, first]


def test_amend_that_crosses_fills_at_the_makers_price():
    engine = make_engine()
    maker = order_id(sell(engine, "bob", 5, 10_000))
    oid = order_id(buy(engine, "alice", 5, 9_900))
    events = amend(engine, "alice", oid, price=10_050)
    (amended,) = of_type(events, OrderAmended)
    assert amended.hold_change == buy_hold(5, 10_050) - buy_hold(5, 9_900)
    (trade,) = of_type(events, TradeExecuted)
    assert (trade.price, trade.quantity, trade.maker_order_id, trade.taker_order_id) == (
        10_000,
        5,
        maker,
        oid,
    )
    assert [e.order_id for e in of_type(events, OrderFilled)] == [maker, oid]
    spent = notional(10_000, 5) + fee(notional(10_000, 5), TAKER_RATE)
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - spent, 0)
    assert engine.depth(SYMBOL) == ([], [])


def test_amend_that_partly_crosses_rests_the_remainder_at_the_new_price():
    engine = make_engine()
    sell(engine, "bob", 2, 10_000)
    oid = order_id(buy(engine, "alice", 5, 9_900))
    amend(engine, "alice", oid, price=10_000)
    assert engine.depth(SYMBOL) == ([(10_000, 3)], [])
    resting = engine.open_order("alice", order_id=oid)
    assert resting is not None
    assert (resting.quantity, resting.remaining) == (5, 3)
    assert engine.balance("alice", QUOTE).locked == engine.hold_of(resting)


def test_amend_after_partial_fill_counts_the_filled_quantity():
    engine = make_engine()
    oid = order_id(sell(engine, "bob", 10, 10_000))
    buy(engine, "alice", 4, 10_000)
    assert_rejected(engine, AmendOrder(ts=ts(), user_id="bob", order_id=oid, quantity=4), "INVALID_ORDER")
    (amended,) = of_type(amend(engine, "bob", oid, quantity=6), OrderAmended)
    assert (amended.quantity, amended.remaining, amended.priority_kept) == (6, 2, True)
    assert engine.balance("bob", BASE) == (BASE_FUNDS - 6 * LOT, 2 * LOT)


def test_buy_price_increase_holds_the_difference():
    engine = make_engine()
    oid = order_id(buy(engine, "alice", 5, 9_000))
    (amended,) = of_type(amend(engine, "alice", oid, price=9_500), OrderAmended)
    assert amended.hold_change == buy_hold(5, 9_500) - buy_hold(5, 9_000)
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - buy_hold(5, 9_500), buy_hold(5, 9_500))


def test_amend_that_changes_nothing_is_rejected():
    engine = make_engine()
    oid = order_id(buy(engine, "alice", 5, 9_000))
    command = AmendOrder(ts=ts(), user_id="alice", order_id=oid, price=9_000, quantity=5)
    assert_rejected(engine, command, "INVALID_ORDER")


def test_amend_out_of_the_markets_range_is_rejected():
    engine = make_engine()
    oid = order_id(buy(engine, "alice", 5, 9_000))
    assert_rejected(engine, AmendOrder(ts=ts(), user_id="alice", order_id=oid, price=0), "PRICE_OUT_OF_RANGE")
    assert_rejected(
        engine, AmendOrder(ts=ts(), user_id="alice", order_id=oid, quantity=0), "QUANTITY_BELOW_MIN"
    )


def test_post_only_amend_that_would_take_is_rejected():
    engine = make_engine()
    sell(engine, "bob", 5, 10_000)
    oid = order_id(buy(engine, "alice", 5, 9_000, post_only=True))
    command = AmendOrder(ts=ts(), user_id="alice", order_id=oid, price=10_000)
    assert_rejected(engine, command, "POST_ONLY_WOULD_TAKE")


def test_amend_increase_beyond_available_funds_is_rejected():
    engine = make_engine("alice", quote=buy_hold(5, 10_000), base=0)
    oid = order_id(buy(engine, "alice", 5, 10_000))
    command = AmendOrder(ts=ts(), user_id="alice", order_id=oid, quantity=6)
    assert_rejected(engine, command, "INSUFFICIENT_BALANCE")
    assert engine.queue(SYMBOL, BUY, 10_000) == [oid]

"""Market orders: sized by base quantity or by quote amount; what cannot fill expires."""

import pytest

from trade_engine.domain.vocabulary import BUY, SELL
from trade_engine.engine import OrderAccepted, OrderExpired, OrderFilled, PlaceOrder, TradeExecuted

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
    fee,
    make_engine,
    notional,
    of_type,
    order_id,
    place,
    sell,
    ts,
)


def market(engine, user, side, **size):
    return place(engine, user, side, order_type="MARKET", **size)


def market_command(side, **fields):
    return PlaceOrder(ts=ts(), user_id="alice", market=SYMBOL, side=side, order_type="MARKET", **fields)


def fills(events):
    return [(t.price, t.quantity) for t in of_type(events, TradeExecuted)]


def taker_spend(events):
    return sum(t.quote_amount + t.taker_fee for t in of_type(events, TradeExecuted))


def test_market_buy_by_quote_that_exhausts_the_book_expires_and_returns_the_unspent_amount():
    engine = make_engine()
    sell(engine, "bob", 2, 10_000)
    sell(engine, "bob", 3, 10_010)
    amount = 10**8
    events = market(engine, "alice", BUY, quote_quantity=amount)
    assert fills(events) == [(10_000, 2), (10_010, 3)]
    spent = taker_spend(events)
    (expired,) = of_type(events, OrderExpired)
    assert (expired.reason, expired.released) == ("NO_LIQUIDITY", amount - spent)
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - spent, 0)
    assert engine.balance("alice", BASE) == (BASE_FUNDS + 5 * LOT, 0)
    assert engine.depth(SYMBOL) == ([], [])


def test_market_buy_by_quote_that_is_fully_spent_fills():
    engine = make_engine()
    sell(engine, "bob", 100, 10_000)
    amount = notional(10_000, 3) + fee(notional(10_000, 3), TAKER_RATE)
    events = market(engine, "alice", BUY, quote_quantity=amount)
    assert fills(events) == [(10_000, 3)]
    (filled,) = [e for e in of_type(events, OrderFilled) if e.order_id == order_id(events)]
    assert filled.released == 0
    assert taker_spend(events) == amount
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - amount, 0)
    assert engine.depth(SYMBOL) == ([], [(10_000, 97)])


def test_market_buy_by_quote_spending_its_whole_amount_on_the_last_liquidity_fills():
    engine = make_engine()
    sell(engine, "bob", 3, 10_000)
    amount = notional(10_000, 3) + fee(notional(10_000, 3), TAKER_RATE)
    events = market(engine, "alice", BUY, quote_quantity=amount)
    assert fills(events) == [(10_000, 3)]
    assert not of_type(events, OrderExpired)
    (filled,) = [e for e in of_type(events, OrderFilled) if e.order_id == order_id(events)]
    assert filled.released == 0
    assert engine.depth(SYMBOL) == ([], [])


def test_market_sell_by_quote_reaching_its_amount_on_the_last_liquidity_fills():
    engine = make_engine()
    buy(engine, "bob", 3, 10_000)
    events = market(engine, "alice", SELL, quote_quantity=notional(10_000, 3))
    assert fills(events) == [(10_000, 3)]
    assert not of_type(events, OrderExpired)
    assert of_type(events, OrderFilled)[-1].order_id == order_id(events)
    assert engine.balance("alice", BASE) == (BASE_FUNDS - 3 * LOT, 0)


def test_market_buy_by_quote_fills_and_returns_dust_smaller_than_one_more_lot():
    engine = make_engine()
    sell(engine, "bob", 2, 10_000)
    sell(engine, "bob", 100, 10_010)
    amount = notional(10_000, 3)  # the fee leaves room for 2 lots at 10,000 and 0 at 10,010
    events = market(engine, "alice", BUY, quote_quantity=amount)
    assert fills(events) == [(10_000, 2)]
    spent = taker_spend(events)
    assert spent <= amount
    assert amount - spent < notional(10_010, 1) + fee(notional(10_010, 1), TAKER_RATE)
    (filled,) = [e for e in of_type(events, OrderFilled) if e.order_id == order_id(events)]
    assert filled.released == amount - spent
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - spent, 0)


def test_market_buy_by_quote_spanning_levels_never_spends_more_than_the_amount():
    engine = make_engine()
    for price in range(10_000, 10_050, 7):
        sell(engine, "bob", 3, price)
    amount = 1_234_567
    events = market(engine, "alice", BUY, quote_quantity=amount)
    spent = taker_spend(events)
    assert 0 < spent <= amount
    assert of_type(events, OrderFilled)[-1].order_id == order_id(events)
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - spent, 0)


def test_market_sell_by_quote_receives_that_amount():
    engine = make_engine()
    buy(engine, "bob", 5, 10_000)
    buy(engine, "bob", 5, 9_990)
    amount = notional(10_000, 5) + notional(9_990, 2)
    events = market(engine, "alice", SELL, quote_quantity=amount)
    assert fills(events) == [(10_000, 5), (9_990, 2)]
    assert of_type(events, OrderFilled)[-1].order_id == order_id(events)
    (accepted,) = of_type(events, OrderAccepted)
    assert accepted.hold == BASE_FUNDS  # it may sell all the base it has
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS + amount - fee(amount, TAKER_RATE), 0)
    assert engine.balance("alice", BASE) == (BASE_FUNDS - 7 * LOT, 0)
    assert engine.depth(SYMBOL) == ([(9_990, 3)], [])


def test_market_sell_by_quote_stops_short_of_one_more_lot():
    engine = make_engine()
    buy(engine, "bob", 10, 10_000)
    amount = notional(10_000, 3) + 5
    events = market(engine, "alice", SELL, quote_quantity=amount)
    assert fills(events) == [(10_000, 3)]
    assert of_type(events, OrderFilled)[-1].order_id == order_id(events)
    assert engine.balance("alice", BASE) == (BASE_FUNDS - 3 * LOT, 0)


def test_market_buy_by_base_quantity_fills_that_quantity():
    engine = make_engine()
    sell(engine, "bob", 2, 10_000)
    sell(engine, "bob", 5, 10_010)
    events = market(engine, "alice", BUY, quantity=4)
    assert fills(events) == [(10_000, 2), (10_010, 2)]
    (accepted,) = of_type(events, OrderAccepted)
    assert accepted.hold == QUOTE_FUNDS
    (filled,) = [e for e in of_type(events, OrderFilled) if e.order_id == accepted.order_id]
    assert filled.released == QUOTE_FUNDS - taker_spend(events)
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - taker_spend(events), 0)
    assert engine.balance("alice", BASE) == (BASE_FUNDS + 4 * LOT, 0)
    assert engine.depth(SYMBOL) == ([], [(10_010, 3)])


def test_market_sell_by_base_quantity_fills_that_quantity():
    engine = make_engine()
    buy(engine, "bob", 2, 10_000)
    buy(engine, "bob", 5, 9_990)
    events = market(engine, "alice", SELL, quantity=4)
    assert fills(events) == [(10_000, 2), (9_990, 2)]
    assert of_type(events, OrderFilled)[-1].order_id == order_id(events)
    assert engine.balance("alice", BASE) == (BASE_FUNDS - 4 * LOT, 0)
    assert engine.depth(SYMBOL) == ([(9_990, 3)], [])


def test_market_buy_larger_than_the_book_fills_what_it_can_and_expires_the_rest():
    engine = make_engine()
    sell(engine, "bob", 2, 10_000)
    events = market(engine, "alice", BUY, quantity=5)
    assert fills(events) == [(10_000, 2)]
    (expired,) = of_type(events, OrderExpired)
    assert (expired.remaining, expired.reason) == (3, "NO_LIQUIDITY")
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - taker_spend(events), 0)


def test_market_buy_by_quantity_stops_when_the_funds_run_out():
    cost = notional(10_000, 2) + fee(notional(10_000, 2), TAKER_RATE)
    engine = make_engine("alice", "bob", quote=cost + 1)
    sell(engine, "bob", 10, 10_000)
    events = market(engine, "alice", BUY, quantity=5)
    assert fills(events) == [(10_000, 2)]
    (expired,) = of_type(events, OrderExpired)
    assert (expired.remaining, expired.reason, expired.released) == (3, "INSUFFICIENT_FUNDS", 1)
    assert engine.balance("alice", QUOTE) == (1, 0)


@pytest.mark.parametrize(
    ("side", "size"),
    [
        (BUY, {"quantity": 3}),
        (BUY, {"quote_quantity": 10**6}),
        (SELL, {"quantity": 3}),
        (SELL, {"quote_quantity": 10**6}),
    ],
)
def test_market_order_on_an_empty_book_expires_with_no_liquidity(side, size):
    engine = make_engine()
    events = market(engine, "alice", side, **size)
    assert [type(e) for e in events] == [OrderAccepted, OrderExpired]
    accepted, expired = events
    assert isinstance(accepted, OrderAccepted)
    assert isinstance(expired, OrderExpired)
    assert expired.reason == "NO_LIQUIDITY"
    assert expired.released == accepted.hold
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS, 0)
    assert engine.balance("alice", BASE) == (BASE_FUNDS, 0)
    assert engine.open_orders("alice") == []


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"quantity": 1, "time_in_force": "FOK"}, "INVALID_ORDER"),
        ({"quantity": 1, "price": 10_000}, "INVALID_ORDER"),
        ({"quantity": 1, "quote_quantity": 10**6}, "INVALID_ORDER"),
        ({}, "INVALID_ORDER"),
        ({"quantity": 1, "post_only": True}, "INVALID_ORDER"),
        ({"quantity": 1, "stop_price": 10_000}, "INVALID_ORDER"),
        ({"quote_quantity": 2**62}, "VALUE_OUT_OF_RANGE"),
        ({"quote_quantity": QUOTE_FUNDS + 1}, "INSUFFICIENT_BALANCE"),
    ],
)
def test_invalid_market_buy_is_rejected(fields, code):
    engine = make_engine()
    sell(engine, "bob", 1, 10_000)
    assert_rejected(engine, market_command(BUY, **fields), code)


def test_market_order_without_funds_is_rejected():
    engine = make_engine("bob")
    buy(engine, "bob", 1, 9_000)
    sell(engine, "bob", 1, 11_000)
    assert_rejected(engine, market_command(BUY, quantity=1), "INSUFFICIENT_BALANCE")
    assert_rejected(engine, market_command(SELL, quote_quantity=10**6), "INSUFFICIENT_BALANCE")

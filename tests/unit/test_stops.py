"""Stop orders: pending until the last trade price reaches them, then they take."""

from trade_engine.domain.vocabulary import BUY, SELL
from trade_engine.engine import (
    AmendOrder,
    CancelOrder,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    PlaceOrder,
    StopTriggered,
    TradeExecuted,
)

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
    place,
    sell,
    ts,
)


def trade_at(engine, price, quantity=1):
    """Print one trade at `price` between bob (seller) and carol (buyer)."""
    sell(engine, "bob", quantity, price)
    events = buy(engine, "carol", quantity, price)
    assert engine.last_price(SYMBOL) == price
    return events


def stop_limit(engine, user, side, quantity, stop, price, **fields):
    return place(
        engine, user, side, order_type="STOP_LIMIT", quantity=quantity, stop_price=stop, price=price, **fields
    )


def stop_market(engine, user, side, stop, **fields):
    return place(engine, user, side, order_type="STOP_MARKET", stop_price=stop, **fields)


def stop_command(side, stop, **fields):
    return PlaceOrder(
        ts=ts(), user_id="alice", market=SYMBOL, side=side, order_type="STOP_LIMIT", stop_price=stop, **fields
    )


def test_stop_limit_waits_without_touching_the_book():
    engine = make_engine()
    trade_at(engine, 10_000)
    events = stop_limit(engine, "alice", BUY, 3, 10_050, 10_060)
    (accepted,) = of_type(events, OrderAccepted)
    assert accepted.hold == buy_hold(3, 10_060)
    assert [o.id for o in engine.pending_stops(SYMBOL)] == [accepted.order_id]
    assert engine.depth(SYMBOL) == ([], [])
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - buy_hold(3, 10_060), buy_hold(3, 10_060))


def test_stop_limit_buy_triggers_when_the_last_price_reaches_its_stop():
    engine = make_engine()
    trade_at(engine, 10_000)
    stop = order_id(stop_limit(engine, "alice", BUY, 3, 10_050, 10_060))
    maker = order_id(sell(engine, "bob", 5, 10_050))
    events = buy(engine, "carol", 1, 10_050)
    (triggered,) = of_type(events, StopTriggered)
    assert (triggered.order_id, triggered.last_price, triggered.hold_change) == (stop, 10_050, 0)
    trades = of_type(events, TradeExecuted)
    assert [(t.taker_order_id, t.maker_order_id, t.price, t.quantity) for t in trades][1:] == [
        (stop, maker, 10_050, 3)
    ]
    assert events.index(triggered) < events.index(trades[1])
    assert engine.pending_stops(SYMBOL) == []
    spent = notional(10_050, 3) + fee(notional(10_050, 3), TAKER_RATE)
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - spent, 0)


def test_triggered_stop_limit_that_cannot_fill_rests_at_its_limit_and_can_be_cancelled():
    engine = make_engine()
    trade_at(engine, 10_000)
    stop = order_id(stop_limit(engine, "alice", SELL, 2, 9_990, 9_995))
    trade_at(engine, 9_990)
    assert engine.depth(SYMBOL) == ([], [(9_995, 2)])
    assert engine.queue(SYMBOL, SELL, 9_995) == [stop]
    (cancelled,) = of_type(engine.apply(CancelOrder(ts=ts(), user_id="alice", order_id=stop)), OrderCancelled)
    assert (cancelled.remaining, cancelled.released) == (2, 2 * LOT)
    assert engine.balance("alice", BASE) == (BASE_FUNDS, 0)


def test_stop_market_sell_triggers_on_a_price_drop_and_sweeps_the_bids():
    engine = make_engine()
    trade_at(engine, 10_000)
    stop = order_id(stop_market(engine, "alice", SELL, 9_950, quantity=4))
    buy(engine, "bob", 2, 9_950)
    buy(engine, "carol", 5, 9_900)
    events = sell(engine, "carol", 1, 9_950)
    assert of_type(events, StopTriggered)[0].order_id == stop
    fills = [(t.price, t.quantity) for t in of_type(events, TradeExecuted) if t.taker_order_id == stop]
    assert fills == [(9_950, 1), (9_900, 3)]
    assert of_type(events, OrderFilled)[-1].order_id == stop
    assert engine.balance("alice", BASE) == (BASE_FUNDS - 4 * LOT, 0)
    assert engine.depth(SYMBOL) == ([(9_900, 2)], [])


def test_stop_market_buy_by_quantity_may_spend_all_available_quote_once_triggered():
    engine = make_engine()
    trade_at(engine, 10_000)
    (accepted,) = of_type(stop_market(engine, "alice", BUY, 10_010, quantity=3), OrderAccepted)
    assert accepted.hold == buy_hold(3, 10_010)
    sell(engine, "bob", 1, 10_010)
    sell(engine, "bob", 5, 10_200)  # above the stop price: a market order still takes it
    events = buy(engine, "carol", 1, 10_010)
    (triggered,) = of_type(events, StopTriggered)
    assert triggered.hold_change == QUOTE_FUNDS - buy_hold(3, 10_010)
    fills = [
        (t.price, t.quantity) for t in of_type(events, TradeExecuted) if t.taker_order_id == accepted.order_id
    ]
    assert fills == [(10_200, 3)]
    spent = notional(10_200, 3) + fee(notional(10_200, 3), TAKER_RATE)
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - spent, 0)


def test_stop_market_buy_by_quote_amount_spends_at_most_that_amount():
    engine = make_engine()
    trade_at(engine, 10_000)
    budget = notional(10_010, 4)
    stop = order_id(stop_market(engine, "alice", BUY, 10_010, quote_quantity=budget))
    sell(engine, "bob", 10, 10_010)
    events = buy(engine, "carol", 1, 10_010)
    fills = [t for t in of_type(events, TradeExecuted) if t.taker_order_id == stop]
    assert [t.quantity for t in fills] == [3]  # 4 lots would leave nothing for the fee
    assert of_type(events, OrderFilled)[-1].order_id == stop
    spent = sum(t.quote_amount + t.taker_fee for t in fills)
    assert spent <= budget
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - spent, 0)


def test_stop_market_sell_by_quote_amount_is_rejected():
    engine = make_engine()
    command = PlaceOrder(
        ts=ts(),
        user_id="alice",
        market=SYMBOL,
        side=SELL,
        order_type="STOP_MARKET",
        stop_price=9_000,
        quote_quantity=10**8,
    )
    assert_rejected(engine, command, "INVALID_ORDER")


def test_triggered_stop_cascades_into_the_next_stop():
    engine = make_engine()
    trade_at(engine, 10_000)
    sell(engine, "bob", 1, 10_010)
    sell(engine, "bob", 1, 10_020)
    sell(engine, "bob", 5, 10_030)
    first = order_id(stop_market(engine, "alice", BUY, 10_010, quantity=1))
    second = order_id(stop_market(engine, "carol", BUY, 10_020, quantity=1))
    untouched = order_id(stop_market(engine, "carol", BUY, 10_040, quantity=1))
    events = buy(engine, "carol", 1, 10_010)
    assert [e.order_id for e in of_type(events, StopTriggered)] == [first, second]
    assert [(t.taker_order_id, t.price) for t in of_type(events, TradeExecuted)][1:] == [
        (first, 10_020),
        (second, 10_030),
    ]
    assert [o.id for o in engine.pending_stops(SYMBOL)] == [untouched]
    assert engine.last_price(SYMBOL) == 10_030


def test_buy_stops_triggered_together_fire_by_stop_price_then_time():
    engine = make_engine()
    trade_at(engine, 10_000)
    late_high = order_id(stop_limit(engine, "alice", BUY, 1, 10_020, 9_000))
    early_low = order_id(stop_limit(engine, "carol", BUY, 1, 10_010, 9_000))
    late_low = order_id(stop_limit(engine, "alice", BUY, 1, 10_010, 9_000))
    last_high = order_id(stop_limit(engine, "bob", BUY, 1, 10_020, 9_000))
    events = trade_at(engine, 10_030)
    fired = [e.order_id for e in of_type(events, StopTriggered)]
    assert fired == [early_low, late_low, late_high, last_high]
    assert engine.queue(SYMBOL, BUY, 9_000) == fired


def test_sell_stops_triggered_together_fire_by_descending_stop_price_then_time():
    engine = make_engine()
    trade_at(engine, 10_000)
    first_high = order_id(stop_limit(engine, "alice", SELL, 1, 9_990, 11_000))
    low = order_id(stop_limit(engine, "carol", SELL, 1, 9_980, 11_000))
    second_high = order_id(stop_limit(engine, "bob", SELL, 1, 9_990, 11_000))
    events = trade_at(engine, 9_970)
    assert [e.order_id for e in of_type(events, StopTriggered)] == [first_high, second_high, low]


def test_stop_that_would_trigger_at_once_is_rejected():
    engine = make_engine()
    trade_at(engine, 10_000)
    for side, stop in ((BUY, 10_000), (BUY, 9_990), (SELL, 10_000), (SELL, 10_010)):
        command = stop_command(side, stop, quantity=1, price=10_000)
        assert_rejected(engine, command, "STOP_WOULD_TRIGGER")


def test_stop_before_any_trade_waits_for_the_first_trade():
    engine = make_engine()
    stop = order_id(stop_limit(engine, "alice", BUY, 1, 9_000, 9_500))
    assert [o.id for o in engine.pending_stops(SYMBOL)] == [stop]
    events = trade_at(engine, 10_000)
    assert [e.order_id for e in of_type(events, StopTriggered)] == [stop]
    assert engine.queue(SYMBOL, BUY, 9_500) == [stop]


def test_cancelling_a_pending_stop_releases_its_hold():
    engine = make_engine()
    trade_at(engine, 10_000)
    buy_stop = order_id(stop_limit(engine, "alice", BUY, 3, 10_050, 10_060))
    sell_stop = order_id(stop_market(engine, "alice", SELL, 9_900, quantity=2))
    first = engine.apply(CancelOrder(ts=ts(), user_id="alice", order_id=buy_stop))
    second = engine.apply(CancelOrder(ts=ts(), user_id="alice", order_id=sell_stop))
    assert [(e.order_id, e.released) for e in of_type(first + second, OrderCancelled)] == [
        (buy_stop, buy_hold(3, 10_060)),
        (sell_stop, 2 * LOT),
    ]
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS, 0)
    assert engine.balance("alice", BASE) == (BASE_FUNDS, 0)
    assert engine.pending_stops(SYMBOL) == []
    assert not of_type(trade_at(engine, 10_100), StopTriggered)


def test_pending_stop_cannot_be_amended():
    engine = make_engine()
    stop = order_id(stop_limit(engine, "alice", BUY, 3, 10_050, 10_060))
    command = AmendOrder(ts=ts(), user_id="alice", order_id=stop, quantity=2)
    assert_rejected(engine, command, "ORDER_NOT_AMENDABLE")


def test_stop_market_with_nothing_to_take_expires_when_triggered():
    engine = make_engine()
    trade_at(engine, 10_000)
    stop = order_id(stop_market(engine, "alice", SELL, 9_990, quantity=2))
    events = trade_at(engine, 9_990)
    (expired,) = [e for e in of_type(events, OrderExpired) if e.order_id == stop]
    assert (expired.reason, expired.released) == ("NO_LIQUIDITY", 2 * LOT)
    assert engine.balance("alice", BASE) == (BASE_FUNDS, 0)


def test_a_sweep_that_trades_through_a_sell_stop_price_triggers_it():
    # Regression: stops were compared with the last trade price only, so a buy sweep
    # that traded at 9,000 and then at 11,000 left a sell stop at 9,500 pending.
    engine = make_engine("alice", "bob", "carol", "dave")
    trade_at(engine, 10_000)
    stop = order_id(stop_market(engine, "alice", SELL, 9_500, quantity=1))
    sell(engine, "bob", 1, 9_000)
    sell(engine, "bob", 1, 11_000)
    buy(engine, "dave", 3, 8_800)  # a bid, below the sweep, for the stop to sell into
    events = buy(engine, "carol", 2, 11_000)
    assert [t.price for t in of_type(events, TradeExecuted)][:2] == [9_000, 11_000]
    (triggered,) = of_type(events, StopTriggered)
    assert triggered.order_id == stop
    assert [t.price for t in of_type(events, TradeExecuted) if t.taker_order_id == stop] == [8_800]

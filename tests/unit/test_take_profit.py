"""Take-profit orders: pending like stops, but triggered by the opposite price move.

A buy take-profit fires when the last trade price falls to its stop price, a sell
take-profit when it rises to it (a stop buys on a rise and sells on a fall). Once fired
they are the same as a fired stop: TAKE_PROFIT_LIMIT takes as a LIMIT order,
TAKE_PROFIT_MARKET as a MARKET order, holding what the equivalent stop holds.
"""

from trade_engine.domain.vocabulary import BUY, SELL
from trade_engine.engine import (
    AmendOrder,
    CancelOrder,
    Order,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
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
    asset_total,
    buy,
    buy_hold,
    fee,
    make_engine,
    notional,
    of_type,
    order_id,
    place,
    restored_copy,
    sell,
    ts,
)

USERS = ("alice", "bob", "carol", "dave")


def trade_at(engine, price, quantity=1):
    """Print one trade at `price` between bob (seller) and carol (buyer); the events
    include whatever that trade fired."""
    sell(engine, "bob", quantity, price)
    events = buy(engine, "carol", quantity, price)
    assert of_type(events, TradeExecuted)[0].price == price
    return events


def take_profit_limit(engine, user, side, quantity, stop, price, **fields):
    return place(
        engine,
        user,
        side,
        order_type="TAKE_PROFIT_LIMIT",
        quantity=quantity,
        stop_price=stop,
        price=price,
        **fields,
    )


def take_profit_market(engine, user, side, stop, **fields):
    return place(engine, user, side, order_type="TAKE_PROFIT_MARKET", stop_price=stop, **fields)


def stop_market(engine, user, side, stop, **fields):
    return place(engine, user, side, order_type="STOP_MARKET", stop_price=stop, **fields)


def fired(events):
    return [e.order_id for e in of_type(events, StopTriggered)]


def test_take_profit_limit_waits_off_the_book_holding_what_a_stop_limit_holds():
    engine = make_engine(*USERS)
    trade_at(engine, 10_000)
    buy_tp = of_type(take_profit_limit(engine, "alice", BUY, 3, 9_950, 9_960), OrderAccepted)[0]
    sell_tp = of_type(take_profit_limit(engine, "alice", SELL, 2, 10_050, 10_040), OrderAccepted)[0]
    assert (buy_tp.order_type, buy_tp.stop_price, buy_tp.hold) == (
        "TAKE_PROFIT_LIMIT",
        9_950,
        buy_hold(3, 9_960),
    )
    assert sell_tp.hold == 2 * LOT
    assert [o.id for o in engine.pending_stops(SYMBOL)] == [sell_tp.order_id, buy_tp.order_id]
    assert all(o.pending for o in engine.pending_stops(SYMBOL))
    assert engine.depth(SYMBOL) == ([], [])
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - buy_hold(3, 9_960), buy_hold(3, 9_960))
    assert engine.balance("alice", BASE) == (BASE_FUNDS - 2 * LOT, 2 * LOT)


def test_buy_take_profit_triggers_when_the_price_falls_to_its_stop_price():
    engine = make_engine(*USERS)
    trade_at(engine, 10_000)
    tp = order_id(take_profit_limit(engine, "alice", BUY, 3, 9_950, 9_960))
    assert fired(trade_at(engine, 9_960)) == []
    maker = order_id(sell(engine, "bob", 5, 9_955))
    events = trade_at(engine, 9_950)
    (triggered,) = of_type(events, StopTriggered)
    assert (triggered.order_id, triggered.side, triggered.last_price, triggered.hold_change) == (
        tp,
        BUY,
        9_950,
        0,
    )
    fills = [
        (t.maker_order_id, t.price, t.quantity)
        for t in of_type(events, TradeExecuted)
        if t.taker_order_id == tp
    ]
    assert fills == [(maker, 9_955, 3)]
    assert of_type(events, OrderFilled)[-1].order_id == tp
    spent = notional(9_955, 3) + fee(notional(9_955, 3), TAKER_RATE)
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - spent, 0)
    assert engine.pending_stops(SYMBOL) == []


def test_sell_take_profit_triggers_when_the_price_rises_to_its_stop_price():
    engine = make_engine(*USERS)
    trade_at(engine, 10_000)
    tp = order_id(take_profit_market(engine, "alice", SELL, 10_050, quantity=2))
    assert fired(trade_at(engine, 10_040)) == []
    buy(engine, "dave", 4, 10_045)
    events = trade_at(engine, 10_050)
    assert fired(events) == [tp]
    fills = [(t.price, t.quantity) for t in of_type(events, TradeExecuted) if t.taker_order_id == tp]
    assert fills == [(10_045, 2)]
    assert engine.balance("alice", BASE) == (BASE_FUNDS - 2 * LOT, 0)
    assert engine.depth(SYMBOL)[0] == [(10_045, 2)]


def test_take_profits_ignore_the_move_that_fires_a_stop_of_the_same_side():
    engine = make_engine(*USERS)
    trade_at(engine, 10_000)
    buy_tp = order_id(take_profit_market(engine, "alice", BUY, 9_900, quantity=1))
    buy_stop = order_id(stop_market(engine, "alice", BUY, 10_100, quantity=1))
    sell_tp = order_id(take_profit_market(engine, "alice", SELL, 10_100, quantity=1))
    sell_stop = order_id(stop_market(engine, "alice", SELL, 9_900, quantity=1))
    assert fired(trade_at(engine, 10_100)) == [buy_stop, sell_tp]
    assert fired(trade_at(engine, 9_900)) == [buy_tp, sell_stop]


def test_take_profit_market_buy_by_quantity_holds_its_cost_at_the_stop_then_may_spend_all_available():
    engine = make_engine(*USERS)
    trade_at(engine, 10_000)
    (accepted,) = of_type(take_profit_market(engine, "alice", BUY, 9_990, quantity=3), OrderAccepted)
    assert accepted.hold == buy_hold(3, 9_990)
    sell(engine, "bob", 5, 10_200)  # above the stop price: a market order still takes it
    events = trade_at(engine, 9_990)
    (triggered,) = of_type(events, StopTriggered)
    assert triggered.hold_change == QUOTE_FUNDS - buy_hold(3, 9_990)
    fills = [
        (t.price, t.quantity) for t in of_type(events, TradeExecuted) if t.taker_order_id == accepted.order_id
    ]
    assert fills == [(10_200, 3)]
    spent = notional(10_200, 3) + fee(notional(10_200, 3), TAKER_RATE)
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - spent, 0)


def test_take_profit_market_buy_by_quote_amount_spends_at_most_that_amount():
    engine = make_engine(*USERS)
    trade_at(engine, 10_000)
    budget = notional(9_990, 4)
    (accepted,) = of_type(
        take_profit_market(engine, "alice", BUY, 9_990, quote_quantity=budget), OrderAccepted
    )
    assert accepted.hold == budget
    sell(engine, "bob", 10, 9_990)
    events = buy(engine, "carol", 1, 9_990)
    fills = [t for t in of_type(events, TradeExecuted) if t.taker_order_id == accepted.order_id]
    assert [t.quantity for t in fills] == [3]  # 4 lots would leave nothing for the fee
    spent = sum(t.quote_amount + t.taker_fee for t in fills)
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - spent, 0)


def test_take_profit_market_sell_by_quote_amount_is_rejected():
    engine = make_engine(*USERS)
    command = PlaceOrder(
        ts=ts(),
        user_id="alice",
        market=SYMBOL,
        side=SELL,
        order_type="TAKE_PROFIT_MARKET",
        stop_price=11_000,
        quote_quantity=10**8,
    )
    assert_rejected(engine, command, "INVALID_ORDER")


def test_take_profit_that_would_trigger_at_once_is_rejected_like_a_stop():
    engine = make_engine(*USERS)
    trade_at(engine, 10_000)
    for side, stop in ((BUY, 10_000), (BUY, 10_010), (SELL, 10_000), (SELL, 9_990)):
        for order_type, price in (("TAKE_PROFIT_LIMIT", 10_000), ("TAKE_PROFIT_MARKET", 0)):
            command = PlaceOrder(
                ts=ts(),
                user_id="alice",
                market=SYMBOL,
                side=side,
                order_type=order_type,
                quantity=1,
                price=price,
                stop_price=stop,
            )
            assert_rejected(engine, command, "STOP_WOULD_TRIGGER")


def test_take_profit_needs_a_stop_price_in_the_market_range():
    engine = make_engine(*USERS)
    command = PlaceOrder(
        ts=ts(),
        user_id="alice",
        market=SYMBOL,
        side=BUY,
        order_type="TAKE_PROFIT_LIMIT",
        quantity=1,
        price=100,
    )
    assert_rejected(engine, command, "PRICE_OUT_OF_RANGE")


def test_take_profit_before_any_trade_waits_for_the_first_trade():
    engine = make_engine(*USERS)
    tp = order_id(take_profit_limit(engine, "alice", SELL, 1, 12_000, 11_000))
    events = trade_at(engine, 12_000)
    assert fired(events) == [tp]
    assert engine.queue(SYMBOL, SELL, 11_000) == [tp]


def test_cancelling_a_pending_take_profit_releases_its_hold():
    engine = make_engine(*USERS)
    trade_at(engine, 10_000)
    buy_tp = order_id(take_profit_limit(engine, "alice", BUY, 3, 9_950, 9_960))
    sell_tp = order_id(take_profit_market(engine, "alice", SELL, 10_050, quantity=2))
    first = engine.apply(CancelOrder(ts=ts(), user_id="alice", order_id=buy_tp))
    second = engine.apply(CancelOrder(ts=ts(), user_id="alice", order_id=sell_tp))
    assert [(e.order_id, e.released, e.reason) for e in of_type(first + second, OrderCancelled)] == [
        (buy_tp, buy_hold(3, 9_960), "USER"),
        (sell_tp, 2 * LOT, "USER"),
    ]
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS, 0)
    assert engine.balance("alice", BASE) == (BASE_FUNDS, 0)
    assert engine.pending_stops(SYMBOL) == []
    assert fired(trade_at(engine, 10_100) + trade_at(engine, 9_900)) == []


def test_pending_take_profit_cannot_be_amended_but_a_fired_and_resting_one_can():
    engine = make_engine(*USERS)
    trade_at(engine, 10_000)
    tp = order_id(take_profit_limit(engine, "alice", SELL, 3, 10_050, 10_100))
    command = AmendOrder(ts=ts(), user_id="alice", order_id=tp, quantity=2)
    assert_rejected(engine, command, "ORDER_NOT_AMENDABLE")
    trade_at(engine, 10_050)
    assert engine.queue(SYMBOL, SELL, 10_100) == [tp]
    (amended,) = of_type(
        engine.apply(AmendOrder(ts=ts(), user_id="alice", order_id=tp, quantity=2)), OrderAmended
    )
    assert (amended.remaining, amended.priority_kept) == (2, True)


def test_a_cascade_mixes_stops_and_take_profits_of_both_directions():
    engine = make_engine(*USERS)
    trade_at(engine, 10_000)
    buy(engine, "bob", 1, 9_990)
    buy(engine, "bob", 5, 9_980)
    sell(engine, "bob", 5, 10_030)
    # A sell stop fires on the fall to 9,990 and sells down to 9,980; that fires a buy
    # take-profit, which buys at 10,030; that rise fires a sell take-profit.
    sell_stop = order_id(stop_market(engine, "alice", SELL, 9_990, quantity=2))
    buy_tp = order_id(take_profit_market(engine, "carol", BUY, 9_980, quantity=1))
    sell_tp = order_id(take_profit_market(engine, "dave", SELL, 10_030, quantity=1))
    untouched = order_id(take_profit_market(engine, "alice", BUY, 9_900, quantity=1))
    totals = {asset: asset_total(engine, asset) for asset in (BASE, QUOTE)}
    events = sell(engine, "dave", 1, 9_990)
    assert fired(events) == [sell_stop, buy_tp, sell_tp]
    trades = [(t.taker_order_id, t.price, t.quantity) for t in of_type(events, TradeExecuted)]
    assert trades[1:] == [(sell_stop, 9_980, 2), (buy_tp, 10_030, 1), (sell_tp, 9_980, 1)]
    assert [o.id for o in engine.pending_stops(SYMBOL)] == [untouched]
    assert engine.last_price(SYMBOL) == 9_980
    assert {asset: asset_total(engine, asset) for asset in (BASE, QUOTE)} == totals
    locked = {
        (user, asset): balance.locked
        for user, per_asset in engine.balances().items()
        for asset, balance in per_asset.items()
        if balance.locked
    }
    assert engine.holds() == locked


def test_stops_and_take_profits_reached_together_fire_older_first():
    engine = make_engine(*USERS)
    trade_at(engine, 10_000)
    buy_tp = order_id(take_profit_limit(engine, "alice", BUY, 1, 9_990, 9_000))
    buy_stop = order_id(stop_market(engine, "alice", BUY, 10_010, quantity=1))
    sell(engine, "bob", 1, 9_990)
    sell(engine, "bob", 1, 10_010)
    sell(engine, "bob", 5, 10_100)
    events = buy(engine, "dave", 2, 10_010)  # trades at 9,990, then at 10,010
    assert fired(events) == [buy_tp, buy_stop]


def test_stops_and_take_profits_that_fire_on_a_rise_share_one_firing_order():
    engine = make_engine(*USERS)
    trade_at(engine, 10_000)
    sell_tp_low = order_id(take_profit_limit(engine, "alice", SELL, 1, 10_010, 20_000))
    buy_stop_high = order_id(stop_market(engine, "alice", BUY, 10_020, quantity=1))
    buy_stop_low = order_id(stop_market(engine, "dave", BUY, 10_010, quantity=1))
    sell_tp_high = order_id(take_profit_limit(engine, "dave", SELL, 1, 10_020, 20_000))
    sell(engine, "bob", 10, 10_030)
    events = buy(engine, "carol", 1, 10_030)
    assert fired(events) == [sell_tp_low, buy_stop_low, buy_stop_high, sell_tp_high]


def test_a_restored_pending_take_profit_fires_as_the_original_would():
    original = make_engine(*USERS)
    trade_at(original, 10_000)
    tp = order_id(take_profit_limit(original, "alice", BUY, 2, 9_950, 9_960))
    stop = order_id(stop_market(original, "alice", SELL, 9_950, quantity=1))
    copy = restored_copy(original, last_price=10_000)
    assert copy.snapshot() == original.snapshot()
    restored = copy.open_order("alice", tp)
    assert isinstance(restored, Order)
    assert (restored.order_type, restored.pending) == ("TAKE_PROFIT_LIMIT", True)
    assert fired(trade_at(copy, 9_950)) == fired(trade_at(original, 9_950)) == [tp, stop]
    assert copy.snapshot() == original.snapshot()

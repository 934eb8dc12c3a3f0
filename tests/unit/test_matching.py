"""Price-time matching of limit orders: who trades with whom, at what price, in what order."""

from trade_engine.domain.units import Lots, Ticks
from trade_engine.domain.vocabulary import BUY, FEE_ACCOUNT, SELL
from trade_engine.engine import (
    BookLevelChanged,
    CancelOrder,
    OrderAccepted,
    OrderExpired,
    OrderFilled,
    PlaceOrder,
    TradeExecuted,
)
from trade_engine.engine.holds import buy_hold as hold_after_fills

from .helpers import (
    BASE,
    BASE_FUNDS,
    LOT,
    MAKER_RATE,
    MAX_RATE,
    QUOTE,
    QUOTE_FUNDS,
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
    sell,
    ts,
)


def cancel(engine, user, oid):
    return engine.apply(CancelOrder(ts=ts(), user_id=user, order_id=oid))


def maker_ids(events):
    return [trade.maker_order_id for trade in of_type(events, TradeExecuted)]


def test_trade_executes_at_the_makers_price():
    engine = make_engine()
    maker = order_id(sell(engine, "bob", 10, 10_000))
    events = buy(engine, "alice", 10, 10_100)
    (trade,) = of_type(events, TradeExecuted)
    amount = notional(10_000, 10)
    assert (trade.price, trade.quantity, trade.quote_amount, trade.base_amount) == (
        10_000,
        10,
        amount,
        10 * LOT,
    )
    assert (trade.maker_order_id, trade.taker_order_id, trade.taker_side) == (maker, order_id(events), BUY)
    assert (trade.maker_fee, trade.taker_fee) == (fee(amount, MAKER_RATE), fee(amount, TAKER_RATE))
    assert [e.order_id for e in of_type(events, OrderFilled)] == [maker, order_id(events)]
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - amount - fee(amount, TAKER_RATE), 0)
    assert engine.balance("alice", BASE) == (BASE_FUNDS + 10 * LOT, 0)
    assert engine.balance("bob", QUOTE) == (QUOTE_FUNDS + amount - fee(amount, MAKER_RATE), 0)
    assert engine.balance("bob", BASE) == (BASE_FUNDS - 10 * LOT, 0)
    assert engine.last_price(SYMBOL) == 10_000


def test_orders_at_one_price_fill_in_time_order():
    engine = make_engine()
    first = order_id(sell(engine, "bob", 2, 10_000))
    second = order_id(sell(engine, "carol", 2, 10_000))
    third = order_id(sell(engine, "bob", 2, 10_000))
    events = buy(engine, "alice", 5, 10_000)
    assert maker_ids(events) == [first, second, third]
    assert [t.quantity for t in of_type(events, TradeExecuted)] == [2, 2, 1]
    assert engine.queue(SYMBOL, SELL, 10_000) == [third]


def test_better_price_fills_before_an_older_worse_price():
    engine = make_engine()
    worse = order_id(sell(engine, "bob", 1, 10_010))
    better = order_id(sell(engine, "carol", 1, 10_000))
    events = buy(engine, "alice", 2, 10_010)
    assert maker_ids(events) == [better, worse]
    assert [t.price for t in of_type(events, TradeExecuted)] == [10_000, 10_010]


def test_sweep_after_cancelling_head_and_middle_fills_the_rest_in_fifo_order():
    engine = make_engine()
    ids = [order_id(sell(engine, ("bob", "carol")[i % 2], 1 + i, 10_000)) for i in range(5)]
    cancel(engine, "bob", ids[0])  # the head
    cancel(engine, "bob", ids[2])  # the middle
    assert engine.queue(SYMBOL, SELL, 10_000) == [ids[1], ids[3], ids[4]]
    events = buy(engine, "alice", 2 + 4 + 5, 10_000)
    assert maker_ids(events) == [ids[1], ids[3], ids[4]]
    assert [t.quantity for t in of_type(events, TradeExecuted)] == [2, 4, 5]
    assert engine.depth(SYMBOL) == ([], [])


def test_fifo_holds_after_scattered_cancels():
    engine = make_engine()
    ids = [order_id(sell(engine, ("bob", "carol")[i % 2], 2, 10_000)) for i in range(60)]
    survivors = [oid for i, oid in enumerate(ids) if i % 4 == 1]
    for i, oid in enumerate(ids):
        if i % 4 != 1:
            assert of_type(cancel(engine, ("bob", "carol")[i % 2], oid), BookLevelChanged)
    late = order_id(sell(engine, "bob", 2, 10_000))
    assert engine.queue(SYMBOL, SELL, 10_000) == [*survivors, late]
    assert engine.depth(SYMBOL)[1] == [(10_000, 2 * (len(survivors) + 1))]

    first = buy(engine, "alice", 7, 10_000)
    assert maker_ids(first) == survivors[:4]
    assert engine.queue(SYMBOL, SELL, 10_000) == [*survivors[3:], late]
    rest = buy(engine, "alice", 1 + 2 * (len(survivors) - 4) + 2, 10_000)
    assert maker_ids(rest) == [*survivors[3:], late]
    assert engine.depth(SYMBOL) == ([], [])


def test_ioc_sweeping_levels_that_ends_on_a_level_boundary_removes_the_level_only():
    engine = make_engine()
    sell(engine, "bob", 5, 10_000)
    sell(engine, "carol", 3, 10_000)
    sell(engine, "bob", 4, 10_010)
    untouched = order_id(sell(engine, "carol", 7, 10_020))
    events = buy(engine, "alice", 12, 10_020, time_in_force="IOC")
    assert [(t.price, t.quantity) for t in of_type(events, TradeExecuted)] == [
        (10_000, 5),
        (10_000, 3),
        (10_010, 4),
    ]
    assert [e.order_id for e in of_type(events, OrderFilled)][-1] == order_id(events)
    assert not of_type(events, OrderExpired)
    assert [(e.price, e.quantity) for e in of_type(events, BookLevelChanged)] == [(10_000, 0), (10_010, 0)]
    assert engine.depth(SYMBOL) == ([], [(10_020, 7)])
    assert engine.queue(SYMBOL, SELL, 10_020) == [untouched]


def test_ioc_remainder_expires_after_partial_fill():
    engine = make_engine()
    sell(engine, "bob", 5, 10_000)
    events = buy(engine, "alice", 8, 10_000, time_in_force="IOC")
    assert sum(t.quantity for t in of_type(events, TradeExecuted)) == 5
    (expired,) = of_type(events, OrderExpired)
    assert (expired.order_id, expired.remaining, expired.reason) == (order_id(events), 3, "IOC_REMAINDER")
    spent = notional(10_000, 5) + fee(notional(10_000, 5), TAKER_RATE)
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - spent, 0)
    assert engine.depth(SYMBOL) == ([], [])


def test_ioc_that_does_not_cross_expires_whole():
    engine = make_engine()
    sell(engine, "bob", 5, 10_010)
    events = buy(engine, "alice", 5, 10_000, time_in_force="IOC")
    (expired,) = of_type(events, OrderExpired)
    assert (expired.remaining, expired.released, expired.reason) == (5, buy_hold(5, 10_000), "IOC_REMAINDER")
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS, 0)
    assert engine.depth(SYMBOL) == ([], [(10_010, 5)])


def test_partially_filled_taker_residual_becomes_the_new_best_bid():
    engine = make_engine()
    buy(engine, "carol", 5, 9_990)
    sell(engine, "bob", 10, 10_000)
    sell(engine, "bob", 5, 10_010)
    events = buy(engine, "alice", 12, 10_005)
    assert sum(t.quantity for t in of_type(events, TradeExecuted)) == 10
    bids, asks = engine.depth(SYMBOL)
    assert bids == [(10_005, 2), (9_990, 5)]
    assert asks == [(10_010, 5)]
    assert engine.queue(SYMBOL, BUY, 10_005) == [order_id(events)]


def test_partially_filled_maker_residual_stays_the_best_ask_at_the_head():
    engine = make_engine()
    head = order_id(sell(engine, "bob", 10, 10_000))
    behind = order_id(sell(engine, "carol", 10, 10_000))
    buy(engine, "alice", 4, 10_000)
    assert engine.depth(SYMBOL)[1] == [(10_000, 16)]
    assert engine.queue(SYMBOL, SELL, 10_000) == [head, behind]
    resting = engine.open_order("bob", order_id=head)
    assert resting is not None
    assert (resting.quantity, resting.remaining) == (10, 6)
    assert engine.balance("bob", BASE) == (BASE_FUNDS - 10 * LOT, 6 * LOT)


def test_marketable_limit_stops_at_its_limit_and_rests_the_remainder_there():
    engine = make_engine()
    sell(engine, "bob", 3, 10_000)
    sell(engine, "bob", 3, 10_010)
    sell(engine, "bob", 3, 10_020)
    events = buy(engine, "alice", 10, 10_010)
    assert [(t.price, t.quantity) for t in of_type(events, TradeExecuted)] == [(10_000, 3), (10_010, 3)]
    assert engine.depth(SYMBOL) == ([(10_010, 4)], [(10_020, 3)])
    fee_numer = (notional(10_000, 3) + notional(10_010, 3)) * TAKER_RATE
    still_held = hold_after_fills(Lots(4), Ticks(10_010), K, fee_numer, MAX_RATE)
    resting = engine.open_order("alice", order_id=order_id(events))
    assert resting is not None
    assert engine.hold_of(resting) == still_held
    assert engine.balance("alice", QUOTE).locked == still_held


def test_sweeping_five_thousand_resting_orders():
    engine = make_engine()
    makers = ("bob", "carol")
    for i in range(5_000):
        sell(engine, makers[i % 2], 1, 10_000 + i // 100)
    events = buy(engine, "alice", 5_000, 10_049)
    trades = of_type(events, TradeExecuted)
    assert len(trades) == 5_000
    assert engine.depth(SYMBOL) == ([], [])
    assert engine.open_orders("bob") == engine.open_orders("carol") == engine.open_orders("alice") == []
    total = sum(notional(10_000 + i // 100, 1) for i in range(5_000))
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - total - fee(total, TAKER_RATE), 0)
    assert engine.balance("alice", BASE) == (BASE_FUNDS + 5_000 * LOT, 0)
    for parity, maker in enumerate(makers):
        prices = [10_000 + i // 100 for i in range(parity, 5_000, 2)]
        received = sum(notional(p, 1) - fee(notional(p, 1), MAKER_RATE) for p in prices)
        assert engine.balance(maker, QUOTE) == (QUOTE_FUNDS + received, 0)
        assert engine.balance(maker, BASE) == (BASE_FUNDS - 2_500 * LOT, 0)
    fees = fee(total, TAKER_RATE) + sum(fee(notional(10_000 + i // 100, 1), MAKER_RATE) for i in range(5_000))
    assert engine.balance(FEE_ACCOUNT, QUOTE) == (fees, 0)


def test_fok_that_cannot_fill_completely_leaves_no_trace():
    engine = make_engine()
    sell(engine, "bob", 5, 10_000)
    sell(engine, "carol", 3, 10_010)
    sell(engine, "carol", 9, 10_020)
    depth = engine.depth(SYMBOL)
    queue = engine.queue(SYMBOL, SELL, 10_000)
    events = buy(engine, "alice", 10, 10_010, time_in_force="FOK")
    assert [type(e) for e in events] == [OrderAccepted, OrderExpired]
    expired = events[1]
    assert isinstance(expired, OrderExpired)
    assert (expired.reason, expired.remaining, expired.released) == (
        "FOK_NOT_FILLABLE",
        10,
        buy_hold(10, 10_010),
    )
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS, 0)
    assert engine.depth(SYMBOL) == depth
    assert engine.queue(SYMBOL, SELL, 10_000) == queue
    assert engine.open_orders("alice") == []
    assert engine.last_price(SYMBOL) == 0


def test_fok_that_can_fill_fills_completely():
    engine = make_engine()
    sell(engine, "bob", 5, 10_000)
    sell(engine, "carol", 5, 10_010)
    events = buy(engine, "alice", 8, 10_010, time_in_force="FOK")
    assert [(t.price, t.quantity) for t in of_type(events, TradeExecuted)] == [(10_000, 5), (10_010, 3)]
    assert of_type(events, OrderFilled)[-1].order_id == order_id(events)
    assert engine.depth(SYMBOL) == ([], [(10_010, 2)])
    assert engine.balance("alice", QUOTE).locked == 0


def test_fok_sell_needing_all_liquidity_fills():
    engine = make_engine()
    buy(engine, "bob", 4, 10_000)
    buy(engine, "carol", 6, 9_990)
    events = sell(engine, "alice", 10, 9_990, time_in_force="FOK")
    assert sum(t.quantity for t in of_type(events, TradeExecuted)) == 10
    assert engine.depth(SYMBOL) == ([], [])
    assert engine.balance("alice", BASE) == (BASE_FUNDS - 10 * LOT, 0)


def test_post_only_that_would_take_is_rejected():
    engine = make_engine()
    sell(engine, "bob", 5, 10_000)
    command = PlaceOrder(
        ts=ts(), user_id="alice", market=SYMBOL, side=BUY, quantity=1, price=10_000, post_only=True
    )
    assert_rejected(engine, command, "POST_ONLY_WOULD_TAKE")


def test_post_only_that_does_not_cross_rests():
    engine = make_engine()
    sell(engine, "bob", 5, 10_000)
    events = buy(engine, "alice", 3, 9_999, post_only=True)
    assert not of_type(events, TradeExecuted)
    assert engine.depth(SYMBOL) == ([(9_999, 3)], [(10_000, 5)])
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - buy_hold(3, 9_999), buy_hold(3, 9_999))


def test_post_only_is_only_for_gtc_limit_orders():
    engine = make_engine()
    command = PlaceOrder(
        ts=ts(),
        user_id="alice",
        market=SYMBOL,
        side=BUY,
        quantity=1,
        price=9_000,
        time_in_force="IOC",
        post_only=True,
    )
    assert_rejected(engine, command, "INVALID_ORDER")


def test_book_level_changed_carries_the_levels_new_aggregate_quantity():
    engine = make_engine()

    def levels(events):
        return [(e.side, e.price, e.quantity) for e in of_type(events, BookLevelChanged)]

    first = sell(engine, "bob", 5, 10_000)
    assert levels(first) == [(SELL, 10_000, 5)]
    second = sell(engine, "carol", 3, 10_000)
    assert levels(second) == [(SELL, 10_000, 8)]
    assert levels(buy(engine, "alice", 6, 10_000)) == [(SELL, 10_000, 2)]
    assert levels(buy(engine, "alice", 4, 10_000)) == [(SELL, 10_000, 0), (BUY, 10_000, 2)]
    assert levels(cancel(engine, "alice", engine.queue(SYMBOL, BUY, 10_000)[0])) == [(BUY, 10_000, 0)]


def test_market_sequence_increases_by_exactly_one_per_event():
    engine = make_engine()
    start = engine.sequence(SYMBOL)
    assert start == 1  # MarketAdded
    events = []
    events += sell(engine, "bob", 5, 10_000)
    events += sell(engine, "carol", 5, 10_010)
    events += buy(engine, "alice", 7, 10_010)
    events += buy(engine, "alice", 0, 10_010)  # rejected: no sequence number
    events += cancel(engine, "carol", 2)
    events += buy(engine, "alice", 1, 9_000, time_in_force="IOC")
    seqs = [e.seq for e in events if hasattr(e, "seq")]
    assert seqs == list(range(start + 1, start + 1 + len(seqs)))
    assert engine.sequence(SYMBOL) == seqs[-1]


def test_depth_lists_levels_best_first_up_to_the_limit():
    engine = make_engine()
    for price in (9_990, 9_980, 9_995):
        buy(engine, "alice", 1, price)
    for price in (10_020, 10_000, 10_010):
        sell(engine, "bob", 2, price)
    sell(engine, "carol", 3, 10_000)
    assert engine.depth(SYMBOL) == (
        [(9_995, 1), (9_990, 1), (9_980, 1)],
        [(10_000, 5), (10_010, 2), (10_020, 2)],
    )
    assert engine.depth(SYMBOL, 2) == ([(9_995, 1), (9_990, 1)], [(10_000, 5), (10_010, 2)])

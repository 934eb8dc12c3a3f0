"""Self-trade prevention: the taker's mode (or the market's default) decides."""

import msgspec

from trade_engine.domain.market import market_from_spec
from trade_engine.domain.vocabulary import BUY, SELL
from trade_engine.engine import (
    BookLevelChanged,
    CancelOrder,
    OrderAccepted,
    OrderExpired,
    OrderFilled,
    TradeExecuted,
)

from .helpers import (
    BASE,
    BASE_FUNDS,
    LOT,
    MAKER_RATE,
    QUOTE,
    QUOTE_FUNDS,
    SPEC,
    SYMBOL,
    TAKER_RATE,
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


def level_with_own_order(engine):
    """Asks at 10,000: bob 2, then alice 3, then bob 4. Returns their ids."""
    return (
        order_id(sell(engine, "bob", 2, 10_000)),
        order_id(sell(engine, "alice", 3, 10_000)),
        order_id(sell(engine, "bob", 4, 10_000)),
    )


def expiries(events):
    return [(e.order_id, e.remaining, e.reason) for e in of_type(events, OrderExpired)]


def maker_fills(events):
    return [(t.maker_order_id, t.quantity) for t in of_type(events, TradeExecuted)]


def test_stp_none_lets_a_user_trade_with_themselves():
    engine = make_engine()
    own = order_id(sell(engine, "alice", 5, 10_000))
    events = buy(engine, "alice", 5, 10_000, stp_mode="NONE")
    (trade,) = of_type(events, TradeExecuted)
    assert (trade.maker_order_id, trade.maker_user_id, trade.taker_user_id) == (own, "alice", "alice")
    amount = notional(10_000, 5)
    assert engine.balance("alice", QUOTE) == (
        QUOTE_FUNDS - fee(amount, MAKER_RATE) - fee(amount, TAKER_RATE),
        0,
    )
    assert engine.balance("alice", BASE) == (BASE_FUNDS, 0)


def test_expire_taker_stops_the_taker_at_its_own_order():
    engine = make_engine()
    first, own, last = level_with_own_order(engine)
    events = buy(engine, "alice", 8, 10_000, stp_mode="EXPIRE_TAKER")
    taker = order_id(events)
    assert maker_fills(events) == [(first, 2)]
    assert expiries(events) == [(taker, 6, "SELF_TRADE_PREVENTION")]
    assert engine.queue(SYMBOL, SELL, 10_000) == [own, last]
    assert engine.depth(SYMBOL) == ([], [(10_000, 7)])
    assert engine.balance("alice", QUOTE).locked == 0


def test_expire_maker_cancels_the_resting_own_order_and_matches_on():
    engine = make_engine()
    first, own, last = level_with_own_order(engine)
    events = buy(engine, "alice", 8, 10_000, stp_mode="EXPIRE_MAKER")
    taker = order_id(events)
    assert maker_fills(events) == [(first, 2), (last, 4)]
    (expired,) = of_type(events, OrderExpired)
    assert (expired.order_id, expired.remaining, expired.reason, expired.released) == (
        own,
        3,
        "SELF_TRADE_PREVENTION",
        3 * LOT,
    )
    assert engine.depth(SYMBOL) == ([(10_000, 2)], [])
    assert engine.queue(SYMBOL, BUY, 10_000) == [taker]
    assert engine.balance("alice", BASE) == (BASE_FUNDS + 6 * LOT, 0)


def test_expire_both_cancels_the_own_maker_and_the_taker():
    engine = make_engine()
    first, own, last = level_with_own_order(engine)
    events = buy(engine, "alice", 8, 10_000, stp_mode="EXPIRE_BOTH")
    taker = order_id(events)
    assert maker_fills(events) == [(first, 2)]
    assert expiries(events) == [(own, 3, "SELF_TRADE_PREVENTION"), (taker, 6, "SELF_TRADE_PREVENTION")]
    assert engine.queue(SYMBOL, SELL, 10_000) == [last]
    assert engine.open_orders("alice") == []
    assert engine.balance("alice", BASE) == (BASE_FUNDS + 2 * LOT, 0)
    assert engine.balance("alice", QUOTE).locked == 0


def test_market_default_stp_mode_applies_when_the_order_names_none():
    engine = make_engine()
    first, own, last = level_with_own_order(engine)
    events = buy(engine, "alice", 8, 10_000)
    (accepted,) = of_type(events, OrderAccepted)
    assert accepted.stp_mode == "EXPIRE_MAKER"
    assert maker_fills(events) == [(first, 2), (last, 4)]
    assert expiries(events) == [(own, 3, "SELF_TRADE_PREVENTION")]


def test_market_whose_default_is_none_allows_self_trades():
    market = market_from_spec(msgspec.structs.replace(SPEC, stp_mode="NONE"))
    engine = make_engine(markets=[market])
    own = order_id(sell(engine, "alice", 1, 10_000))
    events = buy(engine, "alice", 1, 10_000)
    assert of_type(events, OrderAccepted)[0].stp_mode == "NONE"
    assert maker_fills(events) == [(own, 1)]


def test_the_takers_mode_decides_not_the_makers():
    engine = make_engine()
    own = order_id(sell(engine, "alice", 1, 10_000, stp_mode="EXPIRE_BOTH"))
    events = buy(engine, "alice", 1, 10_000, stp_mode="NONE")
    assert maker_fills(events) == [(own, 1)]
    assert not of_type(events, OrderExpired)


def test_market_order_meeting_its_own_order_under_expire_taker_expires():
    engine = make_engine()
    first, own, _ = level_with_own_order(engine)
    events = place(engine, "alice", BUY, order_type="MARKET", quantity=5, stp_mode="EXPIRE_TAKER")
    assert maker_fills(events) == [(first, 2)]
    assert expiries(events) == [(order_id(events), 3, "SELF_TRADE_PREVENTION")]
    assert engine.queue(SYMBOL, SELL, 10_000)[0] == own
    assert engine.balance("alice", QUOTE).locked == 0


def test_fok_that_would_meet_its_own_order_under_expire_taker_leaves_no_trace():
    engine = make_engine()
    ids = level_with_own_order(engine)
    before = engine.depth(SYMBOL)
    events = buy(engine, "alice", 8, 10_000, time_in_force="FOK", stp_mode="EXPIRE_TAKER")
    assert expiries(events) == [(order_id(events), 8, "FOK_NOT_FILLABLE")]
    assert not of_type(events, TradeExecuted)
    assert engine.depth(SYMBOL) == before
    assert engine.queue(SYMBOL, SELL, 10_000) == list(ids)


def test_fok_under_expire_maker_counts_only_other_users_liquidity():
    engine = make_engine()
    first, own, last = level_with_own_order(engine)
    too_big = buy(engine, "alice", 7, 10_000, time_in_force="FOK", stp_mode="EXPIRE_MAKER")
    assert expiries(too_big) == [(order_id(too_big), 7, "FOK_NOT_FILLABLE")]
    assert engine.queue(SYMBOL, SELL, 10_000) == [first, own, last]
    fits = buy(engine, "alice", 6, 10_000, time_in_force="FOK", stp_mode="EXPIRE_MAKER")
    assert maker_fills(fits) == [(first, 2), (last, 4)]
    assert of_type(fits, OrderFilled)[-1].order_id == order_id(fits)
    assert engine.depth(SYMBOL) == ([], [])


def test_expire_taker_meeting_its_own_order_at_once_announces_no_level_change():
    engine = make_engine()
    sell(engine, "alice", 3, 10_000)
    events = buy(engine, "alice", 2, 10_000, stp_mode="EXPIRE_TAKER")
    assert of_type(events, BookLevelChanged) == []
    assert engine.depth(SYMBOL) == ([], [(10_000, 3)])


def test_expiring_own_maker_that_compacts_the_level_keeps_its_stale_count_exact():
    # Regression: compacting a level's queue used to replace the deque that the matching
    # loop was walking, which drove the level's count of stale entries negative.
    engine = make_engine()
    own = order_id(sell(engine, "alice", 1, 10_000))
    others = [order_id(sell(engine, "bob", 1, 10_000)) for _ in range(79)]
    for stale in others[:40]:
        engine.apply(CancelOrder(ts=ts(), user_id="bob", order_id=stale))
    events = buy(engine, "alice", 5, 10_000, stp_mode="EXPIRE_MAKER")
    assert expiries(events) == [(own, 1, "SELF_TRADE_PREVENTION")]
    assert maker_fills(events) == [(maker, 1) for maker in others[40:45]]
    level = engine._state.markets[SYMBOL].asks.levels[10_000]
    assert (level.dead, len(level.orders), level.total) == (0, 34, 34)

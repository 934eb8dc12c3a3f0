"""emit.py builds events by position: each constructor must fill every field by name."""

from itertools import count

from trade_engine.domain.units import Lots, Minor, Ticks
from trade_engine.engine import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    StopTriggered,
    TradeExecuted,
    emit,
)
from trade_engine.engine.order import Order

# Distinct values everywhere, so a constructor that swaps two fields cannot pass.
_numbers = count(101)


def number() -> int:
    return next(_numbers)


def an_order(side: str = "BUY", user_id: str = "alice") -> Order:
    return Order(
        id=number(),
        user_id=user_id,
        market="BTC-USDT",
        side=side,
        order_type="STOP_LIMIT",
        time_in_force="IOC",
        price=Ticks(number()),
        stop_price=Ticks(number()),
        quantity=Lots(number()),
        quote_quantity=Minor(number()),
        remaining=Lots(number()),
        client_order_id="c-1",
        stp_mode="EXPIRE_BOTH",
        post_only=True,
        created_ts=number(),
        pending=False,
        executed=Lots(number()),
        filled_quote=Minor(number()),
        fee_numer=number() * 1_000_000 + 1,
    )


def test_order_accepted_repeats_the_order_and_its_hold():
    order = an_order()
    event = emit.order_accepted(order, ts=1, seq=2, hold=Minor(3))
    assert event == OrderAccepted(
        ts=1,
        seq=2,
        market=order.market,
        order_id=order.id,
        user_id=order.user_id,
        client_order_id=order.client_order_id,
        side=order.side,
        order_type=order.order_type,
        time_in_force=order.time_in_force,
        price=order.price,
        stop_price=order.stop_price,
        quantity=order.quantity,
        quote_quantity=order.quote_quantity,
        stp_mode=order.stp_mode,
        post_only=order.post_only,
        hold=3,
    )


def test_stop_triggered_names_the_order_price_and_hold_change():
    order = an_order()
    event = emit.stop_triggered(order, ts=1, seq=2, last_price=Ticks(3), hold_change=Minor(4))
    assert event == StopTriggered(
        ts=1,
        seq=2,
        market=order.market,
        order_id=order.id,
        user_id=order.user_id,
        side=order.side,
        last_price=3,
        hold_change=4,
    )


def test_trade_executed_takes_sides_ids_and_remainders_from_the_orders():
    maker, taker = an_order("SELL", "bob"), an_order("BUY", "alice")
    event = emit.trade_executed(
        maker,
        taker,
        ts=1,
        seq=2,
        trade_id=3,
        price=Ticks(4),
        quantity=Lots(5),
        base_amount=Minor(6),
        quote_amount=Minor(7),
        maker_fee=Minor(8),
        taker_fee=Minor(9),
        buyer_released=Minor(10),
    )
    assert event == TradeExecuted(
        ts=1,
        seq=2,
        market=taker.market,
        trade_id=3,
        price=4,
        quantity=5,
        base_amount=6,
        quote_amount=7,
        taker_side="BUY",
        maker_order_id=maker.id,
        taker_order_id=taker.id,
        maker_user_id="bob",
        taker_user_id="alice",
        maker_fee=8,
        taker_fee=9,
        maker_remaining=maker.remaining,
        taker_remaining=taker.remaining,
        buyer_released=10,
    )


def test_order_filled_carries_the_final_totals_and_terms():
    order = an_order()
    event = emit.order_filled(order, ts=1, seq=2, released=Minor(3))
    assert event == OrderFilled(
        ts=1,
        seq=2,
        market=order.market,
        order_id=order.id,
        user_id=order.user_id,
        side=order.side,
        released=3,
        executed=order.executed,
        filled_quote=order.filled_quote,
        fee=order.fee_numer // 1_000_000 + 1,
        price=order.price,
        quantity=order.quantity,
    )


def test_order_cancelled_and_expired_carry_the_remainder_reason_and_final_totals():
    order = an_order()
    for build, kind in ((emit.order_cancelled, OrderCancelled), (emit.order_expired, OrderExpired)):
        event = build(order, ts=1, seq=2, remaining=Lots(3), released=Minor(4), reason="WHY")
        assert event == kind(
            ts=1,
            seq=2,
            market=order.market,
            order_id=order.id,
            user_id=order.user_id,
            side=order.side,
            remaining=3,
            released=4,
            reason="WHY",
            executed=order.executed,
            filled_quote=order.filled_quote,
            fee=order.fee_numer // 1_000_000 + 1,
            price=order.price,
            quantity=order.quantity,
        )


def test_order_amended_carries_the_new_terms():
    order = an_order()
    event = emit.order_amended(
        order,
        ts=1,
        seq=2,
        price=Ticks(3),
        quantity=Lots(4),
        remaining=Lots(5),
        hold_change=Minor(-6),
        priority_kept=True,
    )
    assert event == OrderAmended(
        ts=1,
        seq=2,
        market=order.market,
        order_id=order.id,
        user_id=order.user_id,
        side=order.side,
        price=3,
        quantity=4,
        remaining=5,
        hold_change=-6,
        priority_kept=True,
    )

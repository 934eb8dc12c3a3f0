"""Typed constructors for the events the engine emits while it trades, and the
`BookLevelChanged` pass that closes a command.

Each constructor takes keyword-only arguments (or the `Order` whose fields the event
repeats) and builds its event positionally. That keeps call sites readable and
type-checked by unit while the construction stays fast: msgspec builds a struct from
positional arguments several times faster than from keywords, and a compiled call with
keywords costs nothing (mypyc binds them at compile time). This module is the only one
that knows the events' field order; tests/unit/test_emit.py checks each constructor
against keyword construction.

Owns: the wording of events. Must not touch balances, books or counters; the caller
passes the `seq` it has taken. Rare events (markets, transfers, rejections) are built
with keywords where they happen.
"""

from trade_engine.domain.units import Lots, Minor, Ticks
from trade_engine.domain.vocabulary import BUY, SELL
from trade_engine.engine.events import (
    BookLevelChanged,
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    StopTriggered,
    TradeExecuted,
)
from trade_engine.engine.holds import fee_charged
from trade_engine.engine.order import Order
from trade_engine.engine.state import MarketState


def order_accepted(order: Order, *, ts: int, seq: int, hold: Minor) -> OrderAccepted:
    return OrderAccepted(
        ts,
        seq,
        order.market,
        order.id,
        order.user_id,
        order.client_order_id,
        order.side,
        order.order_type,
        order.time_in_force,
        order.price,
        order.stop_price,
        order.quantity,
        order.quote_quantity,
        order.stp_mode,
        order.post_only,
        hold,
        order.meta,
    )


def stop_triggered(
    order: Order, *, ts: int, seq: int, last_price: Ticks, hold_change: Minor
) -> StopTriggered:
    return StopTriggered(ts, seq, order.market, order.id, order.user_id, order.side, last_price, hold_change)


def trade_executed(
    maker: Order,
    taker: Order,
    *,
    ts: int,
    seq: int,
    trade_id: int,
    price: Ticks,
    quantity: Lots,
    base_amount: Minor,
    quote_amount: Minor,
    maker_fee: Minor,
    taker_fee: Minor,
    buyer_released: Minor,
) -> TradeExecuted:
    """One fill between `maker` and `taker`, whose `remaining` are already after it."""
    return TradeExecuted(
        ts,
        seq,
        taker.market,
        trade_id,
        price,
        quantity,
        base_amount,
        quote_amount,
        taker.side,
        maker.id,
        taker.id,
        maker.user_id,
        taker.user_id,
        maker_fee,
        taker_fee,
        maker.remaining,
        taker.remaining,
        buyer_released,
    )


def order_filled(order: Order, *, ts: int, seq: int, released: Minor) -> OrderFilled:
    return OrderFilled(
        ts,
        seq,
        order.market,
        order.id,
        order.user_id,
        order.side,
        released,
        order.executed,
        order.filled_quote,
        fee_charged(order.fee_numer),
        order.price,
        order.quantity,
    )


def order_cancelled(
    order: Order,
    *,
    ts: int,
    seq: int,
    remaining: Lots,
    released: Minor,
    reason: str,
    cancel_request_id: str | None = None,
) -> OrderCancelled:
    return OrderCancelled(
        ts,
        seq,
        order.market,
        order.id,
        order.user_id,
        order.side,
        remaining,
        released,
        reason,
        order.executed,
        order.filled_quote,
        fee_charged(order.fee_numer),
        order.price,
        order.quantity,
        cancel_request_id,
    )


def order_expired(
    order: Order, *, ts: int, seq: int, remaining: Lots, released: Minor, reason: str
) -> OrderExpired:
    return OrderExpired(
        ts,
        seq,
        order.market,
        order.id,
        order.user_id,
        order.side,
        remaining,
        released,
        reason,
        order.executed,
        order.filled_quote,
        fee_charged(order.fee_numer),
        order.price,
        order.quantity,
    )


def order_amended(
    order: Order,
    *,
    ts: int,
    seq: int,
    price: Ticks,
    quantity: Lots,
    remaining: Lots,
    hold_change: Minor,
    priority_kept: bool,
) -> OrderAmended:
    """The amendment of `order` to new terms (`order` itself still has the old ones)."""
    return OrderAmended(
        ts,
        seq,
        order.market,
        order.id,
        order.user_id,
        order.side,
        price,
        quantity,
        remaining,
        hold_change,
        priority_kept,
    )


def level_changes(m: MarketState, ts: int, events: list[Event]) -> None:
    """Announce the new aggregate quantity of every level the command changed, in the
    order they were first touched, and start the next command with none touched."""
    symbol = m.symbol
    bids, asks = m.bids.levels, m.asks.levels
    for key in m.touched:
        if key > 0:
            side, price, level = BUY, Ticks(key), bids.get(key)
        else:
            side, price, level = SELL, Ticks(-key), asks.get(-key)
        m.seq += 1
        events.append(
            BookLevelChanged(ts, m.seq, symbol, side, price, level.total if level is not None else Lots(0))
        )
    m.touched.clear()

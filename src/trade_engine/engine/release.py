"""The release: an order that leaves the engine gives back what it still holds.

Like exchange-core's second risk stage, this runs after matching: whatever finishes
(filled, or expired after matching) or is taken out (cancelled, or expired by self-trade
prevention) moves its unused hold from locked back to available, is forgotten as the
user's open order, and is announced with its final totals.

Owns: the terminal events (`OrderFilled`, `OrderCancelled`, `OrderExpired`), taking an
open order out of its book or stop book, and the locked-to-available move. Must not
touch: fills and fees (settlement.py), what an order holds (risk.py decides it).
"""

from trade_engine.domain.units import Minor
from trade_engine.engine import emit
from trade_engine.engine.accounts import Account
from trade_engine.engine.events import Event
from trade_engine.engine.order import Order
from trade_engine.engine.risk import hold_of
from trade_engine.engine.state import MarketState


def finish(
    m: MarketState,
    account: Account,
    order: Order,
    ts: int,
    events: list[Event],
    expire_reason: str | None,
    released: Minor,
) -> None:
    """An order that matching has done with leaves the engine: filled (`expire_reason`
    None) or expired, giving back `released`. It is in no book."""
    release(m, account, order, released)
    m.seq += 1
    if expire_reason is None:
        events.append(emit.order_filled(order, ts=ts, seq=m.seq, released=released))
    else:
        events.append(
            emit.order_expired(
                order, ts=ts, seq=m.seq, remaining=order.remaining, released=released, reason=expire_reason
            )
        )


def remove_open(
    m: MarketState,
    account: Account,
    order: Order,
    ts: int,
    events: list[Event],
    expire_reason: str | None,
    cancel_reason: str,
    cancel_request_id: str | None = None,
) -> None:
    """Take an open order or pending stop out of the engine: cancelled with
    `cancel_reason` (by the request `cancel_request_id` names, if any), or expired with
    `expire_reason` if that is given."""
    released = hold_of(m, order)
    remaining = order.remaining
    if order.pending:
        m.stops.remove(order)
    else:
        book = m.book(order.side)
        m.touched[order.price * book.sign] = None
        book.remove(order)  # marks the order stale: remaining becomes 0
    release(m, account, order, released)
    m.seq += 1
    if expire_reason is None:
        events.append(
            emit.order_cancelled(
                order,
                ts=ts,
                seq=m.seq,
                remaining=remaining,
                released=released,
                reason=cancel_reason,
                cancel_request_id=cancel_request_id,
            )
        )
    else:
        events.append(
            emit.order_expired(
                order, ts=ts, seq=m.seq, remaining=remaining, released=released, reason=expire_reason
            )
        )


def release(m: MarketState, account: Account, order: Order, released: Minor) -> None:
    """Give back an order's unused hold and forget it as an open order."""
    if released:
        asset = m.held_asset(order.side)
        account.locked[asset] -= released
        account.available[asset] += released
    del account.orders[order.id]
    if order.client_order_id is not None:
        del account.client_ids[order.client_order_id]

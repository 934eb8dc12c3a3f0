"""Events: every change of engine state, in the order it happened.

Market events carry `seq`, a per-market sequence number that increases by exactly one
per event, so any consumer can detect a gap. Events are frozen and carry only integers
and strings, so they encode to identical bytes on every replay.

Fields are positional in declaration order (`ts` first). The engine builds the events
of its hot path through emit.py's typed constructors, which take keywords (typed by
unit: `Ticks`, `Lots`, `Minor`) and pass the fields by position: msgspec's positional
construction is several times faster than keywords. Keep field order stable
(tests/unit/test_emit.py checks emit.py against it); callers elsewhere should use
keywords. On the wire, and so here, amounts are plain `int`.

Balance effects (the ledger) are fully determined by the events:

- `OrderAccepted.hold` moves from available to locked (quote for buys, base for sells);
- `TradeExecuted` moves `base_amount` from the seller's locked base to the buyer's
  available base, `quote_amount + buyer_fee + buyer_released` out of the buyer's locked
  quote (of which `buyer_released` goes back to the buyer's available quote),
  `quote_amount - seller_fee` to the seller's available quote, and both fees to the fee
  account;
- `OrderFilled`, `OrderCancelled`, `OrderExpired` move `released` from locked back to
  available; `OrderAmended.hold_change` and `StopTriggered.hold_change` move from
  available to locked (a negative amendment change moves back).
"""

from typing import Final

import msgspec

from trade_engine.domain.errors import ErrorCode
from trade_engine.domain.lifecycle import OrderChange
from trade_engine.domain.market import Market
from trade_engine.domain.order_meta import OrderMeta


class Event(msgspec.Struct, frozen=True, gc=False, tag=True):
    ts: int


class OrderAccepted(Event, frozen=True, omit_defaults=True):
    seq: int
    market: str
    order_id: int
    user_id: str
    client_order_id: str | None
    side: str
    order_type: str
    time_in_force: str
    price: int
    stop_price: int
    quantity: int
    quote_quantity: int
    stp_mode: str
    post_only: bool
    hold: int
    # The caller's labels (absent when none: the encoding of an order without is as
    # it always was).
    meta: OrderMeta | None = None


class StopTriggered(Event, frozen=True):
    seq: int
    market: str
    order_id: int
    user_id: str
    side: str
    last_price: int
    # A stop-market buy sized by quantity locks the rest of its owner's available quote
    # when it fires (it becomes a market buy); released again when it finishes.
    hold_change: int


class TradeExecuted(Event, frozen=True):
    seq: int
    market: str
    trade_id: int
    price: int
    quantity: int
    base_amount: int
    quote_amount: int
    taker_side: str
    maker_order_id: int
    taker_order_id: int
    maker_user_id: str
    taker_user_id: str
    maker_fee: int
    taker_fee: int
    maker_remaining: int
    taker_remaining: int
    buyer_released: int


class OrderFilled(Event, frozen=True):
    seq: int
    market: str
    order_id: int
    user_id: str
    side: str
    released: int
    # The order's final totals (terminal events carry them so that a consumer can record
    # the order without remembering its earlier fills).
    executed: int
    filled_quote: int
    fee: int
    # Its final terms (an amendment may have changed them since acceptance).
    price: int
    quantity: int


class OrderCancelled(Event, frozen=True, omit_defaults=True):
    seq: int
    market: str
    order_id: int
    user_id: str
    side: str
    remaining: int
    released: int
    reason: str
    executed: int
    filled_quote: int
    fee: int
    # Its final terms (an amendment may have changed them since acceptance).
    price: int
    quantity: int
    # The cancel request's own client id, if it gave one (CancelOrder.cancel_request_id);
    # left out of the encoding when it gave none, as before it existed (omit_defaults).
    cancel_request_id: str | None = None


class OrderExpired(Event, frozen=True):
    seq: int
    market: str
    order_id: int
    user_id: str
    side: str
    remaining: int
    released: int
    reason: str
    executed: int
    filled_quote: int
    fee: int
    # Its final terms (an amendment may have changed them since acceptance).
    price: int
    quantity: int


# The lifecycle change each terminal event is (domain/lifecycle.py says which status
# it leaves): the one place an event type becomes an order change.
ENDINGS: Final = {
    OrderFilled: OrderChange.FILLED,
    OrderCancelled: OrderChange.CANCELED,
    OrderExpired: OrderChange.EXPIRED,
}
# The same types as a tuple, for `isinstance` on the per-event paths (projection, ledger,
# read model): a union written in the call (`OrderFilled | ...`) is built at every call,
# about three times the cost of the check itself (measured: 141 against 44 ns).
ENDED: Final = (OrderFilled, OrderCancelled, OrderExpired)


class OrderAmended(Event, frozen=True):
    seq: int
    market: str
    order_id: int
    user_id: str
    side: str
    price: int
    quantity: int
    remaining: int
    hold_change: int
    priority_kept: bool


class BookLevelChanged(Event, frozen=True):
    """The aggregate resting quantity at one price after a command (0: level gone)."""

    seq: int
    market: str
    side: str
    price: int
    quantity: int


class MarketAdded(Event, frozen=True):
    seq: int
    market: Market


class MarketStatusChanged(Event, frozen=True):
    seq: int
    market: str
    status: str


class FundsDeposited(Event, frozen=True):
    transfer_id: int
    user_id: str
    asset: str
    amount: int
    reference: str | None = None


class FundsWithdrawn(Event, frozen=True):
    transfer_id: int
    user_id: str
    asset: str
    amount: int
    reference: str | None = None


class CommandRejected(Event, frozen=True):
    """The command was refused and changed nothing.

    `duplicate_of` names what a refused duplicate collides with: the transfer that took
    a deposit's or withdrawal's reference, so that a retried transfer can be answered
    with the original.
    """

    code: ErrorCode
    message: str
    user_id: str | None = None
    client_order_id: str | None = None
    duplicate_of: int | None = None


class ReplaceRejected(CommandRejected, frozen=True, kw_only=True):
    """A cancel-replace allowed to fail in part (`allow_failure`) whose two parts were
    both refused: nothing changed. `code` and `message` are the new order's refusal,
    `cancel_code` and `cancel_message` the cancel's."""

    cancel_code: ErrorCode
    cancel_message: str


class PartRejected(Event, frozen=True):
    """One part of a cancel-replace was refused while the other went through: `part`
    is "cancel" (the order to cancel was not there, the new order was placed) or "new"
    (the order was cancelled, the new order refused). Changes nothing by itself."""

    user_id: str
    part: str
    code: ErrorCode
    message: str


# Deposits and withdrawals, as a tuple for `isinstance` (see `ENDED`).
TRANSFERS: Final = (FundsDeposited, FundsWithdrawn)

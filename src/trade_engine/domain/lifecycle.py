"""The order lifecycle: the one table of which change leaves an order in which status.

An order's status is never stored as a rule anywhere else: storage, the native REST and
WebSocket APIs and the Binance API all ask this module (and map its names to their wire
names, where they differ, in tables of their own). The status names are Binance's,
which clients know.

    NEW ──trade──▶ PARTIALLY_FILLED ──trade──▶ (last fill) FILLED
     │  ▲              │
     │  └─trigger/amend┘ (status kept: NEW, or PARTIALLY_FILLED once anything traded)
     ├──cancel──▶ CANCELED
     └──expire──▶ EXPIRED, or EXPIRED_IN_MATCH when self-trade prevention expired it

A refused order never exists, so REJECTED is only a Binance wire status; it has no row.
"""

from enum import StrEnum
from typing import Final


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"


class OrderChange(StrEnum):
    """What happened to an order: each engine event that concerns an order is one."""

    NEW = "NEW"  # accepted (resting, pending its trigger, or about to match)
    TRIGGERED = "TRIGGERED"  # a stop or take-profit reached its price
    TRADE = "TRADE"  # a fill
    AMENDED = "AMENDED"  # price or quantity changed
    FILLED = "FILLED"  # done: completely filled
    CANCELED = "CANCELED"  # done: cancelled by its owner (or cancel-all)
    EXPIRED = "EXPIRED"  # done: expired (IOC remainder, FOK, no liquidity, STP ...)


# The expiry reason that makes an expiry EXPIRED_IN_MATCH (vocabulary.ExpiryReason).
SELF_TRADE_PREVENTION: Final = "SELF_TRADE_PREVENTION"

OPEN_STATUSES: Final = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
CLOSED_STATUSES: Final = (
    OrderStatus.FILLED,
    OrderStatus.CANCELED,
    OrderStatus.EXPIRED,
    OrderStatus.EXPIRED_IN_MATCH,
)

# Changes that end an order, and the status each leaves (expiry depends on its reason).
_TERMINAL: Final = {
    OrderChange.FILLED: OrderStatus.FILLED,
    OrderChange.CANCELED: OrderStatus.CANCELED,
    OrderChange.EXPIRED: OrderStatus.EXPIRED,
}


def status_after(
    change: OrderChange, executed: int, reason: str | None = None, *, completes: bool = False
) -> OrderStatus:
    """The status an order has after `change`, having traded `executed` lots in all.

    `completes`: the change is the trade that fills the order (its FILLED follows in the
    same batch); a renderer that reports each fill with the order's final status says so.
    """
    if completes:
        return OrderStatus.FILLED
    terminal = _TERMINAL.get(change)
    if terminal is OrderStatus.EXPIRED and reason == SELF_TRADE_PREVENTION:
        return OrderStatus.EXPIRED_IN_MATCH
    if terminal is not None:
        return terminal
    return open_status(executed)


def open_status(executed: int) -> OrderStatus:
    """The status of an order still open, having traded `executed` lots in all."""
    return OrderStatus.PARTIALLY_FILLED if executed else OrderStatus.NEW


def ends(change: OrderChange) -> bool:
    """Whether `change` ends the order (FILLED, CANCELED, EXPIRED)."""
    return change in _TERMINAL


def is_open(status: str) -> bool:
    return status in OPEN_STATUSES

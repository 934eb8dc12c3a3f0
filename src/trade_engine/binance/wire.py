"""Binance's wire vocabulary: how engine names and integers are written on its API.

The tables that map the engine's order types, times in force and order changes to
Binance's names live here, with the number format Binance uses (at least eight
decimals: "0.01000000") and its symbols ("BTCUSDT" for the market "BTC-USDT").
"""

from typing import Any, Final

import msgspec

from trade_engine.binance.params import INTEGER
from trade_engine.domain.lifecycle import OrderChange, OrderStatus
from trade_engine.domain.order_meta import BINANCE_NAMES, OrderMeta
from trade_engine.domain.vocabulary import (
    LIMIT,
    MARKET,
    STOP_LIMIT,
    STOP_MARKET,
    TAKE_PROFIT_LIMIT,
    TAKE_PROFIT_MARKET,
)

ZERO: Final = "0.00000000"
# The Binance order types this API accepts, and what each is in the engine. Binance's
# trigger rule is the engine's: STOP_LOSS buys on a rise and sells on a fall,
# TAKE_PROFIT the other way round.
ORDER_TYPES: Final = (
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
)
ENGINE_TYPE: Final = {
    "LIMIT": LIMIT,
    "LIMIT_MAKER": LIMIT,
    "MARKET": MARKET,
    "STOP_LOSS": STOP_MARKET,
    "STOP_LOSS_LIMIT": STOP_LIMIT,
    "TAKE_PROFIT": TAKE_PROFIT_MARKET,
    "TAKE_PROFIT_LIMIT": TAKE_PROFIT_LIMIT,
}
# Binance's names for the engine's types (LIMIT with post-only is LIMIT_MAKER).
_BINANCE_TYPE: Final = {
    STOP_MARKET: "STOP_LOSS",
    STOP_LIMIT: "STOP_LOSS_LIMIT",
    TAKE_PROFIT_MARKET: "TAKE_PROFIT",
    TAKE_PROFIT_LIMIT: "TAKE_PROFIT_LIMIT",
}
# The execution type (`x`) of an execution report, per order change; a change not
# listed sends no report (a trigger; a fill, which its last TRADE report announces).
EXECUTION_TYPE: Final = {
    OrderChange.NEW: "NEW",
    OrderChange.TRADE: "TRADE",
    OrderChange.AMENDED: "REPLACED",
    OrderChange.CANCELED: "CANCELED",
    OrderChange.EXPIRED: "EXPIRED",
}
# ...except an expiry by self-trade prevention, which Binance reports as its own type.
PREVENTED: Final = (OrderStatus.EXPIRED_IN_MATCH, "TRADE_PREVENTION")


def pad(text: str) -> str:
    """At least eight decimals, as Binance writes amounts."""
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(8, '0')}"


def symbol_of(market: str) -> str:
    """`BTC-USDT` -> `BTCUSDT`."""
    return market.replace("-", "")


def binance_type(order_type: str, post_only: bool) -> str:
    if order_type == LIMIT:
        return "LIMIT_MAKER" if post_only else "LIMIT"
    return _BINANCE_TYPE.get(order_type, order_type)


def binance_tif(order_type: str, time_in_force: str) -> str:
    # Market-type orders run IOC inside the engine; Binance shows them as GTC.
    return time_in_force if order_type in (LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT) else "GTC"


def meta_of(params: dict[str, str]) -> OrderMeta | None:
    """The order labels among a request's parameters, by their Binance names (None if
    none was sent); a value the label's type refuses raises `msgspec.ValidationError`
    naming the field. Binance's labels are integers, read by its integer rule: a lax
    conversion would read "1e3" or "12.9" through a float, rounding silently."""
    values = {
        field: _integer(params[names[0]]) for field, names in BINANCE_NAMES.items() if names[0] in params
    }
    if not values:
        return None
    return msgspec.convert(values, OrderMeta)


def _integer(text: str) -> int | str:
    """`text` as an integer if it is one by Binance's rule; else as it is, for the
    label's type to refuse."""
    return int(text) if INTEGER.fullmatch(text) else text


def binance_name(field: str) -> str:
    """A label's Binance parameter name (for error messages)."""
    return BINANCE_NAMES[field][0] if field in BINANCE_NAMES else field


def meta_fields(meta: OrderMeta | None, *, event: bool = False) -> dict[str, Any]:
    """An order's labels as Binance writes them in order objects (or, `event`, in
    `executionReport`): only those that are set."""
    if meta is None:
        return {}
    return {
        names[1 if event else 0]: value
        for field, names in BINANCE_NAMES.items()
        if (value := getattr(meta, field)) is not None
    }

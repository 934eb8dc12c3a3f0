"""Labels a caller puts on an order that the engine does not act on (a strategy's id,
say): carried from either API's request through the engine's events to storage and
back out in every view of the order, REST and streams alike.

This module is the one place such a label is declared. Adding one is a field here (its
type and limits validate it on both APIs and document it in `/openapi.json`) and, for
the Binance API, its names in `BINANCE_NAMES`; everything else passes `OrderMeta`
through whole. Stored as JSON with the order (the `meta` column).
"""

from typing import Annotated, Final

import msgspec
from msgspec import Meta


class OrderMeta(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """An order's labels; a label not given is absent (None)."""

    # The caller's id of the strategy that placed the order.
    strategy_id: Annotated[int, Meta(ge=0, le=2**63 - 1)] | None = None
    # The caller's kind of strategy; Binance reserves values below 1,000,000.
    strategy_type: Annotated[int, Meta(ge=1_000_000, le=2**31 - 1)] | None = None


# Per field: (its name in Binance's requests and order objects, its key in Binance's
# `executionReport` user-data event).
BINANCE_NAMES: Final[dict[str, tuple[str, str]]] = {
    "strategy_id": ("strategyId", "j"),
    "strategy_type": ("strategyType", "J"),
}

_encode: Final = msgspec.json.Encoder().encode
_decode: Final = msgspec.json.Decoder(OrderMeta).decode


def meta_text(meta: OrderMeta | None) -> str | None:
    """As stored: JSON text, or None for an order without labels."""
    if meta is None:
        return None
    text = _encode(meta)
    return None if text == b"{}" else text.decode()


def meta_of_text(text: str | None) -> OrderMeta | None:
    return None if text is None else _decode(text)

"""The engine's record of one open order (resting limit order, or pending stop or
take-profit).

Orders are mutable and live only inside the engine; queries hand out copies. It is a
plain slotted class rather than a dataclass or struct so that mypyc compiles it to a
native object: ints are then stored unboxed in the object and attribute access in the
matching loop is a memory load (see `make compiled` and docs/engine.md).

Time priority is the order's position in its level's queue; `created_ts` is kept for
queries and for storage, whose orders table is partitioned by it.

Build one with keywords: from compiled code they cost nothing (mypyc matches them to
parameters at compile time). The parameter order is kept because storage's recovery
still passes them by position.
"""

from typing import Any, Final

from trade_engine.domain.order_meta import OrderMeta
from trade_engine.domain.units import Lots, Minor, Ticks

# Field names, in constructor order (used by to_dict).
FIELDS: Final = (
    "id",
    "user_id",
    "market",
    "side",
    "order_type",
    "time_in_force",
    "price",
    "stop_price",
    "quantity",
    "quote_quantity",
    "remaining",
    "client_order_id",
    "stp_mode",
    "post_only",
    "created_ts",
    "pending",
    "executed",
    "filled_quote",
    "fee_numer",
)
_NO_LOTS: Final = Lots(0)
_NO_MINOR: Final = Minor(0)


class Order:
    __slots__ = (
        "client_order_id",
        "created_ts",
        "executed",
        "fee_numer",
        "filled_quote",
        "id",
        "market",
        "meta",
        "order_type",
        "pending",
        "post_only",
        "price",
        "quantity",
        "quote_quantity",
        "remaining",
        "side",
        "stop_price",
        "stp_mode",
        "time_in_force",
        "user_id",
    )

    def __init__(
        self,
        id: int,
        user_id: str,
        market: str,
        side: str,
        order_type: str,
        time_in_force: str,
        price: Ticks,
        stop_price: Ticks,
        quantity: Lots,
        quote_quantity: Minor,
        remaining: Lots,
        client_order_id: str | None,
        stp_mode: str,
        post_only: bool,
        created_ts: int,
        pending: bool = False,
        executed: Lots = _NO_LOTS,
        filled_quote: Minor = _NO_MINOR,
        fee_numer: int = 0,
        meta: OrderMeta | None = None,
    ) -> None:
        self.id = id
        self.user_id = user_id
        self.market = market
        self.side = side
        self.order_type = order_type
        self.time_in_force = time_in_force
        self.price = price
        self.stop_price = stop_price
        self.quantity = quantity
        self.quote_quantity = quote_quantity
        # Lots still to fill (0 for orders sized by quote amount). A cancelled or
        # replaced order is set to 0: that is how a book level recognises a stale entry.
        self.remaining = remaining
        self.client_order_id = client_order_id
        self.stp_mode = stp_mode
        self.post_only = post_only
        self.created_ts = created_ts
        # True while a stop or take-profit order waits for its trigger price.
        self.pending = pending
        # Lots traded so far (quote-sized orders count here too).
        self.executed = executed
        # Quote minor units traded so far.
        self.filled_quote = filled_quote
        # Sum of notional × fee rate over all fills, in millionths of a quote minor
        # unit; the fee charged so far is always ceil(fee_numer / FEE_SCALE) (holds.py).
        self.fee_numer = fee_numer
        # The caller's labels: carried to the order's events and views, never matched
        # on, so not part of the state compared or snapshotted (FIELDS).
        self.meta = meta

    def with_terms(self, price: Ticks, quantity: Lots, remaining: Lots) -> "Order":
        """A copy with new price and size: an amended order that re-enters the book."""
        return Order(
            id=self.id,
            user_id=self.user_id,
            market=self.market,
            side=self.side,
            order_type=self.order_type,
            time_in_force=self.time_in_force,
            price=price,
            stop_price=self.stop_price,
            quantity=quantity,
            quote_quantity=self.quote_quantity,
            remaining=remaining,
            client_order_id=self.client_order_id,
            stp_mode=self.stp_mode,
            post_only=self.post_only,
            created_ts=self.created_ts,
            pending=self.pending,
            executed=self.executed,
            filled_quote=self.filled_quote,
            fee_numer=self.fee_numer,
            meta=self.meta,
        )

    def copy(self) -> "Order":
        return self.with_terms(self.price, self.quantity, self.remaining)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Order) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in self.to_dict().items())
        return f"Order({fields})"

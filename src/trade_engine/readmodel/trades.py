"""A public trade as every API shows it, built from a committed event or a stored row."""

from collections.abc import Mapping
from typing import Any

import msgspec

from trade_engine.engine import TradeExecuted


class TradeModel(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    trade_id: int
    market: str
    price: int  # ticks
    quantity: int  # lots
    quote_amount: int  # quote minor units
    taker_side: str
    taker_order_id: int
    ts: int


def trade_of_event(event: TradeExecuted) -> TradeModel:
    return TradeModel(
        trade_id=event.trade_id,
        market=event.market,
        price=event.price,
        quantity=event.quantity,
        quote_amount=event.quote_amount,
        taker_side=event.taker_side,
        taker_order_id=event.taker_order_id,
        ts=event.ts,
    )


def trade_of_row(row: Mapping[str, Any], market: str) -> TradeModel:
    """A row of storage's trade reads (`id`, `ts`, `price`, ... `taker_order_id` if read)."""
    return TradeModel(
        trade_id=int(row["id"]),
        market=market,
        price=int(row["price"]),
        quantity=int(row["quantity"]),
        quote_amount=int(row["quote_amount"]),
        taker_side=row["taker_side"],
        taker_order_id=int(row.get("taker_order_id", 0)),
        ts=int(row["ts"]),
    )

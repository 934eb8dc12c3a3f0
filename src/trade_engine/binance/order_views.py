"""Orders and fills in Binance's shapes, rendered from the one order read model.

Every order object (query, new-order answer, cancel answer, execution report) is made
from an `OrderModel`, every fill from a `FillModel`: the status and the running totals
come with them (readmodel/orders.py), and only the wording is Binance's here.
"""

from collections.abc import Sequence
from typing import Any

from trade_engine.binance.wire import (
    EXECUTION_TYPE,
    PREVENTED,
    ZERO,
    binance_tif,
    binance_type,
    meta_fields,
    pad,
    symbol_of,
)
from trade_engine.domain.lifecycle import OrderChange, is_open, status_after
from trade_engine.domain.market import Market
from trade_engine.domain.timestamps import ms
from trade_engine.domain.vocabulary import BUY, CONDITIONAL_TYPES
from trade_engine.readmodel.orders import MAKER, FillModel, OrderModel, OrderUpdate


def _price(market: Market, ticks: int) -> str:
    return pad(market.price_text(ticks)) if ticks else ZERO


def _orig_qty(order: OrderModel, market: Market, status: str) -> str:
    # A market order sized by quote amount has no quantity of its own: once done, its
    # size is what it executed.
    quantity = order.quantity
    if quantity == 0 and not is_open(status):
        quantity = order.executed
    return pad(market.quantity_text(quantity))


def order(order: OrderModel, market: Market) -> dict[str, Any]:
    """A query-order object (GET /order, /openOrders, /allOrders)."""
    pending = order.pending
    return {
        "symbol": symbol_of(market.symbol),
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id or "",
        "price": _price(market, order.price),
        "origQty": _orig_qty(order, market, order.status),
        "executedQty": pad(market.quantity_text(order.executed)),
        "cummulativeQuoteQty": pad(market.quote_text(order.filled_quote)),
        "status": order.status,
        "timeInForce": binance_tif(order.order_type, order.time_in_force),
        "type": binance_type(order.order_type, order.post_only),
        "side": order.side,
        "stopPrice": _price(market, order.stop_price),
        "icebergQty": ZERO,
        "time": ms(order.created_ts),
        "updateTime": ms(order.updated_ts),
        "isWorking": not pending,
        "workingTime": -1 if pending else ms(order.created_ts),
        "origQuoteOrderQty": pad(market.quote_text(order.quote_quantity)),
        "selfTradePreventionMode": order.stp_mode,
        **meta_fields(order.meta),
    }


def new_order(
    order: OrderModel, fills: Sequence[FillModel], market: Market, response_type: str
) -> dict[str, Any]:
    """The answer to POST /order (ACK, RESULT or FULL): the order as its command left it."""
    body: dict[str, Any] = {
        "symbol": symbol_of(market.symbol),
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id or "",
        "transactTime": ms(order.created_ts),
    }
    if response_type == "ACK":
        return body
    body.update(meta_fields(order.meta))
    is_stop = order.order_type in CONDITIONAL_TYPES
    body.update(
        {
            "price": _price(market, order.price),
            "origQty": _orig_qty(order, market, order.status),
            "executedQty": pad(market.quantity_text(order.executed)),
            "origQuoteOrderQty": pad(market.quote_text(order.quote_quantity)),
            "cummulativeQuoteQty": pad(market.quote_text(order.filled_quote)),
            "status": order.status,
            "timeInForce": binance_tif(order.order_type, order.time_in_force),
            "type": binance_type(order.order_type, order.post_only),
            "side": order.side,
            "workingTime": -1 if is_stop else ms(order.created_ts),
            "selfTradePreventionMode": order.stp_mode,
        }
    )
    if is_stop:
        body["stopPrice"] = pad(market.price_text(order.stop_price))
    if response_type == "FULL":
        body["fills"] = [
            {
                "price": pad(market.price_text(fill.price)),
                "qty": pad(market.quantity_text(fill.quantity)),
                "commission": pad(market.quote_text(fill.fee)),
                "commissionAsset": market.quote,
                "tradeId": fill.trade_id,
            }
            for fill in fills
        ]
    return body


def cancelled(order: OrderModel, market: Market, client_order_id: str) -> dict[str, Any]:
    """The answer to DELETE /order: the order as its cancellation left it."""
    body = {
        "symbol": symbol_of(market.symbol),
        "origClientOrderId": order.client_order_id or "",
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": client_order_id,
        "transactTime": ms(order.updated_ts),
        "price": _price(market, order.price),
        "origQty": pad(market.quantity_text(order.quantity or order.executed)),
        "executedQty": pad(market.quantity_text(order.executed)),
        "origQuoteOrderQty": pad(market.quote_text(order.quote_quantity)),
        "cummulativeQuoteQty": pad(market.quote_text(order.filled_quote)),
        "status": order.status,
        "timeInForce": binance_tif(order.order_type, order.time_in_force),
        "type": binance_type(order.order_type, order.post_only),
        "side": order.side,
        "selfTradePreventionMode": order.stp_mode,
        **meta_fields(order.meta),
    }
    if order.stop_price:
        body["stopPrice"] = pad(market.price_text(order.stop_price))
    return body


def execution_report(
    update: OrderUpdate, market: Market, execution_id: int, now_ms: int
) -> dict[str, Any] | None:
    """The `executionReport` user-data event of one order change (None: Binance sends
    none for it). A trade that fills the order reports FILLED itself."""
    execution = EXECUTION_TYPE.get(update.change)
    if execution is None:
        return None
    order, fill = update.order, update.fill
    status = status_after(update.change, order.executed, order.reason, completes=update.completes)
    if status == PREVENTED[0]:
        execution = PREVENTED[1]
    quantity = order.quantity or (order.executed if not is_open(status) else 0)
    client_order_id = order.client_order_id or ""
    cancelled = update.change is OrderChange.CANCELED
    return {
        "e": "executionReport",
        "E": now_ms,
        "s": symbol_of(market.symbol),
        # A cancel's report names the cancel (its own id) in `c` and the order in `C`.
        "c": (update.cancel_request_id or client_order_id) if cancelled else client_order_id,
        "S": order.side,
        "o": binance_type(order.order_type, order.post_only),
        "f": binance_tif(order.order_type, order.time_in_force),
        "q": pad(market.quantity_text(quantity)),
        "p": _price(market, order.price),
        "P": _price(market, order.stop_price),
        "F": ZERO,
        "g": -1,
        "C": client_order_id if cancelled else "",
        "x": execution,
        "X": status,
        "r": "NONE",
        "i": order.order_id,
        "l": pad(market.quantity_text(fill.quantity)) if fill else ZERO,
        "z": pad(market.quantity_text(order.executed)),
        "L": pad(market.price_text(fill.price)) if fill else ZERO,
        "n": pad(market.quote_text(fill.fee)) if fill else "0",
        "N": market.quote if fill else None,
        "T": ms(order.updated_ts),
        "t": fill.trade_id if fill else -1,
        "I": execution_id,
        "w": is_open(status) and not order.pending,
        "m": fill is not None and fill.role == MAKER,
        "M": False,
        "O": ms(order.created_ts),
        "Z": pad(market.quote_text(order.filled_quote)),
        "Y": pad(market.quote_text(fill.quote_amount)) if fill else ZERO,
        "Q": pad(market.quote_text(order.quote_quantity)),
        "W": -1 if order.pending else ms(order.created_ts),
        "V": order.stp_mode,
        **meta_fields(order.meta, event=True),
    }


def user_trade(fill: FillModel, market: Market) -> dict[str, Any]:
    """A fill as GET /myTrades shows it."""
    return {
        "symbol": symbol_of(market.symbol),
        "id": fill.trade_id,
        "orderId": fill.order_id,
        "orderListId": -1,
        "price": pad(market.price_text(fill.price)),
        "qty": pad(market.quantity_text(fill.quantity)),
        "quoteQty": pad(market.quote_text(fill.quote_amount)),
        "commission": pad(market.quote_text(fill.fee)),
        "commissionAsset": market.quote,
        "time": ms(fill.ts),
        "isBuyer": fill.side == BUY,
        "isMaker": fill.role == MAKER,
        "isBestMatch": True,
    }

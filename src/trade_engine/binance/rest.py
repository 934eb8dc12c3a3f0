"""The Binance-compatible order and account endpoints (`/api/v3/order` ... `/account`).

Handlers verify signed requests on the raw bytes, convert decimal strings to engine
integers at the edge, submit commands through the same core as the native API and
answer in Binance's shapes and error codes. Orders are rendered from the one order
read model; reads come from committed state (database rows, the read model), never
from the engine's in-flight state.
"""

import secrets
from typing import Any, Final

import msgspec

from trade_engine.binance import limits, order_views, views
from trade_engine.binance.auth import READ, TRADE
from trade_engine.binance.errors import (
    INVALID_SIDE,
    INVALID_TIF,
    INVALID_TYPE,
    BinanceError,
    from_engine,
    illegal,
    mandatory,
    not_required,
    one_of_mandatory,
)
from trade_engine.binance.params import Params
from trade_engine.binance.requests import market_named, market_of, markets_by_symbol, signed, time_ns
from trade_engine.binance.wire import ENGINE_TYPE, binance_name, meta_of
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.market import Market
from trade_engine.domain.order_meta import OrderMeta
from trade_engine.domain.vocabulary import BUY, CONDITIONAL_TYPES, MARKET, SELL, STP_MODES
from trade_engine.edge.errors import UNKNOWN_ORDER
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.routes import Call
from trade_engine.engine import CancelAllOrders, CancelOrder, OrderCancelled, PlaceOrder
from trade_engine.readmodel.orders import OrderModel, fill_of_row, finished, model_of_row, placed
from trade_engine.storage import reads

_CLIENT_ID_RANGE: Final = "^[a-zA-Z0-9-_]{1,36}$"
_CLIENT_ID_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_RESPONSE_TYPES: Final = ("ACK", "RESULT", "FULL")


def _client_order_id(params: Params, name: str) -> str | None:
    value = params.text(name)
    if value is not None and (len(value) > 36 or not set(value) <= _CLIENT_ID_CHARS):
        raise illegal(name, _CLIENT_ID_RANGE)
    return value


def _new_client_id() -> str:
    return secrets.token_urlsafe(16).replace("-", "x").replace("_", "y")[:22]


def _convert(convert: Any, text: str, field: str, places: int, market_order: bool = False) -> int:
    """`text` in engine units; `places` is the asset's precision: a value finer than the
    step or tick but within it fails the filter (-1013), a finer one is -1111."""
    try:
        return int(convert(text, field))
    except TradeEngineError as error:
        if error.code == ErrorCode.TOO_PRECISE and len(text.partition(".")[2].rstrip("0")) <= places:
            code = ErrorCode.OFF_TICK if field in ("price", "stopPrice") else ErrorCode.OFF_STEP
            error = TradeEngineError(code, error.message)
        raise from_engine(error, field=field, market_order=market_order) from error


def _refuse(params: Params, *names: str) -> None:
    for name in names:
        if name in params:
            raise not_required(name)


def place_command(user_id: str, market: Market, params: Params) -> tuple[PlaceOrder, str]:
    """Validate a Binance new-order request and build the engine command (and the
    response type asked for)."""
    side = params.required("side").upper()
    if side not in ("BUY", "SELL"):
        raise BinanceError(-1117, INVALID_SIDE)
    kind = params.required("type").upper()
    engine_type = ENGINE_TYPE.get(kind)
    if engine_type is None:
        raise BinanceError(-1116, INVALID_TYPE)
    if "icebergQty" in params and params.text("icebergQty") not in ("0", "0.0"):
        raise BinanceError(-2010, "Iceberg orders are not supported for this symbol.")
    if "trailingDelta" in params:
        raise BinanceError(-2010, "Trailing stop orders are not supported for this symbol.")
    limit_priced = kind in ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
    conditional = engine_type in CONDITIONAL_TYPES
    is_market = not limit_priced
    tif = "GTC"
    if kind in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
        tif = params.required("timeInForce").upper()
        if tif not in ("GTC", "IOC", "FOK"):
            raise BinanceError(-1115, INVALID_TIF)
    else:
        _refuse(params, "timeInForce")
    if not limit_priced:
        _refuse(params, "price")
    if not conditional:
        _refuse(params, "stopPrice")
    quantity = quote_quantity = price = stop_price = 0
    quantity_text, quote_text = params.text("quantity"), params.text("quoteOrderQty")
    if kind == "MARKET":
        if quantity_text is None and quote_text is None:
            raise one_of_mandatory("quantity", "quoteOrderQty")
        if quantity_text is not None and quote_text is not None:
            raise not_required("quoteOrderQty")
    else:
        _refuse(params, "quoteOrderQty")
        if quantity_text is None:
            raise mandatory("quantity")
    quote_places = market.quote_decimals
    if quantity_text is not None:
        quantity = _convert(market.quantity_lots, quantity_text, "quantity", market.base_decimals, is_market)
    if quote_text is not None:
        quote_quantity = _convert(market.quote_units, quote_text, "quoteOrderQty", quote_places, True)
    if limit_priced:
        price = _convert(market.price_ticks, params.required("price"), "price", quote_places)
    if conditional:
        stop_price = _convert(market.price_ticks, params.required("stopPrice"), "stopPrice", quote_places)
    stp = params.text("selfTradePreventionMode")
    if stp is not None and stp not in STP_MODES:
        raise illegal("selfTradePreventionMode", ", ".join(sorted(STP_MODES)))
    response_type = params.text("newOrderRespType") or ("FULL" if kind in ("LIMIT", "MARKET") else "ACK")
    if response_type not in _RESPONSE_TYPES:
        raise illegal("newOrderRespType", "ACK, RESULT, FULL")
    client_order_id = _client_order_id(params, "newClientOrderId") or _new_client_id()
    command = PlaceOrder(
        ts=0,
        user_id=user_id,
        market=market.symbol,
        side=side,
        order_type=engine_type,
        time_in_force=tif,
        quantity=quantity,
        quote_quantity=quote_quantity,
        price=price,
        stop_price=stop_price,
        client_order_id=client_order_id,
        stp_mode=stp,
        post_only=kind == "LIMIT_MAKER",
        meta=_meta(params),
    )
    return command, response_type


def _meta(params: Params) -> OrderMeta | None:
    """The order's labels (`strategyId` and the like), checked by their declared types."""
    try:
        return meta_of({name: value for name, value in params.values.items() if value})
    except msgspec.ValidationError as error:
        field = str(error).rpartition("$.")[2].rstrip("`")
        raise BinanceError(-1130, f"Data sent for parameter '{binance_name(field)}' is not valid.") from error


async def new_order(gateway: Gateway, call: Call) -> dict[str, Any]:
    caller, params = await signed(gateway, call, TRADE)
    market = market_of(gateway, params)
    command, response_type = place_command(caller.user_id, market, params)
    limits.count_order(caller.user_id)
    try:
        events = await gateway.submit(command)
    except TradeEngineError as error:
        raise from_engine(error, market_order=command.order_type == MARKET) from error
    order, fills = placed(events)
    return order_views.new_order(order, fills, market, response_type)


async def test_order(gateway: Gateway, call: Call) -> dict[str, Any]:
    caller, params = await signed(gateway, call, TRADE)
    place_command(caller.user_id, market_of(gateway, params), params)
    return {}


def _order_reference(params: Params) -> tuple[int | None, str | None]:
    order_id = params.integer("orderId")
    client_order_id = _client_order_id(params, "origClientOrderId")
    if order_id is None and client_order_id is None:
        raise one_of_mandatory("origClientOrderId", "orderId")
    return order_id, client_order_id


async def query_order(gateway: Gateway, call: Call) -> dict[str, Any]:
    caller, params = await signed(gateway, call, READ)
    market = market_of(gateway, params)
    order_id, client_order_id = _order_reference(params)
    row = await reads.order_row(gateway.database(), caller.user_id, order_id, client_order_id)
    if row is None or row["market"] != market.symbol:
        raise BinanceError(-2013, "Order does not exist.")
    return order_views.order(model_of_row(row), market)


async def _cancel_one(
    gateway: Gateway, user_id: str, market: Market, order: OrderModel, client_order_id: str
) -> dict[str, Any]:
    try:
        events = await gateway.submit(CancelOrder(ts=0, user_id=user_id, order_id=order.order_id))
    except TradeEngineError as error:
        raise from_engine(error, cancelling=True) from error
    cancelled = next(e for e in events if isinstance(e, OrderCancelled))
    return order_views.cancelled(finished(order, cancelled), market, client_order_id)


async def cancel_order(gateway: Gateway, call: Call) -> dict[str, Any]:
    caller, params = await signed(gateway, call, TRADE)
    market = market_of(gateway, params)
    order_id, client_order_id = _order_reference(params)
    new_client_id = _client_order_id(params, "newClientOrderId") or _new_client_id()
    order = gateway.read_model().orders.find(caller.user_id, order_id, client_order_id)
    if order is None or order.market != market.symbol:
        raise BinanceError(-2011, UNKNOWN_ORDER)
    return await _cancel_one(gateway, caller.user_id, market, order, new_client_id)


async def cancel_open_orders(gateway: Gateway, call: Call) -> list[dict[str, Any]]:
    caller, params = await signed(gateway, call, TRADE)
    market = market_of(gateway, params)
    mine = gateway.read_model().orders.of_user(caller.user_id, market.symbol)
    open_orders = {order.order_id: order for order in mine}
    if not open_orders:
        raise BinanceError(-2011, UNKNOWN_ORDER)
    try:
        events = await gateway.submit(CancelAllOrders(ts=0, user_id=caller.user_id, market=market.symbol))
    except TradeEngineError as error:
        raise from_engine(error, cancelling=True) from error
    cancelled = [e for e in events if isinstance(e, OrderCancelled) and e.order_id in open_orders]
    if not cancelled:
        raise BinanceError(-2011, UNKNOWN_ORDER)
    return [
        order_views.cancelled(finished(open_orders[e.order_id], e), market, _new_client_id())
        for e in cancelled
    ]


async def open_orders(gateway: Gateway, call: Call) -> list[dict[str, Any]]:
    caller, params = await signed(gateway, call, READ)
    symbol = params.text("symbol")
    by_symbol = markets_by_symbol(gateway)
    market = market_named(gateway, symbol) if symbol is not None else None
    rows = await reads.orders_from(
        gateway.database(),
        caller.user_id,
        market=market.symbol if market else None,
        open_only=True,
        from_id=0,
        limit=10_000,
    )
    markets = {m.symbol: m for m in by_symbol.values()}
    return [order_views.order(model_of_row(row), markets[row["market"]]) for row in rows]


async def all_orders(gateway: Gateway, call: Call) -> list[dict[str, Any]]:
    caller, params = await signed(gateway, call, READ)
    market = market_of(gateway, params)
    rows = await reads.orders_from(
        gateway.database(),
        caller.user_id,
        market=market.symbol,
        from_id=params.integer("orderId"),
        start_ns=time_ns(params, "startTime"),
        end_ns=time_ns(params, "endTime"),
        limit=params.limit(500, 1000),
    )
    return [order_views.order(model_of_row(row), market) for row in rows]


async def my_trades(gateway: Gateway, call: Call) -> list[dict[str, Any]]:
    caller, params = await signed(gateway, call, READ)
    market = market_of(gateway, params)
    limit = params.limit(500, 1000)
    rows = await reads.user_trades(
        gateway.database(),
        caller.user_id,
        market=market.symbol,
        order_id=params.integer("orderId"),
        from_id=params.integer("fromId"),
        start_ns=time_ns(params, "startTime"),
        end_ns=time_ns(params, "endTime"),
        limit=limit,
    )
    order_id = params.integer("orderId")
    fills = [
        fill_of_row({**row, "side": side})
        for row in rows
        for side in (BUY, SELL)
        if row["buyer_user_id" if side == BUY else "seller_user_id"] == caller.user_id
    ]
    result = [
        order_views.user_trade(fill, market)
        for fill in fills
        if order_id is None or fill.order_id == order_id
    ]
    return result[:limit]


async def account(gateway: Gateway, call: Call) -> dict[str, Any]:
    caller, params = await signed(gateway, call, READ)
    database = gateway.database()
    markets = gateway.read_model().markets
    assets = markets.assets()
    rows = await reads.balance_rows(database, caller.user_id)
    omit = (params.text("omitZeroBalances") or "false").lower() == "true"
    return views.account(caller.user_id, caller.permissions, assets, rows, markets.all(), omit)


async def order_rate_limits(gateway: Gateway, call: Call) -> list[dict[str, Any]]:
    """GET /rateLimit/order: the caller's new orders in each order window."""
    caller, _ = await signed(gateway, call, READ)
    return limits.current().limits.order_counts(caller.user_id)

"""The Binance-compatible REST API, `/api/v3/...`, as a Litestar router.

Handlers read parameters the Binance way (query string and form body, query wins),
verify signed requests on the raw bytes, convert decimal strings to engine integers at
the edge, submit commands through the same sequencer as the native API and answer in
Binance's shapes and error codes. Reads come from committed state (database rows, the
committed depth view), never from the engine's in-flight state.
"""

import logging
import secrets
import time
from typing import Any, Final

from trade_engine.api.services import Services
from trade_engine.binance import views
from trade_engine.binance.auth import READ, TRADE, Caller, verify_request
from trade_engine.binance.errors import (
    INVALID_INTERVAL,
    INVALID_SIDE,
    INVALID_SYMBOL,
    INVALID_TIF,
    INVALID_TYPE,
    BinanceError,
    from_engine,
    illegal,
    mandatory,
    not_required,
    one_of_mandatory,
)
from trade_engine.binance.params import Params, parse
from trade_engine.binance.ticker import day_ticker, klines
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.market import Market
from trade_engine.domain.vocabulary import CONDITIONAL_TYPES, MARKET, STP_MODES
from trade_engine.edge.errors import UNKNOWN_ORDER
from trade_engine.edge.routes import Call
from trade_engine.engine import CancelAllOrders, CancelOrder, OrderCancelled, PlaceOrder
from trade_engine.engine.order import Order
from trade_engine.marketdata.candles import INTERVALS
from trade_engine.storage import market_reads, reads

log = logging.getLogger(__name__)

NS_PER_MS: Final = 1_000_000
_CLIENT_ID_RANGE: Final = "^[a-zA-Z0-9-_]{1,36}$"
_CLIENT_ID_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_RESPONSE_TYPES: Final = ("ACK", "RESULT", "FULL")


def now_ms() -> int:
    return time.time_ns() // NS_PER_MS


# -- request plumbing ------------------------------------------------------------------------


async def _params(services: Services, call: Call) -> tuple[Params, bytes, bytes]:
    request = call.request
    query = request.query_string
    body = await request.body(services.config.http.max_body_bytes)
    return parse(query, body, request.header(b"content-type") or ""), query, body


async def _signed(services: Services, call: Call, permission: str) -> tuple[Caller, Params]:
    params, query, body = await _params(services, call)
    caller = await verify_request(
        services,
        key=call.request.header(b"x-mbx-apikey"),
        permission=permission,
        params=params,
        query=query,
        body=body,
    )
    return caller, params


def markets_by_symbol(services: Services) -> dict[str, Market]:
    return {views.symbol_of(m.symbol): m for m in services.require_core().engine.markets()}


def market_named(services: Services, symbol: str) -> Market:
    market = markets_by_symbol(services).get(symbol.upper())
    if market is None:
        raise BinanceError(-1121, INVALID_SYMBOL)
    return market


def _market(services: Services, params: Params) -> Market:
    return market_named(services, params.required("symbol"))


def _selected(services: Services, params: Params) -> list[Market] | None:
    """`symbol` or `symbols` (None when neither was sent: all markets)."""
    by_symbol = markets_by_symbol(services)
    names = params.symbol_list()
    single = params.text("symbol")
    if single is not None:
        names = [single]
    if names is None:
        return None
    found = [by_symbol.get(name.upper()) for name in names]
    if any(market is None for market in found):
        raise BinanceError(-1121, INVALID_SYMBOL)
    return [market for market in found if market is not None]


def _time_ns(params: Params, name: str) -> int | None:
    value = params.integer(name)
    if value is None:
        return None
    if not 0 <= value < 2**63 // NS_PER_MS:
        raise BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.")
    return value * NS_PER_MS


# -- general -------------------------------------------------------------------------------------


async def ping(services: Services, call: Call) -> dict[str, Any]:
    return {}


async def server_time(services: Services, call: Call) -> dict[str, Any]:
    return {"serverTime": now_ms()}


async def exchange_info(services: Services, call: Call) -> dict[str, Any]:
    params, _, _ = await _params(services, call)
    selected = _selected(services, params)
    markets = selected if selected is not None else services.require_core().engine.markets()
    return views.exchange_info(markets, now_ms())


# -- market data ---------------------------------------------------------------------------------


async def depth(services: Services, call: Call) -> dict[str, Any]:
    params, _, _ = await _params(services, call)
    market = _market(services, params)
    limit = params.limit(100, 5000)
    view = services.depth.market(market.symbol)
    bids, asks = view.levels(limit)
    return {
        "lastUpdateId": view.sequence,
        "bids": views.levels(market, bids),
        "asks": views.levels(market, asks),
    }


async def _public_trades(services: Services, call: Call) -> list[dict[str, Any]]:
    params, _, _ = await _params(services, call)
    market = _market(services, params)
    rows = await market_reads.trades(
        services.require_core().database,
        market.symbol,
        from_id=params.integer("fromId"),
        limit=params.limit(500, 1000),
    )
    return [views.public_trade(row, market) for row in rows]


async def trades(services: Services, call: Call) -> list[dict[str, Any]]:
    return await _public_trades(services, call)


async def historical_trades(services: Services, call: Call) -> list[dict[str, Any]]:
    return await _public_trades(services, call)


async def agg_trades(services: Services, call: Call) -> list[dict[str, Any]]:
    params, _, _ = await _params(services, call)
    market = _market(services, params)
    limit = params.limit(500, 1000)
    from_id = params.integer("fromId")
    start_ns, end_ns = _time_ns(params, "startTime"), _time_ns(params, "endTime")
    # Several trades can make one aggregate: read more, and drop a group the read may
    # have cut short at its far edge.
    cap = 2 * limit + 100
    rows = await market_reads.trades(
        services.require_core().database,
        market.symbol,
        from_id=from_id,
        start_ns=start_ns,
        end_ns=end_ns,
        limit=cap,
    )
    groups = views.aggregate(rows)
    ascending = from_id is not None or start_ns is not None
    if len(rows) == cap and groups:
        groups = groups[:-1] if ascending else groups[1:]
    groups = groups[:limit] if ascending else groups[-limit:]
    return [views.agg_trade(group, market) for group in groups]


async def _klines(services: Services, call: Call) -> list[list[Any]]:
    params, _, _ = await _params(services, call)
    market = _market(services, params)
    interval = params.required("interval")
    if interval not in INTERVALS:
        raise BinanceError(-1120, INVALID_INTERVAL)
    return await klines(
        services.require_core().database,
        market,
        interval,
        start_ns=_time_ns(params, "startTime"),
        end_ns=_time_ns(params, "endTime"),
        limit=params.limit(500, 1000),
        now_ns=time.time_ns(),
    )


async def kline_list(services: Services, call: Call) -> list[list[Any]]:
    return await _klines(services, call)


async def ui_klines(services: Services, call: Call) -> list[list[Any]]:
    return await _klines(services, call)


async def _tickers(services: Services, call: Call) -> Any:
    params, _, _ = await _params(services, call)
    kind = params.text("type") or "FULL"
    if kind not in ("FULL", "MINI"):
        raise illegal("type", "FULL, MINI")
    selected = _selected(services, params)
    markets = selected if selected is not None else services.require_core().engine.markets()
    core = services.require_core()
    now_ns = time.time_ns()
    result = [
        await day_ticker(core.database, market, services.depth.market(market.symbol), now_ns, kind == "MINI")
        for market in markets
    ]
    return result[0] if params.text("symbol") is not None else result


async def ticker_24hr(services: Services, call: Call) -> Any:
    return await _tickers(services, call)


async def ticker_price(services: Services, call: Call) -> Any:
    params, _, _ = await _params(services, call)
    selected = _selected(services, params)
    core = services.require_core()
    markets = selected if selected is not None else core.engine.markets()
    now_ns = time.time_ns()
    result = []
    for market in markets:
        ticker = await day_ticker(core.database, market, services.depth.market(market.symbol), now_ns, True)
        result.append({"symbol": ticker["symbol"], "price": ticker["lastPrice"]})
    return result[0] if params.text("symbol") is not None else result


def book_ticker(services: Services, market: Market) -> dict[str, Any]:
    bid, ask = views.top(services.depth.market(market.symbol))
    return {
        "symbol": views.symbol_of(market.symbol),
        "bidPrice": views.pad(market.price_text(bid[0])),
        "bidQty": views.pad(market.quantity_text(bid[1])),
        "askPrice": views.pad(market.price_text(ask[0])),
        "askQty": views.pad(market.quantity_text(ask[1])),
    }


async def ticker_book(services: Services, call: Call) -> Any:
    params, _, _ = await _params(services, call)
    selected = _selected(services, params)
    markets = selected if selected is not None else services.require_core().engine.markets()
    result = [book_ticker(services, market) for market in markets]
    return result[0] if params.text("symbol") is not None else result


# -- orders --------------------------------------------------------------------------------------


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
    engine_type = views.ENGINE_TYPE.get(kind)
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
    )
    return command, response_type


async def new_order(services: Services, call: Call) -> dict[str, Any]:
    caller, params = await _signed(services, call, TRADE)
    market = _market(services, params)
    command, response_type = place_command(caller.user_id, market, params)
    try:
        events = await services.submit(command)
    except TradeEngineError as error:
        raise from_engine(error, market_order=command.order_type == MARKET) from error
    return views.new_order(events, market, response_type)


async def test_order(services: Services, call: Call) -> dict[str, Any]:
    caller, params = await _signed(services, call, TRADE)
    place_command(caller.user_id, _market(services, params), params)
    return {}


def _order_reference(params: Params) -> tuple[int | None, str | None]:
    order_id = params.integer("orderId")
    client_order_id = _client_order_id(params, "origClientOrderId")
    if order_id is None and client_order_id is None:
        raise one_of_mandatory("origClientOrderId", "orderId")
    return order_id, client_order_id


async def query_order(services: Services, call: Call) -> dict[str, Any]:
    caller, params = await _signed(services, call, READ)
    market = _market(services, params)
    order_id, client_order_id = _order_reference(params)
    row = await reads.order_row(services.require_core().database, caller.user_id, order_id, client_order_id)
    if row is None or row["market"] != market.symbol:
        raise BinanceError(-2013, "Order does not exist.")
    return views.order_from_row(row, market)


def _order_terms(order: Order) -> dict[str, Any]:
    return order.to_dict()


async def _cancel_one(
    services: Services, user_id: str, market: Market, order: Order, client_order_id: str
) -> dict[str, Any]:
    try:
        events = await services.submit(CancelOrder(ts=0, user_id=user_id, order_id=order.id))
    except TradeEngineError as error:
        raise from_engine(error, cancelling=True) from error
    cancelled = next(e for e in events if isinstance(e, OrderCancelled))
    return views.cancelled_order(_order_terms(order), cancelled, market, client_order_id)


async def cancel_order(services: Services, call: Call) -> dict[str, Any]:
    caller, params = await _signed(services, call, TRADE)
    market = _market(services, params)
    order_id, client_order_id = _order_reference(params)
    new_client_id = _client_order_id(params, "newClientOrderId") or _new_client_id()
    order = services.require_core().engine.open_order(caller.user_id, order_id, client_order_id)
    if (
        order is None
        or order.market != market.symbol
        or (order_id is not None and client_order_id is not None and order.client_order_id != client_order_id)
    ):
        raise BinanceError(-2011, UNKNOWN_ORDER)
    return await _cancel_one(services, caller.user_id, market, order, new_client_id)


async def cancel_open_orders(services: Services, call: Call) -> list[dict[str, Any]]:
    caller, params = await _signed(services, call, TRADE)
    market = _market(services, params)
    core = services.require_core()
    open_orders = {order.id: order for order in core.engine.open_orders(caller.user_id, market.symbol)}
    if not open_orders:
        raise BinanceError(-2011, UNKNOWN_ORDER)
    try:
        events = await services.submit(CancelAllOrders(ts=0, user_id=caller.user_id, market=market.symbol))
    except TradeEngineError as error:
        raise from_engine(error, cancelling=True) from error
    cancelled = [e for e in events if isinstance(e, OrderCancelled) and e.order_id in open_orders]
    if not cancelled:
        raise BinanceError(-2011, UNKNOWN_ORDER)
    return [
        views.cancelled_order(_order_terms(open_orders[e.order_id]), e, market, _new_client_id())
        for e in cancelled
    ]


async def open_orders(services: Services, call: Call) -> list[dict[str, Any]]:
    caller, params = await _signed(services, call, READ)
    symbol = params.text("symbol")
    by_symbol = markets_by_symbol(services)
    market = market_named(services, symbol) if symbol is not None else None
    rows = await reads.orders_from(
        services.require_core().database,
        caller.user_id,
        market=market.symbol if market else None,
        open_only=True,
        from_id=0,
        limit=10_000,
    )
    markets = {m.symbol: m for m in by_symbol.values()}
    return [views.order_from_row(row, markets[row["market"]]) for row in rows]


async def all_orders(services: Services, call: Call) -> list[dict[str, Any]]:
    caller, params = await _signed(services, call, READ)
    market = _market(services, params)
    rows = await reads.orders_from(
        services.require_core().database,
        caller.user_id,
        market=market.symbol,
        from_id=params.integer("orderId"),
        start_ns=_time_ns(params, "startTime"),
        end_ns=_time_ns(params, "endTime"),
        limit=params.limit(500, 1000),
    )
    return [views.order_from_row(row, market) for row in rows]


async def my_trades(services: Services, call: Call) -> list[dict[str, Any]]:
    caller, params = await _signed(services, call, READ)
    market = _market(services, params)
    limit = params.limit(500, 1000)
    rows = await reads.user_trades(
        services.require_core().database,
        caller.user_id,
        market=market.symbol,
        order_id=params.integer("orderId"),
        from_id=params.integer("fromId"),
        start_ns=_time_ns(params, "startTime"),
        end_ns=_time_ns(params, "endTime"),
        limit=limit,
    )
    order_id = params.integer("orderId")
    result = [
        view
        for row in rows
        for view in views.user_trades(row, caller.user_id, market)
        if order_id is None or view["orderId"] == order_id
    ]
    return result[:limit]


async def account(services: Services, call: Call) -> dict[str, Any]:
    caller, params = await _signed(services, call, READ)
    core = services.require_core()
    markets = core.engine.markets()
    assets: dict[str, int] = {}
    for market in markets:
        assets[market.base] = market.base_decimals
        assets[market.quote] = market.quote_decimals
    rows = await reads.balance_rows(core.database, caller.user_id)
    omit = (params.text("omitZeroBalances") or "false").lower() == "true"
    return views.account(caller.user_id, caller.permissions, assets, rows, markets, omit)

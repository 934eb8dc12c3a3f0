"""The Binance-compatible REST API's routes, `/api/v3/...` and the few `/sapi/...` ones
(its WebSocket endpoints are routed in app/sockets.py). Binance's endpoints are
documented by Binance, not in this service's OpenAPI document.

`PREFIXES` are the paths Binance's clients send requests under: every answer there,
an unknown path's included, is Binance's (`{"code", "msg"}`), so that a client raises
its own API exception for an endpoint this service does not serve (margin, futures,
options, portfolio margin, ...) instead of failing to read the answer."""

from collections.abc import Awaitable, Callable
from functools import wraps

from trade_engine.binance import market_rest, rest, sapi
from trade_engine.binance.api import BinanceApi
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.routes import Access, Call, Route

PREFIX = "/api/v3"
PREFIXES = (PREFIX, "/sapi", "/fapi", "/dapi", "/eapi", "/papi")
Handler = Callable[[Gateway, Call], Awaitable[object]]
PUBLIC, OWN = Access.PUBLIC, Access.OWN

# (method, path, handler, access): signed endpoints verify their signature themselves.
# Paths are under PREFIX.
TABLE: tuple[tuple[str, str, Handler, Access], ...] = (
    ("GET", "/ping", market_rest.ping, PUBLIC),
    ("GET", "/time", market_rest.server_time, PUBLIC),
    ("GET", "/exchangeInfo", market_rest.exchange_info, PUBLIC),
    ("GET", "/depth", market_rest.depth, PUBLIC),
    ("GET", "/trades", market_rest.trades, PUBLIC),
    ("GET", "/historicalTrades", market_rest.historical_trades, PUBLIC),
    ("GET", "/aggTrades", market_rest.agg_trades, PUBLIC),
    ("GET", "/klines", market_rest.kline_list, PUBLIC),
    ("GET", "/uiKlines", market_rest.ui_klines, PUBLIC),
    ("GET", "/avgPrice", market_rest.avg_price, PUBLIC),
    ("GET", "/ticker", market_rest.rolling_ticker, PUBLIC),
    ("GET", "/ticker/24hr", market_rest.ticker_24hr, PUBLIC),
    ("GET", "/ticker/price", market_rest.ticker_price, PUBLIC),
    ("GET", "/ticker/bookTicker", market_rest.ticker_book, PUBLIC),
    ("POST", "/order", rest.new_order, OWN),
    ("POST", "/order/test", rest.test_order, OWN),
    ("GET", "/order", rest.query_order, OWN),
    ("DELETE", "/order", rest.cancel_order, OWN),
    ("DELETE", "/openOrders", rest.cancel_open_orders, OWN),
    ("GET", "/openOrders", rest.open_orders, OWN),
    ("GET", "/allOrders", rest.all_orders, OWN),
    ("GET", "/myTrades", rest.my_trades, OWN),
    ("GET", "/account", rest.account, OWN),
)
# Under /sapi (full paths).
SAPI: tuple[tuple[str, str, Handler, Access], ...] = (
    ("GET", "/sapi/v1/system/status", sapi.system_status, PUBLIC),
    ("GET", "/sapi/v1/asset/tradeFee", sapi.trade_fee, OWN),
    ("GET", "/sapi/v1/account/status", sapi.account_status, OWN),
)


def bind(handler: Handler, gateway: Gateway) -> Callable[[Call], Awaitable[object]]:
    @wraps(handler)
    async def bound(call: Call) -> object:
        return await handler(gateway, call)

    return bound


def routes(gateway: Gateway, api: BinanceApi) -> list[Route]:
    table = [(method, PREFIX + path, handler, access) for method, path, handler, access in TABLE]
    return [
        Route(method, path, bind(handler, gateway), api, access=access, documented=False)
        for method, path, handler, access in (*table, *SAPI)
    ]

"""The Binance-compatible REST API's routes, `/api/v3/...` (its WebSocket endpoints are
routed in app/sockets.py). Binance's endpoints are documented by Binance, not in this
service's OpenAPI document."""

from collections.abc import Awaitable, Callable
from functools import wraps

from trade_engine.binance import market_rest, rest
from trade_engine.binance.api import BinanceApi
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.routes import Access, Call, Route

PREFIX = "/api/v3"
Handler = Callable[[Gateway, Call], Awaitable[object]]

# (method, path, handler, access): signed endpoints verify their signature themselves.
TABLE: tuple[tuple[str, str, Handler, Access], ...] = (
    ("GET", "/ping", market_rest.ping, Access.PUBLIC),
    ("GET", "/time", market_rest.server_time, Access.PUBLIC),
    ("GET", "/exchangeInfo", market_rest.exchange_info, Access.PUBLIC),
    ("GET", "/depth", market_rest.depth, Access.PUBLIC),
    ("GET", "/trades", market_rest.trades, Access.PUBLIC),
    ("GET", "/historicalTrades", market_rest.historical_trades, Access.PUBLIC),
    ("GET", "/aggTrades", market_rest.agg_trades, Access.PUBLIC),
    ("GET", "/klines", market_rest.kline_list, Access.PUBLIC),
    ("GET", "/uiKlines", market_rest.ui_klines, Access.PUBLIC),
    ("GET", "/avgPrice", market_rest.avg_price, Access.PUBLIC),
    ("GET", "/ticker", market_rest.rolling_ticker, Access.PUBLIC),
    ("GET", "/ticker/24hr", market_rest.ticker_24hr, Access.PUBLIC),
    ("GET", "/ticker/price", market_rest.ticker_price, Access.PUBLIC),
    ("GET", "/ticker/bookTicker", market_rest.ticker_book, Access.PUBLIC),
    ("POST", "/order", rest.new_order, Access.OWN),
    ("POST", "/order/test", rest.test_order, Access.OWN),
    ("GET", "/order", rest.query_order, Access.OWN),
    ("DELETE", "/order", rest.cancel_order, Access.OWN),
    ("DELETE", "/openOrders", rest.cancel_open_orders, Access.OWN),
    ("GET", "/openOrders", rest.open_orders, Access.OWN),
    ("GET", "/allOrders", rest.all_orders, Access.OWN),
    ("GET", "/myTrades", rest.my_trades, Access.OWN),
    ("GET", "/account", rest.account, Access.OWN),
)


def bind(handler: Handler, gateway: Gateway) -> Callable[[Call], Awaitable[object]]:
    @wraps(handler)
    async def bound(call: Call) -> object:
        return await handler(gateway, call)

    return bound


def routes(gateway: Gateway, api: BinanceApi) -> list[Route]:
    return [
        Route(method, PREFIX + path, bind(handler, gateway), api, access=access, documented=False)
        for method, path, handler, access in TABLE
    ]

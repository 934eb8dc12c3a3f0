"""The Binance-compatible REST API's routes, `/api/v3/...` and the few `/sapi/...` ones
(its WebSocket endpoints are routed in app/sockets.py). Binance's endpoints are
documented by Binance, not in this service's OpenAPI document.

`PREFIXES` are the paths Binance's clients send requests under: every answer there,
an unknown path's included, is Binance's (`{"code", "msg"}`), so that a client raises
its own API exception for an endpoint this service does not serve (margin, futures,
options, portfolio margin, ...) instead of failing to read the answer."""

from collections.abc import Awaitable, Callable
from functools import wraps

from trade_engine.binance import limits, market_rest, replace, rest, sapi, userstream, weights
from trade_engine.binance.api import Answer, BinanceApi
from trade_engine.binance.errors import BinanceError, from_engine
from trade_engine.binance.requests import params_of
from trade_engine.binance.weights import Weight
from trade_engine.domain.errors import TradeEngineError
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.routes import Access, Call, Route

PREFIX = "/api/v3"
PREFIXES = (PREFIX, "/sapi", "/fapi", "/dapi", "/eapi", "/papi", "/futures")
Handler = Callable[[Gateway, Call], Awaitable[object]]
PUBLIC, OWN = Access.PUBLIC, Access.OWN

# (method, path, handler, access, request weight): signed endpoints verify their
# signature themselves. Paths are under PREFIX.
TABLE: tuple[tuple[str, str, Handler, Access, Weight], ...] = (
    ("GET", "/ping", market_rest.ping, PUBLIC, 1),
    ("GET", "/time", market_rest.server_time, PUBLIC, 1),
    ("GET", "/exchangeInfo", market_rest.exchange_info, PUBLIC, 20),
    ("GET", "/depth", market_rest.depth, PUBLIC, weights.depth),
    ("GET", "/trades", market_rest.trades, PUBLIC, 25),
    ("GET", "/historicalTrades", market_rest.historical_trades, PUBLIC, 25),
    ("GET", "/aggTrades", market_rest.agg_trades, PUBLIC, 4),
    ("GET", "/klines", market_rest.kline_list, PUBLIC, 2),
    ("GET", "/uiKlines", market_rest.ui_klines, PUBLIC, 2),
    ("GET", "/avgPrice", market_rest.avg_price, PUBLIC, 2),
    ("GET", "/ticker", market_rest.rolling_ticker, PUBLIC, weights.rolling_ticker),
    ("GET", "/ticker/24hr", market_rest.ticker_24hr, PUBLIC, weights.day_ticker),
    ("GET", "/ticker/price", market_rest.ticker_price, PUBLIC, weights.one_or_all),
    ("GET", "/ticker/bookTicker", market_rest.ticker_book, PUBLIC, weights.one_or_all),
    ("POST", "/order", rest.new_order, OWN, 1),
    ("POST", "/order/test", rest.test_order, OWN, weights.test_order),
    ("POST", "/order/cancelReplace", replace.cancel_replace, OWN, 1),
    ("GET", "/order", rest.query_order, OWN, 4),
    ("DELETE", "/order", rest.cancel_order, OWN, 1),
    ("DELETE", "/openOrders", rest.cancel_open_orders, OWN, 1),
    ("GET", "/openOrders", rest.open_orders, OWN, weights.open_orders),
    ("GET", "/allOrders", rest.all_orders, OWN, 20),
    ("GET", "/myTrades", rest.my_trades, OWN, weights.my_trades),
    ("GET", "/account", rest.account, OWN, 20),
    ("GET", "/rateLimit/order", rest.order_rate_limits, OWN, 40),
    ("POST", "/userDataStream", userstream.open_listen_key, OWN, 2),
    ("PUT", "/userDataStream", userstream.keep_alive, OWN, 2),
    ("DELETE", "/userDataStream", userstream.close_listen_key, OWN, 2),
)
# Under /sapi (full paths).
SAPI: tuple[tuple[str, str, Handler, Access, Weight], ...] = (
    ("GET", "/sapi/v1/system/status", sapi.system_status, PUBLIC, 1),
    ("GET", "/sapi/v1/asset/tradeFee", sapi.trade_fee, OWN, 1),
    ("GET", "/sapi/v1/account/status", sapi.account_status, OWN, 1),
)


def _refusal(error: TradeEngineError, headers: dict[str, str]) -> BinanceError:
    answer = from_engine(error)
    answer.headers = {**headers, **answer.headers}
    return answer


def bind(
    handler: Handler, weight: Weight, gateway: Gateway, budgets: limits.BinanceLimits
) -> Callable[[Call], Awaitable[object]]:
    """The handler, charged its weight first; its answer (or error) carries the counts."""

    @wraps(handler)
    async def bound(call: Call) -> object:
        try:
            params, _, _ = await params_of(gateway, call)
            cost = weights.of(weight, params)
        except BinanceError:
            cost = 1
        except TradeEngineError as error:  # the request cannot be read (a body too large)
            unread = budgets.admit(call.request.client_host, 1)
            raise _refusal(unread.refusal or error, unread.headers) from error
        budget = budgets.admit(call.request.client_host, cost)
        if budget.refusal is not None:
            raise _refusal(budget.refusal, budget.headers)
        token = limits.enter(budget)
        try:
            data = await handler(gateway, call)
        except BinanceError as error:
            error.headers = {**budget.headers, **error.headers}
            raise
        except TradeEngineError as error:
            raise _refusal(error, budget.headers) from error
        finally:
            limits.leave(token)
            budget.settle()
        return Answer(data, budget.headers)

    return bound


def routes(gateway: Gateway, api: BinanceApi) -> list[Route]:
    """Every route, charged to the counts of `api.limits` (shared with the WebSocket API)."""
    budgets = api.limits
    table = [
        (method, PREFIX + path, handler, access, weight) for method, path, handler, access, weight in TABLE
    ]
    return [
        Route(method, path, bind(handler, weight, gateway, budgets), api, access=access, documented=False)
        for method, path, handler, access, weight in (*table, *SAPI)
    ]

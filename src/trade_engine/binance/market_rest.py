"""The Binance-compatible market-data endpoints (`/api/v3/ping` ... `/ticker/bookTicker`,
`/avgPrice`, the rolling-window `/ticker`).

Everything comes from committed state: the depth view, the live market data (the same
24-hour ticker the native API and the streams show, fresh after every commit; rolling
windows of up to a day and the average price), and the trades table for history
(klines of every interval, rolling windows longer than a day).
"""

import re
import time
from typing import Any, Final

from trade_engine.binance import tickers, views
from trade_engine.binance.errors import (
    INVALID_INTERVAL,
    INVALID_TICKER_TYPE,
    invalid_value,
    one_of_mandatory,
    refusal,
)
from trade_engine.binance.limits import rate_limits
from trade_engine.binance.params import Params
from trade_engine.binance.requests import all_markets, market_of, now_ms, params_of, selected, time_ns
from trade_engine.binance.wire import pad, symbol_of
from trade_engine.domain.market import Market
from trade_engine.domain.timestamps import ms
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.routes import Call
from trade_engine.marketdata import candles
from trade_engine.marketdata.candles import Ticker
from trade_engine.marketdata.intervals import DAY, HOUR, KLINE_INTERVALS, MINUTE
from trade_engine.readmodel.trades import trade_of_row

_WINDOW: Final = re.compile(r"([1-9][0-9]?)([mhd])")
_WINDOW_UNITS: Final = {"m": (MINUTE, 59), "h": (HOUR, 23), "d": (DAY, 7)}
_UTC: Final = frozenset({"0", "+0", "-0", "00:00", "+00:00", "-00:00", "0:00", "+0:00", "-0:00"})


async def ping(gateway: Gateway, call: Call) -> dict[str, Any]:
    return {}


async def server_time(gateway: Gateway, call: Call) -> dict[str, Any]:
    return {"serverTime": now_ms()}


async def exchange_info(gateway: Gateway, call: Call) -> dict[str, Any]:
    params, _, _ = await params_of(gateway, call)
    chosen = selected(gateway, params)
    markets = chosen if chosen is not None else all_markets(gateway)
    return views.exchange_info(markets, now_ms(), rate_limits(gateway.config.binance))


async def depth(gateway: Gateway, call: Call) -> dict[str, Any]:
    params, _, _ = await params_of(gateway, call)
    market = market_of(gateway, params)
    limit = params.limit(100, 5000)
    view = gateway.depth.market(market.symbol)
    bids, asks = view.levels(limit)
    return {
        "lastUpdateId": view.sequence,
        "bids": views.levels(market, bids),
        "asks": views.levels(market, asks),
    }


async def _public_trades(gateway: Gateway, call: Call) -> list[dict[str, Any]]:
    params, _, _ = await params_of(gateway, call)
    market = market_of(gateway, params)
    history = await gateway.history()
    rows = await history.trades(
        market.symbol,
        from_id=params.integer("fromId"),
        limit=params.limit(500, 1000),
    )
    return [views.public_trade(trade_of_row(row, market.symbol), market) for row in rows]


async def trades(gateway: Gateway, call: Call) -> list[dict[str, Any]]:
    return await _public_trades(gateway, call)


async def historical_trades(gateway: Gateway, call: Call) -> list[dict[str, Any]]:
    return await _public_trades(gateway, call)


async def agg_trades(gateway: Gateway, call: Call) -> list[dict[str, Any]]:
    params, _, _ = await params_of(gateway, call)
    market = market_of(gateway, params)
    limit = params.limit(500, 1000)
    from_id = params.integer("fromId")
    start_ns, end_ns = time_ns(params, "startTime"), time_ns(params, "endTime")
    ascending = from_id is not None or start_ns is not None
    history = await gateway.history()
    # Several trades can make one aggregate: read more, and drop a group the read may
    # have cut short at its far edge; a read that leaves no whole group (one taker's
    # fills at one price outnumber it) is made again, larger.
    cap = 2 * limit + 100
    while True:
        rows = await history.trades(
            market.symbol,
            # An aggregate's id is its first trade's (ids start at 1): from one trade
            # before `fromId`, an aggregate `fromId` falls inside of is seen whole, and
            # left out below.
            from_id=None if from_id is None else max(from_id, 1) - 1,
            start_ns=start_ns,
            end_ns=end_ns,
            limit=cap,
        )
        groups = views.aggregate([trade_of_row(row, market.symbol) for row in rows])
        cut = len(rows) == cap
        if cut and groups:
            groups = groups[:-1] if ascending else groups[1:]
        if from_id is not None:  # aggregates from `fromId` on, inclusive, never part of one
            groups = [group for group in groups if group[0].trade_id >= from_id]
        if groups or not cut:
            break
        cap *= 4
    groups = groups[:limit] if ascending else groups[-limit:]
    return [views.agg_trade(group, market) for group in groups]


async def _klines(gateway: Gateway, call: Call) -> list[list[Any]]:
    params, _, _ = await params_of(gateway, call)
    market = market_of(gateway, params)
    interval = KLINE_INTERVALS.get(params.required("interval"))
    if interval is None:
        raise refusal(INVALID_INTERVAL)
    time_zone = params.text("timeZone")
    if time_zone is not None and time_zone not in _UTC:
        # Klines in another time zone are not served: refused, never silently in UTC.
        raise invalid_value("timeZone")
    series = await candles.klines(
        await gateway.history(),
        market.symbol,
        interval,
        start_ns=time_ns(params, "startTime"),
        end_ns=time_ns(params, "endTime"),
        limit=params.limit(500, 1000),
        now_ns=time.time_ns(),
    )
    return [views.kline(candle, market) for candle in series]


async def kline_list(gateway: Gateway, call: Call) -> list[list[Any]]:
    return await _klines(gateway, call)


async def ui_klines(gateway: Gateway, call: Call) -> list[list[Any]]:
    return await _klines(gateway, call)


def _day_ticker(gateway: Gateway, market: Market, now_ns: int, mini: bool) -> dict[str, Any]:
    ticker = gateway.live.ticker(market.symbol, now_ns)
    return tickers.day_ticker(market, ticker, gateway.depth.market(market.symbol), now_ns, mini)


def _mini(params: Params) -> bool:
    """`type`: FULL (the default) or MINI."""
    kind = params.text("type") or "FULL"
    if kind not in ("FULL", "MINI"):
        raise refusal(INVALID_TICKER_TYPE)
    return kind == "MINI"


async def ticker_24hr(gateway: Gateway, call: Call) -> Any:
    params, _, _ = await params_of(gateway, call)
    mini = _mini(params)
    chosen = selected(gateway, params)
    markets = chosen if chosen is not None else all_markets(gateway)
    now_ns = time.time_ns()
    result = [_day_ticker(gateway, market, now_ns, mini) for market in markets]
    return result[0] if params.text("symbol") is not None else result


def window_size(params: Params) -> int:
    """`windowSize` in nanoseconds: 1m..59m, 1h..23h or 1d..7d (default 1d)."""
    found = _WINDOW.fullmatch(params.text("windowSize") or "1d")
    if found is None:
        raise invalid_value("windowSize")
    unit, most = _WINDOW_UNITS[found[2]]
    if int(found[1]) > most:
        raise invalid_value("windowSize")
    return int(found[1]) * unit


async def _rolling(gateway: Gateway, market: Market, now_ns: int, window: int) -> Ticker:
    """A window of up to a day from the live minutes; a longer one from storage."""
    if window <= DAY:
        return gateway.live.window(market.symbol, now_ns, window)
    start = (now_ns - window) // MINUTE * MINUTE
    end = now_ns + 1
    history = await gateway.history()
    rows, before = await history.buckets(market.symbol, end - start, start, end, 1, start)
    if not rows:
        return Ticker(start, now_ns, None, None, None, None, 0, 0, 0, previous_close=before)
    _, open_, high, low, close, volume, quote, count, _, _, first, last = rows[0]
    return Ticker(start, now_ns, open_, high, low, close, volume, quote, count, first, last, 0, before)


async def rolling_ticker(gateway: Gateway, call: Call) -> Any:
    """GET /ticker: statistics of a rolling window (`windowSize`) for `symbol` or `symbols`."""
    params, _, _ = await params_of(gateway, call)
    mini, window = _mini(params), window_size(params)
    chosen = selected(gateway, params)
    if chosen is None:
        raise one_of_mandatory("symbol", "symbols")
    now_ns = time.time_ns()
    result = [
        tickers.rolling_ticker(market, await _rolling(gateway, market, now_ns, window), now_ns, mini)
        for market in chosen
    ]
    return result[0] if params.text("symbol") is not None else result


async def avg_price(gateway: Gateway, call: Call) -> dict[str, Any]:
    """GET /avgPrice: the volume-weighted price of the last five minutes' trades."""
    params, _, _ = await params_of(gateway, call)
    market = market_of(gateway, params)
    now_ns = time.time_ns()
    window = gateway.live.window(market.symbol, now_ns, tickers.AVERAGE_MINUTES * MINUTE)
    last = gateway.live.last_trade_ts(market.symbol)
    return tickers.average_price(market, window, ms(last) if last is not None else 0)


async def ticker_price(gateway: Gateway, call: Call) -> Any:
    params, _, _ = await params_of(gateway, call)
    chosen = selected(gateway, params)
    markets = chosen if chosen is not None else all_markets(gateway)
    now_ns = time.time_ns()
    result = []
    for market in markets:
        ticker = _day_ticker(gateway, market, now_ns, True)
        result.append({"symbol": ticker["symbol"], "price": ticker["lastPrice"]})
    return result[0] if params.text("symbol") is not None else result


def book_ticker(gateway: Gateway, market: Market) -> dict[str, Any]:
    bid, ask = views.top(gateway.depth.market(market.symbol))
    return {
        "symbol": symbol_of(market.symbol),
        "bidPrice": pad(market.price_text(bid[0])),
        "bidQty": pad(market.quantity_text(bid[1])),
        "askPrice": pad(market.price_text(ask[0])),
        "askQty": pad(market.quantity_text(ask[1])),
    }


async def ticker_book(gateway: Gateway, call: Call) -> Any:
    params, _, _ = await params_of(gateway, call)
    chosen = selected(gateway, params)
    markets = chosen if chosen is not None else all_markets(gateway)
    result = [book_ticker(gateway, market) for market in markets]
    return result[0] if params.text("symbol") is not None else result

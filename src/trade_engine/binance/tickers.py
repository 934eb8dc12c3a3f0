"""Binance's price statistics: the 24-hour ticker, rolling-window tickers and the
average price, rendered from the live market data's `Ticker` (marketdata/live.py).

Counts, volumes and prices are the exact integers, written as Binance writes amounts;
a price change in percent and a weighted average are display values, computed from the
integers in integers and rounded half up (domain/money.py; never through `float`). A
window without trades shows the last price before it as open, high, low and last, with
zero volume.
"""

from typing import Any, Final

from trade_engine.binance.views import top
from trade_engine.binance.wire import ZERO, pad, symbol_of
from trade_engine.domain.market import Market
from trade_engine.domain.money import percent_text
from trade_engine.domain.timestamps import ms
from trade_engine.marketdata.candles import Ticker
from trade_engine.marketdata.depth import MarketDepth

AVERAGE_MINUTES: Final = 5  # Binance's `avgPrice` window


def weighted_average(market: Market, volume: int, quote_volume: int) -> str:
    """Quote volume over volume, at the price's precision (at least eight places)."""
    if not volume:
        return pad("0")
    places = max(8, len(market.tick_size.partition(".")[2]))
    return pad(market.average_price_text(quote_volume, volume, places))


def _prices(ticker: Ticker) -> tuple[int, int, int, int]:
    """(open, high, low, last): the window's, or the previous close four times."""
    if ticker.trades and ticker.open is not None and ticker.last is not None:
        return ticker.open, ticker.high or 0, ticker.low or 0, ticker.last
    previous = ticker.previous_close or 0
    return previous, previous, previous, previous


def _change(market: Market, open_price: int, last_price: int) -> dict[str, str]:
    change = last_price - open_price
    percent = percent_text(change, open_price, 3) if open_price else "0.000"
    return {"priceChange": pad(market.price_change_text(change)), "priceChangePercent": percent}


def _window(
    market: Market, ticker: Ticker, open_price: int, high: int, low: int, close_ns: int
) -> dict[str, Any]:
    count = ticker.trades
    return {
        "openPrice": pad(market.price_text(open_price)),
        "highPrice": pad(market.price_text(high)),
        "lowPrice": pad(market.price_text(low)),
        "volume": pad(market.quantity_text(ticker.volume)),
        "quoteVolume": pad(market.quote_text(ticker.quote_volume)),
        "openTime": ms(ticker.open_ts),
        "closeTime": ms(close_ns),
        "firstId": ticker.first_id if count else -1,
        "lastId": ticker.last_id if count else -1,
        "count": count,
    }


def day_ticker(
    market: Market, ticker: Ticker, depth: MarketDepth, now_ns: int, mini: bool = False
) -> dict[str, Any]:
    """GET /ticker/24hr for one market (FULL, or MINI), from the live 24-hour ticker."""
    price, quantity = market.price_text, market.quantity_text
    open_price, high, low, last_price = _prices(ticker)
    body: dict[str, Any] = {"symbol": symbol_of(market.symbol)}
    if not mini:
        previous = ticker.previous_close
        bid, ask = top(depth)
        body.update(_change(market, open_price, last_price))
        body.update(
            {
                "weightedAvgPrice": weighted_average(market, ticker.volume, ticker.quote_volume),
                "prevClosePrice": pad(price(previous)) if previous is not None else ZERO,
                "lastPrice": pad(price(last_price)),
                "lastQty": pad(quantity(ticker.last_quantity if ticker.trades else 0)),
                "bidPrice": pad(price(bid[0])),
                "bidQty": pad(quantity(bid[1])),
                "askPrice": pad(price(ask[0])),
                "askQty": pad(quantity(ask[1])),
            }
        )
    else:
        body["lastPrice"] = pad(price(last_price))
    body.update(_window(market, ticker, open_price, high, low, now_ns))
    return body


def rolling_ticker(market: Market, ticker: Ticker, now_ns: int, mini: bool = False) -> dict[str, Any]:
    """GET /ticker (a rolling window) for one market, FULL or MINI."""
    open_price, high, low, last_price = _prices(ticker)
    body: dict[str, Any] = {"symbol": symbol_of(market.symbol)}
    if not mini:
        body.update(_change(market, open_price, last_price))
        body["weightedAvgPrice"] = weighted_average(market, ticker.volume, ticker.quote_volume)
    body.update(_window(market, ticker, open_price, high, low, now_ns))
    body["lastPrice"] = pad(market.price_text(last_price))
    return body


def average_price(market: Market, ticker: Ticker, last_trade_ms: int) -> dict[str, Any]:
    """GET /avgPrice: the volume-weighted price of the last five minutes' trades (the
    last price before them when there were none), and when the last trade was."""
    if ticker.trades:
        price = weighted_average(market, ticker.volume, ticker.quote_volume)
    else:
        price = pad(market.price_text(ticker.previous_close or 0))
    return {"mins": AVERAGE_MINUTES, "price": price, "closeTime": last_trade_ms}

"""24-hour tickers and klines in Binance's shapes, computed from committed trades.

A kline bucket without trades repeats the previous close with zero volume, as Binance
does; buckets before the market's first trade are left out. Price change percentages
and weighted averages are display values (rounded), computed from the exact integers.
"""

import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.binance.views import ZERO, ms, pad, symbol_of, top
from trade_engine.domain.market import Market
from trade_engine.marketdata.candles import DAY, INTERVALS
from trade_engine.marketdata.depth import MarketDepth
from trade_engine.storage import market_reads

_CACHE_SECONDS: Final = 1.0
_stats_cache: dict[tuple[int, str], tuple[float, dict[str, Any]]] = {}


async def _day_stats(database: AsyncEngine, market: str, now_ns: int) -> dict[str, Any]:
    key = (id(database), market)
    cached = _stats_cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < _CACHE_SECONDS:
        return cached[1]
    stats = await market_reads.day_stats(database, market, now_ns - DAY, now_ns)
    stats["open_ns"], stats["close_ns"] = now_ns - DAY, now_ns
    if len(_stats_cache) > 10_000:
        _stats_cache.clear()
    _stats_cache[key] = (time.monotonic(), stats)
    return stats


def _places(market: Market) -> Decimal:
    return Decimal(1).scaleb(-max(8, len(market.tick_size.partition(".")[2])))


async def day_ticker(
    database: AsyncEngine, market: Market, depth: MarketDepth, now_ns: int, mini: bool = False
) -> dict[str, Any]:
    """GET /ticker/24hr for one market (FULL, or MINI)."""
    stats = await _day_stats(database, market.symbol, now_ns)
    price, quantity = market.price_text, market.quantity_text
    count = int(stats["count"])
    previous = stats["previous"]
    if count:
        open_price, _ = stats["first"]
        last_price, last_qty = stats["last"]
        high, low = int(stats["high"]), int(stats["low"])
    else:
        open_price = last_price = high = low = int(previous or 0)
        last_qty = 0
    volume, quote_volume = int(stats["volume"]), int(stats["quote_volume"])
    body: dict[str, Any] = {"symbol": symbol_of(market.symbol)}
    if not mini:
        change = last_price - open_price
        percent = (
            (Decimal(change) * 100 / Decimal(open_price)).quantize(Decimal("0.001"), ROUND_HALF_UP)
            if open_price
            else Decimal("0.000")
        )
        weighted = (
            (Decimal(market.quote_text(quote_volume)) / Decimal(quantity(volume))).quantize(
                _places(market), ROUND_HALF_UP
            )
            if volume
            else Decimal(0)
        )
        bid, ask = top(depth)
        sign = "-" if change < 0 else ""
        body.update(
            {
                "priceChange": sign + pad(price(abs(change))),
                "priceChangePercent": str(percent),
                "weightedAvgPrice": pad(format(weighted, "f")),
                "prevClosePrice": pad(price(int(previous))) if previous is not None else ZERO,
                "lastPrice": pad(price(last_price)),
                "lastQty": pad(quantity(last_qty)),
                "bidPrice": pad(price(bid[0])),
                "bidQty": pad(quantity(bid[1])),
                "askPrice": pad(price(ask[0])),
                "askQty": pad(quantity(ask[1])),
            }
        )
    else:
        body["lastPrice"] = pad(price(last_price))
    body.update(
        {
            "openPrice": pad(price(open_price)),
            "highPrice": pad(price(high)),
            "lowPrice": pad(price(low)),
            "volume": pad(quantity(volume)),
            "quoteVolume": pad(market.quote_text(quote_volume)),
            "openTime": ms(stats["open_ns"]),
            "closeTime": ms(stats["close_ns"]),
            "firstId": int(stats["first_id"]) if count else -1,
            "lastId": int(stats["last_id"]) if count else -1,
            "count": count,
        }
    )
    return body


def kline_row(market: Market, bucket: int, size: int, row: tuple[int, ...]) -> list[Any]:
    _, open_, high, low, close, volume, quote_volume, count, buy_volume, buy_quote, *_ = row
    price, quantity = market.price_text, market.quantity_text
    return [
        ms(bucket),
        pad(price(open_)),
        pad(price(high)),
        pad(price(low)),
        pad(price(close)),
        pad(quantity(volume)),
        ms(bucket + size) - 1,
        pad(market.quote_text(quote_volume)),
        count,
        pad(quantity(buy_volume)),
        pad(market.quote_text(buy_quote)),
        "0",
    ]


async def klines(
    database: AsyncEngine,
    market: Market,
    interval: str,
    *,
    start_ns: int | None,
    end_ns: int | None,
    limit: int,
    now_ns: int,
) -> list[list[Any]]:
    """Klines whose open time is within [start, end], at most `limit`, oldest first."""
    size = INTERVALS[interval]
    current = now_ns - now_ns % size
    last = current if end_ns is None else min(current, end_ns - end_ns % size)
    if start_ns is not None:
        first = -(-start_ns // size) * size  # the first bucket opening at or after start
        last = min(last, first + (limit - 1) * size)
    else:
        first = max(0, last - (limit - 1) * size)
    if last < first:
        return []
    rows, close = await market_reads.klines(database, market.symbol, size, first, last + size)
    by_bucket = {row[0]: row for row in rows}
    series = []
    for bucket in range(first, last + size, size):
        row = by_bucket.get(bucket)
        if row is None:
            if close is None:
                continue  # before the market's first trade
            row = (bucket, close, close, close, close, 0, 0, 0, 0, 0, -1, -1)
        close = row[4]
        series.append(kline_row(market, bucket, size, row))
    return series

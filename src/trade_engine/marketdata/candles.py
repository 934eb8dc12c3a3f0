"""Candles and 24-hour tickers: the one shape both APIs and the streams render.

Buckets are aligned to Unix time (a 1h candle covers [hh:00, hh+1:00)); a trade at
the exact edge belongs to the bucket it opens. Open and close are the first and last
trade of a bucket by trade id (ids follow execution order). History is computed from
the committed trades table on request (one aggregate, `market_reads.buckets`), so it is
right after any restart; the current candles and the 24-hour ticker are kept in memory
from committed trades (`live.py`, loaded from the same aggregate at start).

Two series are made of the same buckets: the native one, where a bucket without trades
has null prices and zero volume (a series has no holes), and Binance's, where an empty
bucket repeats the previous close with zero volume and buckets before the market's
first trade are left out.
"""

from dataclasses import dataclass
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.domain.timestamps import NS_PER_SECOND
from trade_engine.storage import market_reads

NS: Final = NS_PER_SECOND
INTERVALS: Final = {
    "1m": 60 * NS,
    "5m": 300 * NS,
    "15m": 900 * NS,
    "1h": 3_600 * NS,
    "4h": 14_400 * NS,
    "1d": 86_400 * NS,
}
DAY: Final = 86_400 * NS


@dataclass(frozen=True)
class Candle:
    open_ts: int
    interval: int
    open: int | None
    high: int | None
    low: int | None
    close: int | None
    volume: int
    quote_volume: int
    trades: int
    buy_volume: int = 0  # bought by takers (lots)
    buy_quote_volume: int = 0
    first_id: int = -1  # the first and last trade of the bucket (-1: none)
    last_id: int = -1


@dataclass(frozen=True)
class Ticker:
    open_ts: int
    close_ts: int
    open: int | None
    high: int | None
    low: int | None
    last: int | None
    volume: int
    quote_volume: int
    trades: int
    first_id: int = -1
    last_id: int = -1
    last_quantity: int = 0  # of the last trade
    previous_close: int | None = None  # the last price before the window


def candle_of_row(row: tuple[int, ...], size: int) -> Candle:
    """A bucket of `market_reads.buckets`."""
    start, open_, high, low, close, volume, quote, count, buy, buy_quote, first, last = row
    return Candle(start, size, open_, high, low, close, volume, quote, count, buy, buy_quote, first, last)


def empty_candle(start: int, size: int, close: int | None = None) -> Candle:
    """A bucket without trades: null prices, or the previous close carried (Binance)."""
    return Candle(start, size, close, close, close, close, 0, 0, 0)


async def candles(
    database: AsyncEngine,
    market: str,
    interval: str,
    *,
    start_ns: int | None,
    end_ns: int | None,
    limit: int,
    now_ns: int,
) -> list[Candle]:
    """The native series: every bucket in [start, end), empty ones included."""
    size = INTERVALS[interval]
    if end_ns is None:
        end_ns = (now_ns // size + 1) * size
    if start_ns is None:
        start_ns = end_ns - limit * size
    first = start_ns - start_ns % size
    last = min(end_ns, first + limit * size)
    rows, _ = await market_reads.buckets(database, market, size, first, last, limit)
    by_bucket = {row[0]: row for row in rows}
    return [
        candle_of_row(by_bucket[bucket], size) if bucket in by_bucket else empty_candle(bucket, size)
        for bucket in range(first, last, size)
    ]


async def klines(
    database: AsyncEngine,
    market: str,
    interval: str,
    *,
    start_ns: int | None,
    end_ns: int | None,
    limit: int,
    now_ns: int,
) -> list[Candle]:
    """Binance's series: buckets opening within [start, end], at most `limit`, oldest
    first; empty ones carry the previous close, none before the first trade."""
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
    rows, close = await market_reads.buckets(database, market, size, first, last + size)
    by_bucket = {row[0]: row for row in rows}
    series = []
    for bucket in range(first, last + size, size):
        row = by_bucket.get(bucket)
        if row is not None:
            candle = candle_of_row(row, size)
            close = candle.close
        elif close is None:
            continue  # before the market's first trade
        else:
            candle = empty_candle(bucket, size, close)
        series.append(candle)
    return series

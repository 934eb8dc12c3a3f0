"""Candles and 24-hour tickers, computed exactly from the committed trades table.

Buckets are aligned to Unix time (a 1h candle covers [hh:00, hh+1:00)); a trade at
the exact edge belongs to the bucket it opens. Open and close are the first and last
trade of a bucket by trade id (ids follow execution order). A bucket without trades
is returned with null prices and zero volume rather than left out, so a series has
no holes. Candles are computed from the database on request, so they are right after
any restart. The 24-hour ticker covers the 1,440 one-minute buckets ending with the
current one (`open_ts <= ts < close_ts`, `close_ts` the end of the current minute); it
is kept in memory from committed trades (`live.py`, loaded from the trades table at start).
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
    size = INTERVALS[interval]
    if end_ns is None:
        end_ns = (now_ns // size + 1) * size
    if start_ns is None:
        start_ns = end_ns - limit * size
    first = start_ns - start_ns % size
    last = min(end_ns, first + limit * size)
    rows = await market_reads.candle_rows(database, market, size, first, last, limit)
    by_bucket = {row[0]: row for row in rows}
    series = []
    for bucket in range(first, last, size):
        row = by_bucket.get(bucket)
        if row is None:
            series.append(Candle(bucket, size, None, None, None, None, 0, 0, 0))
        else:
            _, open_, high, low, close, volume, quote_volume, count = row
            series.append(Candle(bucket, size, open_, high, low, close, volume, quote_volume, count))
    return series


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

"""Candles and 24-hour tickers: the one shape both APIs and the streams render.

Buckets are aligned as intervals.py says (a 1h candle covers [hh:00, hh+1:00), a week
opens on Monday); a trade at the exact edge belongs to the bucket it opens. Open and
close are the first and last trade of a bucket by trade id (ids follow execution
order). History is computed from the committed trades table on request (one
aggregate, `MarketHistory.buckets`), so it is right after any restart; the current
candles and the 24-hour ticker are kept in memory from committed trades (`live.py`,
loaded from the same aggregate at start).

Two series are made of the same buckets: the native one (the six `INTERVALS`), where a
bucket without trades has null prices and zero volume (a series has no holes), and
Binance's (every interval of intervals.py, weeks and months included), where an empty
bucket repeats the previous close with zero volume and buckets before the market's
first trade are left out. Both are derived on read from the trades table.
"""

from dataclasses import dataclass
from typing import Final

from trade_engine.domain.timestamps import NS_PER_SECOND
from trade_engine.marketdata.intervals import KLINE_INTERVALS, Interval
from trade_engine.storage.market_reads import MarketHistory

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
    """A bucket of `MarketHistory.buckets`."""
    start, open_, high, low, close, volume, quote, count, buy, buy_quote, first, last = row
    return Candle(start, size, open_, high, low, close, volume, quote, count, buy, buy_quote, first, last)


def empty_candle(start: int, size: int, close: int | None = None) -> Candle:
    """A bucket without trades: null prices, or the previous close carried (Binance)."""
    return Candle(start, size, close, close, close, close, 0, 0, 0)


async def candles(
    history: MarketHistory,
    market: str,
    interval: str,
    *,
    start_ns: int | None,
    end_ns: int | None,
    limit: int,
    now_ns: int,
) -> list[Candle]:
    """The native series: every bucket in [start, end), empty ones included; none opens
    before the epoch (an early `end` without a `start` gives fewer than `limit`)."""
    size = INTERVALS[interval]
    if end_ns is None:
        end_ns = (now_ns // size + 1) * size
    if start_ns is None:
        start_ns = end_ns - limit * size
    first = max(0, start_ns - start_ns % size)
    last = min(end_ns, first + limit * size)
    rows, _ = await history.buckets(market, size, first, last, limit)
    by_bucket = {row[0]: row for row in rows}
    return [
        candle_of_row(by_bucket[bucket], size) if bucket in by_bucket else empty_candle(bucket, size)
        for bucket in range(first, last, size)
    ]


async def klines(
    history: MarketHistory,
    market: str,
    interval: Interval,
    *,
    start_ns: int | None,
    end_ns: int | None,
    limit: int,
    now_ns: int,
) -> list[Candle]:
    """Binance's series: buckets opening within [start, end], at most `limit`, oldest
    first; empty ones carry the previous close. There are none before the market's first
    trade: a start before it gets the first klines that exist (as Binance answers a
    request from `startTime=0`)."""
    current = interval.start(now_ns)
    last = current if end_ns is None else min(current, interval.start(end_ns))
    if start_ns is not None:
        first_trade = await history.first_trade_ts(market)
        if first_trade is None:
            return []
        first = max(interval.ceil(start_ns), interval.start(first_trade))
        last = min(last, interval.shift(first, limit - 1))
    else:
        first = interval.shift(last, -(limit - 1))
        if first < 0:  # (before Unix time: no trade there)
            first = interval.ceil(0)
    if last < first:
        return []
    size, offset = interval.group
    rows, close = await history.buckets(market, size, first, interval.next(last), None, offset)
    by_bucket = {row[0]: row for row in (fold_months(rows) if interval.monthly else rows)}
    series = []
    bucket = first
    while bucket <= last:
        length = interval.length(bucket)
        row = by_bucket.get(bucket)
        if row is not None:
            candle = candle_of_row(row, length)
            close = candle.close
        elif close is None:
            bucket += length
            continue  # before the market's first trade
        else:
            candle = empty_candle(bucket, length, close)
        series.append(candle)
        bucket += length
    return series


def fold_months(days: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Day buckets (`MarketHistory.buckets` rows, oldest first) as month buckets."""
    month = KLINE_INTERVALS["1M"]
    folded: list[tuple[int, ...]] = []
    for row in days:
        start = month.start(row[0])
        if folded and folded[-1][0] == start:
            folded[-1] = merge_rows(folded[-1], row)
        else:
            folded.append((start, *row[1:]))
    return folded


def merge_rows(earlier: tuple[int, ...], later: tuple[int, ...]) -> tuple[int, ...]:
    """Two bucket rows as one: the earlier's start and open, the later's close."""
    start, open_, high, low, _, *sums_a, first, _ = earlier
    _, _, high_b, low_b, close, *sums_b, _, last = later
    sums = (a + b for a, b in zip(sums_a, sums_b, strict=True))
    return (start, open_, max(high, high_b), min(low, low_b), close, *sums, first, last)

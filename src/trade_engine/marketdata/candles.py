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

from trade_engine.api.schemas import CandleView, TickerView
from trade_engine.domain.market import Market
from trade_engine.storage import reads

NS: Final = 1_000_000_000
NS_PER_MS: Final = 1_000_000
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
    rows = await reads.candle_rows(database, market, size, first, last, limit)
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


def candle_view(candle: Candle, market: Market) -> CandleView:
    def price(value: int | None) -> str | None:
        return None if value is None else market.price_text(value)

    return CandleView(
        open_time=candle.open_ts // NS_PER_MS,
        close_time=(candle.open_ts + candle.interval) // NS_PER_MS - 1,
        open=price(candle.open),
        high=price(candle.high),
        low=price(candle.low),
        close=price(candle.close),
        volume=market.quantity_text(candle.volume),
        quote_volume=market.quote_text(candle.quote_volume),
        trades=candle.trades,
    )


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


def ticker_view(ticker: Ticker, market: Market, best_bid: int | None, best_ask: int | None) -> TickerView:
    def price(value: int | None) -> str | None:
        return None if value is None else market.price_text(value)

    change = change_percent = None
    if ticker.open is not None and ticker.last is not None:
        change = (
            price(ticker.last - ticker.open)
            if ticker.last >= ticker.open
            else "-" + market.price_text(ticker.open - ticker.last)
        )
        # Percent to two places, rounded half away from zero (display only).
        hundredths = (abs(ticker.last - ticker.open) * 20_000 + ticker.open) // (2 * ticker.open)
        sign = "-" if ticker.last < ticker.open else ""
        change_percent = f"{sign}{hundredths // 100}.{hundredths % 100:02d}"
    return TickerView(
        market=market.symbol,
        open=price(ticker.open),
        high=price(ticker.high),
        low=price(ticker.low),
        last=price(ticker.last),
        volume=market.quantity_text(ticker.volume),
        quote_volume=market.quote_text(ticker.quote_volume),
        change=change,
        change_percent=change_percent,
        best_bid=price(best_bid),
        best_ask=price(best_ask),
        trades=ticker.trades,
        open_time=ticker.open_ts // NS_PER_MS,
        close_time=ticker.close_ts // NS_PER_MS,
    )

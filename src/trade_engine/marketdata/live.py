"""Live candles and 24-hour tickers, kept in memory from committed trades.

The sequencer publishes events only after their batch is committed, so this state never
counts a trade a crash could take back. At start it is loaded from the trades table
(`LiveMarketData.load`, before the service takes a command), so it is exact after any
restart. The REST ticker and the WebSocket channels both read it, so they agree.

Per market it holds one aggregate per minute for the last 24 hours (at most 1,441
small objects, whatever the trade rate) and, per candle interval, the aggregates of
the current and the previous bucket (a WebSocket flush can span one bucket edge).

Rules (the same as `candles.py`, which computes them in SQL):
- buckets are aligned to Unix time; a trade at the exact edge belongs to the bucket it
  opens; open and close are the first and last trade of a bucket (trade ids follow
  execution order, and trades arrive in that order);
- the ticker covers the 1,440 one-minute buckets ending with the current one:
  trades with `open_ts <= ts < close_ts`, where `close_ts` is the end of the current
  minute and `open_ts = close_ts - 24 h`. The window slides by whole minutes (as
  Binance's rolling ticker does), which keeps it exact without keeping every trade.
"""

from collections import deque
from collections.abc import Iterable
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.engine import Event, TradeExecuted
from trade_engine.marketdata.candles import DAY, INTERVALS, NS, Candle, Ticker
from trade_engine.storage import market_reads

MINUTE: Final = 60 * NS
WINDOW_MINUTES: Final = DAY // MINUTE


class Bucket:
    """The running aggregate of one time bucket (at least one trade)."""

    __slots__ = ("close", "high", "low", "open", "quote_volume", "start", "trades", "volume")

    def __init__(self, start: int, price: int, quantity: int, quote: int, trades: int = 1) -> None:
        self.start = start
        self.open = self.high = self.low = self.close = price
        self.volume = quantity
        self.quote_volume = quote
        self.trades = trades

    def add(self, price: int, quantity: int, quote: int) -> None:
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        self.close = price
        self.volume += quantity
        self.quote_volume += quote
        self.trades += 1

    def merge(self, other: "Bucket") -> None:
        """Fold in a later bucket (`other` holds trades after all of this one's)."""
        if other.high > self.high:
            self.high = other.high
        if other.low < self.low:
            self.low = other.low
        self.close = other.close
        self.volume += other.volume
        self.quote_volume += other.quote_volume
        self.trades += other.trades

    def copy(self, start: int) -> "Bucket":
        bucket = Bucket(start, self.open, self.volume, self.quote_volume, self.trades)
        bucket.high, bucket.low, bucket.close = self.high, self.low, self.close
        return bucket

    def candle(self, interval: int) -> Candle:
        return Candle(
            self.start,
            interval,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.quote_volume,
            self.trades,
        )


def empty_candle(start: int, interval: int) -> Candle:
    return Candle(start, interval, None, None, None, None, 0, 0, 0)


class MarketStats:
    """Minute buckets of the last 24 hours and the latest candles of one market."""

    __slots__ = ("_closed", "_closed_end", "current", "minutes", "previous")

    def __init__(self) -> None:
        self.minutes: deque[Bucket] = deque()
        # Per interval name: the bucket of the latest trade, and the one before it.
        self.current: dict[str, Bucket] = {}
        self.previous: dict[str, Bucket] = {}
        # Aggregate of the window's closed minutes (all but the current one), cached
        # for the window that ends at `_closed_end`.
        self._closed: Bucket | None = None
        self._closed_end = 0

    def add_trade(self, ts: int, price: int, quantity: int, quote: int) -> None:
        minute = ts - ts % MINUTE
        minutes = self.minutes
        if minutes and minutes[-1].start == minute:
            minutes[-1].add(price, quantity, quote)
        else:
            minutes.append(Bucket(minute, price, quantity, quote))
            while minutes[0].start <= minute - DAY:
                minutes.popleft()
        if minute < self._closed_end - MINUTE:
            # A trade stamped in a minute the cached aggregate covers (its commit
            # overlapped a minute edge): recompute on the next read.
            self._closed_end = 0
        for name, size in INTERVALS.items():
            start = ts - ts % size
            bucket = self.current.get(name)
            if bucket is not None and bucket.start == start:
                bucket.add(price, quantity, quote)
            else:
                if bucket is not None:
                    self.previous[name] = bucket
                self.current[name] = Bucket(start, price, quantity, quote)

    def candle(self, interval: str, start: int) -> Candle:
        """The candle of the bucket that opens at `start` (empty if it holds no trade
        or is older than the previous bucket)."""
        size = INTERVALS[interval]
        for buckets in (self.current, self.previous):
            bucket = buckets.get(interval)
            if bucket is not None and bucket.start == start:
                return bucket.candle(size)
        return empty_candle(start, size)

    def ticker(self, now_ns: int) -> Ticker:
        end = (now_ns // MINUTE + 1) * MINUTE
        start = end - DAY
        minutes = self.minutes
        while minutes and minutes[0].start < start:
            minutes.popleft()
        if self._closed_end != end:
            closed: Bucket | None = None
            for bucket in minutes:
                if bucket.start >= end - MINUTE:
                    break
                if closed is None:
                    closed = bucket.copy(start)
                else:
                    closed.merge(bucket)
            self._closed, self._closed_end = closed, end
        total = self._closed.copy(start) if self._closed is not None else None
        last = minutes[-1] if minutes else None
        if last is not None and last.start == end - MINUTE:
            if total is None:
                total = last.copy(start)
            else:
                total.merge(last)
        if total is None:
            return Ticker(start, end, None, None, None, None, 0, 0, 0)
        return Ticker(
            start,
            end,
            total.open,
            total.high,
            total.low,
            total.close,
            total.volume,
            total.quote_volume,
            total.trades,
        )


class LiveMarketData:
    def __init__(self) -> None:
        self._markets: dict[str, MarketStats] = {}

    @classmethod
    async def load(cls, database: AsyncEngine, symbols: Iterable[str], now_ns: int) -> "LiveMarketData":
        """From the committed trades of the last 24 hours; call before any new trade."""
        live = cls()
        first = (now_ns // MINUTE + 1) * MINUTE - DAY
        for symbol in symbols:
            rows = await market_reads.candle_rows(database, symbol, MINUTE, first, 2**62, WINDOW_MINUTES + 2)
            stats = live.market(symbol)
            for start, open_, high, low, close, volume, quote_volume, count in rows:
                bucket = Bucket(start, open_, volume, quote_volume, count)
                bucket.high, bucket.low, bucket.close = high, low, close
                stats.minutes.append(bucket)
            # Each interval's current bucket (the one holding `now`) starts within the
            # window (every interval is at most a day), so minute buckets make it exactly.
            for name, size in INTERVALS.items():
                current = now_ns - now_ns % size
                aggregate: Bucket | None = None
                for bucket in stats.minutes:
                    if bucket.start < current:
                        continue
                    if aggregate is None:
                        aggregate = bucket.copy(current)
                    else:
                        aggregate.merge(bucket)
                if aggregate is not None:
                    stats.current[name] = aggregate
        return live

    def market(self, symbol: str) -> MarketStats:
        stats = self._markets.get(symbol)
        if stats is None:
            stats = self._markets[symbol] = MarketStats()
        return stats

    def apply(self, events: Iterable[Event]) -> None:
        """A committed batch (a sequencer subscriber)."""
        for event in events:
            if type(event) is TradeExecuted:
                self.market(event.market).add_trade(event.ts, event.price, event.quantity, event.quote_amount)

    def ticker(self, symbol: str, now_ns: int) -> Ticker:
        return self.market(symbol).ticker(now_ns)

    def candle(self, symbol: str, interval: str, start: int) -> Candle:
        return self.market(symbol).candle(interval, start)

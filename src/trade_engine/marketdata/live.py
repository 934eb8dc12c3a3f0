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

from trade_engine.domain.vocabulary import BUY
from trade_engine.marketdata.candles import DAY, INTERVALS, NS, Candle, Ticker, empty_candle
from trade_engine.readmodel.trades import TradeModel
from trade_engine.readmodel.views import ViewBatch
from trade_engine.storage import market_reads

MINUTE: Final = 60 * NS
WINDOW_MINUTES: Final = DAY // MINUTE


class Bucket:
    """The running aggregate of one time bucket (at least one trade)."""

    __slots__ = (
        "buy_quote",
        "buy_volume",
        "close",
        "first_id",
        "high",
        "last_id",
        "last_quantity",
        "low",
        "open",
        "quote_volume",
        "start",
        "trades",
        "volume",
    )

    def __init__(self, start: int, trade: TradeModel | None = None) -> None:
        self.start = start
        self.open = self.high = self.low = self.close = 0
        self.volume = self.quote_volume = self.buy_volume = self.buy_quote = self.trades = 0
        self.first_id = self.last_id = -1
        self.last_quantity = 0
        if trade is not None:
            self.open = self.high = self.low = trade.price
            self.first_id = trade.trade_id
            self.add(trade)

    @classmethod
    def of_row(cls, row: tuple[int, ...]) -> "Bucket":
        """A bucket of `market_reads.buckets` (its last trade's quantity unknown: 0)."""
        bucket = cls(row[0])
        (_, bucket.open, bucket.high, bucket.low, bucket.close, bucket.volume, bucket.quote_volume) = row[:7]
        (bucket.trades, bucket.buy_volume, bucket.buy_quote, bucket.first_id, bucket.last_id) = row[7:12]
        return bucket

    def add(self, trade: TradeModel) -> None:
        price = trade.price
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        self.close = price
        self.volume += trade.quantity
        self.quote_volume += trade.quote_amount
        if trade.taker_side == BUY:
            self.buy_volume += trade.quantity
            self.buy_quote += trade.quote_amount
        self.trades += 1
        self.last_id = trade.trade_id
        self.last_quantity = trade.quantity

    def merge(self, other: "Bucket") -> None:
        """Fold in a later bucket (`other` holds trades after all of this one's)."""
        if other.high > self.high:
            self.high = other.high
        if other.low < self.low:
            self.low = other.low
        self.close = other.close
        self.volume += other.volume
        self.quote_volume += other.quote_volume
        self.buy_volume += other.buy_volume
        self.buy_quote += other.buy_quote
        self.trades += other.trades
        self.last_id = other.last_id
        self.last_quantity = other.last_quantity

    def copy(self, start: int) -> "Bucket":
        bucket = Bucket(start)
        for name in Bucket.__slots__:
            if name != "start":
                setattr(bucket, name, getattr(self, name))
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
            self.buy_volume,
            self.buy_quote,
            self.first_id,
            self.last_id,
        )


class MarketStats:
    """Minute buckets of the last 24 hours and the latest candles of one market."""

    __slots__ = ("_closed", "_closed_end", "before", "current", "minutes", "previous")

    def __init__(self) -> None:
        self.minutes: deque[Bucket] = deque()
        # The last price before the oldest minute kept (Binance's previous close).
        self.before: int | None = None
        # Per interval name: the bucket of the latest trade, and the one before it.
        self.current: dict[str, Bucket] = {}
        self.previous: dict[str, Bucket] = {}
        # Aggregate of the window's closed minutes (all but the current one), cached
        # for the window that ends at `_closed_end`.
        self._closed: Bucket | None = None
        self._closed_end = 0

    def add_trade(self, trade: TradeModel) -> None:
        ts = trade.ts
        minute = ts - ts % MINUTE
        minutes = self.minutes
        if minutes and minutes[-1].start == minute:
            minutes[-1].add(trade)
        else:
            minutes.append(Bucket(minute, trade))
            self._forget(minute - DAY + MINUTE)
        if minute < self._closed_end - MINUTE:
            # A trade stamped in a minute the cached aggregate covers (its commit
            # overlapped a minute edge): recompute on the next read.
            self._closed_end = 0
        for name, size in INTERVALS.items():
            start = ts - ts % size
            bucket = self.current.get(name)
            if bucket is not None and bucket.start == start:
                bucket.add(trade)
            else:
                if bucket is not None:
                    self.previous[name] = bucket
                self.current[name] = Bucket(start, trade)

    def _forget(self, start: int) -> None:
        """Drop the minutes before `start`, remembering the last price among them."""
        minutes = self.minutes
        while minutes and minutes[0].start < start:
            self.before = minutes.popleft().close

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
        self._forget(start)
        minutes = self.minutes
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
            return Ticker(start, end, None, None, None, None, 0, 0, 0, previous_close=self.before)
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
            total.first_id,
            total.last_id,
            total.last_quantity,
            self.before,
        )


class LiveMarketData:
    """The current candles and 24-hour ticker of every market (a read-model reader)."""

    def __init__(self) -> None:
        self._markets: dict[str, MarketStats] = {}

    @classmethod
    async def load(cls, database: AsyncEngine, symbols: Iterable[str], now_ns: int) -> "LiveMarketData":
        """From the committed trades of the last 24 hours; call before any new trade."""
        live = cls()
        first = (now_ns // MINUTE + 1) * MINUTE - DAY
        for symbol in symbols:
            rows, before = await market_reads.buckets(
                database, symbol, MINUTE, first, 2**62, WINDOW_MINUTES + 2
            )
            stats = live.market(symbol)
            stats.before = before
            stats.minutes.extend(Bucket.of_row(row) for row in rows)
            if stats.minutes:
                latest = stats.minutes[-1]
                latest.last_quantity = await market_reads.last_trade_quantity(database, latest.last_id)
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

    def on_view(self, view: ViewBatch) -> None:
        """A committed batch's views (a read-model reader)."""
        self.add_trades(view.trades)

    def add_trades(self, trades: Iterable[TradeModel]) -> None:
        """Committed trades, in execution order."""
        for trade in trades:
            self.market(trade.market).add_trade(trade)

    def ticker(self, symbol: str, now_ns: int) -> Ticker:
        return self.market(symbol).ticker(now_ns)

    def candle(self, symbol: str, interval: str, start: int) -> Candle:
        return self.market(symbol).candle(interval, start)

"""Live candles and 24-hour tickers, kept in memory from committed trades.

The sequencer publishes events only after their batch is committed, so this state never
counts a trade a crash could take back. At start it is loaded from the trades table
(`LiveMarketData.load`) as of the committed state its readers start from (each market's
trades up to that market's sequence number in it; the batches after it bring the rest),
so it is exact after any restart, and in a gateway started while the cluster trades. The
REST ticker and the WebSocket channels both read it, so they agree.

Per market it holds one aggregate per minute for the last 24 hours and a minute (at
most 1,442 small objects, whatever the trade rate), one per day for the last 32 days,
and the aggregates of the latest three buckets of the busiest intervals (`TRACKED`: a
WebSocket flush can span one bucket edge, a Binance kline's closing message two). A
trade updates those few; the candle of any other kline interval is made on read from
minutes (intervals up to half a day) or days (a day and longer), so the order path pays
the same whatever intervals clients watch.

Rules (the same as `candles.py`, which computes them in SQL):
- buckets are aligned as intervals.py says; a trade at the exact edge belongs to the
  bucket it opens; open and close are the first and last trade of a bucket (trade ids
  follow execution order, and trades arrive in that order);
- the 24-hour ticker covers the 1,440 one-minute buckets ending with the current one:
  trades with `open_ts <= ts < close_ts`, where `close_ts` is the end of the current
  minute and `open_ts = close_ts - 24 h`. The window slides by whole minutes (as
  Binance's rolling ticker does), which keeps it exact without keeping every trade;
- a rolling window (`window`, Binance's `/api/v3/ticker`) of up to a day opens on the
  minute `window` before now and closes now, as Binance's does.
"""

from collections import deque
from collections.abc import Iterable
from typing import Final

from trade_engine.core.messages import CoreState
from trade_engine.marketdata.buckets import Bucket, merged, merged_bucket
from trade_engine.marketdata.candles import Candle, Ticker, empty_candle
from trade_engine.marketdata.intervals import DAY, KLINE_INTERVALS, MINUTE
from trade_engine.readmodel.trades import TradeModel
from trade_engine.readmodel.views import ViewBatch
from trade_engine.storage.market_reads import MarketHistory

WINDOW_MINUTES: Final = DAY // MINUTE
# Intervals whose latest three buckets are kept up to date trade by trade (three: the
# Binance streams send a `1s` bucket's closing message a second after it ends, when
# two newer buckets may have traded).
TRACKED: Final = {name: KLINE_INTERVALS[name].size for name in ("1s", "1m", "5m", "15m", "1h", "4h")}
DAYS_KEPT: Final = 32  # the longest bucket made of days is a month of 31


class MarketStats:
    """Minute and day buckets and the latest tracked candles of one market."""

    __slots__ = (
        "_closed", "_closed_end", "before", "current", "days", "last_ts", "minutes", "older", "previous",
    )  # fmt: skip

    def __init__(self) -> None:
        self.minutes: deque[Bucket] = deque()
        self.days: deque[Bucket] = deque()
        # The last price before the oldest minute kept (Binance's previous close).
        self.before: int | None = None
        self.last_ts: int | None = None  # when the market last traded
        # Per tracked interval: the bucket of the latest trade, and the two before it.
        self.current: dict[str, Bucket] = {}
        self.previous: dict[str, Bucket] = {}
        self.older: dict[str, Bucket] = {}
        # Aggregate of the 24-hour window's closed minutes (all but the current one),
        # cached for the window that ends at `_closed_end`.
        self._closed: Bucket | None = None
        self._closed_end = 0

    def add_trade(self, trade: TradeModel) -> None:
        ts = self.last_ts = trade.ts
        minute = ts - ts % MINUTE
        minutes = self.minutes
        if minutes and minutes[-1].start == minute:
            minutes[-1].add(trade)
        else:
            minutes.append(Bucket(minute, trade))
            self._forget(minute - DAY)
        if minute < self._closed_end - MINUTE:
            # A trade stamped in a minute the cached aggregate covers (its commit
            # overlapped a minute edge): recompute on the next read.
            self._closed_end = 0
        day = ts - ts % DAY
        days = self.days
        if days and days[-1].start == day:
            days[-1].add(trade)
        else:
            days.append(Bucket(day, trade))
            while days[0].start <= day - DAYS_KEPT * DAY:
                days.popleft()
        for name, size in TRACKED.items():
            start = ts - ts % size
            bucket = self.current.get(name)
            if bucket is not None and bucket.start == start:
                bucket.add(trade)
            else:
                if bucket is not None:
                    earlier = self.previous.get(name)
                    if earlier is not None:
                        self.older[name] = earlier
                    self.previous[name] = bucket
                self.current[name] = Bucket(start, trade)

    def _forget(self, start: int) -> None:
        """Drop the minutes before `start`, remembering the last price among them."""
        minutes = self.minutes
        while minutes and minutes[0].start < start:
            self.before = minutes.popleft().close

    def candle(self, interval: str, start: int) -> Candle:
        """The candle of the bucket of `interval` that opens at `start`: exact for the
        bucket of now and the two before it (empty if it holds no trade)."""
        size = TRACKED.get(interval)
        if size is not None:
            for buckets in (self.current, self.previous, self.older):
                bucket = buckets.get(interval)
                if bucket is not None and bucket.start == start:
                    return bucket.candle(size)
            return empty_candle(start, size)
        kind = KLINE_INTERVALS[interval]
        if kind.size < DAY and not kind.monthly:
            return merged(self.minutes, start, start + kind.size, kind.size)
        return merged(self.days, start, kind.next(start), kind.length(start))

    def _previous_close(self, start: int) -> int | None:
        """The last price before `start` (within the minutes kept, or before them)."""
        close = self.before
        for bucket in self.minutes:
            if bucket.start >= start:
                break
            close = bucket.close
        return close

    def ticker(self, now_ns: int) -> Ticker:
        end = (now_ns // MINUTE + 1) * MINUTE
        start = end - DAY
        self._forget(start - MINUTE)
        minutes = self.minutes
        if self._closed_end != end:
            self._closed = merged_bucket(minutes, start, end - MINUTE)
            self._closed_end = end
        total = self._closed.copy(start) if self._closed is not None else None
        last = minutes[-1] if minutes else None
        if last is not None and last.start == end - MINUTE:
            if total is None:
                total = last.copy(start)
            else:
                total.merge(last)
        return _ticker(start, end, total, self._previous_close(start))

    def window(self, now_ns: int, window_ns: int) -> Ticker:
        """A rolling window of up to a day: from the minute `window_ns` before now to now."""
        start = (now_ns - window_ns) // MINUTE * MINUTE
        self._forget((now_ns // MINUTE + 1) * MINUTE - DAY - MINUTE)
        total = merged_bucket(self.minutes, start, now_ns + 1)
        return _ticker(start, now_ns, total, self._previous_close(start))


def _ticker(start: int, end: int, total: Bucket | None, previous_close: int | None) -> Ticker:
    if total is None:
        return Ticker(start, end, None, None, None, None, 0, 0, 0, previous_close=previous_close)
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
        previous_close,
    )


class LiveMarketData:
    """The current candles and 24-hour ticker of every market (a read-model reader)."""

    def __init__(self) -> None:
        self._markets: dict[str, MarketStats] = {}

    @classmethod
    async def load(cls, history: MarketHistory, state: CoreState, now_ns: int) -> "LiveMarketData":
        """From the committed trades of the last 32 days, as of `state`: the tables hold
        every command up to it (and may hold later ones)."""
        live = cls()
        first = (now_ns // MINUTE + 1) * MINUTE - DAY - MINUTE
        today = now_ns - now_ns % DAY
        for market in state.markets:
            symbol, through = market.market.symbol, market.sequence
            rows, before = await history.buckets(
                symbol, MINUTE, first, 2**62, WINDOW_MINUTES + 2, through_seq=through
            )
            stats = live.market(symbol)
            stats.before = before
            stats.minutes.extend(Bucket.of_row(row) for row in rows)
            last = await history.last_trade(symbol, through_seq=through)
            if last is not None:
                stats.last_ts = last[1]
                if stats.minutes:
                    stats.minutes[-1].last_quantity, stats.minutes[-1].last_ts = last
            days, _ = await history.buckets(
                symbol, DAY, today - (DAYS_KEPT - 1) * DAY, 2**62, DAYS_KEPT, through_seq=through
            )
            stats.days.extend(Bucket.of_row(row) for row in days)
            # Each tracked interval's current bucket (the one holding `now`) starts
            # within the window: minute buckets make it exactly, seconds come from storage.
            for name, size in TRACKED.items():
                current = now_ns - now_ns % size
                if size < MINUTE:
                    second, _ = await history.buckets(symbol, size, current, 2**62, 1, through_seq=through)
                    aggregate = Bucket.of_row(second[0]) if second else None
                else:
                    aggregate = merged_bucket(stats.minutes, current, 2**62)
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

    def window(self, symbol: str, now_ns: int, window_ns: int) -> Ticker:
        return self.market(symbol).window(now_ns, window_ns)

    def last_trade_ts(self, symbol: str) -> int | None:
        return self.market(symbol).last_ts

    def candle(self, symbol: str, interval: str, start: int) -> Candle:
        return self.market(symbol).candle(interval, start)

"""The running aggregate of one time bucket of a market's trades (live.py keeps them).

Open and close are the bucket's first and last trade (trades arrive in execution order);
`merge` folds a later bucket in, so longer buckets are made of shorter ones on read.
"""

from collections.abc import Iterable

from trade_engine.domain.vocabulary import BUY
from trade_engine.marketdata.candles import Candle, empty_candle
from trade_engine.readmodel.trades import TradeModel


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
        "last_ts",
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
        self.last_ts = 0  # when its last trade happened (0: not known)
        if trade is not None:
            self.open = self.high = self.low = trade.price
            self.first_id = trade.trade_id
            self.add(trade)

    @classmethod
    def of_row(cls, row: tuple[int, ...]) -> "Bucket":
        """A bucket of `MarketHistory.buckets` (its last trade's quantity unknown: 0)."""
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
        self.last_ts = trade.ts

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
        self.last_ts = other.last_ts

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


def merged_bucket(buckets: Iterable[Bucket], start: int, end: int) -> Bucket | None:
    """The buckets (oldest first) opening within [start, end) as one, or None."""
    total: Bucket | None = None
    for bucket in buckets:
        if bucket.start < start:
            continue
        if bucket.start >= end:
            break
        if total is None:
            total = bucket.copy(start)
        else:
            total.merge(bucket)
    return total


def merged(buckets: Iterable[Bucket], start: int, end: int, size: int) -> Candle:
    """The candle of [start, end) made of the `buckets` (oldest first) inside it; `size`
    is the candle's length."""
    total = merged_bucket(buckets, start, end)
    return total.candle(size) if total is not None else empty_candle(start, size)

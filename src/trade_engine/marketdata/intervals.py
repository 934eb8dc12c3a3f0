"""Binance's kline intervals, and where each of their buckets opens and closes.

Binance serves sixteen intervals (`1s` to `1M`); the native API serves six of them
(candles.py `INTERVALS`). Buckets follow Binance's calendar in UTC:

- intervals of a fixed length up to three days are aligned to Unix time (a `4h` bucket
  opens at 00:00, 04:00, ...; a `3d` bucket every third day counted from 1970-01-01);
- a week (`1w`) opens on Monday at 00:00 (Binance's weeks; Unix time began on a
  Thursday, so weeks are offset by four days);
- a month (`1M`) opens on the first of the month at 00:00 and lasts as long as the
  month does.

Everything is integer nanoseconds; months come from `time.gmtime` and `calendar.timegm`,
which are exact on whole seconds. Storage groups trades by a fixed length and an offset
(`group`); a month is grouped by day and the days folded into their month (candles.py).
"""

import calendar
import time
from dataclasses import dataclass
from typing import Final

from trade_engine.domain.timestamps import NS_PER_SECOND

NS: Final = NS_PER_SECOND
MINUTE: Final = 60 * NS
HOUR: Final = 3_600 * NS
DAY: Final = 86_400 * NS
WEEK: Final = 7 * DAY
_MONDAY: Final = 4 * DAY  # 1970-01-05, the first Monday of Unix time


@dataclass(frozen=True)
class Interval:
    """One kline interval. `size` is its length (a month's is the longest, 31 days, and
    is only used to bound reads); `offset` where its buckets start, counted from Unix
    time; `monthly` for calendar months."""

    name: str
    size: int
    offset: int = 0
    monthly: bool = False

    @property
    def group(self) -> tuple[int, int]:
        """The fixed length and offset storage groups trades by for this interval."""
        return (DAY, 0) if self.monthly else (self.size, self.offset)

    def start(self, ts: int) -> int:
        """The bucket holding `ts` (a bucket holds [its start, the next start))."""
        if self.monthly:
            moment = time.gmtime(ts // NS)
            return calendar.timegm((moment.tm_year, moment.tm_mon, 1, 0, 0, 0)) * NS
        return ts - (ts - self.offset) % self.size

    def next(self, start: int) -> int:
        """The bucket after the one opening at `start`."""
        return self.shift(start, 1)

    def shift(self, start: int, count: int) -> int:
        """The bucket `count` buckets after (or, negative, before) the one at `start`."""
        if not self.monthly:
            return start + count * self.size
        moment = time.gmtime(start // NS)
        months = moment.tm_year * 12 + moment.tm_mon - 1 + count
        return calendar.timegm((months // 12, months % 12 + 1, 1, 0, 0, 0)) * NS

    def ceil(self, ts: int) -> int:
        """The first bucket opening at or after `ts`."""
        start = self.start(ts)
        return start if start == ts else self.next(start)

    def length(self, start: int) -> int:
        """How long the bucket opening at `start` lasts."""
        return self.next(start) - start


def _fixed(name: str, size: int) -> Interval:
    return Interval(name, size)


KLINE_INTERVALS: Final = {
    interval.name: interval
    for interval in (
        _fixed("1s", NS),
        _fixed("1m", MINUTE),
        _fixed("3m", 3 * MINUTE),
        _fixed("5m", 5 * MINUTE),
        _fixed("15m", 15 * MINUTE),
        _fixed("30m", 30 * MINUTE),
        _fixed("1h", HOUR),
        _fixed("2h", 2 * HOUR),
        _fixed("4h", 4 * HOUR),
        _fixed("6h", 6 * HOUR),
        _fixed("8h", 8 * HOUR),
        _fixed("12h", 12 * HOUR),
        _fixed("1d", DAY),
        _fixed("3d", 3 * DAY),
        Interval("1w", WEEK, _MONDAY),
        Interval("1M", 31 * DAY, monthly=True),
    )
}

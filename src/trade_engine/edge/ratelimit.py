"""Rate limits: token buckets per user and per client IP (every API), and the fixed
windows and escalating bans Binance's limits are counted with (binance/limits.py)."""

import math
import time
from collections.abc import Callable
from typing import Final

from trade_engine.domain.errors import ErrorCode, TradeEngineError

_MAX_KEYS: Final = 100_000


class TokenBuckets:
    """One bucket per key: `rate` tokens a second up to `burst`; a request takes one."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """0 if allowed; otherwise the seconds until a token is available."""
        now = self._clock()
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > _MAX_KEYS:
                self._forget_full(now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self._rate

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: they hold no information."""
        refill = self._burst / self._rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < refill}


class RateLimiter:
    def __init__(
        self,
        *,
        enabled: bool,
        per_user_per_second: float,
        per_user_burst: int,
        per_ip_per_second: float,
        per_ip_burst: int,
    ) -> None:
        self.enabled = enabled
        self._users = TokenBuckets(per_user_per_second, per_user_burst)
        self._ips = TokenBuckets(per_ip_per_second, per_ip_burst)

    def check_ip(self, ip: str) -> None:
        if self.enabled:
            _raise_if_limited(self._ips.take(ip), "this address")

    def check_user(self, user_id: str) -> None:
        if self.enabled:
            _raise_if_limited(self._users.take(user_id), "this user")


def _raise_if_limited(wait: float, who: str) -> None:
    if wait > 0:
        retry_after = max(1, math.ceil(wait))
        raise TradeEngineError(
            ErrorCode.RATE_LIMITED,
            f"too many requests from {who}; retry after {retry_after} s",
            retry_after_seconds=retry_after,
        )


class FixedWindows:
    """A count per key in fixed windows of `seconds`, aligned to the clock (a minute
    window runs from :00 to :59, a day from midnight UTC), as Binance counts request
    weight and orders. Only the current window is kept: memory is bounded by the keys
    seen in one window."""

    def __init__(self, seconds: int, clock: Callable[[], float] = time.time) -> None:
        self.seconds = seconds
        self._clock = clock
        self._window = -1
        self._counts: dict[str, int] = {}

    def _roll(self) -> float:
        now = self._clock()
        window = int(now // self.seconds)
        if window != self._window:
            self._window = window
            self._counts = {}
        return now

    def add(self, key: str, amount: int = 1) -> int:
        """Count `amount` more for `key`; its total in the current window."""
        self._roll()
        total = self._counts.get(key, 0) + amount
        self._counts[key] = total
        return total

    def count(self, key: str) -> int:
        self._roll()
        return self._counts.get(key, 0)

    def seconds_left(self) -> int:
        """Whole seconds until the current window ends (at least 1)."""
        now = self._roll()
        return max(1, math.ceil((self._window + 1) * self.seconds - now))

    def ends_at(self) -> float:
        """When the current window ends (clock seconds)."""
        self._roll()
        return float((self._window + 1) * self.seconds)


class Bans:
    """Keys banned for a while. A key banned again is banned twice as long as the time
    before, from `first_seconds` up to `max_seconds`; what a key did is forgotten once
    it has stayed out of trouble for `max_seconds` after its last ban ended."""

    def __init__(self, first_seconds: int, max_seconds: int, clock: Callable[[], float] = time.time) -> None:
        self._first = first_seconds
        self._max = max_seconds
        self._clock = clock
        self._bans: dict[str, tuple[float, int]] = {}  # key -> (banned until, bans so far)

    def until(self, key: str) -> float | None:
        """When the key's ban ends, if it is banned now."""
        entry = self._bans.get(key)
        if entry is None:
            return None
        until: float = entry[0]
        return until if until > self._clock() else None

    def ban(self, key: str) -> float:
        """Ban `key`; when the ban ends."""
        now = self._clock()
        until, count = self._bans.get(key, (0.0, 0))
        if now - until > self._max:
            count = 0
        seconds = min(self._max, self._first << min(count, 40))
        self._bans[key] = (now + seconds, count + 1)
        if len(self._bans) > _MAX_KEYS:
            self._bans = {k: v for k, v in self._bans.items() if now - v[0] <= self._max}
        return now + seconds

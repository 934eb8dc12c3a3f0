"""Token-bucket rate limits per user and per client IP."""

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

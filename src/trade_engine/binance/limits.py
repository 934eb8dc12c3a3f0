"""Binance's rate limits: request weight per address, new orders per user, and bans.

Every request under Binance's paths is charged its weight (the route table says how
much, routes.py; a path no route takes costs 1) against its client address, and so is
every request of the WebSocket API (ws_api.py says how much, and a connection costs 2),
on the same count: Binance shares one REQUEST_WEIGHT per address between the two. Every
answer, errors included, reports the address's weight used in the current window
(`X-MBX-USED-WEIGHT-1M` over HTTP, the `rateLimits` array on the WebSocket API). A new order also
counts against its user's order windows, reported on the answer (`X-MBX-ORDER-COUNT-10S`,
`-1D`). Over a limit the request is refused with 429, Binance's -1003 (weight) or -1015
(orders) and `Retry-After` (the seconds until the window ends); an address that keeps
on sending after `ban_after_refusals` refusals in one window is banned with 418 and
`Retry-After` (the seconds until the ban ends), each ban of it twice as long as the one
before (edge/ratelimit.py). The windows and limits come from `config.binance`, Binance's
own by default; with `rate_limits.enabled` false nothing is refused, all is counted.

Weights live in the gateway process (a cluster's gateways each count their own clients:
docs/cluster.md). Order counts are the account's in every gateway: they are counted from
the committed batches every gateway reads (ordercounts.py). The budget of the request
being served is found through a context variable, so that handlers that place orders
(`count_order`) need no extra parameter; when its request is answered, the orders it
counted are settled (`Budget.settle`, routes.py).
"""

import contextvars
import math
import time
from collections.abc import Callable
from typing import Any, Final

from trade_engine.binance.ordercounts import OrderCounts, OrderKey
from trade_engine.config import BinanceConfig
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.edge.ratelimit import Bans, FixedWindows

UNROUTED_WEIGHT: Final = 1  # a path no route takes (Binance does not say; its least)
_UNITS: Final = ((86_400, "DAY", "D"), (3_600, "HOUR", "H"), (60, "MINUTE", "M"), (1, "SECOND", "S"))


def interval_of(seconds: int) -> tuple[str, int, str]:
    """A window as Binance names it: (interval, intervalNum, header suffix), e.g. 60 s ->
    ("MINUTE", 1, "1M")."""
    for size, name, letter in _UNITS:
        if seconds % size == 0:
            return name, seconds // size, f"{seconds // size}{letter}"
    raise AssertionError("every whole number of seconds has a unit")


def rate_limits(config: BinanceConfig) -> list[dict[str, Any]]:
    """The `rateLimits` of exchangeInfo: what this service counts and enforces."""
    limits = []
    for kind, seconds, limit in (
        ("REQUEST_WEIGHT", config.request_weight_window_seconds, config.request_weight_limit),
        ("ORDERS", config.orders_window_seconds, config.orders_limit),
        ("ORDERS", config.orders_daily_window_seconds, config.orders_daily_limit),
    ):
        interval, number, _ = interval_of(seconds)
        limits.append({"rateLimitType": kind, "interval": interval, "intervalNum": number, "limit": limit})
    return limits


def _per(seconds: int) -> str:
    interval, number, _ = interval_of(seconds)
    return f"{number} {interval}"


class BinanceLimits:
    """The counters of one gateway process."""

    def __init__(self, config: BinanceConfig, enforce: bool, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.enforce = enforce
        self._clock = clock
        self.weights = FixedWindows(config.request_weight_window_seconds, clock)
        self.refusals = FixedWindows(config.request_weight_window_seconds, clock)
        windows = (
            FixedWindows(config.orders_window_seconds, clock),
            FixedWindows(config.orders_daily_window_seconds, clock),
        )
        self.orders = OrderCounts(windows, clock)
        self.bans = Bans(config.ban_seconds, config.max_ban_seconds, clock)
        self._weight_header = "X-MBX-USED-WEIGHT-" + interval_of(config.request_weight_window_seconds)[2]
        self.order_limits = (config.orders_limit, config.orders_daily_limit)
        self.order_headers = tuple(
            "X-MBX-ORDER-COUNT-" + interval_of(window.seconds)[2] for window in windows
        )

    def admit(self, address: str, weight: int) -> "Budget":
        """Charge a request's weight to its address: its budget, whose `refusal` is set
        when the request must be refused (429, or 418 for a banned address)."""
        config = self.config
        if self.enforce:
            banned_until = self.bans.until(address)
            if banned_until is not None:
                refusal = _banned(banned_until, self._clock())
                return Budget(self, {}, refusal, used=self.weights.count(address))
        used = self.weights.add(address, weight)
        budget = Budget(self, {self._weight_header: str(used)}, used=used)
        if self.enforce and used > config.request_weight_limit:
            if self.refusals.add(address) > config.ban_after_refusals:
                until = self.bans.ban(address)
                budget.refusal = _banned(until, self._clock())
            else:
                limit, per = config.request_weight_limit, _per(config.request_weight_window_seconds)
                budget.refusal = TradeEngineError(
                    ErrorCode.REQUEST_WEIGHT_EXCEEDED,
                    f"Too much request weight used; current limit is {limit} request weight per {per}. "
                    "Please use WebSocket Streams for live updates to avoid polling the API.",
                    retry_after_seconds=self.weights.seconds_left(),
                    retry_at_ms=int(self.weights.ends_at() * 1000),
                )
        return budget

    def weight_status(self, used: int) -> dict[str, Any]:
        """The REQUEST_WEIGHT entry of a WebSocket API answer's `rateLimits`."""
        interval, number, _ = interval_of(self.config.request_weight_window_seconds)
        limit = self.config.request_weight_limit
        return {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": interval,
            "intervalNum": number,
            "limit": limit,
            "count": used,
        }

    def order_counts(self, user_id: str) -> list[dict[str, Any]]:
        """GET /rateLimit/order: the user's new orders in each window."""
        counts = []
        for window, limit, count in zip(
            self.orders.windows, self.order_limits, self.orders.counts(user_id), strict=True
        ):
            interval, number, _ = interval_of(window.seconds)
            counts.append(
                {
                    "rateLimitType": "ORDERS",
                    "interval": interval,
                    "intervalNum": number,
                    "limit": limit,
                    "count": count,
                }
            )
        return counts


class Budget:
    """One request's charge: the headers its answer carries, whatever the answer, and
    why it is refused, if it is."""

    def __init__(
        self,
        limits: BinanceLimits,
        headers: dict[str, str],
        refusal: TradeEngineError | None = None,
        *,
        used: int = 0,
    ) -> None:
        self.limits = limits
        self.headers = headers
        self.refusal = refusal
        self.used = used  # the address's weight in the window, this request's included
        self.counted: list[OrderKey] = []  # the orders this request sent on, in flight

    def rate_limits(self) -> list[dict[str, Any]]:
        """The `rateLimits` a WebSocket API answer carries: the address's weight."""
        return [self.limits.weight_status(self.used)]

    def count_order(self, user_id: str, client_order_id: str | None) -> None:
        """One new order of `user_id`: counted, reported, refused (-1015) over a limit."""
        limits = self.limits
        orders = limits.orders
        over: tuple[int, int, int] | None = None
        counts = orders.counts(user_id)
        for window, limit, header, count in zip(
            orders.windows, limits.order_limits, limits.order_headers, counts, strict=True
        ):
            self.headers[header] = str(count + 1)
            if count + 1 > limit and over is None:
                over = (limit, window.seconds, window.seconds_left())
        if limits.enforce and over is not None:
            orders.refused(user_id)
            limit, seconds, left = over
            message = f"Too many new orders; current limit is {limit} orders per {_per(seconds)}."
            raise TradeEngineError(ErrorCode.TOO_MANY_ORDERS, message, retry_after_seconds=left)
        key = (user_id, client_order_id)
        orders.start(key)
        self.counted.append(key)

    def settle(self) -> None:
        """The request is answered: its orders are no longer in flight here."""
        for key in self.counted:
            self.limits.orders.end(key)
        self.counted.clear()


def _banned(until: float, now: float) -> TradeEngineError:
    message = (
        f"Way too much request weight used; IP banned until {int(until * 1000)}. "
        "Please use WebSocket Streams for live updates to avoid bans."
    )
    seconds = max(1, math.ceil(until - now))
    return TradeEngineError(
        ErrorCode.ADDRESS_BANNED, message, retry_after_seconds=seconds, retry_at_ms=int(until * 1000)
    )


_current: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("binance_budget", default=None)


def enter(budget: Budget) -> contextvars.Token[Budget | None]:
    return _current.set(budget)


def leave(token: contextvars.Token[Budget | None]) -> None:
    _current.reset(token)


def current() -> Budget:
    """The budget of the request being served (routes.py sets it for every route)."""
    budget = _current.get()
    assert budget is not None, "a Binance route's handler"
    return budget


def count_order(user_id: str, client_order_id: str | None) -> None:
    """A new order of the request being served (see `Budget.count_order`)."""
    current().count_order(user_id, client_order_id)

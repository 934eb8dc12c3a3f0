"""Binance's rate limits (binance/limits.py, edge/ratelimit.py) on a clock of the test's
own: fixed windows aligned to the clock, the headers, 429 over a limit, 418 bans that
double, order counts per user, and request weights read from the parameters."""

import pytest

from trade_engine.binance import weights
from trade_engine.binance.limits import BinanceLimits, interval_of, rate_limits
from trade_engine.binance.params import Params
from trade_engine.config import BinanceConfig
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.edge.ratelimit import Bans, FixedWindows


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_fixed_windows_restart_on_the_clock_edge_not_on_the_first_request() -> None:
    clock = Clock(119.5)
    windows = FixedWindows(60, clock)
    assert windows.add("a", 5) == 5
    assert windows.seconds_left() == 1  # 0.5 s to 120: at least a second
    clock.now = 120.0
    assert windows.count("a") == 0
    assert windows.add("a") == 1
    assert windows.add("b", 2) == 2
    assert windows.seconds_left() == 60


def test_bans_double_each_time_up_to_the_maximum_and_are_forgotten_later() -> None:
    clock = Clock(1000.0)
    bans = Bans(first_seconds=2, max_seconds=7, clock=clock)
    assert bans.until("ip") is None
    assert bans.ban("ip") == 1002.0
    assert bans.until("ip") == 1002.0
    clock.now = 1002.0
    assert bans.until("ip") is None
    assert bans.ban("ip") == 1006.0  # 4 s
    clock.now = 1006.0
    assert bans.ban("ip") == 1013.0  # 8 s, capped at 7
    clock.now = 1013.0 + 7.5  # out of trouble for longer than the maximum
    assert bans.ban("ip") == clock.now + 2


def test_binance_names_windows_as_its_headers_do() -> None:
    assert interval_of(60) == ("MINUTE", 1, "1M")
    assert interval_of(10) == ("SECOND", 10, "10S")
    assert interval_of(86_400) == ("DAY", 1, "1D")
    assert interval_of(7_200) == ("HOUR", 2, "2H")
    assert rate_limits(BinanceConfig()) == [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    ]


CONFIG = BinanceConfig(request_weight_limit=10, ban_after_refusals=2, ban_seconds=120, orders_limit=2)


def refusal(limits: BinanceLimits, address: str, weight: int) -> TradeEngineError | None:
    return limits.admit(address, weight).refusal


def test_weight_over_the_limit_is_refused_until_the_window_ends_then_the_address_is_banned() -> None:
    clock = Clock(6000.0)
    limits = BinanceLimits(CONFIG, enforce=True, clock=clock)
    assert limits.admit("ip", 4).headers == {"X-MBX-USED-WEIGHT-1M": "4"}
    assert refusal(limits, "ip", 6) is None  # 10: at the limit
    assert refusal(limits, "other", 10) is None  # per address
    clock.now += 20
    over = limits.admit("ip", 1)
    assert over.headers == {"X-MBX-USED-WEIGHT-1M": "11"}
    assert over.refusal is not None
    assert over.refusal.code == ErrorCode.REQUEST_WEIGHT_EXCEEDED
    assert over.refusal.detail("retry_after_seconds") == 40
    assert over.refusal.message.startswith("Too much request weight used; current limit is 10 request weight")
    assert "per 1 MINUTE" in over.refusal.message
    refused = refusal(limits, "ip", 1)
    assert refused is not None
    assert refused.code == ErrorCode.REQUEST_WEIGHT_EXCEEDED
    banned = refusal(limits, "ip", 1)  # the third refusal in the window: banned
    assert banned is not None
    assert banned.code == ErrorCode.ADDRESS_BANNED
    assert banned.detail("retry_after_seconds") == 120
    assert "IP banned until 6140000" in banned.message
    clock.now += 100  # a new window, still banned: nothing is counted
    still = limits.admit("ip", 1)
    assert still.refusal is not None
    assert still.refusal.code == ErrorCode.ADDRESS_BANNED
    assert not still.headers
    assert still.refusal.detail("retry_after_seconds") == 20
    clock.now += 20
    assert refusal(limits, "ip", 1) is None


def test_a_budget_reports_its_weight_as_websocket_api_rate_limits_and_when_to_retry() -> None:
    clock = Clock(6010.0)
    limits = BinanceLimits(CONFIG, enforce=True, clock=clock)
    assert limits.admit("ip", 7).rate_limits() == [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 10, "count": 7}
    ]
    over = limits.admit("ip", 4)
    assert over.rate_limits()[0]["count"] == 11
    assert over.refusal is not None
    assert over.refusal.detail("retry_at_ms") == 6060_000  # the window's end
    limits.admit("ip", 1)
    banned = limits.admit("ip", 1).refusal
    assert banned is not None
    assert banned.detail("retry_at_ms") == 6130_000  # the ban's end


def test_new_orders_are_counted_per_user_in_both_windows_and_refused_over_the_limit() -> None:
    limits = BinanceLimits(CONFIG, enforce=True, clock=Clock(50_000.0))
    budget = limits.admit("ip", 1)
    budget.count_order("alice", None)
    budget.count_order("alice", None)
    assert budget.headers == {
        "X-MBX-USED-WEIGHT-1M": "1",
        "X-MBX-ORDER-COUNT-10S": "2",
        "X-MBX-ORDER-COUNT-1D": "2",
    }
    with pytest.raises(TradeEngineError) as refused:
        budget.count_order("alice", None)
    assert refused.value.code == ErrorCode.TOO_MANY_ORDERS
    assert refused.value.message == "Too many new orders; current limit is 2 orders per 10 SECOND."
    budget.count_order("bob", None)
    counts = limits.order_counts("alice")
    assert [(c["interval"], c["intervalNum"], c["limit"], c["count"]) for c in counts] == [
        ("SECOND", 10, 2, 3),
        ("DAY", 1, 200_000, 3),
    ]


def test_when_limits_are_not_enforced_everything_is_counted_and_nothing_refused() -> None:
    limits = BinanceLimits(CONFIG, enforce=False, clock=Clock(0.0))
    for _ in range(5):
        budget = limits.admit("ip", 10)
        assert budget.refusal is None
        budget.count_order("alice", None)
    assert budget.headers == {
        "X-MBX-USED-WEIGHT-1M": "50",
        "X-MBX-ORDER-COUNT-10S": "5",
        "X-MBX-ORDER-COUNT-1D": "5",
    }


@pytest.mark.parametrize(
    ("weight", "params", "cost"),
    [
        (weights.depth, {}, 5),
        (weights.depth, {"limit": "500"}, 25),
        (weights.depth, {"limit": "1000"}, 50),
        (weights.depth, {"limit": "5000"}, 250),
        (weights.day_ticker, {"symbol": "BTCUSDT"}, 2),
        (weights.day_ticker, {}, 80),
        (weights.day_ticker, {"symbols": '["A","B"]'}, 2),
        (weights.day_ticker, {"symbols": "[" + ",".join(['"A"'] * 21) + "]"}, 40),
        (weights.one_or_all, {"symbol": "BTCUSDT"}, 2),
        (weights.one_or_all, {}, 4),
        (weights.rolling_ticker, {"symbols": '["A","B","C"]'}, 12),
        (weights.rolling_ticker, {"symbols": "[" + ",".join(['"A"'] * 51) + "]"}, 200),
        (weights.open_orders, {}, 80),
        (weights.open_orders, {"symbol": "BTCUSDT"}, 6),
        (weights.my_trades, {"symbol": "BTCUSDT", "orderId": "4"}, 5),
        (weights.test_order, {"computeCommissionRates": "true"}, 20),
        (weights.depth, {"limit": "ten"}, 1),  # unreadable: the handler refuses it
    ],
)
def test_request_weights_follow_binance(weight: weights.Weight, params: dict[str, str], cost: int) -> None:
    assert weights.of(weight, Params(params)) == cost

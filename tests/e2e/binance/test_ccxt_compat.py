"""Unmodified ccxt on what bots found missing (issue 14), on each database:
edit_order, fetch_ohlcv on every timeframe from before the first trade, fetch_trading_fees,
fetch_status, the weight headers, and ccxt's own exceptions for endpoints not served
(scripts/scenario_compat.py)."""

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.binance.conftest import Binance
from tests.e2e.client import QUOTE

MINUTE = 60_000
# Every timeframe ccxt advertises for Binance, and its length where it has a fixed one.
FIXED = {
    "1s": 1_000, "1m": MINUTE, "3m": 3 * MINUTE, "5m": 5 * MINUTE, "15m": 15 * MINUTE,
    "30m": 30 * MINUTE, "1h": 60 * MINUTE, "2h": 120 * MINUTE, "4h": 240 * MINUTE,
    "6h": 360 * MINUTE, "8h": 480 * MINUTE, "12h": 720 * MINUTE, "1d": 1_440 * MINUTE,
    "3d": 4_320 * MINUTE, "1w": 10_080 * MINUTE,
}  # fmt: skip
# A kline without trades after the one trade at 100: open, high, low, close, volume.
EMPTY_AT_100 = [100.0, 100.0, 100.0, 100.0, 0.0]


@pytest.fixture(scope="module")
def compat(binance: Binance) -> dict[str, Any]:
    native, _, symbol = binance.market()
    base = native.split("-")[0]
    trader = binance.account("cx-trader", {QUOTE: "10000", base: "10"})
    maker = binance.account("cx-maker", {QUOTE: "10000", base: "100"})
    report = binance.ccxt("scenario_compat.py", symbol, [trader, maker])
    report["symbol"] = symbol
    return report


def test_edit_order_replaces_the_order_in_one_cancel_replace(compat: dict[str, Any]) -> None:
    resting, edited = compat["resting"], compat["edited"]
    assert edited["id"] != resting["id"]
    assert (edited["status"], edited["price"], edited["amount"], edited["side"]) == ("open", 91.0, 0.3, "buy")
    assert [(o["id"], o["price"]) for o in compat["open_after_edit"]] == [(edited["id"], 91.0)]


def test_fetch_ohlcv_answers_every_timeframe_ccxt_advertises(compat: dict[str, Any]) -> None:
    assert compat["timeframes"] == sorted([*FIXED, "1M"])
    assert set(compat["ohlcv"]) == set(compat["timeframes"])


@pytest.mark.parametrize("timeframe", [*FIXED, "1M"])
def test_history_from_before_the_first_trade_starts_with_the_kline_that_holds_it(
    compat: dict[str, Any], timeframe: str
) -> None:
    # One trade: its kline first, whatever the timeframe. Klines after it are the empty
    # ones up to the current interval, carrying its close (as Binance's do). The fetch
    # comes in a later second than the trade (the scenario waits), so 1s has some; a
    # longer timeframe has them only if one of its intervals began in between.
    candle, *later = compat["ohlcv"][timeframe]
    opened, first_trade = candle[0], compat["first_trade"]
    assert candle[1:] == [100.0, 100.0, 100.0, 100.0, 0.4]
    assert all(kline[1:] == EMPTY_AT_100 for kline in later)
    assert later or timeframe != "1s"
    if timeframe == "1M":
        start = datetime.fromtimestamp(first_trade / 1000, UTC).replace(day=1, hour=0, minute=0, second=0)
        assert opened == int(start.replace(microsecond=0).timestamp() * 1000)
        return
    length = FIXED[timeframe]
    # Aligned to the epoch, except weeks: Binance's open on Mondays (the epoch was a Thursday).
    offset = 4 * 1_440 * MINUTE if timeframe == "1w" else 0
    assert (opened - offset) % length == 0
    assert opened <= first_trade < opened + length
    assert [kline[0] for kline in later] == [opened + length * step for step in range(1, len(later) + 1)]


def test_the_latest_candles_without_since_end_with_the_current_one(compat: dict[str, Any]) -> None:
    # Fetched after the series from before the first trade: the same klines, and empty
    # ones after them if a minute began in between.
    since_before, latest = compat["ohlcv"]["1m"], compat["latest_1m"]
    assert latest[: len(since_before)] == since_before
    assert all(kline[1:] == EMPTY_AT_100 for kline in latest[len(since_before) :])


def test_fetch_trading_fees_are_the_market_maker_and_taker_rates(compat: dict[str, Any]) -> None:
    assert compat["trading_fees"] == {compat["symbol"]: {"maker": 0.001, "taker": 0.002}}


def test_fetch_status_is_ok_while_the_service_is_ready(compat: dict[str, Any]) -> None:
    assert compat["status"]["status"] == "ok"


def test_answers_carry_the_weight_and_order_count_headers(compat: dict[str, Any]) -> None:
    assert int(compat["weight_after_ticker"]) >= 2
    ten_seconds, day = compat["order_counts"]
    assert int(day) == 4  # edit_order counts as one new order
    assert 1 <= int(ten_seconds) <= 4


def test_endpoints_not_served_raise_ccxt_exchange_errors_with_binance_s_code(compat: dict[str, Any]) -> None:
    unsupported = compat["unsupported"]
    assert len(unsupported) >= 10
    assert {name: answer for name, answer in unsupported.items() if answer[1:] != [True, "-1020"]} == {}

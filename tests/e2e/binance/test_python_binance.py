"""Unmodified python-binance 1.0.37 against the Binance-compatible API, on each database:
the sequence of issue 14 (scripts/python_binance_sequence.py; what it does: sequence.py),
one behaviour per test."""

from typing import Any

import pytest

from tests.e2e.binance import sequence as expect
from tests.e2e.binance.conftest import PYTHON_BINANCE_PYTHON, Binance
from tests.e2e.client import QUOTE


@pytest.fixture(scope="module")
def report(binance: Binance) -> dict[str, Any]:
    native, market_id, _ = binance.market()
    base = native.split("-")[0]
    trader = binance.account("pb-trader", {QUOTE: "10000", base: "10"})
    maker = binance.account("pb-maker", {QUOTE: "10000", base: "100"})
    result = binance.run_script(
        PYTHON_BINANCE_PYTHON, "python_binance_sequence.py", market_id, [trader, maker]
    )
    result["symbol"] = market_id
    return result


def test_historical_klines_from_before_the_first_trade_start_with_its_kline(report: dict[str, Any]) -> None:
    klines = report["klines"]
    expect.check_klines_from_before_the_first_trade(klines)
    # From "1 day ago UTC" python-binance first asks for startTime=0&limit=1.
    assert klines["1m since 1 day ago"] == klines["1m"]


def test_avg_price_and_the_rolling_window_ticker(report: dict[str, Any]) -> None:
    expect.check_market_data(report)


def test_every_order_type_cancel_replace_and_the_order_queries(report: dict[str, Any]) -> None:
    expect.check_orders(report)


def test_trade_fee_system_status_and_account_status(report: dict[str, Any]) -> None:
    expect.check_account_endpoints(report, report["symbol"])


def test_the_user_data_stream_by_listen_key(report: dict[str, Any]) -> None:
    streams = report["streams"]
    expect.check_user_data_stream(streams, report["symbol"])
    assert streams["execution_report"]["stream"] is True  # wrapped with the key: a multiplex socket
    assert streams["same_key_again"] is True
    assert streams["user_socket"] == {"e": "executionReport", "s": report["symbol"]}  # by the WebSocket API


def test_the_trade_and_depth_sockets(report: dict[str, Any]) -> None:
    expect.check_market_streams(report["streams"], report["symbol"])


def test_endpoints_not_served_raise_binance_api_exception(report: dict[str, Any]) -> None:
    expect.check_unsupported(report["unsupported"], "BinanceAPIException")

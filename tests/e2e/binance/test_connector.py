"""Unmodified binance-connector 3.13.0 (Binance's own) against the Binance-compatible
API, on each database: the sequence of issue 14 (scripts/connector_sequence.py; what it
does: sequence.py), one behaviour per test."""

from typing import Any

import pytest

from tests.e2e.binance import sequence as expect
from tests.e2e.binance.conftest import CONNECTOR_PYTHON, Binance
from tests.e2e.client import QUOTE


@pytest.fixture(scope="module")
def report(binance: Binance) -> dict[str, Any]:
    native, market_id, _ = binance.market()
    base = native.split("-")[0]
    trader = binance.account("bc-trader", {QUOTE: "10000", base: "10"})
    maker = binance.account("bc-maker", {QUOTE: "10000", base: "100"})
    result = binance.run_script(CONNECTOR_PYTHON, "connector_sequence.py", market_id, [trader, maker])
    result["symbol"] = market_id
    return result


def test_klines_from_before_the_first_trade_start_with_its_kline(report: dict[str, Any]) -> None:
    expect.check_klines_from_before_the_first_trade(report["klines"])


def test_avg_price_and_the_rolling_window_ticker(report: dict[str, Any]) -> None:
    expect.check_market_data(report)


def test_every_order_type_cancel_replace_and_the_order_queries(report: dict[str, Any]) -> None:
    expect.check_orders(report)


def test_trade_fee_system_status_account_status_and_the_weight_used(report: dict[str, Any]) -> None:
    expect.check_account_endpoints(report, report["symbol"])
    assert int(report["limit_usage"]["x-mbx-used-weight-1m"]) >= 1


def test_the_user_data_stream_by_listen_key_subscribed_on_the_stream_client(report: dict[str, Any]) -> None:
    expect.check_user_data_stream(report["streams"], report["symbol"])


def test_the_stream_client_subscribes_to_trade_and_depth_on_ws(report: dict[str, Any]) -> None:
    streams = report["streams"]
    assert streams["subscribed"] == [{"result": None, "id": n} for n in (1, 2, 3)]
    name = report["symbol"].lower()
    listed = streams["listed"]["result"]
    assert listed[:2] == [f"{name}@trade", f"{name}@depth@100ms"]
    assert len(listed[2]) == 60  # the listen key
    expect.check_market_streams(streams, report["symbol"])


def test_endpoints_not_served_raise_client_error(report: dict[str, Any]) -> None:
    expect.check_unsupported(report["unsupported"], "ClientError")

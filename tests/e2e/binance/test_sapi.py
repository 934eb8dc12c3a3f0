"""The `/sapi` endpoints spot bots call (system status, trade fees, account status), and
Binance's error body on every path under Binance's prefixes, served or not."""

import pytest

from tests.e2e.binance.conftest import Binance, SignedClient, binance_error
from tests.e2e.client import QUOTE


def test_system_status_is_normal_while_the_service_is_ready(binance: Binance) -> None:
    response = binance.api.http.get("/sapi/v1/system/status")
    assert response.json() == {"status": 0, "msg": "normal"}


def test_trade_fees_are_the_market_maker_and_taker_rates(binance: Binance) -> None:
    _, market_id, _ = binance.market()  # maker 0.1%, taker 0.2%
    client = SignedClient(binance, binance.account("fees", {QUOTE: "1"}))
    one = client.request("GET", "/sapi/v1/asset/tradeFee", f"symbol={market_id}")
    assert one.status_code == 200, one.text
    assert one.json() == [{"symbol": market_id, "makerCommission": "0.001", "takerCommission": "0.002"}]
    every = client.request("GET", "/sapi/v1/asset/tradeFee")
    assert {"symbol": "BTCUSDT", "makerCommission": "0.001", "takerCommission": "0.001"} in every.json()
    binance_error(client.request("GET", "/sapi/v1/asset/tradeFee", "symbol=NOPEUSDT"), 400, -1121)


def test_account_status_needs_a_signed_request(binance: Binance) -> None:
    client = SignedClient(binance, binance.account("status", {QUOTE: "1"}))
    assert client.request("GET", "/sapi/v1/account/status").json() == {"data": "Normal"}
    refused = client.request("GET", "/sapi/v1/account/status", transform=lambda s: s[::-1])
    binance_error(refused, 400, -1022, "Signature for this request is not valid.")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v3/order/oco"),
        ("POST", "/api/v3/orderList/oco"),
        ("GET", "/api/v3/openOrderList"),
        ("PUT", "/api/v3/order"),
        ("GET", "/sapi/v1/margin/account"),
        ("POST", "/sapi/v1/margin/order"),
        ("GET", "/sapi/v1/capital/config/getall"),
        ("GET", "/fapi/v1/exchangeInfo"),
        ("POST", "/fapi/v1/order"),
        ("GET", "/dapi/v1/exchangeInfo"),
        ("GET", "/eapi/v1/exchangeInfo"),
        ("GET", "/papi/v1/um/account"),
    ],
)
def test_endpoints_not_served_answer_binance_s_not_supported(
    binance: Binance, method: str, path: str
) -> None:
    response = binance.api.http.request(method, path)
    binance_error(response, 405 if method == "PUT" else 404, -1020, "This operation is not supported.")

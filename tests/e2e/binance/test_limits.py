"""Binance's rate limits over HTTP and the WebSocket API: the weight and order-count
headers weight-aware clients read, the `rateLimits` of WebSocket API answers, one weight
per address for both, `rateLimit/order`, and what overuse gets (429 with Retry-After and
-1003 or -1015, then 418 bans that grow), on a server whose limits are small."""

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.e2e.binance.conftest import Binance, SignedClient, binance_error
from tests.e2e.binance.test_rest import limit_order
from tests.e2e.client import QUOTE, Api
from tests.e2e.conftest import running_server
from tests.e2e.server import Server

WEIGHT = "X-MBX-USED-WEIGHT-1M"


def used(response: httpx.Response) -> int:
    return int(response.headers[WEIGHT])


def charged(binance: Binance, weight: int, path: str, **params: Any) -> None:
    """`path` costs `weight`: the address's count grows by it (or starts again with it,
    when a minute ended between the two requests)."""
    http = binance.api.http
    before = used(http.get("/api/v3/ping"))
    after = used(http.get(f"/api/v3/{path}", params=params))
    assert after - before == weight or after == weight, (path, params, before, after)


def test_every_answer_reports_the_weight_used_errors_included(binance: Binance) -> None:
    http = binance.api.http
    for response in (
        http.get("/api/v3/time"),
        http.get("/api/v3/depth", params={"symbol": "NOPEUSDT"}),
        http.get("/sapi/v1/system/status"),
    ):
        assert used(response) >= 1, response.headers
    charged(binance, 20, "exchangeInfo")
    charged(binance, 50, "depth", symbol="BTCUSDT", limit=1000)
    charged(binance, 80, "ticker/24hr")
    charged(binance, 2, "ticker/24hr", symbol="BTCUSDT")
    charged(binance, 8, "ticker", symbols='["BTCUSDT","ETHUSDT"]')


def test_a_path_no_route_takes_is_charged_and_answered_binance_s_way(binance: Binance) -> None:
    http = binance.api.http
    for method, path in (
        ("GET", "/api/v3/noSuchEndpoint"),
        ("GET", "/sapi/v1/margin/account"),
        ("POST", "/api/v3/time"),  # a path served, with another method
    ):
        before = used(http.get("/api/v3/ping"))
        answer = http.request(method, path)
        assert answer.status_code in (404, 405), answer.text
        assert answer.json()["code"] == -1020
        assert used(answer) - before == 1 or used(answer) == 1, (path, before, answer.headers)


def test_a_body_too_large_is_charged_and_reports_the_weight(binance: Binance) -> None:
    # Regression: answered 413 -1101 without the weight header (the body was read, and
    # refused, before the request was charged).
    http = binance.api.http
    before = used(http.get("/api/v3/ping"))
    body = b"symbol=BTCUSDT&" + b"x" * (2 * 1024 * 1024)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = http.post("/api/v3/order", content=body, headers=headers)
    assert answer.status_code == 413, answer.text
    assert answer.json()["code"] == -1101
    assert used(answer) - before == 1 or used(answer) == 1, answer.headers


def ws_call(connection: ClientConnection, method: str, **params: Any) -> dict[str, Any]:
    connection.send(json.dumps({"id": method, "method": method, "params": params}))
    answer: dict[str, Any] = json.loads(connection.recv(timeout=10))
    return answer


def test_websocket_api_answers_carry_rate_limits_unless_asked_not_to(binance: Binance) -> None:
    url = binance.url.replace("http://", "ws://") + "/ws-api/v3"
    with connect(url, open_timeout=10) as shown, connect(url + "?returnRateLimits=false") as hidden:
        first = ws_call(shown, "time")
        second = ws_call(shown, "ping")
        quiet = ws_call(shown, "ping", returnRateLimits=False)
        by_default = ws_call(hidden, "time")
        asked = ws_call(hidden, "time", returnRateLimits=True)
    [weight] = first["rateLimits"]
    assert {k: v for k, v in weight.items() if k != "count"} == {
        "rateLimitType": "REQUEST_WEIGHT",
        "interval": "MINUTE",
        "intervalNum": 1,
        "limit": 6000,
    }
    # (the minute may end in between, and other tests share the address)
    assert second["rateLimits"][0]["count"] >= weight["count"] + 1 or second["rateLimits"][0]["count"] == 1
    assert "rateLimits" not in quiet
    assert quiet["status"] == 200
    assert "rateLimits" not in by_default
    assert by_default["status"] == 200
    assert asked["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"


def test_orders_report_their_counts_and_rate_limit_order_shows_them(binance: Binance) -> None:
    _native, market_id, _ = binance.market()
    client = SignedClient(binance, binance.account("counted", {QUOTE: "1000"}))
    counts = []
    for price in ("10", "11"):
        answer = client.request("POST", "order", body=limit_order(market_id, "BUY", "0.5", price))
        assert answer.status_code == 200, answer.text
        counts.append((answer.headers["X-MBX-ORDER-COUNT-10S"], answer.headers["X-MBX-ORDER-COUNT-1D"]))
    assert counts[1][1] == "2"
    assert counts[0][0] == "1"
    assert counts[1][0] in ("1", "2")
    limits = client.request("GET", "rateLimit/order").json()
    assert [(c["rateLimitType"], c["interval"], c["intervalNum"], c["limit"]) for c in limits] == [
        ("ORDERS", "SECOND", 10, 100),
        ("ORDERS", "DAY", 1, 200000),
    ]
    assert limits[1]["count"] == 2
    info = binance.api.http.get("/api/v3/exchangeInfo", params={"symbol": market_id}).json()
    assert info["rateLimits"][0] == {
        "rateLimitType": "REQUEST_WEIGHT",
        "interval": "MINUTE",
        "intervalNum": 1,
        "limit": 6000,
    }


# -- a server that enforces small limits ---------------------------------------------------------------

# Day-long windows: a window cannot end in the middle of a test (short of midnight UTC).
LIMITED = {
    "TRADE_ENGINE_RATE_LIMITS_ENABLED": "true",
    "TRADE_ENGINE_RATE_LIMITS_PER_IP_PER_SECOND": "100000",
    "TRADE_ENGINE_RATE_LIMITS_PER_IP_BURST": "100000",
    "TRADE_ENGINE_BINANCE_REQUEST_WEIGHT_LIMIT": "30",
    "TRADE_ENGINE_BINANCE_REQUEST_WEIGHT_WINDOW_SECONDS": "86400",
    "TRADE_ENGINE_BINANCE_ORDERS_LIMIT": "2",
    "TRADE_ENGINE_BINANCE_ORDERS_WINDOW_SECONDS": "86400",
    "TRADE_ENGINE_BINANCE_BAN_AFTER_REFUSALS": "2",
    "TRADE_ENGINE_BINANCE_BAN_SECONDS": "1",
    "TRADE_ENGINE_BINANCE_MAX_BAN_SECONDS": "4",
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server("sqlite", tmp_path_factory.mktemp("binance-limits"), **LIMITED) as server:
        yield server


def test_orders_over_the_limit_are_refused_with_1015(limited: Server) -> None:
    api = Api(limited)
    try:
        binance = Binance(api)
        _native, market_id, _ = binance.market()
        client = SignedClient(binance, binance.account("busy", {QUOTE: "1000"}))
        other = SignedClient(binance, binance.account("calm", {QUOTE: "1000"}))
        for price in ("10", "11"):
            assert client.request(
                "POST", "order", body=limit_order(market_id, "BUY", "0.5", price)
            ).is_success
        refused = client.request("POST", "order", body=limit_order(market_id, "BUY", "0.5", "12"))
        binance_error(refused, 429, -1015, "Too many new orders; current limit is 2 orders per 1 DAY.")
        assert int(refused.headers["Retry-After"]) >= 1
        # Per user: another account still trades.
        assert other.request("POST", "order", body=limit_order(market_id, "BUY", "0.5", "10")).is_success
    finally:
        api.close()


def test_over_the_order_count_cancel_replace_cancels_only_if_asked_to(limited: Server) -> None:
    api = Api(limited)
    try:
        binance = Binance(api)
        _native, market_id, _ = binance.market()
        client = SignedClient(binance, binance.account("replace-over", {QUOTE: "1000"}))
        first = client.request("POST", "order", body=limit_order(market_id, "BUY", "0.5", "10")).json()
        second = client.request("POST", "order", body=limit_order(market_id, "BUY", "0.5", "11")).json()
        cancel = f"&cancelReplaceMode=STOP_ON_FAILURE&cancelOrderId={first['orderId']}"
        nothing = client.request(
            "POST", "order/cancelReplace", body=limit_order(market_id, "BUY", "1", "9") + cancel
        )
        binance_error(nothing, 429, -1015, "Too many new orders; current limit is 2 orders per 1 DAY.")
        body = limit_order(market_id, "BUY", "1", "9") + cancel + "&orderRateLimitExceededMode=CANCEL_ONLY"
        only = client.request("POST", "order/cancelReplace", body=body)
        assert only.status_code == 429, only.text
        assert int(only.headers["Retry-After"]) >= 1
        answer = only.json()
        assert (answer["code"], answer["msg"]) == (-2021, "Order cancel-replace partially failed.")
        data = answer["data"]
        assert (data["cancelResult"], data["newOrderResult"]) == ("SUCCESS", "FAILURE")
        assert (data["cancelResponse"]["orderId"], data["cancelResponse"]["status"]) == (
            first["orderId"],
            "CANCELED",
        )
        assert data["newOrderResponse"] == {
            "code": -1015,
            "msg": "Too many new orders; current limit is 2 orders per 1 DAY.",
        }
        # Under ALLOW_FAILURE a cancel refused too (restricted: the order is NEW) is 400.
        body = (
            limit_order(market_id, "BUY", "1", "9")
            + f"&cancelReplaceMode=ALLOW_FAILURE&cancelOrderId={second['orderId']}"
            + "&orderRateLimitExceededMode=CANCEL_ONLY&cancelRestrictions=ONLY_PARTIALLY_FILLED"
        )
        both = client.request("POST", "order/cancelReplace", body=body)
        assert both.status_code == 400, both.text
        assert (
            both.json()["data"]["cancelResponse"]["msg"]
            == "Order was not canceled due to cancel restrictions."
        )
        assert both.json()["data"]["newOrderResult"] == "FAILURE"
        still = client.request("GET", "openOrders", f"symbol={market_id}").json()
        assert [o["orderId"] for o in still] == [second["orderId"]]
    finally:
        api.close()


def test_overuse_gets_429_then_a_418_ban_that_grows(limited: Server) -> None:
    header = "X-MBX-USED-WEIGHT-1D"
    with httpx.Client(base_url=limited.url, timeout=10) as http:
        answer = http.get("/api/v3/exchangeInfo")  # 20 weight each, limit 30
        while answer.status_code == 200:
            assert int(answer.headers[header]) <= 30
            answer = http.get("/api/v3/exchangeInfo")
        refused = [answer, http.get("/api/v3/exchangeInfo")]
        assert int(refused[1].headers[header]) - int(refused[0].headers[header]) == 20
        for answer in refused:
            binance_error(answer, 429, -1003)
            assert int(answer.headers[header]) > 30
            assert answer.json()["msg"] == (
                "Too much request weight used; current limit is 30 request weight per 1 DAY. "
                "Please use WebSocket Streams for live updates to avoid polling the API."
            )
            assert int(answer.headers["Retry-After"]) >= 1
        banned = http.get("/api/v3/ping")  # the third refusal in the window: a ban
        binance_error(banned, 418, -1003)
        assert banned.json()["msg"].startswith("Way too much request weight used; IP banned until ")
        assert banned.headers["Retry-After"] == "1"
        assert http.get("/api/v3/time").status_code == 418  # nothing passes while banned
        assert http.get("/api/v1/markets").status_code == 200  # the native API is not banned
        # The first request after the ban is still over the weight, and the address has
        # kept on: banned again at once, for twice as long.
        again = http.get("/api/v3/ping")
        for _ in range(50):
            if again.headers["Retry-After"] != "1":
                break
            time.sleep(0.1)
            again = http.get("/api/v3/ping")
        binance_error(again, 418, -1003)
        assert again.headers["Retry-After"] == "2"


def test_the_websocket_api_shares_the_address_weight_with_rest_and_bans_like_it(limited: Server) -> None:
    """From an address of its own (127.0.0.2): the connection costs 2, `time` 1, REST's
    exchangeInfo 20 on the same count; past 30 the WebSocket API answers 429, then 418,
    and closes; a banned address cannot connect."""
    address = "127.0.0.2"
    url = limited.url.replace("http://", "ws://") + "/ws-api/v3"
    rest = httpx.Client(
        base_url=limited.url, timeout=10, transport=httpx.HTTPTransport(local_address=address)
    )
    with rest, connect(url, open_timeout=10, source_address=(address, 0)) as connection:
        assert ws_call(connection, "time")["rateLimits"][0]["count"] == 3
        assert int(rest.get("/api/v3/exchangeInfo").headers["X-MBX-USED-WEIGHT-1D"]) == 23
        assert ws_call(connection, "ping")["rateLimits"][0]["count"] == 24
        refused = [ws_call(connection, "account.status") for _ in range(2)]  # 20 each
        banned = ws_call(connection, "ping")
        with pytest.raises(ConnectionClosed):
            connection.recv(timeout=10)
        assert rest.get("/api/v3/ping").status_code == 418  # REST is banned too
    for answer, count in zip(refused, (44, 64), strict=True):
        assert answer["status"] == 429
        assert answer["error"]["code"] == -1003
        assert answer["error"]["msg"].startswith("Too much request weight used; current limit is 30")
        assert answer["error"]["data"]["retryAfter"] > answer["error"]["data"]["serverTime"]
        assert answer["rateLimits"][0]["count"] == count
    assert banned["status"] == 418
    assert banned["error"]["code"] == -1003
    assert banned["error"]["msg"].startswith("Way too much request weight used; IP banned until ")
    assert banned["error"]["data"]["retryAfter"] > banned["error"]["data"]["serverTime"]
    with pytest.raises(InvalidStatus):
        connect(url, open_timeout=10, source_address=(address, 0))

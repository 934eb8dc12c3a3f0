"""The user-data stream by listen key: `POST`/`PUT`/`DELETE /api/v3/userDataStream`, the
stream on `/ws/<listenKey>` (and combined, and by SUBSCRIBE), keep-alive and expiry with
`listenKeyExpired`, keys kept in the database across a restart, and the WebSocket API's
`userDataStream.start`/`ping`/`stop` and `account.status`."""

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.binance.conftest import Account, Binance, SignedClient, binance_error
from tests.e2e.binance.test_streams import Message, limit_order, placed, receive, receive_until, stream
from tests.e2e.client import QUOTE, Api
from tests.e2e.conftest import running_server
from tests.e2e.server import Server


def open_key(client: SignedClient) -> str:
    answer = client.http.post("/api/v3/userDataStream", headers={"X-MBX-APIKEY": client.account.key})
    assert answer.status_code == 200, answer.text
    key: str = answer.json()["listenKey"]
    return key


def listen_key_request(client: SignedClient, method: str, listen_key: str, api_key: str | None = None) -> Any:
    headers = {"X-MBX-APIKEY": api_key or client.account.key}
    return client.http.request(
        method, "/api/v3/userDataStream", params={"listenKey": listen_key}, headers=headers
    )


def test_a_listen_key_is_opened_kept_alive_and_closed(binance: Binance) -> None:
    client = SignedClient(binance, binance.account("lk", {QUOTE: "1"}))
    key = open_key(client)
    assert len(key) == 60
    assert key.isalnum()
    assert open_key(client) == key  # the account's live key, kept alive
    assert listen_key_request(client, "PUT", key).json() == {}
    other = SignedClient(binance, binance.account("lk-other", {QUOTE: "1"}))
    binance_error(listen_key_request(other, "PUT", key), 400, -1125, "This listenKey does not exist.")
    assert listen_key_request(client, "DELETE", key).json() == {}
    binance_error(listen_key_request(client, "PUT", key), 400, -1125, "This listenKey does not exist.")
    binance_error(listen_key_request(client, "DELETE", key), 400, -1125)
    assert open_key(client) != key  # a new one once the old is closed


def test_a_listen_key_of_another_form_does_not_exist_and_is_not_looked_up(binance: Binance) -> None:
    """Once a 500 on PostgreSQL, which refuses text with a NUL character."""
    client = SignedClient(binance, binance.account("lk-form", {QUOTE: "1"}))
    for method in ("PUT", "DELETE"):
        for key in ("\x00", "a\x00" * 30, "x" * 61, "é" * 60):
            response = listen_key_request(client, method, key)
            binance_error(response, 400, -1125, "This listenKey does not exist.")
    with stream(binance, "/ws-api/v3") as connection:
        for method in ("userDataStream.ping", "userDataStream.stop"):
            answer = ws_request(connection, method, {"apiKey": client.account.key, "listenKey": "\x00"})
            assert (answer["status"], answer["error"]["code"]) == (400, -1125)


def test_a_listen_key_needs_an_api_key_and_a_key_to_keep_alive(binance: Binance) -> None:
    client = SignedClient(binance, binance.account("lk-auth", {QUOTE: "1"}))
    binance_error(binance.api.http.post("/api/v3/userDataStream"), 401, -2014)
    refused = binance.api.http.post("/api/v3/userDataStream", headers={"X-MBX-APIKEY": "nope"})
    binance_error(refused, 401, -2015)
    missing = client.http.put("/api/v3/userDataStream", headers={"X-MBX-APIKEY": client.account.key})
    binance_error(missing, 400, -1102)


def trader_with_key(binance: Binance, name: str) -> tuple[SignedClient, str, str]:
    native, market_id, _ = binance.market()
    client = SignedClient(binance, binance.account(name, {QUOTE: "1000", native.split("-")[0]: "5"}))
    return client, market_id, open_key(client)


def test_the_stream_of_a_listen_key_sends_the_user_data_events_bare(binance: Binance) -> None:
    client, market_id, key = trader_with_key(binance, "lk-stream")
    with stream(binance, f"/ws/{key}") as connection:
        order = placed(client, limit_order(market_id, "BUY", "2", "25"))
        report, position = receive(connection), receive(connection)
        binance.api.deposit(client.account.user, QUOTE, "7")
        deposit = receive(connection)
    assert (report["e"], report["x"], report["X"], report["i"]) == (
        "executionReport",
        "NEW",
        "NEW",
        order["orderId"],
    )
    assert position["e"] == "outboundAccountPosition"
    assert {b["a"]: b["l"] for b in position["B"]}[QUOTE] == "50.10000000"
    assert (deposit["e"], deposit["a"], deposit["d"]) == ("balanceUpdate", QUOTE, "7.00000000")


def test_a_cancel_s_report_names_the_cancel_in_c_and_the_order_in_big_c(binance: Binance) -> None:
    """user-data-stream.md: `C` is "the ID of the order being canceled", so `c` is the
    cancel's own id: the `newClientOrderId` it gave, or the one its answer made. Once
    both were the order's."""
    client, market_id, key = trader_with_key(binance, "lk-cancel")
    cancels = {}
    with stream(binance, f"/ws/{key}") as connection:
        for price, given in (("20", "my-cancel"), ("21", None)):
            order = placed(client, limit_order(market_id, "BUY", "1", price) + f"&newClientOrderId=o{price}")
            query = f"symbol={market_id}&orderId={order['orderId']}"
            answer = client.request(
                "DELETE", "order", query + (f"&newClientOrderId={given}" if given else "")
            )
            cancelled = answer.json()
            assert (cancelled["origClientOrderId"], cancelled["status"]) == (f"o{price}", "CANCELED")
            report = receive_until(connection, lambda m: m.get("x") == "CANCELED")
            cancels[price] = (cancelled["clientOrderId"], report["c"], report["C"])
    assert cancels["20"] == ("my-cancel", "my-cancel", "o20")
    made, reported, original = cancels["21"]
    assert (reported, original) == (made, "o21")  # the id the answer made
    assert made not in ("", "o21")


def test_a_combined_stream_wraps_the_events_with_the_listen_key(binance: Binance) -> None:
    client, market_id, key = trader_with_key(binance, "lk-combined")
    name = market_id.lower()
    with stream(binance, f"/stream?streams={key}/{name}@trade") as connection:
        order = placed(client, limit_order(market_id, "BUY", "1", "25"))
        report = receive_until(
            connection, lambda m: m["stream"] == key and m["data"]["e"] == "executionReport"
        )
    assert report["data"]["i"] == order["orderId"]


def test_a_listen_key_can_be_subscribed_to_on_ws_as_binance_s_connector_does(binance: Binance) -> None:
    client, market_id, key = trader_with_key(binance, "lk-subscribe")
    name = market_id.lower()
    with stream(binance, "/ws") as connection:
        connection.send(json.dumps({"method": "SUBSCRIBE", "params": [key, f"{name}@trade"], "id": 7}))
        assert receive(connection) == {"result": None, "id": 7}
        connection.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))
        assert receive(connection) == {"result": [f"{name}@trade", key], "id": 8}
        order = placed(client, limit_order(market_id, "BUY", "1", "25"))
        report = receive_until(connection, lambda m: m.get("e") == "executionReport")
        connection.send(json.dumps({"method": "SUBSCRIBE", "params": ["x" * 60], "id": 9}))
        refused = receive_until(connection, lambda m: m.get("id") == 9)
    assert report["i"] == order["orderId"]
    assert refused == {
        "error": {"code": 2, "msg": f"Invalid request: invalid stream name {'x' * 60!r}"},
        "id": 9,
    }


def test_on_ws_the_first_frame_chooses_the_protocol(binance: Binance) -> None:
    with stream(binance, "/ws") as native:
        native.send(json.dumps({"op": "ping", "id": 1}))
        assert receive(native)["type"] == "pong"
    with stream(binance, "/ws") as binance_client:
        binance_client.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
        assert receive(binance_client) == {"result": [], "id": 1}


# -- the WebSocket API --------------------------------------------------------------------------


def ws_request(connection: Any, method: str, params: dict[str, Any], request_id: str = "1") -> Message:
    connection.send(json.dumps({"id": request_id, "method": method, "params": params}))
    return receive(connection)


def signed_params(account: Account, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"apiKey": account.key, "timestamp": int(time.time() * 1000), **extra}
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    params["signature"] = hmac.new(account.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return params


def test_the_websocket_api_opens_keeps_alive_and_closes_listen_keys(binance: Binance) -> None:
    account = binance.account("ws-lk", {QUOTE: "1"})
    with stream(binance, "/ws-api/v3") as connection:
        started = ws_request(connection, "userDataStream.start", {"apiKey": account.key})
        key = started["result"]["listenKey"]
        assert started["status"] == 200
        assert len(key) == 60
        ping = ws_request(connection, "userDataStream.ping", {"apiKey": account.key, "listenKey": key})
        assert (ping["status"], ping["result"]) == (200, {})
        stop = ws_request(connection, "userDataStream.stop", {"apiKey": account.key, "listenKey": key})
        assert (stop["status"], stop["result"]) == (200, {})
        again = ws_request(connection, "userDataStream.ping", {"apiKey": account.key, "listenKey": key})
        assert again.pop("rateLimits")[0]["rateLimitType"] == "REQUEST_WEIGHT"
        assert again == {
            "id": "1",
            "status": 400,
            "error": {"code": -1125, "msg": "This listenKey does not exist."},
        }


def test_the_websocket_api_answers_account_status_like_get_account(binance: Binance) -> None:
    account = binance.account("ws-account", {QUOTE: "12.5"})
    rest = SignedClient(binance, account).request("GET", "account").json()
    with stream(binance, "/ws-api/v3") as connection:
        answer = ws_request(connection, "account.status", signed_params(account, omitZeroBalances="true"))
        forged = ws_request(connection, "account.status", {**signed_params(account), "signature": "00"})
        # Not ASCII: once an exception that dropped the connection without an answer.
        not_ascii = {**signed_params(account), "signature": "é" * 64}
        unreadable = ws_request(connection, "account.status", not_ascii)
        again = ws_request(connection, "account.status", signed_params(account))
    assert answer["status"] == 200
    result = answer["result"]
    assert result["balances"] == [{"asset": QUOTE, "free": "12.50000000", "locked": "0.00000000"}]
    assert {k: v for k, v in result.items() if k != "balances"} == {
        k: v for k, v in rest.items() if k != "balances"
    }
    assert (forged["status"], forged["error"]["code"]) == (400, -1022)
    assert (unreadable["status"], unreadable["error"]["code"]) == (400, -1022)
    assert again["status"] == 200


# -- expiry, on a server whose keys live two seconds --------------------------------------------

# The periodic check (for keys closed in another process) is far slower than the
# validity: a key must expire at its deadline, not at a check.
SHORT = {
    "TRADE_ENGINE_BINANCE_LISTEN_KEY_VALIDITY_SECONDS": "1.5",
    "TRADE_ENGINE_BINANCE_LISTEN_KEY_CHECK_SECONDS": "1",
}


def serving(
    tmp_path_factory: pytest.TempPathFactory, name: str, overrides: dict[str, str]
) -> Iterator[Binance]:
    """A server of its own with these settings, for one module's tests."""
    with running_server("sqlite", tmp_path_factory.mktemp(name), **overrides) as server:
        api = Api(server)
        try:
            yield Binance(api)
        finally:
            api.close()


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Binance]:
    yield from serving(tmp_path_factory, "listen-keys", SHORT)


def test_a_listen_key_left_alone_expires_at_its_deadline_and_the_stream_says_so(short_lived: Binance) -> None:
    client, market_id, key = trader_with_key(short_lived, "lk-expiring")
    deadline = time.time() + 1.5
    assert listen_key_request(client, "PUT", key).status_code == 200  # 1.5 s from now
    with stream(short_lived, f"/ws/{key}") as connection:
        expired = receive(connection, timeout=10)
        late = time.time() - deadline
        assert -0.05 < late < 0.35, late
        placed(client, limit_order(market_id, "BUY", "1", "25"))
        with pytest.raises(TimeoutError):
            receive(connection, timeout=1)  # no events after it
    assert (expired["e"], expired["listenKey"]) == ("listenKeyExpired", key)
    binance_error(listen_key_request(client, "PUT", key), 400, -1125)


def test_a_kept_alive_listen_key_outlives_its_validity(short_lived: Binance) -> None:
    client, market_id, key = trader_with_key(short_lived, "lk-kept")
    with stream(short_lived, f"/stream?streams={key}") as connection:
        for _ in range(4):  # 4 s: twice the validity
            time.sleep(1)
            assert listen_key_request(client, "PUT", key).status_code == 200
        order = placed(client, limit_order(market_id, "BUY", "1", "25"))
        report = receive(connection)
        assert listen_key_request(client, "DELETE", key).status_code == 200
        closed = receive_until(connection, lambda m: m["data"]["e"] == "listenKeyExpired")
    assert report == {"stream": key, "data": report["data"]}
    assert report["data"]["i"] == order["orderId"]
    assert closed["stream"] == key


def test_listen_keys_are_kept_in_the_database_across_a_restart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server: Server
    with running_server("sqlite", tmp_path_factory.mktemp("listen-restart")) as server:
        api = Api(server)
        try:
            binance = Binance(api)
            client, market_id, key = trader_with_key(binance, "lk-restart")
            server.terminate()
            server.start()
            assert listen_key_request(client, "PUT", key).json() == {}
            with stream(binance, f"/ws/{key}") as connection:
                order = placed(client, limit_order(market_id, "BUY", "1", "25"))
                report = receive(connection)
            assert report["i"] == order["orderId"]
        finally:
            api.close()


# -- closing, on a server whose periodic check of the keys never comes ---------------------------


@pytest.fixture(scope="module")
def no_checks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Binance]:
    """The periodic check (for keys closed in other processes) is five minutes away: a
    stream that ends at once was ended by the close itself."""
    yield from serving(
        tmp_path_factory, "listen-close", {"TRADE_ENGINE_BINANCE_LISTEN_KEY_CHECK_SECONDS": "300"}
    )


def test_closing_a_listen_key_ends_its_streams_in_this_process_at_once(no_checks: Binance) -> None:
    client, market_id, key = trader_with_key(no_checks, "lk-close")
    with stream(no_checks, f"/ws/{key}") as connection:
        assert listen_key_request(client, "DELETE", key).status_code == 200
        closed = receive(connection, timeout=10)
        placed(client, limit_order(market_id, "BUY", "1", "25"))
        with pytest.raises(TimeoutError):
            receive(connection, timeout=1)  # nothing after it
    assert (closed["e"], closed["listenKey"]) == ("listenKeyExpired", key)
    # The WebSocket API's stop closes through the same store.
    account = client.account
    with stream(no_checks, "/ws-api/v3") as api, stream(no_checks, "/ws") as listening:
        key = ws_request(api, "userDataStream.start", {"apiKey": account.key})["result"]["listenKey"]
        subscribe = {"method": "SUBSCRIBE", "params": [key], "id": 1}
        listening.send(json.dumps(subscribe))
        assert receive(listening) == {"result": None, "id": 1}
        stop = ws_request(api, "userDataStream.stop", {"apiKey": account.key, "listenKey": key})
        assert stop["status"] == 200
        closed = receive(listening, timeout=10)
    assert (closed["e"], closed["listenKey"]) == ("listenKeyExpired", key)

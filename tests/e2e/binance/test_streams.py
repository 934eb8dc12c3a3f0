"""Market streams and the WebSocket API over real WebSocket connections (no ccxt):
message shapes, control frames, depth diffs that line up with REST snapshots, and the
signed user-data subscription."""

import hashlib
import hmac
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.e2e.binance.conftest import Account, Binance, SignedClient
from tests.e2e.client import QUOTE

Message = dict[str, Any]


@contextmanager
def stream(binance: Binance, path: str) -> Iterator[ClientConnection]:
    with connect(binance.url.replace("http://", "ws://") + path, open_timeout=10) as connection:
        yield connection


def receive(connection: ClientConnection, timeout: float = 10) -> Message:
    message: Message = json.loads(connection.recv(timeout=timeout))
    return message


def receive_until(
    connection: ClientConnection, wanted: Callable[[Message], bool], limit: int = 500
) -> Message:
    for _ in range(limit):
        message = receive(connection)
        if wanted(message):
            return message
    raise AssertionError("the expected message did not come")


def limit_order(market_id: str, side: str, quantity: str, price: str) -> str:
    return f"symbol={market_id}&side={side}&type=LIMIT&timeInForce=GTC&quantity={quantity}&price={price}"


def traders(binance: Binance, native: str) -> tuple[SignedClient, SignedClient]:
    funds = {QUOTE: "10000", native.split("-", maxsplit=1)[0]: "100"}
    return (
        SignedClient(binance, binance.account("ws-a", funds)),
        SignedClient(binance, binance.account("ws-b", funds)),
    )


def placed(client: SignedClient, body: str) -> Message:
    response = client.request("POST", "order", body=body)
    assert response.status_code == 200, response.text
    result: Message = response.json()
    return result


# -- market streams ---------------------------------------------------------------------------------


def test_a_combined_stream_wraps_payloads_with_their_stream_name(binance: Binance) -> None:
    native, market_id, _ = binance.market()
    a, b = traders(binance, native)
    name = market_id.lower()
    with stream(binance, f"/stream?streams={name}@trade/{name}@aggTrade") as connection:
        placed(a, limit_order(market_id, "SELL", "0.5", "20"))
        taker = placed(b, limit_order(market_id, "BUY", "0.5", "20"))
        trade = receive_until(connection, lambda m: m["stream"] == f"{name}@trade")
        agg = receive_until(connection, lambda m: m["stream"] == f"{name}@aggTrade")
    assert set(trade) == {"stream", "data"}
    assert trade["data"] == {
        "e": "trade", "E": trade["data"]["E"], "s": market_id, "t": taker["fills"][0]["tradeId"],
        "p": "20.00000000", "q": "0.50000000", "T": taker["transactTime"], "m": False, "M": True,
    }  # fmt: skip
    assert agg["data"]["e"] == "aggTrade"
    assert (agg["data"]["a"], agg["data"]["f"], agg["data"]["l"]) == (trade["data"]["t"],) * 3
    assert (agg["data"]["p"], agg["data"]["q"], agg["data"]["m"]) == ("20.00000000", "0.50000000", False)


def test_a_raw_stream_named_in_the_path_sends_bare_payloads(binance: Binance) -> None:
    native, market_id, _ = binance.market()
    a, _ = traders(binance, native)
    with stream(binance, f"/ws/{market_id.lower()}@bookTicker") as connection:
        placed(a, limit_order(market_id, "BUY", "0.25", "19.5"))
        ticker = receive(connection)
    assert ticker == {
        "u": ticker["u"], "s": market_id, "b": "19.50000000", "B": "0.25000000",
        "a": "0.00000000", "A": "0.00000000",
    }  # fmt: skip
    depth = binance.api.http.get("/api/v3/depth", params={"symbol": market_id}).json()
    assert ticker["u"] == depth["lastUpdateId"]


def test_control_frames_subscribe_unsubscribe_list_and_set_properties(binance: Binance) -> None:
    native, market_id, _ = binance.market()
    a, _ = traders(binance, native)
    name = market_id.lower()
    with stream(binance, "/ws/0") as connection:

        def ask(request: Message) -> Message:
            connection.send(json.dumps(request))
            return receive(connection)

        assert ask({"method": "SUBSCRIBE", "params": [f"{name}@depth", f"{name}@trade"], "id": 1}) == {
            "result": None,
            "id": 1,
        }
        assert ask({"method": "LIST_SUBSCRIPTIONS", "id": 2}) == {
            "result": [f"{name}@depth", f"{name}@trade"],
            "id": 2,
        }
        assert ask({"method": "UNSUBSCRIBE", "params": [f"{name}@depth"], "id": 3}) == {
            "result": None,
            "id": 3,
        }
        assert ask({"method": "GET_PROPERTY", "params": ["combined"], "id": 4}) == {"result": False, "id": 4}
        bad = ask({"method": "SUBSCRIBE", "params": [f"{name}@nonsense"], "id": 5})
        assert (bad["id"], bad["error"]["code"]) == (5, 2)
        assert ask({"method": "SET_PROPERTY", "params": ["combined", True], "id": 6}) == {
            "result": None,
            "id": 6,
        }
        placed(a, limit_order(market_id, "SELL", "0.1", "30"))
        placed(a, limit_order(market_id, "BUY", "0.1", "31"))  # STP expires the maker: no trade
        b = SignedClient(binance, binance.account("ws-c", {QUOTE: "100"}))
        placed(a, limit_order(market_id, "SELL", "0.1", "30"))
        placed(b, limit_order(market_id, "BUY", "0.1", "30"))
        trade = receive(connection)
    assert trade["stream"] == f"{name}@trade"
    assert trade["data"]["p"] == "30.00000000"


def apply(book: dict[str, dict[Decimal, Decimal]], diff: Message) -> None:
    for side, key in (("bids", "b"), ("asks", "a")):
        for price, quantity in diff[key]:
            if Decimal(quantity):
                book[side][Decimal(price)] = Decimal(quantity)
            else:
                book[side].pop(Decimal(price), None)


def snapshot(binance: Binance, market_id: str) -> tuple[int, dict[str, dict[Decimal, Decimal]]]:
    depth = binance.api.http.get("/api/v3/depth", params={"symbol": market_id, "limit": 5000}).json()
    book = {side: {Decimal(p): Decimal(q) for p, q in depth[side]} for side in ("bids", "asks")}
    return depth["lastUpdateId"], book


def test_depth_diffs_are_gap_free_and_line_up_with_rest_snapshots(binance: Binance) -> None:
    native, market_id, _ = binance.market()
    a, b = traders(binance, native)
    name = market_id.lower()
    placed(a, limit_order(market_id, "BUY", "1", "10"))
    with stream(binance, f"/stream?streams={name}@depth@100ms/{name}@depth") as connection:
        first_id, first_book = snapshot(binance, market_id)
        for step in range(30):
            maker, taker = (a, b) if step % 2 else (b, a)
            placed(maker, limit_order(market_id, "SELL", "0.2", str(20 + step % 5)))
            placed(maker, limit_order(market_id, "BUY", "0.3", str(10 + step % 4)))
            if step % 3 == 0:
                placed(taker, limit_order(market_id, "BUY", "0.5", "22"))
        placed(a, limit_order(market_id, "BUY", "0.5", "5"))  # the last change
        last_id, last_book = snapshot(binance, market_id)
        reached: dict[str, int] = {}
        books = {stream_name: {s: dict(v) for s, v in first_book.items()} for stream_name in ("@100ms", "")}
        while len(reached) < 2 or min(reached.values()) < last_id:
            message = receive(connection)
            suffix = "@100ms" if message["stream"].endswith("@100ms") else ""
            diff = message["data"]
            assert diff["e"] == "depthUpdate"
            if diff["u"] <= first_id:
                continue
            previous = reached.get(suffix)
            if previous is None:
                assert diff["U"] <= first_id + 1 <= diff["u"], (diff["U"], first_id, diff["u"])
            else:
                assert diff["U"] == previous + 1, (diff["U"], previous)
            apply(books[suffix], diff)
            reached[suffix] = diff["u"]
    assert reached == {"@100ms": last_id, "": last_id}
    assert books["@100ms"] == last_book
    assert books[""] == last_book


def test_partial_books_are_pushed_every_period_on_a_quiet_book_too(binance: Binance) -> None:
    """`@depth<N>` every second and `@depth<N>@100ms` every 100 ms, changed or not, as
    Binance's are: a quiet book once sent nothing, and a client waiting for its first
    partial book waited for ever."""
    native, market_id, _ = binance.market()
    a, _ = traders(binance, native)
    name = market_id.lower()
    for step in range(7):
        placed(a, limit_order(market_id, "BUY", "0.1", str(10 + step)))
        placed(a, limit_order(market_id, "SELL", "0.2", str(30 + step)))
    rest = binance.api.http.get("/api/v3/depth", params={"symbol": market_id, "limit": 5}).json()
    path = f"/stream?streams={name}@depth5/{name}@depth10@100ms"
    slow, fast = f"{name}@depth5", f"{name}@depth10@100ms"
    with stream(binance, path) as connection:  # nothing changes from here on
        seen: list[Message] = []
        while sum(message["stream"] == slow for message in seen) < 2:
            seen.append(receive(connection, timeout=3))
    first_slow = next(index for index, message in enumerate(seen) if message["stream"] == slow)
    assert [m["data"] for m in seen if m["stream"] == slow] == [rest, rest]
    # Between two of the 1-second books, the 100 ms ones (about ten; fewer if the machine
    # is busy, but more than one: not the 1-second cadence).
    assert sum(m["stream"] == fast for m in seen[first_slow:]) >= 3, [m["stream"] for m in seen]
    for book in (m["data"] for m in seen if m["stream"] == fast):
        assert book["lastUpdateId"] == rest["lastUpdateId"]
        assert (len(book["bids"]), len(book["asks"])) == (7, 7)
        assert (book["bids"][:5], book["asks"][:5]) == (rest["bids"], rest["asks"])


def test_ticker_mini_ticker_and_kline_streams_report_trades(binance: Binance) -> None:
    native, market_id, _ = binance.market()
    a, b = traders(binance, native)
    name = market_id.lower()
    path = f"/stream?streams={name}@ticker/{name}@miniTicker/{name}@kline_1m/{name}@kline_1h/!miniTicker@arr"
    with stream(binance, path) as connection:
        # Both trades well inside one minute: one kline holds both, still open (an edge
        # between them would split them into two klines of one trade each).
        if (into_minute := time.time() % 60) > 58:
            time.sleep(60.2 - into_minute)
        placed(a, limit_order(market_id, "SELL", "2", "40"))
        placed(b, limit_order(market_id, "BUY", "0.5", "40"))
        placed(b, limit_order(market_id, "BUY", "1.5", "40"))
        seen: dict[str, Message] = {}
        while len(seen) < 5:
            message = receive(connection)
            if message["stream"] == "!miniTicker@arr":  # every market that traded that second
                ours = [t for t in message["data"] if t["s"] == market_id]
                if ours:
                    seen["all"] = ours[0]
                continue
            seen[message["stream"].split("@", 1)[1]] = message["data"]
    ticker, mini = seen["ticker"], seen["miniTicker"]
    assert seen["all"] == mini
    assert (ticker["e"], ticker["s"], ticker["c"], ticker["v"], ticker["q"], ticker["n"]) == (
        "24hrTicker", market_id, "40.00000000", "2.00000000", "80.00000000", 2,
    )  # fmt: skip
    assert (mini["e"], mini["c"], mini["o"], mini["h"], mini["l"]) == ("24hrMiniTicker",) + (
        "40.00000000",
    ) * 4
    for interval in ("1m", "1h"):
        kline = seen[f"kline_{interval}"]
        assert (kline["e"], kline["s"]) == ("kline", market_id)
        k = kline["k"]
        assert (k["i"], k["o"], k["c"], k["h"], k["l"], k["x"]) == (interval,) + ("40.00000000",) * 4 + (
            False,
        )
        assert (k["v"], k["q"], k["n"], k["V"]) == ("2.00000000", "80.00000000", 2, "2.00000000")
        assert k["L"] - k["f"] == 1


# -- the WebSocket API ---------------------------------------------------------------------------


def subscribe_request(account: Account, secret: str | None = None, request_id: str = "1") -> str:
    params: dict[str, Any] = {
        "apiKey": account.key,
        "timestamp": int(time.time() * 1000),
        "recvWindow": 10000,
    }
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    key = (secret or account.secret).encode()
    params["signature"] = hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
    return json.dumps({"id": request_id, "method": "userDataStream.subscribe.signature", "params": params})


def test_the_user_data_subscription_needs_a_valid_signature(binance: Binance) -> None:
    account = binance.account("ws-user", {QUOTE: "10"})
    with stream(binance, "/ws-api/v3") as connection:
        connection.send(subscribe_request(account, secret="wrong"))
        answer = receive(connection)
    assert answer.pop("rateLimits")[0]["rateLimitType"] == "REQUEST_WEIGHT"
    assert answer == {
        "id": "1",
        "status": 400,
        "error": {"code": -1022, "msg": "Signature for this request is not valid."},
    }


def test_user_data_events_arrive_wrapped_with_the_subscription_id(binance: Binance) -> None:
    native, market_id, _ = binance.market()
    base = native.split("-")[0]
    account = binance.account("ws-user", {QUOTE: "1000", base: "5"})
    trader = SignedClient(binance, account)
    with stream(binance, "/ws-api/v3") as connection:
        connection.send(subscribe_request(account, request_id="sub"))
        subscribed = receive(connection)
        assert subscribed.pop("rateLimits")[0]["rateLimitType"] == "REQUEST_WEIGHT"
        assert subscribed == {"id": "sub", "status": 200, "result": {"subscriptionId": 0}}
        order = placed(trader, limit_order(market_id, "BUY", "2", "25"))
        report = receive(connection)
        position = receive(connection)
        binance.api.deposit(account.user, QUOTE, "7")
        deposit = receive(connection)
    assert set(report) == {"subscriptionId", "event"}
    assert report["subscriptionId"] == 0
    event = report["event"]
    assert (event["e"], event["x"], event["X"], event["i"], event["c"]) == (
        "executionReport", "NEW", "NEW", order["orderId"], order["clientOrderId"],
    )  # fmt: skip
    assert (event["s"], event["S"], event["o"], event["f"], event["q"], event["p"]) == (
        market_id, "BUY", "LIMIT", "GTC", "2.00000000", "25.00000000",
    )  # fmt: skip
    assert position["event"]["e"] == "outboundAccountPosition"
    balances = {b["a"]: (b["f"], b["l"]) for b in position["event"]["B"]}
    assert balances[QUOTE] == ("949.90000000", "50.10000000")  # 50 + 0.2% fee held
    assert balances[base] == ("5.00000000", "0.00000000")
    assert deposit["event"]["e"] == "balanceUpdate"
    assert (deposit["event"]["a"], deposit["event"]["d"]) == (QUOTE, "7.00000000")


def test_one_user_data_subscription_per_connection_and_a_second_is_refused_not_dropped(
    binance: Binance,
) -> None:
    """Once a second subscription, of another account, answered `subscriptionId` 0 and
    none of its events ever came; unsubscribing with nothing subscribed answered `{}`."""
    native, market_id, _ = binance.market()
    funds = {QUOTE: "1000", native.split("-")[0]: "5"}
    first, second = binance.account("ws-one", funds), binance.account("ws-two", funds)
    with stream(binance, "/ws-api/v3") as connection:
        connection.send(subscribe_request(first, request_id="a"))
        assert receive(connection)["result"] == {"subscriptionId": 0}
        for account in (first, second):
            connection.send(subscribe_request(account, request_id="again"))
            refused = receive(connection)
            assert (refused["status"], refused["error"]) == (
                400, {"code": -2035, "msg": "User Data Stream subscription already active."},
            )  # fmt: skip
        unsubscribe = json.dumps({"id": "u", "method": "userDataStream.unsubscribe", "params": {}})
        connection.send(unsubscribe)
        ended = receive(connection)  # the stream's last event, as Binance's (user-data-stream.md)
        assert (ended["subscriptionId"], ended["event"]["e"]) == (0, "eventStreamTerminated")
        assert isinstance(ended["event"]["E"], int)
        stopped = receive(connection)
        assert (stopped["status"], stopped["result"]) == (200, {})
        connection.send(unsubscribe)
        again = receive(connection)
        assert (again["status"], again["error"]) == (
            400, {"code": -2036, "msg": "User Data Stream subscription not active."},
        )  # fmt: skip
        connection.send(subscribe_request(second, request_id="b"))
        assert receive(connection)["result"] == {"subscriptionId": 0}
        placed(SignedClient(binance, first), limit_order(market_id, "BUY", "1", "3"))  # not this stream's
        order = placed(SignedClient(binance, second), limit_order(market_id, "BUY", "1", "4"))
        report = receive(connection)
    assert (report["subscriptionId"], report["event"]["e"], report["event"]["i"]) == (
        0, "executionReport", order["orderId"],
    )  # fmt: skip


def test_unsubscribing_another_subscription_id_closes_nothing_and_subscriptions_are_listed(
    binance: Binance,
) -> None:
    _, market_id, _ = binance.market()
    account = binance.account("ws-list", {QUOTE: "1000"})
    with stream(binance, "/ws-api/v3") as connection:

        def call(method: str, **params: Any) -> dict[str, Any]:
            connection.send(json.dumps({"id": method, "method": method, "params": params}))
            answer = receive(connection)
            assert answer["id"] == method, answer
            return answer

        assert call("session.subscriptions")["result"] == []
        connection.send(subscribe_request(account, request_id="sub"))
        assert receive(connection)["result"] == {"subscriptionId": 0}
        assert call("session.subscriptions")["result"] == [{"subscriptionId": 0}]
        # Binance: "attempt to close the subscription with that subscription id, if it exists".
        assert call("userDataStream.unsubscribe", subscriptionId=5)["result"] == {}
        bad = call("userDataStream.unsubscribe", subscriptionId="x")
        assert (bad["status"], bad["error"]["code"]) == (400, -1100)
        order = placed(SignedClient(binance, account), limit_order(market_id, "BUY", "1", "3"))
        report = receive(connection)  # still subscribed
        assert (report["event"]["e"], report["event"]["i"]) == ("executionReport", order["orderId"])
        receive(connection)  # its outboundAccountPosition
        connection.send(
            json.dumps({"id": "u", "method": "userDataStream.unsubscribe", "params": {"subscriptionId": 0}})
        )
        assert receive(connection)["event"]["e"] == "eventStreamTerminated"
        assert receive(connection)["result"] == {}
        assert call("session.subscriptions")["result"] == []


def test_execution_reports_of_a_take_profit_carry_its_type_and_stop_price(binance: Binance) -> None:
    native, market_id, _ = binance.market()
    account = binance.account("ws-tp", {QUOTE: "1000"})
    trader = SignedClient(binance, account)
    a, b = traders(binance, native)
    placed(a, limit_order(market_id, "SELL", "0.1", "30"))
    placed(b, limit_order(market_id, "BUY", "0.1", "30"))  # last price 30
    with stream(binance, "/ws-api/v3") as connection:
        connection.send(subscribe_request(account, request_id="sub"))
        assert receive(connection)["status"] == 200
        body = (
            f"symbol={market_id}&side=BUY&type=TAKE_PROFIT_LIMIT&timeInForce=GTC&quantity=0.2&price=25.5"
            "&stopPrice=25"
        )
        order = placed(trader, body)
        new = receive_until(connection, lambda m: m["event"]["e"] == "executionReport")["event"]
        placed(a, limit_order(market_id, "SELL", "1", "25"))
        placed(b, limit_order(market_id, "BUY", "0.1", "25"))  # the fall to 25 fires it
        trade = receive_until(
            connection, lambda m: m["event"]["e"] == "executionReport" and m["event"]["x"] == "TRADE"
        )["event"]
    assert (new["i"], new["x"], new["X"], new["o"], new["f"]) == (
        order["orderId"], "NEW", "NEW", "TAKE_PROFIT_LIMIT", "GTC",
    )  # fmt: skip
    assert (new["p"], new["P"], new["w"], new["W"]) == ("25.50000000", "25.00000000", False, -1)
    assert (trade["i"], trade["X"], trade["o"], trade["P"], trade["L"], trade["z"], trade["w"]) == (
        order["orderId"], "FILLED", "TAKE_PROFIT_LIMIT", "25.00000000", "25.00000000", "0.20000000", False,
    )  # fmt: skip


def revoke_with_the_cli(binance: Binance, key: str) -> None:
    server = binance.api.server
    subprocess.run(
        [sys.executable, "-m", "trade_engine.cli", "api-key", "revoke", "--key", key],
        env=server.env,
        cwd=server.workdir,
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.parametrize("revoke", ["admin API", "CLI"])
def test_revoking_a_key_terminates_the_user_data_subscriptions_it_signed(
    binance: Binance, revoke: str
) -> None:
    _, market_id, _ = binance.market()
    revoked = binance.account("ws-revoked", {QUOTE: "1000"})
    other_key, other_secret = binance.key(revoked.user)  # the same user's second key
    kept = Account(revoked.user, other_key, other_secret)
    trader = SignedClient(binance, kept)
    with stream(binance, "/ws-api/v3") as doomed, stream(binance, "/ws-api/v3") as survivor:
        for connection, account in ((doomed, revoked), (survivor, kept)):
            connection.send(subscribe_request(account, request_id="sub"))
            assert receive(connection)["status"] == 200
        if revoke == "CLI":
            revoke_with_the_cli(binance, revoked.key)
        else:
            binance.revoke(revoked.key)
        ended = receive(doomed)
        with pytest.raises(ConnectionClosed) as closed:
            receive(doomed)
        # The user's events go on to the subscription signed with the other key only.
        order = placed(trader, limit_order(market_id, "BUY", "1", "10"))
        report = receive_until(survivor, lambda m: m["event"]["e"] == "executionReport")
    assert ended["subscriptionId"] == 0
    assert ended["event"]["e"] == "eventStreamTerminated"
    close = closed.value.rcvd
    assert close is not None
    assert (close.code, close.reason) == (1008, "API key revoked")
    assert report["event"]["i"] == order["orderId"]
    # A new subscription with the revoked key is refused.
    with stream(binance, "/ws-api/v3") as again:
        again.send(subscribe_request(revoked, request_id="again"))
        refused = receive(again)
    assert (refused["status"], refused["error"]["code"]) == (401, -2015)


def test_a_message_nested_too_deeply_is_refused_and_the_connection_kept(binance: Binance) -> None:
    """Once an exception: the connection dropped with no answer and no close frame."""
    deep = "[" * 3000 + "]" * 3000
    stream_name = f"{binance.market()[1].lower()}@trade"
    with stream(binance, f"/ws/{stream_name}") as connection:
        connection.send(deep)
        assert receive(connection) == {"error": {"code": 3, "msg": "Invalid JSON: not a JSON document"}}
        connection.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
        assert receive(connection) == {"result": [stream_name], "id": 1}
    account = binance.account("ws-deep", {QUOTE: "1"})
    with stream(binance, "/ws-api/v3") as connection:
        connection.send(deep)
        refused = receive(connection)
        assert (refused["status"], refused["error"]["code"]) == (400, -1100), refused
        # Some of these are just shallow enough to decode, where the server's stack is: a
        # parameter that deep once overflowed it when read as text, dropping the connection.
        for depth in range(900, 1000):
            nested = '{"apiKey": "' + account.key + '", "x": ' + "[" * depth + "]" * depth + "}"
            connection.send('{"id": "n", "method": "account.status", "params": ' + nested + "}")
            refused = receive(connection)
            assert (refused["status"], refused["error"]["code"]) == (400, -1100), (depth, refused)
        connection.send(json.dumps({"id": "p", "method": "ping", "params": {}}))
        assert receive(connection)["status"] == 200
    with stream(binance, "/ws") as connection:  # a first frame that is not Binance's: the native protocol's
        connection.send(deep)
        assert receive(connection)["error"]["code"] == "INVALID_MESSAGE"
        connection.send(json.dumps({"op": "ping", "id": 2}))
        assert receive(connection)["type"] == "pong"

"""The WebSocket API end to end: real connections to a real server process, each database.

Most tests use the shared server of each database (tests/e2e/conftest.py) and trade in
a market of their own. `tight` is a server per database with small limits (queue of 2
messages, 3 clients, 5 subscriptions, 2 s idle timeout, heartbeats every second) for the
flow-control tests. The candle and ticker test runs its own servers, restarts them, and
trades across a minute edge on both databases at once (the edge is real time).
"""

import contextlib
import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.client import API, QUOTE, Api, User, amount, ok
from tests.e2e.conftest import DATABASES, running_server
from tests.e2e.raw_ws import RawWebSocket
from tests.e2e.server import Server
from tests.e2e.ws_client import BookMirror, Closed, Gap, Message, WsClient, rest_levels

D = Decimal
INTERVALS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}
TERMINAL = {"FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH"}


# -- helpers ----------------------------------------------------------------------------------------


def base_of(market: str) -> str:
    return market.split("-", maxsplit=1)[0]


def traders(api: Api, market: str, count: int, prefix: str = "ws") -> list[User]:
    users = [api.user(f"{prefix}{index}") for index in range(count)]
    for user in users:
        api.deposit(user, QUOTE, "1000000")
        api.deposit(user, base_of(market), "10000")
    return users


class Flow:
    """Random orders from several users: limits on both sides around 100 (many cross),
    IOC and market orders, cancels and amendments of open orders."""

    def __init__(self, api: Api, market: str, users: list[User], seed: int) -> None:
        self.api, self.market, self.users = api, market, users
        self.rng = random.Random(seed)
        self.open: dict[str, list[int]] = defaultdict(list)

    def run(self, count: int) -> None:
        for _ in range(count):
            self.step()

    def step(self) -> None:
        api, rng = self.api, self.rng
        user = rng.choice(self.users)
        roll = rng.random()
        if roll < 0.65 or not self.open[user.id]:
            side = rng.choice(("BUY", "SELL"))
            body: dict[str, Any] = {
                "market": self.market,
                "side": side,
                "price": f"{100 + rng.randint(-8, 8)}.{rng.choice(('00', '25', '50'))}",
                "quantity": rng.choice(("0.100", "0.500", "1.000", "2.500")),
            }
            if roll < 0.08:
                body["time_in_force"] = "IOC"
            view = api.order(user, **body)
            if view["status"] not in TERMINAL:
                self.open[user.id].append(view["order_id"])
        elif roll < 0.72:
            api.order(
                user, market=self.market, side=rng.choice(("BUY", "SELL")), type="MARKET", quantity="0.700"
            )
        elif roll < 0.9:
            order_id = self.open[user.id].pop(rng.randrange(len(self.open[user.id])))
            response = api.http.delete(f"{API}/orders/{order_id}", headers=user.headers)
            assert response.status_code in (200, 409), response.text
        else:
            order_id = rng.choice(self.open[user.id])
            response = api.http.patch(
                f"{API}/orders/{order_id}", json={"quantity": "0.050"}, headers=user.headers
            )
            assert response.status_code in (200, 400, 409, 422), response.text


def marker(api: Api, user: User, market: str, price: str = "10.00") -> dict[str, Any]:
    """A resting order away from the action: its book delta closes a sequence of changes."""
    return api.order(user, market=market, side="BUY", price=price, quantity="0.100")


def follow(client: WsClient, mirror: BookMirror, market_seq: int, *, replay: bool = True) -> None:
    """Apply book messages until the mirror has caught up with `market_seq`: those already
    taken by earlier waits first (unless `replay` is off), then new ones."""
    if replay:
        for message in client.taken():
            mirror.apply(message)
    while mirror.market_seq < market_seq:
        mirror.apply(client.next())


def of_type(message_type: str) -> Callable[[Message], bool]:
    return lambda message: message["type"] == message_type


def announces(order_id: int) -> Callable[[Message], bool]:
    """An `orders` message with an update of this order."""
    return lambda m: m["type"] == "orders" and any(u["order_id"] == order_id for u in m["updates"])


def last_by(messages: list[Message], key: Callable[[Message], Any]) -> dict[Any, Message]:
    result: dict[Any, Message] = {}
    for message in messages:
        result[key(message)] = message
    return result


# -- the order book channel ---------------------------------------------------------------------------


def test_ws_book_snapshot_and_deltas_hold_the_rest_depth(api: Api) -> None:
    market = api.add_market()
    users = traders(api, market, 4)
    flow = Flow(api, market, users, seed=7)
    book, trades = f"book:{market}", f"trades:{market}"
    with (
        WsClient(api.server) as early,
        WsClient(api.server) as late,
        WsClient(api.server, batch=True) as batched,
    ):
        early.subscribe(book, trades)
        batched.subscribe(book, trades)
        flow.run(90)
        late.subscribe(book)  # a snapshot in the middle of the flow
        flow.run(90)
        marker(api, users[0], market)
        depth = api.depth(market, limit=5000)
        for client in (early, late, batched):
            mirror = BookMirror(book)
            follow(client, mirror, depth["sequence"])
            assert mirror.levels() == rest_levels(depth)
            assert mirror.market_seq == depth["sequence"]
            assert mirror.deltas > 0
        assert depth["bids"]
        assert depth["asks"]

        # The trades channel carried every trade, in order, as the REST history has them.
        history = list(reversed(api.trades(market, limit=1000)["trades"]))
        assert len(history) > 20
        while sum(len(m["trades"]) for m in early.of("trades", trades)) < len(history):
            early.next()
        streamed = [trade for message in early.of("trades", trades) for trade in message["trades"]]
        assert streamed == history
        # The batching client got the same messages, fewer frames.
        while sum(len(m["trades"]) for m in batched.of("trades", trades)) < len(history):
            batched.next()
        assert [t for m in batched.of("trades", trades) for t in m["trades"]] == history
        assert batched.batches > 0
        assert all(message["market"] == market for message in early.of("trades", trades))
    # Every flush told the metric how long its oldest change waited (the conflation's
    # part of each delivery), at most a few flush intervals under this light load.
    waits = flush_waits(api.server)
    assert waits["count"] >= 1
    assert 0 <= waits["sum"] / waits["count"] < 1.0


def test_ws_a_missed_delta_is_detected_and_resubscribing_resyncs(api: Api) -> None:
    market = api.add_market()
    users = traders(api, market, 3)
    flow = Flow(api, market, users, seed=11)
    book = f"book:{market}"
    with WsClient(api.server) as client:
        client.subscribe(book)
        mirror = BookMirror(book)
        mirror.apply(client.wait(lambda m: m["type"] == "book_snapshot"))
        flow.run(20)
        client.wait(lambda m: m["type"] == "book_delta")  # lost: never applied
        marker(api, users[0], market, "11.00")
        with pytest.raises(Gap):
            follow(client, mirror, api.depth(market)["sequence"], replay=False)

        # What a client does on a gap: subscribe again, start over from the new snapshot.
        client.subscribe(book)
        mirror = BookMirror(book)
        flow.run(20)
        marker(api, users[0], market, "12.00")
        depth = api.depth(market, limit=5000)
        while mirror.market_seq < depth["sequence"]:
            mirror.apply(client.next())
        assert mirror.levels() == rest_levels(depth)


# -- private channels -------------------------------------------------------------------------------------


def test_ws_private_channels_carry_only_the_users_own_events(api: Api) -> None:
    market = api.add_market()
    users = traders(api, market, 3, prefix="private")
    outsider = traders(api, market, 1, prefix="outsider")[0]
    channels = ("orders", "fills", "balances")
    clients = [WsClient(api.server, token=api.server.token(users[0].id))]  # authenticated by header
    for user in users[1:]:
        client = WsClient(api.server)
        assert client.authenticate(api.server.token(user.id)) == {
            "type": "authenticated",
            "id": 1,
            "user_id": user.id,
        }
        clients.append(client)
    with contextlib.ExitStack() as stack:
        for client in clients:
            stack.enter_context(client)
            client.subscribe(*channels)
            snapshot = client.wait(lambda m: m["type"] == "balances")
            assert {b["asset"] for b in snapshot["balances"]} == {QUOTE, base_of(market)}
        Flow(api, market, [*users, outsider], seed=3).run(120)
        last_orders = {user.id: marker(api, user, market)["order_id"] for user in users}

        for user, client in zip(users, clients, strict=True):
            client.wait(announces(last_orders[user.id]))
            client.drain()
            updates = [update for m in client.of("orders") for update in m["updates"]]
            fills = [fill for m in client.of("fills") for fill in m["fills"]]
            rest_orders = {o["order_id"]: o for o in api.orders(user, limit=1000)["orders"]}
            rest_fills = list(reversed(api.fills(user, limit=1000)["fills"]))

            # Every order of the user is announced, nobody else's is.
            assert {u["order_id"] for u in updates} == set(rest_orders)
            first: dict[int, Message] = {}
            for update in updates:
                first.setdefault(update["order_id"], update)
            assert all(update["event"] == "NEW" for update in first.values())
            final = last_by(updates, lambda u: u["order_id"])
            for order_id, order in rest_orders.items():
                update = final[order_id]
                assert (
                    update["status"],
                    update["executed_quantity"],
                    update["executed_quote"],
                    update["fee"],
                ) == (
                    order["status"],
                    order["executed_quantity"],
                    order["executed_quote"],
                    order["fee"],
                ), (update, order)
            assert fills == rest_fills
            # The latest balance of every asset is the REST balance.
            balances = last_by(
                [b for m in client.of("balances") for b in m["balances"]], lambda b: b["asset"]
            )
            rest_balances = api.balances(user)
            assert {a: {k: b[k] for k in ("available", "locked", "total")} for a, b in balances.items()
                    if D(b["total"])} == rest_balances  # fmt: skip

        # No message of one user's channels names another user's order.
        owned = [{u["order_id"] for m in c.of("orders") for u in m["updates"]} for c in clients]
        for index, mine in enumerate(owned):
            others = set().union(*(owned[:index] + owned[index + 1 :]))
            assert not mine & others
            fills_seen = {f["order_id"] for m in clients[index].of("fills") for f in m["fills"]}
            assert fills_seen <= mine


def test_ws_private_channels_need_authentication(api: Api) -> None:
    market = api.add_market()
    server = api.server
    user, other = api.user("auth"), api.user("other")
    with WsClient(server) as client:
        refused = client.request("subscribe", channels=[f"book:{market}", "orders"])
        assert refused["type"] == "error"
        assert refused["error"]["code"] == "UNAUTHENTICATED"
        assert refused["error"]["details"] == {"channel": "orders"}
        assert client.request("ping")["type"] == "pong"
        assert not client.of("book_snapshot")  # all or nothing: the public channel was not taken

        assert client.authenticate("not-a-token")["error"]["code"] == "INVALID_TOKEN"
        assert client.authenticate(server.token(user.id, ttl=-60))["error"]["code"] == "TOKEN_EXPIRED"
        assert client.request("subscribe", channels=["fills"])["error"]["code"] == "UNAUTHENTICATED"
        assert client.authenticate(server.token(user.id))["type"] == "authenticated"
        assert client.authenticate(server.token(other.id))["error"]["code"] == "FORBIDDEN"
        client.subscribe("orders", "fills", "balances")
    with WsClient(server, token="garbage") as client:
        assert client.next()["error"]["code"] == "INVALID_TOKEN"
        assert client.request("subscribe", channels=["orders"])["error"]["code"] == "UNAUTHENTICATED"


# -- protocol ---------------------------------------------------------------------------------------------


def test_ws_requests_are_answered_and_bad_ones_refused_with_codes(api: Api) -> None:
    market = api.add_market()
    maker, taker = traders(api, market, 2, prefix="proto")
    with WsClient(api.server) as client:
        client.connection.send("{not json")
        assert client.next()["error"]["code"] == "INVALID_MESSAGE"
        # Nested too deeply, even where it would be skipped: once an INTERNAL_ERROR.
        client.connection.send('{"op": "ping", "id": 4, "x": ' + "[" * 3000 + "]" * 3000 + "}")
        assert client.next()["error"]["code"] == "INVALID_MESSAGE"
        client.send(op="dance", id=5)
        answer = client.next()
        assert (answer["type"], answer["id"], answer["error"]["code"]) == ("error", 5, "INVALID_MESSAGE")
        assert client.request("ping") == {"type": "pong", "id": 1, "time": client.received[-1]["time"]}
        assert client.request("subscribe", channels=["nope"])["error"]["code"] == "UNKNOWN_CHANNEL"
        assert client.request("subscribe", channels=["candles:X-Y:2m"])["error"]["code"] == "UNKNOWN_CHANNEL"
        assert client.request("subscribe", channels=["book:NOPE-USDT"])["error"]["code"] == "UNKNOWN_MARKET"

        # Unsubscribing stops a channel; the others go on.
        client.subscribe(f"trades:{market}", f"book:{market}")
        assert client.request("unsubscribe", channels=[f"trades:{market}"])["type"] == "unsubscribed"
        api.order(maker, market=market, side="SELL", price="100.00", quantity="1.000")
        api.order(taker, market=market, side="BUY", price="100.00", quantity="0.400")
        marker(api, maker, market)
        follow(client, BookMirror(f"book:{market}"), api.depth(market)["sequence"])
        assert not client.of("trades")


# -- flow control -----------------------------------------------------------------------------------------

TIGHT = {
    "TRADE_ENGINE_WEBSOCKET_QUEUE_SIZE": "2",
    "TRADE_ENGINE_WEBSOCKET_MAX_CLIENTS": "3",
    "TRADE_ENGINE_WEBSOCKET_MAX_SUBSCRIPTIONS": "5",
    "TRADE_ENGINE_WEBSOCKET_IDLE_TIMEOUT_SECONDS": "2",
    "TRADE_ENGINE_WEBSOCKET_HEARTBEAT_SECONDS": "0.5",
}


@pytest.fixture(scope="module", params=DATABASES)
def tight(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    directory = tmp_path_factory.mktemp(f"ws-tight-{request.param}")
    with running_server(request.param, directory, **TIGHT) as server:
        client = Api(server)
        try:
            yield client
        finally:
            client.close()


def admitted(server: Server) -> WsClient:
    """A connection the server admitted (clients of earlier tests may still be leaving)."""
    for _ in range(100):
        client = WsClient(server)
        try:
            answer = client.request("ping")
        except Closed:
            client.close()
            time.sleep(0.05)
            continue
        assert answer["type"] == "pong", answer
        return client
    raise AssertionError("the server kept refusing connections")


def test_ws_a_slow_consumer_is_told_and_disconnected_never_left_with_a_gap(tight: Api) -> None:
    market = tight.add_market()
    maker, taker = traders(tight, market, 2, prefix="slow")
    book = f"book:{market}"
    with admitted(tight.server) as slow, admitted(tight.server) as steady:
        # One channel per request, each snapshot read before the next: at most two
        # messages (answer, snapshot) are ever queued for this client until...
        subscriptions = (
            (book, "book_snapshot"),
            (f"trades:{market}", None),
            (f"ticker:{market}", "ticker"),
            (f"candles:{market}:1m", "candles"),
        )
        for channel, snapshot in subscriptions:
            slow.subscribe(channel)
            if snapshot is not None:
                slow.wait(of_type(snapshot))
        steady.subscribe(book)
        # ...a trade changes four of its channels in one flush: more than its queue holds.
        tight.order(maker, market=market, side="SELL", price="100.00", quantity="1.000")
        tight.order(taker, market=market, side="BUY", price="100.00", quantity="0.500")

        closed = slow.closed()
        assert (closed.code, closed.reason) == (4001, "slow consumer")
        notice = slow.received[-1]
        assert notice["type"] == "error"
        assert notice["error"]["code"] == "SLOW_CONSUMER"
        mirror = BookMirror(book)
        for message in slow.received:
            mirror.apply(message)  # everything it did get was gap-free

        # The other client goes on, complete.
        marker(tight, maker, market)
        depth = tight.depth(market)
        mirror = BookMirror(book)
        follow(steady, mirror, depth["sequence"])
        assert mirror.levels() == rest_levels(depth)


# Each bound on its own: the other one out of reach.
BY_BYTES = {
    "TRADE_ENGINE_WEBSOCKET_MAX_UNSENT_BYTES": "65536",
    "TRADE_ENGINE_WEBSOCKET_MAX_UNSENT_SECONDS": "600",
}
BY_AGE = {
    "TRADE_ENGINE_WEBSOCKET_MAX_UNSENT_BYTES": str(64 * 1024 * 1024),
    "TRADE_ENGINE_WEBSOCKET_MAX_UNSENT_SECONDS": "2",
}


@pytest.mark.parametrize(
    ("limits", "pause", "reasons"),
    [
        # A flood: the unsent bytes pass 64 KiB in a moment.
        pytest.param(BY_BYTES, 0.0, {"bytes", "queue"}, id="bytes"),
        # A trickle: the kernel's buffers take all of it, the queue stays empty, and the
        # data the client does not take only grows old (before: never closed).
        pytest.param(BY_AGE, 0.2, {"age"}, id="age"),
    ],
)
def test_ws_a_client_that_stops_reading_is_closed_within_the_unsent_limits(
    tmp_path: Path, limits: dict[str, str], pause: float, reasons: set[str]
) -> None:
    # Regression: the queue bound counted frames, and the kernel's buffers took the
    # backlog first: a client that stopped reading was closed after ~55 s by the
    # keep-alive timeout (1011) with 18 MB buffered, never as a slow consumer.
    with running_server("sqlite", tmp_path, **limits) as server:
        api = Api(server)
        market = api.add_market()
        maker, taker = traders(api, market, 2, prefix="flood")
        stalled = RawWebSocket(server.port)
        stalled.send_json({"op": "subscribe", "id": 1, "channels": [f"trades:{market}", f"book:{market}"]})
        with WsClient(server) as steady:
            steady.subscribe(f"trades:{market}")
            stop = threading.Event()

            def flood() -> None:
                while not stop.wait(pause):
                    api.order(maker, market=market, side="SELL", price="100.00", quantity="0.010")
                    api.order(taker, market=market, side="BUY", price="100.00", quantity="0.010")

            flooding = threading.Thread(target=flood, daemon=True)
            flooding.start()
            try:
                deadline = time.monotonic() + 60
                while slow_consumers(server) == 0:
                    assert time.monotonic() < deadline, "the stalled client was never closed"
                    time.sleep(0.1)
            finally:
                stop.set()
                flooding.join(30)
            assert steady.wait(of_type("trades"))  # the other client is served on
        frames = stalled.read_all(timeout=10)
        stalled.close()
        api.close()
        closing = [payload for opcode, payload in frames if opcode == 0x8]
        assert [int.from_bytes(payload[:2], "big") for payload in closing] == [4001]
        notice = json.loads(next(payload for opcode, payload in reversed(frames) if opcode == 0x1))
        assert notice["error"]["code"] == "SLOW_CONSUMER"
        line = next(
            json.loads(text)
            for text in server.log_path.read_text().splitlines()
            if "too slow: disconnected" in text
        )
        assert line["reason"] in reasons, line
        # Closed as soon as a bound was passed: its oldest unsent data (in the queue or
        # in the kernel) at most the time limit plus 2 s old.
        limit = float(limits["TRADE_ENGINE_WEBSOCKET_MAX_UNSENT_SECONDS"])
        assert line["oldest_seconds"] <= min(limit, 10) + 2, line
        if line["reason"] == "age":
            assert line["oldest_seconds"] > limit, line


def flush_waits(server: Server) -> dict[str, float]:
    """The flush-wait histogram's count and sum (seconds), from /metrics."""
    text = httpx.get(f"{server.url}/metrics").text
    found = {"count": 0.0, "sum": 0.0}
    for line in text.splitlines():
        for part in found:
            if line.startswith(f"trade_engine_websocket_flush_wait_seconds_{part} "):
                found[part] = float(line.split()[1])
    return found


def slow_consumers(server: Server) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    for line in text.splitlines():
        if line.startswith("trade_engine_websocket_slow_consumers_total "):
            return float(line.split()[1])
    return 0.0


def test_ws_clients_beyond_the_maximum_are_refused(tight: Api) -> None:
    clients = [admitted(tight.server) for _ in range(3)]
    try:
        with WsClient(tight.server) as refused:
            answer = refused.next()
            assert answer["type"] == "error"
            assert answer["error"]["code"] == "TOO_MANY_CLIENTS"
            assert refused.closed().code == 1013
        clients.pop().close()
        clients.append(admitted(tight.server))  # a place is free again
    finally:
        for client in clients:
            client.close()


def silent_client(server: Server, connections: contextlib.ExitStack) -> bool:
    """Open a `/ws` connection that says nothing (closed with `connections`); False if
    the server turned it away."""
    connection = connections.enter_context(
        connect(server.url.replace("http://", "ws://") + "/ws", proxy=None, compression=None)
    )
    try:
        connection.recv(timeout=0.2)  # a client turned away is told at once
    except TimeoutError:
        return True
    except ConnectionClosed:
        pass
    return False


def test_ws_clients_that_say_nothing_count_against_the_maximum(tight: Api) -> None:
    # Regression: `/ws` waits for a client's first frame to learn its protocol, and those
    # waiting were in no count: any number of silent sockets could be held open.
    with contextlib.ExitStack() as silent:
        opened = 0
        for _ in range(20):  # three, once the clients of earlier tests have left
            if silent_client(tight.server, silent):
                opened += 1
                if opened == 3:
                    break
        assert opened == 3  # within the idle timeout (2 s): all three are waited for
        with WsClient(tight.server) as fourth:  # turned away as the native protocol does
            answer = fourth.next()
            assert (answer["type"], answer["error"]["code"]) == ("error", "TOO_MANY_CLIENTS")
            assert fourth.closed().code == 1013
    admitted(tight.server).close()  # places are free again


def test_ws_subscriptions_beyond_the_maximum_are_refused(tight: Api) -> None:
    # Trades channels have no snapshot: the queue of two never holds more than the answer.
    five = [f"trades:{symbol}" for symbol in ("BTC-USDT", "ETH-USDT", "ETH-BTC")]
    five += [f"trades:{tight.add_market()}" for _ in range(2)]
    with admitted(tight.server) as client:
        client.subscribe(*five)
        refused = client.request("subscribe", channels=[f"trades:{tight.add_market()}"])
        assert refused["error"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
        assert refused["error"]["details"] == {"limit": 5}
        client.subscribe(*five[:2])  # again: no new subscriptions
        assert client.request("unsubscribe", channels=five[:1])["type"] == "unsubscribed"
        client.subscribe(f"trades:{tight.add_market()}")


def test_ws_heartbeats_come_and_idle_clients_are_closed(tight: Api) -> None:
    with admitted(tight.server) as active:
        for _ in range(6):  # pings keep it alive past the idle timeout
            assert active.request("ping")["type"] == "pong"
            time.sleep(0.5)
        assert active.of("heartbeat")
    with admitted(tight.server) as idle:
        closed = idle.closed()
        assert (closed.code, closed.reason) == (4000, "idle timeout")
        assert idle.of("heartbeat")


# -- market data: candles and ticker, across bucket edges and a restart --------------------------------------


def candles_of(trades: list[dict[str, Any]], size: int) -> dict[int, dict[str, Any]]:
    """What the candles of `trades` must be, per bucket start (ms)."""
    buckets: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for trade in trades:
        buckets[trade["time"] - trade["time"] % size].append(trade)
    result = {}
    for start, group in buckets.items():
        group.sort(key=lambda t: t["trade_id"])
        result[start] = {
            "open_time": start,
            "close_time": start + size - 1,
            "open": group[0]["price"],
            "high": max(group, key=lambda t: D(t["price"]))["price"],
            "low": min(group, key=lambda t: D(t["price"]))["price"],
            "close": group[-1]["price"],
            "volume": f"{sum(D(t['quantity']) for t in group):.3f}",
            "quote_volume": amount(sum(D(t["quote_amount"]) for t in group)),
            "trades": len(group),
        }
    return result


def empty_candle(start: int, size: int) -> dict[str, Any]:
    return {"open_time": start, "close_time": start + size - 1, "open": None, "high": None, "low": None,
            "close": None, "volume": "0.000", "quote_volume": amount(0), "trades": 0}  # fmt: skip


TICKER_FIELDS = ("open", "last", "high", "low", "volume", "quote_volume", "trades", "change")


def ticker_of(trades: list[dict[str, Any]], open_time: int, close_time: int) -> dict[str, Any]:
    inside = sorted((t for t in trades if open_time <= t["time"] < close_time), key=lambda t: t["trade_id"])
    prices = [D(t["price"]) for t in inside]
    return {
        "open": inside[0]["price"],
        "last": inside[-1]["price"],
        "high": f"{max(prices):.2f}",
        "low": f"{min(prices):.2f}",
        "volume": f"{sum(D(t['quantity']) for t in inside):.3f}",
        "quote_volume": amount(sum(D(t["quote_amount"]) for t in inside)),
        "trades": len(inside),
        "change": f"{prices[-1] - prices[0]:.2f}",
    }


def cross(api: Api, maker: User, taker: User, market: str, rng: random.Random) -> None:
    price = f"{100 + rng.randint(-5, 5)}.{rng.randint(0, 99):02d}"
    quantity = rng.choice(("0.100", "0.300", "1.000"))
    api.order(maker, market=market, side="SELL", price=price, quantity=quantity)
    api.order(taker, market=market, side="BUY", price=price, quantity=quantity)


def check_market_data(server: Server, seed: int) -> None:
    rng = random.Random(seed)
    api = Api(server)
    try:
        market = api.add_market()
        maker, taker = traders(api, market, 2, prefix="candles")
        for _ in range(6):
            cross(api, maker, taker, market, rng)

        # A graceful restart: connected clients get a close frame (1001) first.
        with WsClient(server) as watcher:
            watcher.subscribe(f"trades:{market}")
            server.terminate()
            closed = watcher.closed()
            assert (closed.code, closed.reason) == (1001, "server shutting down")
        server.start()

        channels = [f"candles:{market}:{interval}" for interval in INTERVALS]
        with WsClient(server) as client:
            client.subscribe(*channels, f"ticker:{market}")
            snapshots: dict[str, Message] = {}
            while len(snapshots) < len(channels) + 1:
                message = client.next()
                if message["type"] in ("candles", "ticker"):
                    snapshots.setdefault(message["channel"], message)
            trades = list(reversed(api.trades(market, limit=1000)["trades"]))
            now = time.time() * 1000
            for interval, size in INTERVALS.items():
                # After the restart: the current bucket, rebuilt from the database.
                (candle,) = snapshots[f"candles:{market}:{interval}"]["candles"]
                start = int(now - now % size)
                assert candle == candles_of(trades, size).get(start, empty_candle(start, size)), interval
            ticker = snapshots[f"ticker:{market}"]["ticker"]
            assert {k: ticker[k] for k in TICKER_FIELDS} == ticker_of(
                trades, ticker["open_time"], ticker["close_time"]
            )

            # Trade across the next minute edge (at least a second before and after it).
            edge = (time.time() // 60 + 1) * 60
            if edge - time.time() < 1.5:
                edge += 60
            # The wait can outlast the server's idle timeout (60 s): ping meanwhile.
            while edge - 1.2 - time.time() > 10:
                time.sleep(10)
                client.send(op="ping", id=0)
            time.sleep(max(0.0, edge - 1.2 - time.time()))
            while time.time() < edge + 1.2:
                cross(api, maker, taker, market, rng)
                time.sleep(0.1)
            trades = list(reversed(api.trades(market, limit=1000)["trades"]))
            assert len({t["time"] // 60_000 for t in trades if t["time"] >= (edge - 60) * 1000}) == 2

            rest = ok(api.http.get(f"{API}/markets/{market}/ticker"))
            ws_ticker = client.wait(
                lambda m: (
                    m["type"] == "ticker"
                    and m["ticker"]["trades"] == rest["trades"]
                    and m["ticker"]["close_time"] == rest["close_time"]
                    and m["ticker"]["best_bid"] == rest["best_bid"]
                    and m["ticker"]["best_ask"] == rest["best_ask"]
                )
            )["ticker"]
            assert ws_ticker == rest
            assert {k: rest[k] for k in TICKER_FIELDS} == ticker_of(
                trades, rest["open_time"], rest["close_time"]
            )
            client.drain()
            for interval, size in INTERVALS.items():
                streamed = last_by(
                    [c for m in client.of("candles", f"candles:{market}:{interval}") for c in m["candles"]],
                    lambda c: c["open_time"],
                )
                expected = candles_of(trades, size)
                latest = max(expected)
                assert streamed[latest] == expected[latest], interval
                # The bucket that closed at the edge ends with its final state.
                for start, candle in streamed.items():
                    assert candle == expected.get(start, empty_candle(start, size)), (interval, start)
                if interval == "1m":
                    assert len([c for c in streamed.values() if c["trades"]]) >= 2  # both sides of the edge
    finally:
        api.close()


def test_ws_candles_and_ticker_match_the_trades_across_bucket_edges_and_a_restart(tmp_path: Path) -> None:
    failures: list[BaseException] = []

    def run(kind: str, seed: int) -> None:
        try:
            with running_server(kind, tmp_path / kind) as server:
                check_market_data(server, seed)
        except BaseException as failure:
            failures.append(failure)

    for kind in DATABASES:
        (tmp_path / kind).mkdir()
    threads = [threading.Thread(target=run, args=(kind, seed)) for seed, kind in enumerate(DATABASES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]

"""Two gateways in front of one core (the shared cluster: three NATS nodes, two cores):
what one acknowledges the other shows at once, over REST and WebSocket (native and
Binance streams); outcomes cross the bus with their codes; a revoked API key is refused
by every gateway."""

import json
import select
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.cluster.harness import Cluster
from tests.e2e.binance.conftest import Account, Binance, SignedClient, binance_error
from tests.e2e.binance.test_streams import apply, limit_order, placed, receive, receive_until, stream
from tests.e2e.binance.test_userstream import listen_key_request, trader_with_key
from tests.e2e.client import QUOTE, Api, error, ok
from tests.e2e.ws_client import BookMirror, Message, WsClient
from trade_engine.app.process import core_build

ROOT = Path(__file__).resolve().parents[2]


def test_every_process_of_the_cluster_says_which_engine_build_it_runs(shared_cluster: Cluster) -> None:
    # Its start-up line ("core starting" or "starting"); the benchmarks report it.
    for process in [*shared_cluster.cores, *shared_cluster.gateways]:
        assert process.core_build() == core_build(), process.workdir.name


def test_an_order_acknowledged_by_one_gateway_is_read_through_the_other_at_once(
    gateway_apis: tuple[Api, Api],
) -> None:
    first, second = gateway_apis
    market = first.add_market()
    base = market.split("-")[0]
    buyer, seller = first.user("buyer"), first.user("seller")
    first.deposit(buyer, QUOTE, "1000")
    first.deposit(seller, base, "10")
    placed = first.order(buyer, market=market, side="BUY", price="100", quantity="2", client_order_id="b-1")
    # No wait: the other gateway must already show it.
    assert second.get_order(buyer, placed["order_id"])["status"] == "NEW"
    assert [o["order_id"] for o in second.orders(buyer, status="open")["orders"]] == [placed["order_id"]]
    assert second.depth(market)["bids"] == [["100.00", "2.000"]]
    assert Decimal(second.balances(buyer)[QUOTE]["locked"]) > 0
    sold = second.order(seller, market=market, side="SELL", price="100", quantity="0.5")
    assert sold["status"] == "FILLED"
    # History (written behind the journal) too, through the first gateway.
    fills = first.fills(buyer)["fills"]
    assert [(f["price"], f["quantity"]) for f in fills] == [("100.00", "0.500")]
    assert first.get_order(buyer, placed["order_id"])["status"] == "PARTIALLY_FILLED"
    cancelled = ok(second.http.delete(f"/api/v1/orders/{placed['order_id']}", headers=buyer.headers))
    assert cancelled["status"] == "CANCELED"
    assert first.orders(buyer, status="open")["orders"] == []


def test_outcomes_cross_the_bus_with_their_codes(gateway_apis: tuple[Api, Api]) -> None:
    first, second = gateway_apis
    market = first.add_market()
    trader = first.user("trader")
    first.deposit(trader, QUOTE, "100")
    error(
        first.place(trader, market=market, side="BUY", price="100", quantity="5"), 422, "INSUFFICIENT_BALANCE"
    )
    first.order(trader, market=market, side="BUY", price="10", quantity="1", client_order_id="same")
    refused = second.place(
        trader, market=market, side="BUY", price="10", quantity="1", client_order_id="same"
    )
    error(refused, 409, "DUPLICATE_CLIENT_ORDER_ID")
    error(second.place(trader, market=market, side="BUY", price="10.001", quantity="1"), 400, "TOO_PRECISE")


def test_websocket_clients_on_two_gateways_see_identical_gap_free_streams(
    shared_cluster: Cluster, gateway_apis: tuple[Api, Api]
) -> None:
    first, second = gateway_apis
    market = first.add_market()
    base = market.split("-")[0]
    buyer, seller = first.user("ws-buyer"), first.user("ws-seller")
    first.deposit(buyer, QUOTE, "100000")
    first.deposit(seller, base, "1000")
    channels = (f"book:{market}", f"trades:{market}")
    with WsClient(shared_cluster.gateways[0]) as one, WsClient(shared_cluster.gateways[1]) as other:
        one.subscribe(*channels)
        other.subscribe(*channels)
        apis = (first, second)
        for n in range(30):
            api = apis[n % 2]
            api.order(buyer, market=market, side="BUY", price=f"{100 + n % 5}", quantity="1")
            api.order(seller, market=market, side="SELL", price=f"{100 + (n + 2) % 5}", quantity="0.5")
        last_seq = first.depth(market)["sequence"]
        trades, books = [], []
        for client in (one, other):
            mirror = BookMirror(f"book:{market}")

            def caught_up(message: Message, mirror: BookMirror = mirror) -> bool:
                mirror.apply(message)
                return bool(mirror.market_seq >= last_seq)

            client.wait(caught_up)
            client.drain()
            assert mirror.levels() == {
                side: [(Decimal(p), Decimal(q)) for p, q in levels]
                for side, levels in second.depth(market, limit=100).items()
                if side in ("bids", "asks")
            }
            trades.append([t for m in client.received if m["type"] == "trades" for t in m["trades"]])
            books.append(_books_by_market_seq(client.received, f"book:{market}"))
        # A gateway sends what changed since its last flush: one that is busier sends
        # several batches in one message, so messages may be grouped differently. What
        # they carry is identical: every trade, in order, and the same book at every
        # sequence both clients saw (the last one included).
        assert trades[0] == trades[1]
        assert len(trades[0]) >= 30
        common = books[0].keys() & books[1].keys()
        assert last_seq in common
        assert all(books[0][seq] == books[1][seq] for seq in common)


def _books_by_market_seq(messages: list[Message], channel: str) -> dict[int, object]:
    """The book after each message of `channel`, by the market sequence it reached
    (BookMirror raises Gap if a delta is missing)."""
    mirror = BookMirror(channel)
    books: dict[int, object] = {}
    for message in messages:
        if message.get("channel") == channel:
            mirror.apply(message)
            books[mirror.market_seq] = mirror.levels()
    return books


def test_binance_stream_clients_on_two_gateways_see_identical_trades_and_gap_free_depth(
    gateway_apis: tuple[Api, Api],
) -> None:
    """Depth diffs go out on each gateway's own 100 ms timer, so their windows differ;
    what must agree is every diff range following the last, and the book they build."""
    first, second = gateway_apis
    binances = (Binance(first), Binance(second))
    native, market_id, _ = binances[0].market()
    buyer, seller = first.user("bws-buyer"), first.user("bws-seller")
    first.deposit(buyer, QUOTE, "100000")
    first.deposit(seller, native.split("-")[0], "1000")
    name = market_id.lower()
    path = f"/stream?streams={name}@trade/{name}@depth@100ms"
    with stream(binances[0], path) as one, stream(binances[1], path) as other:
        for connection in (one, other):  # subscribed on the server before the first order
            connection.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
            assert receive(connection)["id"] == 1
        for n in range(20):
            api = (first, second)[n % 2]
            api.order(buyer, market=native, side="BUY", price=f"{100 + n % 5}", quantity="1")
            api.order(seller, market=native, side="SELL", price=f"{100 + (n + 2) % 5}", quantity="0.5")
        depth = second.http.get("/api/v3/depth", params={"symbol": market_id, "limit": 5000}).json()
        last_id = depth["lastUpdateId"]
        final = {side: {Decimal(p): Decimal(q) for p, q in depth[side]} for side in ("bids", "asks")}
        trades: list[list[dict[str, Any]]] = []
        for connection in (one, other):
            book: dict[str, dict[Decimal, Decimal]] = {"bids": {}, "asks": {}}  # a fresh market
            seen: list[dict[str, Any]] = []
            reached: int | None = None
            while reached != last_id:
                message = receive(connection)
                data = message["data"]
                if message["stream"] == f"{name}@trade":
                    seen.append({key: value for key, value in data.items() if key != "E"})
                    continue
                if reached is not None:
                    assert data["U"] == reached + 1, (data["U"], reached)
                apply(book, data)
                reached = data["u"]
            assert book == final
            trades.append(seen)
    assert trades[0] == trades[1]
    assert len(trades[0]) >= 20
    assert [trade["t"] for trade in trades[0]] == sorted({trade["t"] for trade in trades[0]})


def test_a_key_revoked_through_one_gateway_is_refused_by_the_other(gateway_apis: tuple[Api, Api]) -> None:
    first, second = gateway_apis
    through_first, through_second = Binance(first), Binance(second)
    account = through_first.account("keyed", {QUOTE: "10"})
    client = SignedClient(through_second, account)
    assert client.request("GET", "account").status_code == 200  # cached by the second gateway
    through_first.revoke(account.key)
    refused = SignedClient(through_second, Account(account.user, account.key, account.secret))
    deadline = threading.Event()
    for _ in range(50):
        response = refused.request("GET", "account")
        if response.status_code == 401:
            break
        deadline.wait(0.05)
    binance_error(refused.request("GET", "account"), 401, -2015)


def test_the_example_trade_notifier_prints_each_trade_as_it_is_committed(
    shared_cluster: Cluster, gateway_apis: tuple[Api, Api]
) -> None:
    first, _ = gateway_apis
    market = first.add_market()
    base = market.split("-")[0]
    buyer, seller = first.user("n-buyer"), first.user("n-seller")
    first.deposit(buyer, QUOTE, "1000")
    first.deposit(seller, base, "10")
    command = [
        sys.executable,
        str(ROOT / "examples" / "trade_notifier.py"),
        "--nats",
        shared_cluster.nats.urls,
    ]
    command += ["--gateway", shared_cluster.gateways[0].url, "--market", market, "--from-start"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as notifier:
        try:
            first.order(buyer, market=market, side="BUY", price="12.5", quantity="2")
            first.order(seller, market=market, side="SELL", price="12", quantity="1.5")
            assert notifier.stdout is not None
            ready, _, _ = select.select([notifier.stdout], [], [], 20)
            assert ready, "the notifier printed nothing"
            trade = json.loads(notifier.stdout.readline())
        finally:
            notifier.kill()
    assert (trade["market"], trade["price"], trade["quantity"]) == (market, "12.50", "1.500")
    assert trade["taker_side"] == "SELL"


def test_the_same_order_sent_through_both_gateways_is_stored_once(gateway_apis: tuple[Api, Api]) -> None:
    # The command stream de-duplicates by (user, client order id): the copy is refused
    # whichever gateway it comes through, and only one order exists.
    first, second = gateway_apis
    market = first.add_market()
    trader = first.user("twice")
    first.deposit(trader, QUOTE, "1000")
    terms = {"market": market, "side": "BUY", "price": "10", "quantity": "1", "client_order_id": "once"}
    answers: list[Any] = []
    threads = [
        threading.Thread(target=lambda api=api: answers.append(api.place(trader, **terms)))
        for api in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(answer.status_code for answer in answers) == [201, 409], [a.text for a in answers]
    refused = next(answer for answer in answers if answer.status_code == 409)
    assert refused.json()["error"]["code"] == "DUPLICATE_CLIENT_ORDER_ID"
    orders = second.orders(trader)["orders"]
    assert [order["client_order_id"] for order in orders] == ["once"]


def test_an_order_without_a_client_order_id_gets_one_from_the_gateway(gateway_apis: tuple[Api, Api]) -> None:
    # So that every order can be looked up by a name the client was given, even one
    # whose outcome is unknown (the core died with it in flight).
    first, second = gateway_apis
    market = first.add_market()
    trader = first.user("unnamed")
    first.deposit(trader, QUOTE, "1000")
    placed = first.order(trader, market=market, side="BUY", price="10", quantity="1")
    assert placed["client_order_id"].startswith("gw-")
    found = ok(
        second.http.get(f"/api/v1/orders/by-client-id/{placed['client_order_id']}", headers=trader.headers)
    )
    assert found["order_id"] == placed["order_id"]


def test_a_listen_key_opened_on_one_gateway_streams_and_ends_on_the_other(
    gateway_apis: tuple[Api, Api],
) -> None:
    # Listen keys live in the database: any gateway validates them, and a close on one
    # ends the streams of the others (at their next check, listen_key_check_seconds: 5).
    first, second = gateway_apis
    on_first, on_second = Binance(first), Binance(second)
    client, market_id, key = trader_with_key(on_first, "lk-cross")
    with stream(on_second, f"/ws/{key}") as connection:
        order = placed(client, limit_order(market_id, "BUY", "2", "25"))
        report = receive(connection)
        assert (report["e"], report["i"]) == ("executionReport", order["orderId"])
        assert listen_key_request(client, "DELETE", key).status_code == 200
        closed = receive_until(connection, lambda m: m.get("e") == "listenKeyExpired")
    assert closed["listenKey"] == key

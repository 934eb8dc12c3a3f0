"""An order's labels (domain/order_meta.py: Binance's strategyId and strategyType) are
settable on both APIs, stored, and returned by every view of the order: native REST and
the `orders` channel, Binance order objects and execution reports; after a restart too."""

import json

from websockets.sync.client import connect

from tests.e2e.binance.conftest import Account, Binance, SignedClient, binance_error
from tests.e2e.binance.test_streams import subscribe_request
from tests.e2e.client import QUOTE, Api
from tests.e2e.server import Server
from tests.e2e.ws_client import WsClient


def signed_subscription(account: Account) -> str:
    return subscribe_request(account, request_id="sub")


def test_strategy_labels_travel_through_both_apis_and_survive_a_restart(server: Server) -> None:
    api = Api(server)
    binance = Binance(api)
    native_market, binance_market, _ = binance.market()
    base = native_market.split("-")[0]
    account = binance.account("labels", {QUOTE: "10000", base: "10"})
    token = server.token(account.user.id)
    trader = SignedClient(binance, account)

    # Native: set in the request's `meta`, shown by the answer, GET and the orders channel.
    with WsClient(server, token=token) as client:
        client.subscribe("orders")
        native = api.order(
            account.user, market=native_market, side="BUY", type="LIMIT", price="10", quantity="1",
            meta={"strategy_id": 42, "strategy_type": 1_000_007},
        )  # fmt: skip
        update = client.wait(lambda m: m["type"] == "orders")["updates"][0]
    assert native["meta"] == {"strategy_id": 42, "strategy_type": 1_000_007}
    assert api.get_order(account.user, native["order_id"])["meta"] == native["meta"]
    assert (update["event"], update["meta"]) == ("NEW", native["meta"])
    refused = api.place(account.user, market=native_market, side="BUY", price="10", quantity="1",
                        meta={"strategy_type": 5})  # fmt: skip
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["details"][0]["key"] == "meta.strategy_type"

    # Binance: set by parameter, shown by the answer, GET /order and the execution report.
    with connect(server.url.replace("http://", "ws://") + "/ws-api/v3", open_timeout=10) as stream:
        stream.send(signed_subscription(account))
        assert json.loads(stream.recv(timeout=10))["status"] == 200
        body = (f"symbol={binance_market}&side=SELL&type=LIMIT&timeInForce=GTC&quantity=1&price=20"
                "&strategyId=7&strategyType=1000001")  # fmt: skip
        placed = trader.request("POST", "order", body=body).json()
        report = json.loads(stream.recv(timeout=10))["event"]
    assert (placed["strategyId"], placed["strategyType"]) == (7, 1_000_001)
    assert (report["e"], report["j"], report["J"]) == ("executionReport", 7, 1_000_001)
    query = f"symbol={binance_market}&orderId={placed['orderId']}"
    assert trader.request("GET", "order", query=query).json()["strategyId"] == 7
    binance_error(
        trader.request("POST", "order", body=body.replace("strategyType=1000001", "strategyType=12")),
        400,
        -1130,
        "Data sent for parameter 'strategyType' is not valid.",
    )
    # The Binance-placed order reads back on the native API, and the native one on Binance.
    assert api.get_order(account.user, placed["orderId"])["meta"] == {
        "strategy_id": 7,
        "strategy_type": 1_000_001,
    }
    query = f"symbol={binance_market}&orderId={native['order_id']}"
    assert trader.request("GET", "order", query=query).json()["strategyType"] == 1_000_007

    # Stored: after a restart the open orders still carry them, and so do their reports.
    api.close()
    server.terminate()
    server.start()
    api = Api(server)
    binance = Binance(api)
    trader = SignedClient(binance, account)
    open_orders = trader.request("GET", "openOrders", query=f"symbol={binance_market}").json()
    assert sorted((o["orderId"], o.get("strategyId")) for o in open_orders) == sorted(
        [(native["order_id"], 42), (placed["orderId"], 7)]
    )
    with connect(server.url.replace("http://", "ws://") + "/ws-api/v3", open_timeout=10) as stream:
        stream.send(signed_subscription(account))
        assert json.loads(stream.recv(timeout=10))["status"] == 200
        trader.request("DELETE", "order", query=f"symbol={binance_market}&orderId={placed['orderId']}")
        cancelled = json.loads(stream.recv(timeout=10))["event"]
    assert (cancelled["x"], cancelled["j"], cancelled["J"]) == ("CANCELED", 7, 1_000_001)
    assert api.get_order(account.user, native["order_id"])["meta"]["strategy_id"] == 42
    api.close()

"""binance-connector 3.13.0 (Binance's own Python connector), unmodified, through the
sequence of issue 14 (the test that runs it: tests/e2e/binance/test_connector.py).

It runs in its own virtual environment (`make binance-clients`), imports nothing from
the project, takes one JSON argument (server URL, symbol, accounts: trader first, then
the counterparty that makes the market) and prints one JSON report on its last line.
"""

import json
import queue
import sys
import time
from typing import Any

from binance.error import ClientError
from binance.spot import Spot
from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient

CONFIG: dict[str, Any] = json.loads(sys.argv[1])
HTTP: str = CONFIG["http"]
WS: str = HTTP.replace("http://", "ws://")
SYMBOL: str = CONFIG["symbol"]


def client_of(account: dict[str, str], **options: Any) -> Spot:
    """README, "binance-connector": the server's URL as `base_url`."""
    return Spot(api_key=account["key"], api_secret=account["secret"], base_url=HTTP, **options)


def summary(order: dict[str, Any]) -> dict[str, Any]:
    keys = ("orderId", "type", "side", "status", "price", "origQty", "executedQty", "stopPrice")
    return {key: order.get(key) for key in keys}


def error_of(call: Any) -> list[Any]:
    """[exception class, Binance code, HTTP status] of a call that must fail."""
    try:
        call()
    except ClientError as error:
        return [type(error).__name__, error.error_code, error.status_code]
    except Exception as error:  # anything else is what the issue forbids
        return [type(error).__name__, None, None]
    return ["none", None, None]


def limit(client: Spot, side: str, quantity: str, price: str) -> dict[str, Any]:
    order: dict[str, Any] = client.new_order(
        symbol=SYMBOL, side=side, type="LIMIT", timeInForce="GTC", quantity=quantity, price=price
    )
    return order


def trading(trader: Spot, maker: Spot, report: dict[str, Any]) -> None:
    limit(maker, "SELL", "5", "100")
    limit(maker, "BUY", "5", "90")
    orders = {
        "limit": limit(trader, "BUY", "0.5", "100"),
        "market_quantity": trader.new_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.3"),
        "market_quote": trader.new_order(symbol=SYMBOL, side="BUY", type="MARKET", quoteOrderQty="20"),
        "stop_loss_limit": trader.new_order(
            symbol=SYMBOL,
            side="SELL",
            type="STOP_LOSS_LIMIT",
            timeInForce="GTC",
            quantity="0.1",
            price="84",
            stopPrice="85",
        ),
        "take_profit_limit": trader.new_order(
            symbol=SYMBOL,
            side="SELL",
            type="TAKE_PROFIT_LIMIT",
            timeInForce="GTC",
            quantity="0.1",
            price="121",
            stopPrice="120",
        ),
        "limit_maker": trader.new_order(
            symbol=SYMBOL, side="BUY", type="LIMIT_MAKER", quantity="0.2", price="95"
        ),
    }
    report["orders"] = {name: summary(order) for name, order in orders.items()}
    replaced = trader.cancel_and_replace(
        SYMBOL, "BUY", "LIMIT", "STOP_ON_FAILURE", timeInForce="GTC", quantity="0.2", price="96",
        cancelOrderId=orders["limit_maker"]["orderId"],
    )  # fmt: skip
    new = replaced["newOrderResponse"]
    report["cancel_replace"] = {
        "results": [replaced["cancelResult"], replaced["newOrderResult"]],
        "cancelled": summary(replaced["cancelResponse"]),
        "new": summary(new),
    }
    report["get_order"] = summary(trader.get_order(SYMBOL, orderId=new["orderId"]))
    report["open_orders"] = sorted(o["orderId"] for o in trader.get_open_orders(SYMBOL))
    report["all_orders"] = [summary(o) for o in trader.get_orders(SYMBOL)]
    report["my_trades"] = [[t["orderId"], t["price"], t["qty"]] for t in trader.my_trades(SYMBOL)]
    cancelled = trader.cancel_open_orders(SYMBOL)
    report["cancel_open_orders"] = sorted([o["orderId"], o["status"]] for o in cancelled)


def market_data(trader: Spot, before_first_trade: int, report: dict[str, Any]) -> None:
    klines = {}
    for interval in ("1m", "30m", "1w"):
        series = trader.klines(SYMBOL, interval, startTime=before_first_trade)
        klines[interval] = {"count": len(series), "first_open": series[0][0] if series else None}
    report["klines"] = klines
    report["avg_price"] = trader.avg_price(SYMBOL)
    window = trader.rolling_window_ticker(SYMBOL, windowSize="1h")
    report["rolling_ticker"] = {key: window[key] for key in ("symbol", "lastPrice", "count", "volume")}


def account_endpoints(trader: Spot, account: dict[str, str], report: dict[str, Any]) -> None:
    report["trade_fee"] = trader.trade_fee(symbol=SYMBOL)
    report["system_status"] = trader.system_status()
    report["account_status"] = trader.account_status()
    usage = client_of(account, show_limit_usage=True).time()["limit_usage"]
    report["limit_usage"] = {name.lower(): value for name, value in usage.items()}


def unsupported(trader: Spot) -> dict[str, list[Any]]:
    """Margin, OCO, futures, options, portfolio margin, wallet: each must raise
    ClientError with a Binance code."""
    calls = {
        "margin_account": trader.margin_account,
        "isolated_margin_account": trader.isolated_margin_account,
        "new_margin_order": lambda: trader.new_margin_order(SYMBOL, "BUY", "LIMIT", quantity="1", price="1"),
        "margin_all_pairs": trader.margin_all_pairs,
        "new_oco_order": lambda: trader.new_oco_order(
            SYMBOL, "SELL", "0.1", "LIMIT_MAKER", "STOP_LOSS", abovePrice="130", belowStopPrice="70"
        ),
        "get_oco_open_orders": trader.get_oco_open_orders,
        "sub_account_list": trader.sub_account_list,
        "coin_info": trader.coin_info,
        "funding_wallet": trader.funding_wallet,
        "get_flexible_product_position": trader.get_flexible_product_position,
        "futures exchangeInfo": lambda: trader.query("/fapi/v1/exchangeInfo"),
        "futures account": lambda: trader.sign_request("GET", "/fapi/v2/account"),
        "coin futures exchangeInfo": lambda: trader.query("/dapi/v1/exchangeInfo"),
        "options exchangeInfo": lambda: trader.query("/eapi/v1/exchangeInfo"),
    }
    return {name: error_of(call) for name, call in calls.items()}


class Received:
    """What a stream client's callback got, kept in order, to wait on."""

    def __init__(self) -> None:
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []

    def on_message(self, _client: Any, text: str) -> None:
        self.messages.put(json.loads(text))

    def first(self, wanted: Any, timeout: float = 10) -> dict[str, Any]:
        """The first message, received so far or within `timeout`, that is `wanted`."""
        deadline = time.monotonic() + timeout
        for message in self.seen:
            if wanted(message):
                return message
        while True:
            message = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            self.seen.append(message)
            if wanted(message):
                return message


def streams(trader: Spot, maker: Spot) -> dict[str, Any]:
    """The market stream client (SUBSCRIBE on /ws) to trade, depth and the listen key."""
    listen_key = trader.new_listen_key()["listenKey"]
    result: dict[str, Any] = {"listen_key_length": len(listen_key)}
    result["keepalive"] = trader.renew_listen_key(listen_key)
    received = Received()
    client = SpotWebsocketStreamClient(stream_url=WS, on_message=received.on_message)
    try:
        client.trade(symbol=SYMBOL, id=1)
        client.diff_book_depth(symbol=SYMBOL, speed=100, id=2)
        client.user_data(listen_key=listen_key, id=3)
        answers = [received.first(lambda m, n=n: m.get("id") == n) for n in (1, 2, 3)]
        limit(maker, "SELL", "0.1", "101")
        limit(trader, "BUY", "0.1", "101")
        trade = received.first(lambda m: m.get("e") == "trade")
        diff = received.first(lambda m: m.get("e") == "depthUpdate")
        report = received.first(lambda m: m.get("e") == "executionReport")
        client.list_subscribe(id=4)
        listed = received.first(lambda m: m.get("id") == 4)
    finally:
        client.stop()
    result["subscribed"] = answers
    result["listed"] = listed
    result["trade"] = {key: trade[key] for key in ("e", "s", "p", "q")}
    result["depth"] = {"e": diff["e"], "s": diff["s"], "ordered": diff["U"] <= diff["u"]}
    result["execution_report"] = {key: report[key] for key in ("e", "s", "x", "X")}
    result["close"] = trader.close_listen_key(listen_key)
    return result


def main() -> None:
    trader_account, maker_account = CONFIG["accounts"]
    trader, maker = client_of(trader_account), client_of(maker_account)
    report: dict[str, Any] = {"ping": trader.ping(), "server_time": trader.time()["serverTime"] > 0}
    # Before the market's first trade, and before the week and the month it falls in.
    before_first_trade = int(time.time() * 1000) - 40 * 86_400_000
    trading(trader, maker, report)
    market_data(trader, before_first_trade, report)
    account_endpoints(trader, trader_account, report)
    report["streams"] = streams(trader, maker)
    report["unsupported"] = unsupported(trader)
    print(json.dumps(report, default=str))


main()

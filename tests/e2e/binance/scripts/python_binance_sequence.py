"""python-binance 1.0.37, unmodified, through the sequence of issue 14 (the test that runs
it: tests/e2e/binance/test_python_binance.py).

It runs in its own virtual environment (`make binance-clients`), imports nothing from
the project, takes one JSON argument (server URL, symbol, accounts: trader first, then
the counterparty that makes the market) and prints one JSON report on its last line.
"""

import asyncio
import json
import sys
import time
from typing import Any

from binance import AsyncClient, BinanceSocketManager, Client
from binance.exceptions import BinanceAPIException

CONFIG: dict[str, Any] = json.loads(sys.argv[1])
HTTP: str = CONFIG["http"]
WS: str = HTTP.replace("http://", "ws://")
SYMBOL: str = CONFIG["symbol"]


# The WebSocket API's address is read when a client is made (user_socket goes through it).
Client.WS_API_URL = AsyncClient.WS_API_URL = WS + "/ws-api/v3"


def point_at_server(client: Any) -> Any:
    """README, "python-binance": every base URL to the server."""
    client.API_URL = HTTP + "/api"
    client.MARGIN_API_URL = HTTP + "/sapi"
    client.FUTURES_URL = HTTP + "/fapi"
    client.FUTURES_DATA_URL = HTTP + "/futures/data"
    client.FUTURES_COIN_URL = HTTP + "/dapi"
    client.FUTURES_COIN_DATA_URL = HTTP + "/futures/data"
    client.OPTIONS_URL = HTTP + "/eapi"
    client.PAPI_URL = HTTP + "/papi"
    return client


def client_of(account: dict[str, str]) -> Client:
    return point_at_server(Client(account["key"], account["secret"], ping=False))


def summary(order: dict[str, Any]) -> dict[str, Any]:
    keys = ("orderId", "type", "side", "status", "price", "origQty", "executedQty", "stopPrice")
    return {key: order.get(key) for key in keys}


def error_of(call: Any) -> list[Any]:
    """[exception class, Binance code] of a call that must fail."""
    try:
        call()
    except BinanceAPIException as error:
        return [type(error).__name__, error.code, error.status_code]
    except Exception as error:  # anything else is what the issue forbids
        return [type(error).__name__, None, None]
    return ["none", None, None]


def trading(trader: Client, maker: Client, report: dict[str, Any]) -> None:
    maker.order_limit_sell(symbol=SYMBOL, quantity="5", price="100")
    maker.order_limit_buy(symbol=SYMBOL, quantity="5", price="90")
    orders = {
        "limit": trader.order_limit_buy(symbol=SYMBOL, quantity="0.5", price="100"),
        "market_quantity": trader.order_market_buy(symbol=SYMBOL, quantity="0.3"),
        "market_quote": trader.order_market_buy(symbol=SYMBOL, quoteOrderQty="20"),
        "stop_loss_limit": trader.create_order(
            symbol=SYMBOL,
            side="SELL",
            type="STOP_LOSS_LIMIT",
            timeInForce="GTC",
            quantity="0.1",
            price="84",
            stopPrice="85",
        ),
        "take_profit_limit": trader.create_order(
            symbol=SYMBOL,
            side="SELL",
            type="TAKE_PROFIT_LIMIT",
            timeInForce="GTC",
            quantity="0.1",
            price="121",
            stopPrice="120",
        ),
        "limit_maker": trader.create_order(
            symbol=SYMBOL, side="BUY", type="LIMIT_MAKER", quantity="0.2", price="95"
        ),
    }
    report["orders"] = {name: summary(order) for name, order in orders.items()}
    replaced = trader.cancel_replace_order(
        symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.2", price="96",
        cancelReplaceMode="STOP_ON_FAILURE", cancelOrderId=orders["limit_maker"]["orderId"],
    )  # fmt: skip
    new = replaced["newOrderResponse"]
    report["cancel_replace"] = {
        "results": [replaced["cancelResult"], replaced["newOrderResult"]],
        "cancelled": summary(replaced["cancelResponse"]),
        "new": summary(new),
    }
    report["get_order"] = summary(trader.get_order(symbol=SYMBOL, orderId=new["orderId"]))
    report["open_orders"] = sorted(o["orderId"] for o in trader.get_open_orders(symbol=SYMBOL))
    report["all_orders"] = [summary(o) for o in trader.get_all_orders(symbol=SYMBOL)]
    report["my_trades"] = [[t["orderId"], t["price"], t["qty"]] for t in trader.get_my_trades(symbol=SYMBOL)]
    cancelled = trader.cancel_all_open_orders(symbol=SYMBOL)
    report["cancel_open_orders"] = sorted([o["orderId"], o["status"]] for o in cancelled)


def market_data(trader: Client, before_first_trade: int, report: dict[str, Any]) -> None:
    klines = {}
    for interval in ("1m", "30m", "1w"):
        series = trader.get_historical_klines(SYMBOL, interval, before_first_trade)
        klines[interval] = {"count": len(series), "first_open": series[0][0] if series else None}
    # From a date string, as bots write it: the client first asks for startTime=0.
    series = trader.get_historical_klines(SYMBOL, "1m", "1 day ago UTC")
    klines["1m since 1 day ago"] = {"count": len(series), "first_open": series[0][0] if series else None}
    report["klines"] = klines
    report["avg_price"] = trader.get_avg_price(symbol=SYMBOL)
    window = trader.get_symbol_ticker_window(symbol=SYMBOL, windowSize="1h")
    report["rolling_ticker"] = {key: window[key] for key in ("symbol", "lastPrice", "count", "volume")}


def account_endpoints(trader: Client, report: dict[str, Any]) -> None:
    report["trade_fee"] = trader.get_trade_fee(symbol=SYMBOL)
    report["system_status"] = trader.get_system_status()
    report["account_status"] = trader.get_account_status()


def unsupported(trader: Client) -> dict[str, list[Any]]:
    """Margin, OCO, futures, options, portfolio margin, wallet: each must raise
    BinanceAPIException with a Binance code."""
    calls = {
        "get_margin_account": trader.get_margin_account,
        "get_isolated_margin_account": trader.get_isolated_margin_account,
        "create_margin_order": lambda: trader.create_margin_order(
            symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="1", price="1"
        ),
        "create_oco_order": lambda: trader.create_oco_order(
            symbol=SYMBOL,
            side="SELL",
            quantity="0.1",
            aboveType="LIMIT_MAKER",
            belowType="STOP_LOSS",
            abovePrice="130",
            belowStopPrice="70",
        ),
        "get_open_oco_orders": trader.get_open_oco_orders,
        "futures_exchange_info": trader.futures_exchange_info,
        "futures_account": trader.futures_account,
        "futures_create_order": lambda: trader.futures_create_order(
            symbol=SYMBOL, side="BUY", type="MARKET", quantity="1"
        ),
        "futures_coin_exchange_info": trader.futures_coin_exchange_info,
        "options_info": trader.options_info,
        "papi_get_balance": trader.papi_get_balance,
        "get_all_coins_info": trader.get_all_coins_info,
        "get_sub_account_list": trader.get_sub_account_list,
        "get_deposit_address": lambda: trader.get_deposit_address(coin="USDT"),
    }
    return {name: error_of(call) for name, call in calls.items()}


async def streams(trader_account: dict[str, str], trader: Client, maker: Client) -> dict[str, Any]:
    """The listen key's stream, and the trade and depth streams, while orders trade."""
    client = point_at_server(AsyncClient(trader_account["key"], trader_account["secret"]))
    manager = BinanceSocketManager(client)
    manager.STREAM_URL = WS + "/"
    listen_key = trader.stream_get_listen_key()
    result: dict[str, Any] = {"listen_key_length": len(listen_key), "same_key_again": False}
    result["keepalive"] = trader.stream_keepalive(listen_key)
    sockets = [manager.multiplex_socket([listen_key]), manager.trade_socket(SYMBOL)]
    sockets += [manager.depth_socket(SYMBOL, interval=100), manager.user_socket()]
    user_stream, trade_stream, depth_stream, api_stream = [await socket.__aenter__() for socket in sockets]
    await asyncio.to_thread(cross, trader, maker)
    report = await asyncio.wait_for(_first(user_stream, lambda m: m["data"]["e"] == "executionReport"), 10)
    # user_socket: the same events through the WebSocket API (userDataStream.subscribe).
    by_api = await asyncio.wait_for(_first(api_stream, lambda m: m.get("e") == "executionReport"), 10)
    result["user_socket"] = {key: by_api[key] for key in ("e", "s")}
    trade = await asyncio.wait_for(_first(trade_stream, lambda m: m.get("e") == "trade"), 10)
    diff = await asyncio.wait_for(_first(depth_stream, lambda m: m.get("e") == "depthUpdate"), 10)
    # A socket of python-binance closes once its reader has seen one more message (it
    # waits up to 10 s for one): a last trade while they close.
    closing = [socket.__aexit__(None, None, None) for socket in sockets]
    await asyncio.gather(*closing, asyncio.to_thread(cross, trader, maker, 0.3))
    result["execution_report"] = {
        "stream": report["stream"] == listen_key,
        **{key: report["data"][key] for key in ("e", "s", "x", "X")},
    }
    result["trade"] = {key: trade[key] for key in ("e", "s", "p", "q")}
    result["depth"] = {"e": diff["e"], "s": diff["s"], "ordered": diff["U"] <= diff["u"]}
    result["same_key_again"] = trader.stream_get_listen_key() == listen_key
    result["close"] = trader.stream_close(listen_key)
    await client.close_connection()
    return result


def cross(trader: Client, maker: Client, after: float = 0.0) -> None:
    """A trade of 0.1 between the two (the trader takes the maker's ask)."""
    time.sleep(after)
    maker.order_limit_sell(symbol=SYMBOL, quantity="0.1", price="101")
    trader.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="101")


async def _first(stream: Any, wanted: Any) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = await stream.recv()
        if wanted(message):
            return message


def main() -> None:
    trader_account, maker_account = CONFIG["accounts"]
    trader, maker = client_of(trader_account), client_of(maker_account)
    report: dict[str, Any] = {
        "ping": trader.ping(),
        "server_time": trader.get_server_time()["serverTime"] > 0,
    }
    # Before the market's first trade, and before the week and the month it falls in.
    before_first_trade = int(time.time() * 1000) - 40 * 86_400_000
    trading(trader, maker, report)
    market_data(trader, before_first_trade, report)
    account_endpoints(trader, report)
    report["streams"] = asyncio.run(streams(trader_account, trader, maker))
    report["unsupported"] = unsupported(trader)

    print(json.dumps(report, default=str))


main()

"""What the sequence of issue 14 must show, whichever client library drove it: the
checks shared by test_python_binance.py and test_connector.py (their scripts report in
the same shape: scripts/python_binance_sequence.py, scripts/connector_sequence.py).

The market is fresh: tick 0.01, step 0.001, maker fee 0.1%, taker fee 0.2%. The maker
rests 5 at 100 and 5 at 90; the trader buys 0.5 at 100 (LIMIT), 0.3 (MARKET by
quantity) and 20 USDT worth (MARKET by quote amount: 0.199 with the fee), places a
STOP_LOSS_LIMIT sell (85/84) and a TAKE_PROFIT_LIMIT sell (120/121) that wait, and a
LIMIT_MAKER buy at 95 that rests; replaces that by a LIMIT buy at 96, queries, then
cancels what is open. The streams see one more trade of 0.1.
"""

from typing import Any

MINUTE = 60_000
WEEK = 7 * 86_400_000
MONDAY = 4 * 86_400_000  # the Unix epoch was a Thursday: weeks open on Mondays


def check_klines_from_before_the_first_trade(klines: dict[str, dict[str, Any]]) -> None:
    """Asked from 40 days before the market's first trade, each interval starts with the
    kline that holds the first trade: aligned, and containing the first minute."""
    first_minute = klines["1m"]["first_open"]
    assert klines["1m"]["count"] >= 1
    assert first_minute % MINUTE == 0
    half_hour = klines["30m"]["first_open"]
    assert half_hour % (30 * MINUTE) == 0
    assert half_hour <= first_minute < half_hour + 30 * MINUTE
    week = klines["1w"]["first_open"]
    assert (week - MONDAY) % WEEK == 0
    assert week <= first_minute < week + WEEK
    assert klines["30m"]["count"] >= 1
    assert klines["1w"]["count"] == 1


def check_market_data(report: dict[str, Any]) -> None:
    assert report["avg_price"]["price"] == "100.00000000"
    assert report["avg_price"]["mins"] == 5
    rolling = report["rolling_ticker"]
    assert (rolling["lastPrice"], rolling["count"], rolling["volume"]) == ("100.00000000", 3, "0.99900000")


def check_orders(report: dict[str, Any]) -> None:
    orders = report["orders"]
    fills = [(orders[name]["status"], orders[name]["executedQty"]) for name in ("limit", "market_quantity")]
    assert fills == [("FILLED", "0.50000000"), ("FILLED", "0.30000000")]
    assert (orders["market_quote"]["status"], orders["market_quote"]["executedQty"]) == (
        "FILLED",
        "0.19900000",
    )
    waiting = ("stop_loss_limit", "take_profit_limit", "limit_maker")
    placed_ids = [orders[name]["orderId"] for name in waiting]
    statuses = {o["orderId"]: (o["type"], o["status"], o["stopPrice"]) for o in report["all_orders"]}
    assert [statuses[order_id] for order_id in placed_ids] == [
        ("STOP_LOSS_LIMIT", "NEW", "85.00000000"),
        ("TAKE_PROFIT_LIMIT", "NEW", "120.00000000"),
        ("LIMIT_MAKER", "CANCELED", "0.00000000"),
    ]
    replaced = report["cancel_replace"]
    assert replaced["results"] == ["SUCCESS", "SUCCESS"]
    assert (replaced["cancelled"]["orderId"], replaced["cancelled"]["status"]) == (placed_ids[2], "CANCELED")
    new = replaced["new"]
    assert (new["type"], new["status"], new["price"], new["origQty"]) == (
        "LIMIT",
        "NEW",
        "96.00000000",
        "0.20000000",
    )
    assert report["get_order"]["orderId"] == new["orderId"]
    assert report["get_order"]["status"] == "NEW"
    still_open = sorted([placed_ids[0], placed_ids[1], new["orderId"]])
    assert report["open_orders"] == still_open
    assert len(report["all_orders"]) == 7
    assert [trade[0] for trade in report["my_trades"]] == [
        orders[n]["orderId"] for n in ("limit", "market_quantity", "market_quote")
    ]
    assert report["cancel_open_orders"] == [[order_id, "CANCELED"] for order_id in still_open]


def check_account_endpoints(report: dict[str, Any], symbol: str) -> None:
    assert report["trade_fee"] == [{"symbol": symbol, "makerCommission": "0.001", "takerCommission": "0.002"}]
    assert report["system_status"] == {"status": 0, "msg": "normal"}
    assert report["account_status"] == {"data": "Normal"}


def check_user_data_stream(streams: dict[str, Any], symbol: str) -> None:
    assert streams["listen_key_length"] == 60
    assert streams["keepalive"] == {}
    report = streams["execution_report"]
    assert (report["e"], report["s"], report["x"], report["X"]) == ("executionReport", symbol, "NEW", "NEW")
    assert streams["close"] == {}


def check_market_streams(streams: dict[str, Any], symbol: str) -> None:
    assert streams["trade"] == {"e": "trade", "s": symbol, "p": "100.00000000", "q": "0.10000000"}
    assert streams["depth"] == {"e": "depthUpdate", "s": symbol, "ordered": True}


def check_unsupported(unsupported: dict[str, list[Any]], exception: str) -> None:
    """At least ten endpoints this service does not serve, each raising the library's own
    API exception with Binance's code for it (never KeyError or TypeError)."""
    assert len(unsupported) >= 10
    assert {name: answer for name, answer in unsupported.items() if answer != [exception, -1020, 404]} == {}

"""Shared by the ccxt scenario scripts: client construction, error naming, JSON output.

The scripts run in the ccxt virtual environment (`make ccxt`), not the project's,
so they import nothing from the project. Each takes one JSON argument (server URL,
accounts, symbol) and prints one JSON object on its last line of output.
"""

import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

import ccxt
import ccxt.pro

# ccxt's other API bases (futures, options, portfolio margin): every path under them is
# answered with Binance's error body, so that a call to one raises ccxt's own exception.
OTHER_BASES = {
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiData": "/futures/data",
    "dapiPublic": "/dapi/v1",
    "dapiPrivate": "/dapi/v1",
    "eapiPublic": "/eapi/v1",
    "eapiPrivate": "/eapi/v1",
    "papi": "/papi/v1",
}


def options(config: dict[str, Any], account: dict[str, str]) -> dict[str, Any]:
    """The client options of binance-compat.md §3.2 (the README shows the same), with
    `sapi` for fetch_status and fetch_trading_fees."""
    http = config["http"]
    base = http + "/api/v3"
    ws = http.replace("http://", "ws://")
    return {
        "apiKey": account["key"],
        "secret": account["secret"],
        "enableRateLimit": False,
        "urls": {
            "api": {
                "public": base,
                "private": base,
                "sapi": http + "/sapi/v1",
                **{name: http + path for name, path in OTHER_BASES.items()},
                "ws": {"spot": ws + "/ws", "ws-api": {"spot": ws + "/ws-api/v3"}},
            }
        },
        "options": {
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
            "fetchOpenOrders": {"warnWithoutSymbol": False},
        },
    }


def exchange(config: dict[str, Any], account: dict[str, str]) -> Any:
    return ccxt.binance(options(config, account))


def pro_exchange(config: dict[str, Any], account: dict[str, str]) -> Any:
    return ccxt.pro.binance(options(config, account))


def error_of(call: Callable[[], Any]) -> str:
    """The ccxt exception class a call raises ("none" if it succeeds)."""
    try:
        call()
    except ccxt.BaseError as error:
        return type(error).__name__
    return "none"


async def async_error_of(call: Callable[[], Any]) -> str:
    try:
        await call()
    except ccxt.BaseError as error:
        return type(error).__name__
    return "none"


def order_summary(order: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "clientOrderId", "type", "side", "status", "price", "amount", "filled", "remaining")
    summary = {key: order.get(key) for key in keys}
    summary.update(
        cost=order.get("cost"),
        postOnly=order.get("postOnly"),
        timeInForce=order.get("timeInForce"),
        triggerPrice=order.get("triggerPrice"),
        takeProfitPrice=order.get("takeProfitPrice"),
        average=order.get("average"),
        trades=len(order.get("trades") or []),
        fee=order.get("fee"),
        raw_type=(order.get("info") or {}).get("type"),
        raw_status=(order.get("info") or {}).get("status"),
    )
    return summary


def run(scenario: Callable[[dict[str, Any]], Any]) -> None:
    config = json.loads(sys.argv[1])
    result = scenario(config)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    print(json.dumps(result, default=str))

"""A gateway started while the cluster trades: its depth, 24-hour ticker and candles
agree with those of a gateway that ran throughout. Batches keep arriving while a new
gateway loads its market data from the store; each must reach its market data exactly
once (before, a trade committed meanwhile could be missed or counted twice, and the
depth missed the book changes of those batches)."""

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.cluster.harness import Cluster, Gateway
from tests.cluster.load import Load, fund

USERS = ["gs-a", "gs-b", "gs-c", "gs-d"]
MARKET, SYMBOL = "BTC-USDT", "BTCUSDT"
# What the Binance 24-hour ticker says of the trades themselves (not of the clock).
TRADED = (
    "openPrice",
    "highPrice",
    "lowPrice",
    "lastPrice",
    "volume",
    "quoteVolume",
    "count",
    "firstId",
    "lastId",
)


def _market_data(gateway: Gateway) -> dict[str, Any]:
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        native = f"/api/v1/markets/{MARKET}"
        ticker = http.get(f"{native}/ticker").json()["data"]
        binance = http.get("/api/v3/ticker/24hr", params={"symbol": SYMBOL}).json()
        return {
            "depth": http.get(f"{native}/depth", params={"limit": 1000}).json()["data"],
            "ticker": {key: value for key, value in ticker.items() if not key.endswith("_time")},
            "binance ticker": {key: binance[key] for key in TRADED},
            "klines": http.get("/api/v3/klines", params={"symbol": SYMBOL, "interval": "1m"}).json(),
        }


def test_a_gateway_started_under_load_shows_the_market_data_of_one_that_ran_throughout(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(cores=1, gateways=1)
    first = cluster.gateways[0]
    fund(first, USERS)
    with Load([first], USERS, threads_per_user=2) as load:
        time.sleep(1.0)
        second = cluster.add_gateway()  # loads its market data while orders trade
        time.sleep(1.0)
    assert not load.outcomes.violations
    assert len(load.outcomes.committed) > 100
    deadline = time.monotonic() + 10
    while True:  # the last batches reach both gateways
        seen = _market_data(first), _market_data(second)
        if seen[0] == seen[1] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert seen[0]["ticker"]["trades"] > 0
    assert seen[1] == seen[0]

"""Binance's order count per account holds across gateways (binance/ordercounts.py): an
account that spreads its orders over two gateways gets the limit once, not once per
gateway. Two gateways of their own, with a small limit, join the shared cluster."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.harness import Cluster, Gateway
from tests.e2e.binance.conftest import Binance, SignedClient, binance_error
from tests.e2e.binance.test_rest import limit_order
from tests.e2e.client import QUOTE, Api

# Three orders a day per account; nothing else in the way.
LIMITED = {
    "TRADE_ENGINE_RATE_LIMITS_ENABLED": "true",
    "TRADE_ENGINE_RATE_LIMITS_PER_IP_PER_SECOND": "100000",
    "TRADE_ENGINE_RATE_LIMITS_PER_IP_BURST": "100000",
    "TRADE_ENGINE_RATE_LIMITS_PER_USER_PER_SECOND": "100000",
    "TRADE_ENGINE_RATE_LIMITS_PER_USER_BURST": "100000",
    "TRADE_ENGINE_BINANCE_ORDERS_LIMIT": "3",
    "TRADE_ENGINE_BINANCE_ORDERS_WINDOW_SECONDS": "86400",
}


@pytest.fixture
def limited_gateways(shared_cluster: Cluster, tmp_path: Path) -> Iterator[list[Api]]:
    gateways = [
        Gateway(shared_cluster.database_url, tmp_path / f"limited{i}", **shared_cluster.settings, **LIMITED)
        for i in range(2)
    ]
    apis: list[Api] = []
    try:
        for gateway in gateways:
            gateway.workdir.mkdir(parents=True)
            gateway.start(wait=False)
        for gateway in gateways:
            gateway.wait_ready()
            apis.append(Api(gateway))
        yield apis
    finally:
        for api in apis:
            api.close()
        for gateway in gateways:
            gateway.kill()


def test_an_account_spreading_orders_over_two_gateways_gets_its_limit_once(
    gateway_apis: tuple[Api, Api], limited_gateways: list[Api]
) -> None:
    setup = Binance(gateway_apis[0])
    _native, market_id, _ = setup.market()
    account = setup.account("spread", {QUOTE: "1000"})
    clients = [SignedClient(Binance(api), account) for api in limited_gateways]
    answers = [
        clients[i % 2].request("POST", "order", body=limit_order(market_id, "BUY", "0.5", str(10 + i)))
        for i in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200], answers[-1].text
    # Each gateway counts the orders the other placed: the count goes on across them.
    assert [a.headers["X-MBX-ORDER-COUNT-1D"] for a in answers] == ["1", "2", "3"]
    refused = clients[1].request("POST", "order", body=limit_order(market_id, "BUY", "0.5", "13"))
    binance_error(refused, 429, -1015, "Too many new orders; current limit is 3 orders per 1 DAY.")
    counts = clients[0].request("GET", "rateLimit/order").json()
    assert [c["count"] for c in counts] == [3, 3]  # (the refused one counts where it was refused)

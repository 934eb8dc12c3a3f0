"""What every failover must leave true, checked through a gateway and in the database."""

import asyncio
import os
import subprocess
import sys
import time

import asyncpg
import httpx

from tests.cluster.harness import Cluster
from tests.cluster.load import Outcomes
from trade_engine.domain.lifecycle import OrderStatus

# Every state an order can be found in (self-trade prevention expires some in the match).
STATUSES = {str(status) for status in OrderStatus}


def found(
    cluster: Cluster, user: str, coid: str, timeout: float = 15.0, http: httpx.Client | None = None
) -> dict[str, object]:
    """The order with client order id `coid`, looked up through a gateway (over `http`,
    a client of the last gateway kept alive across lookups, if given)."""
    gateway = cluster.gateways[-1]
    if http is None:
        with httpx.Client(base_url=gateway.url, timeout=30) as own:
            return found(cluster, user, coid, timeout, own)
    deadline = time.monotonic() + timeout
    while True:
        response = http.get(f"/api/v1/orders/by-client-id/{coid}", headers=gateway.headers(user))
        if response.status_code == 200:
            data: dict[str, object] = response.json()["data"]
            return data
        assert time.monotonic() < deadline, f"order {coid} of {user} not found: {response.text}"
        time.sleep(0.2)


def check_answers(cluster: Cluster, outcomes: Outcomes) -> None:
    """Every request got one of the four outcomes; every acknowledged order is there with
    its terms; every OUTCOME_UNKNOWN order is found by its client order id. One
    connection for all the lookups: a new one per order took most of a test's time."""
    assert not outcomes.violations, outcomes.violations[:10]
    assert outcomes.committed, "no order was committed"
    with httpx.Client(base_url=cluster.gateways[-1].url, timeout=30) as http:
        for coid, (user, view) in outcomes.committed.items():
            order = found(cluster, user, coid, http=http)
            assert order["order_id"] == view["order_id"], (order, view)
            for term in ("market", "side", "price", "quantity"):
                assert order[term] == view[term], (term, order, view)
        for coid, user in outcomes.unknown.items():
            order = found(cluster, user, coid, http=http)
            assert order["status"] in STATUSES, order


async def _store_facts(url: str) -> tuple[list[tuple[str, int]], int, int]:
    connection = await asyncpg.connect(url)
    try:
        twice = await connection.fetch(
            "SELECT client_order_id, count(*) FROM orders WHERE client_order_id IS NOT NULL"
            " GROUP BY client_order_id HAVING count(*) > 1"
        )
        epochs = await connection.fetch("SELECT DISTINCT epoch FROM cluster_fence")
        # Time never goes backwards, across takeovers too: orders in id order (the order
        # they were applied in) have non-decreasing times.
        backwards = await connection.fetchval(
            "SELECT count(*) FROM (SELECT created_ts, lag(created_ts) OVER (ORDER BY id) AS before"
            " FROM orders) AS o WHERE created_ts < before"
        )
        assert backwards == 0, f"{backwards} orders stamped before the order applied ahead of them"
        trades = await connection.fetchval(
            "SELECT count(*) FROM (SELECT maker_order_id, taker_order_id, seq, market FROM trades"
            " GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) AS twice"
        )
    finally:
        await connection.close()
    assert len(epochs) == 1, epochs
    return [(row[0], row[1]) for row in twice], int(epochs[0][0]), int(trades)


def check_after_takeover(cluster: Cluster) -> None:
    """After each takeover, the load still running: the store verifies on one snapshot
    (conservation, holds, the ledger: the operators' verification, through a gateway),
    and no order and no trade is there twice."""
    gateway = cluster.gateways[0]
    verified = httpx.post(
        f"{gateway.url}/api/v1/admin/ledger/verifications",
        headers=gateway.headers("checker", "admin"),
        timeout=60,
    )
    assert verified.status_code == 200, verified.text
    result = verified.json()["data"]
    assert result["outcome"] == "CONSISTENT", result
    twice, _, duplicated_trades = asyncio.run(_store_facts(cluster.database_url))
    assert twice == [], twice
    assert duplicated_trades == 0


def check_store(cluster: Cluster) -> int:
    """Stop the cores (the last leader drains), then: no order applied twice, no trade
    twice, and `trade-engine verify` holds. The epoch the store ends at."""
    leader = cluster.leader()
    for core in cluster.cores:
        if core is not leader:
            core.kill()
    assert leader.terminate(timeout=60) == 0, leader.log_tail()
    twice, epoch, duplicated_trades = asyncio.run(_store_facts(cluster.database_url))
    assert twice == [], twice
    assert duplicated_trades == 0
    verified = subprocess.run(
        [sys.executable, "-m", "trade_engine.cli", "verify"],
        env={**os.environ, "TRADE_ENGINE_DATABASE_URL": cluster.database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "store is consistent" in verified.stdout
    return epoch

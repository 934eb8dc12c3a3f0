"""A takeover while the former leader's tables trail its journal: the new leader writes
the rows the tables lack, batches together, before it takes orders, publishing again
only what its predecessor may not have published; every order acknowledged before the
kill is there once, with its terms, and the store verifies.

The tables are held back by a transaction of the test's own that locks the row of the
tables' position (`sequencer_state`), which every write of the tables updates: the
leader's journal appends (what acknowledges an order) go on, its tables writes wait."""

import json
import time
from collections.abc import Callable

import httpx

from tests.cluster.checks import check_after_takeover, check_store, found
from tests.cluster.harness import Cluster, Core, Gateway, tables_held
from tests.cluster.load import fund

USERS = ["tail-a"]
ORDERS = 40


def _place(gateway: Gateway, user: str, coid: str) -> dict[str, object]:
    """Place a resting buy through `gateway`: the order as acknowledged."""
    body = {"market": "BTC-USDT", "side": "BUY", "price": "100.00", "quantity": "0.1"}
    body["client_order_id"] = coid
    headers = gateway.headers(user)
    response = httpx.post(f"{gateway.url}/api/v1/orders", json=body, headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    order: dict[str, object] = response.json()["data"]
    return order


def _tail_written(core: Core) -> dict[str, object]:
    """The new leader's log line on the tail it wrote."""
    lines = [json.loads(line) for line in core.log_path.read_text().splitlines() if line.startswith("{")]
    written = [line for line in lines if line.get("message") == "the tables' tail written"]
    assert len(written) == 1, core.log_tail()
    line: dict[str, object] = written[0]
    return line


def test_a_new_leader_writes_the_tail_its_tables_lack_together(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(nodes=1, cores=2, gateways=1)
    gateway = cluster.gateways[0]
    fund(gateway, USERS)
    leader = cluster.leader()
    standby = next(core for core in cluster.cores if core is not leader)
    placed: dict[str, dict[str, object]] = {}
    with tables_held(cluster.database_url):
        # The leader's next write of the tables takes this order's batch (and any still
        # waiting) and waits for the lock: the orders after it are the tail.
        _place(gateway, USERS[0], "first")
        time.sleep(0.5)
        for n in range(ORDERS):  # one at a time: a journal batch each
            placed[f"tail-{n}"] = _place(gateway, USERS[0], f"tail-{n}")
        leader.kill()
    # Released: the former leader's write under way may commit now, before the takeover
    # can take the epoch; the orders after it are the new leader's to write.
    standby.wait_role("leader", timeout=60)  # the tail is written before it leads
    written = _tail_written(standby)
    batches = written["batches"]
    assert isinstance(batches, int)
    assert batches >= ORDERS, written
    assert written["writes"] == 1, written
    # The former leader published every batch it acknowledged: only the last one, whose
    # per-market and per-user messages may be missing, goes again.
    assert written["published_again"] == 1, written
    for coid, view in placed.items():
        order = found(cluster, USERS[0], coid)
        for term in ("order_id", "market", "side", "price", "quantity", "status"):
            assert order[term] == view[term], (term, order, view)
    _place(gateway, USERS[0], "after")  # the new leader takes orders
    check_after_takeover(cluster)
    check_store(cluster)

"""A gateway never hangs on a core that does not keep up: when the command stream is
full it answers 503 BUSY with `Retry-After` at once, and the commands already stored
are applied when the core takes them."""

import threading
import time
from collections.abc import Callable

import httpx

from tests.cluster.harness import Cluster, wait_stream_empty
from tests.cluster.load import fund

USERS = ["bp-a"]
STREAM_LIMIT = 3


def test_a_full_command_stream_is_answered_busy_within_a_second(
    make_cluster: Callable[..., Cluster],
) -> None:
    # A lease far longer than the pause: the paused core still leads, so the gateways
    # keep publishing and the commands pile up in the stream, which the core does not drain.
    cluster = make_cluster(
        cores=1,
        gateways=1,
        TRADE_ENGINE_CLUSTER_LEASE_SECONDS="30",
        TRADE_ENGINE_CLUSTER_MAX_PENDING_COMMANDS=str(STREAM_LIMIT),
    )
    core, gateway = cluster.cores[0], cluster.gateways[0]
    fund(gateway, USERS)
    headers = gateway.headers(USERS[0])
    wait_stream_empty(cluster.nats)  # the deposits trimmed: the limit counts only what comes next

    def place(index: int) -> httpx.Response:
        body = {"market": "BTC-USDT", "side": "BUY", "price": "100.00", "quantity": "0.1"}
        body["client_order_id"] = f"bp-{index}"
        return httpx.post(f"{gateway.url}/api/v1/orders", json=body, headers=headers, timeout=30)

    stored: dict[int, httpx.Response] = {}

    def place_stored(index: int) -> None:
        stored[index] = place(index)

    core.pause()
    try:
        waiting = [threading.Thread(target=place_stored, args=(n,)) for n in range(STREAM_LIMIT)]
        for thread in waiting:
            thread.start()
        time.sleep(0.5)  # they are in the stream, waiting for their outcomes
        assert not stored, "answered while the core was paused"
        for n in range(STREAM_LIMIT, STREAM_LIMIT + 3):
            began = time.monotonic()
            refused = place(n)
            assert time.monotonic() - began < 1.0, "answered within a second"
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "BUSY", refused.text
            assert refused.json()["error"]["message"] == "the command stream is full; retry shortly"
            assert refused.headers["retry-after"] == "1"
    finally:
        core.resume()
    for thread in waiting:
        thread.join(timeout=30)
    assert sorted(stored) == list(range(STREAM_LIMIT))
    assert {n: r.status_code for n, r in stored.items()} == dict.fromkeys(range(STREAM_LIMIT), 201)
    # The core trims what it applied (every second): a client that honours
    # Retry-After gets through.
    for _ in range(5):
        retried = place(100)
        if retried.status_code != 503:
            break
        time.sleep(float(retried.headers["retry-after"]))
    assert retried.status_code == 201, retried.text

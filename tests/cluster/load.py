"""Orders under load through a cluster's gateways, every answer classified.

Each client thread places valid limit orders (with unique client order ids) around one
price through the gateways in turn, so orders trade with each other. Valid, because an
order the core refuses leaves nothing to find: had its answer been lost in a crash
(OUTCOME_UNKNOWN), no lookup could show its final state. Every answer must be one
of the four outcomes a cluster gives: committed (201), rejected (4xx), unavailable (503
BUSY, UNAVAILABLE or NOT_READY: the order was not taken) or 503 OUTCOME_UNKNOWN;
anything else (a 500, a hang, a dropped connection) is recorded as a violation.
"""

import random
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.e2e.server import Server

UNAVAILABLE = {"BUSY", "UNAVAILABLE", "NOT_READY"}


@dataclass
class Outcomes:
    lock: threading.Lock = field(default_factory=threading.Lock)
    committed: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # coid -> (user, view)
    rejected: dict[str, str] = field(default_factory=dict)  # coid -> code
    unavailable: dict[str, str] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)  # coid -> user
    violations: list[str] = field(default_factory=list)

    def record(self, user: str, coid: str, response: httpx.Response) -> None:
        with self.lock:
            if response.status_code == 201:
                self.committed[coid] = (user, response.json()["data"])
                return
            try:
                code = str(response.json()["error"]["code"])
            except (ValueError, KeyError, TypeError):
                self.violations.append(f"{response.status_code}: {response.text[:200]}")
                return
            if 400 <= response.status_code < 500:
                self.rejected[coid] = code
            elif response.status_code == 503 and code == "OUTCOME_UNKNOWN":
                details = response.json()["error"]["details"] or {}
                if details.get("client_order_id") != coid:
                    self.violations.append(
                        f"OUTCOME_UNKNOWN without the client order id: {response.text[:200]}"
                    )
                self.unknown[coid] = user
            elif response.status_code == 503 and code in UNAVAILABLE:
                if not response.headers.get("retry-after"):
                    self.violations.append(f"503 {code} without Retry-After")
                self.unavailable[coid] = code
            else:
                self.violations.append(f"{response.status_code} {code}: {response.text[:200]}")


def fund(gateway: Server, users: list[str]) -> None:
    admin = gateway.headers("load-ops", "admin")
    for user in users:
        for asset, value in (("USDT", "100000000"), ("BTC", "10000")):
            body = {"user_id": user, "asset": asset, "amount": value, "reference": f"fund-{user}-{asset}"}
            response = httpx.post(
                f"{gateway.url}/api/v1/admin/deposits", json=body, headers=admin, timeout=30
            )
            assert response.status_code == 201, response.text


def client_loop(
    gateways: list[Server], user: str, seed: int, outcomes: Outcomes, stop: threading.Event
) -> None:
    rng = random.Random(seed)
    clients = [httpx.Client(base_url=g.url, timeout=30.0, headers=g.headers(user)) for g in gateways]
    try:
        turn = 0
        while not stop.is_set():
            turn += 1
            http = clients[turn % len(clients)]
            coid = uuid.uuid4().hex[:24]
            body = {
                "market": "BTC-USDT",
                "side": rng.choice(("BUY", "SELL")),
                "price": f"{30_000 + rng.randint(-5, 5)}.00",
                "quantity": f"0.{rng.randint(4, 50):05d}",  # at least the 1 USDT minimum notional
                "client_order_id": coid,
            }
            try:
                response = http.post("/api/v1/orders", json=body)
            except httpx.HTTPError as error:
                with outcomes.lock:
                    outcomes.violations.append(f"no answer: {error!r}")
                continue
            outcomes.record(user, coid, response)
    finally:
        for client in clients:
            client.close()


class Load:
    def __init__(self, gateways: Sequence[Server], users: list[str], threads_per_user: int = 1) -> None:
        self.outcomes = Outcomes()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=client_loop,
                args=(gateways, user, seed * 31 + n, self.outcomes, self._stop),
                daemon=True,
            )
            for seed, user in enumerate(users)
            for n in range(threads_per_user)
        ]

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

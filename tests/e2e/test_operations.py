"""Operations end to end: readiness during recovery, graceful shutdown, metrics, request ids.

Readiness is made deterministic by holding a lock that recovery must wait for: an
exclusive lock on the SQLite file, or an exclusive lock on the `markets` table in
PostgreSQL. While it is held the server is up but not recovered; once released, it
becomes ready.
"""

import asyncio
import json
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PG_ADMIN_URL
from tests.e2e.client import API, QUOTE, Api, error, ok
from tests.e2e.server import Server, free_port
from tests.e2e.ws_client import WsClient
from tests.postgres_locks import held

TERMINAL = {"FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH"}


# -- readiness -----------------------------------------------------------------------------------


@contextmanager
def recovery_blocked(database_url: str, server: Server) -> Iterator[None]:
    """Hold a lock that the server's recovery has to wait for."""
    if database_url.startswith("sqlite"):
        # A fresh file, locked exclusively: the server cannot even read it (SQLite's busy
        # timeout is 5 s; the lock is released as soon as the checks are done).
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    # PostgreSQL waits for a lock as long as it takes: migrate first, then lock `markets`.
    subprocess.run(
        [sys.executable, "-m", "trade_engine.cli", "migrate"],
        env=server.env,
        check=True,
        cwd=server.workdir,
        capture_output=True,
    )
    with held(database_url, "LOCK TABLE markets IN ACCESS EXCLUSIVE MODE"):
        yield


def test_ready_only_after_recovery(database_url: str, tmp_path: Any) -> None:
    server = Server(database_url, tmp_path)
    headers = server.headers("early-bird")
    order = {"market": "BTC-USDT", "side": "BUY", "price": "100.00", "quantity": "0.01000"}
    try:
        with recovery_blocked(database_url, server), httpx.Client(base_url=server.url, timeout=10) as http:
            server.start(wait=False)
            deadline = time.monotonic() + 60
            while True:  # from the moment the process starts: up, answering, not ready
                assert server.process is not None
                assert server.process.poll() is None, server.log_tail()
                assert time.monotonic() < deadline, server.log_tail()
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.02)
            assert http.get("/health").json() == {"status": "ok"}
            response = http.get("/ready")
            assert response.status_code == 503
            assert response.json() == {
                "ready": False,
                "recovered": False,
                "database": False,
                "accepting_orders": False,
            }
            not_ready = http.post(f"{API}/orders", json=order, headers=headers)
            error(not_ready, 503, "NOT_READY")
            assert not_ready.headers["Retry-After"] == "1"
            error(http.get(f"{API}/orders", headers=headers), 503, "NOT_READY")
            error(http.get(f"{API}/markets"), 503, "NOT_READY")
            error(http.get(f"{API}/markets/BTC-USDT/depth"), 503, "NOT_READY")
            deposit = {"user_id": "early-bird", "asset": QUOTE, "amount": "1"}
            admin = server.headers("ops", "admin")
            error(http.post(f"{API}/admin/deposits", json=deposit, headers=admin), 503, "NOT_READY")
            assert http.get("/metrics").status_code == 200
            error(http.get(f"{API}/orders"), 401, "UNAUTHENTICATED")  # auth still comes first
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.get("/ready").json() == {
                "ready": True,
                "recovered": True,
                "database": True,
                "accepting_orders": True,
            }
            body = {"user_id": "early-bird", "asset": QUOTE, "amount": "100"}
            ok(http.post(f"{API}/admin/deposits", json=body, headers=server.headers("ops", "admin")), 201)
            assert ok(http.post(f"{API}/orders", json=order, headers=headers), 201)["status"] == "NEW"
    finally:
        server.kill()


# -- graceful shutdown -----------------------------------------------------------------------------

CLIENTS = 8
ACKNOWLEDGED_BEFORE_SIGTERM = 300


def test_sigterm_drains_answers_everything_in_flight_and_loses_nothing_acknowledged(server: Server) -> None:
    """SIGTERM under load: /ready turns false at once, new requests get 503 (with
    `Connection: close`), every request sent gets an answer (a client may find the port
    closed, but never a connection dropped under a request), WebSockets get 1001, the
    queued commands are committed and the process exits with status 0."""
    admin = server.headers("drain-ops", "admin")
    users = [f"drain-{index}" for index in range(CLIENTS)]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for user in users:
            for asset, value in ((QUOTE, "10000000"), ("BTC", "1000")):
                ok(
                    http.post(
                        f"{API}/admin/deposits",
                        json={"user_id": user, "asset": asset, "amount": value},
                        headers=admin,
                    ),
                    201,
                )
    acknowledged: dict[int, tuple[str, dict[str, Any]]] = {}
    unexpected: list[str] = []
    refused: list[httpx.Response] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(user: str, seed: int) -> None:
        rng = random.Random(seed)
        headers = server.headers(user)
        with httpx.Client(base_url=server.url, timeout=60) as http:
            while not stop.is_set():
                body = {
                    "market": "BTC-USDT",
                    "side": rng.choice(("BUY", "SELL")),
                    "price": f"{30_000 + rng.randint(-3, 3)}.00",
                    "quantity": f"0.{rng.randint(100, 990):05d}",  # 30..300 USDT: above the minimum
                    "client_order_id": uuid.uuid4().hex,
                }
                try:
                    response = http.post(f"{API}/orders", json=body, headers=headers)
                except httpx.ConnectError:
                    return  # the server stopped listening: nothing was sent
                except httpx.TransportError as lost:
                    unexpected.append(f"a request went unanswered: {lost!r}")
                    return
                if response.status_code == 201:
                    with lock:
                        acknowledged[response.json()["data"]["order_id"]] = (user, response.json()["data"])
                elif response.status_code == 503:
                    refused.append(response)  # draining: a client honouring Retry-After waits
                    return
                else:
                    unexpected.append(response.text)
                    return

    threads = [
        threading.Thread(target=client, args=(user, index), daemon=True) for index, user in enumerate(users)
    ]
    with WsClient(server) as watcher:
        watcher.subscribe("trades:BTC-USDT")
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while (
            len(acknowledged) < ACKNOWLEDGED_BEFORE_SIGTERM and time.monotonic() < deadline and not unexpected
        ):
            time.sleep(0.01)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        with httpx.Client(base_url=server.url, timeout=10) as probe:
            ready = probe.get("/ready")
            for _ in range(100):  # the signal reaches the loop within a tick
                if ready.status_code == 503:
                    break
                ready = probe.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["accepting_orders"] is False
        assert watcher.closed(timeout=10).code == 1001
        assert server.process.wait(timeout=server.config.http.shutdown_timeout_seconds + 10) == 0
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert unexpected == []
    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_SIGTERM
    assert refused, "no request came while draining"
    for response in refused:
        error(response, 503, "UNAVAILABLE")
        assert response.headers["Retry-After"] == "1"
        assert response.headers["Connection"] == "close"
    log = server.log_path.read_text()
    assert "queued commands committed" in log
    assert '"level":"error"' not in log

    server.start()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for order_id, (user, view) in acknowledged.items():
            stored = ok(http.get(f"{API}/orders/{order_id}", headers=server.headers(user)))
            for key in ("market", "side", "type", "price", "quantity", "client_order_id", "created_at"):
                assert stored[key] == view[key], (order_id, key)
            assert Decimal(stored["executed_quantity"]) >= Decimal(view["executed_quantity"])
            if view["status"] in TERMINAL:
                assert stored["status"] == view["status"]
        per_user: dict[str, int] = {}
        for user, _ in acknowledged.values():
            per_user[user] = per_user.get(user, 0) + 1
        for user, count in per_user.items():
            assert (
                ok(http.get(f"{API}/orders", params={"limit": 1}, headers=server.headers(user)))["total"]
                >= count
            )


# -- metrics -----------------------------------------------------------------------------------------


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """{sample name: [(labels, value)]} of a Prometheus text exposition."""
    result: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            result.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return result


def value(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    matching = [v for sample_labels, v in found.get(name, []) if labels.items() <= sample_labels.items()]
    assert len(matching) == 1, (name, labels, found.get(name))
    return matching[0]


def test_metrics_expose_orders_trades_latency_and_queues(api: Api) -> None:
    market = api.add_market()
    maker, taker = api.user("maker"), api.user("taker")
    api.deposit(maker, market.split("-", maxsplit=1)[0], "10")
    api.deposit(taker, QUOTE, "1000")
    api.order(maker, market=market, side="SELL", price="10.00", quantity="1.000")
    api.order(maker, market=market, side="SELL", price="11.00", quantity="1.000")
    api.order(taker, market=market, side="BUY", price="11.00", quantity="1.500")  # two trades
    error(
        api.place(taker, market=market, side="BUY", price="11.00", quantity="1.000", post_only=True),
        422,
        "POST_ONLY_WOULD_TAKE",
    )

    response = api.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        "trade_engine_orders_total",
        "trade_engine_trades_total",
        "trade_engine_matching_seconds",
        "trade_engine_api_request_seconds",
        "trade_engine_sequencer_queue_depth",
        "trade_engine_batch_size",
        "trade_engine_settlement_lag_seconds",
        "trade_engine_queue_wait_seconds",
        "trade_engine_projection_lag_commands",
        "trade_engine_gc_pause_seconds",
        "trade_engine_websocket_flush_wait_seconds",
        "trade_engine_command_stage_seconds_total",
        "trade_engine_core_round_trip_seconds",
        "trade_engine_api_send_seconds",
    ):
        assert re.search(rf"^# TYPE {name} ", text, re.MULTILINE), name
    found = samples(text)
    assert value(found, "trade_engine_orders_total", market=market, outcome="accepted") == 3
    assert value(found, "trade_engine_orders_total", market=market, outcome="rejected") == 1
    assert value(found, "trade_engine_trades_total", market=market) == 2
    assert value(found, "trade_engine_api_request_seconds_count", route=f"{API}/orders", method="POST") >= 4
    assert value(found, "trade_engine_matching_seconds_count") >= 3
    assert value(found, "trade_engine_batch_size_count") >= 3
    assert value(found, "trade_engine_sequencer_queue_depth") >= 0
    assert value(found, "trade_engine_settlement_lag_seconds") >= 0
    assert value(found, "trade_engine_queue_wait_seconds_count") >= 3
    assert value(found, "trade_engine_projection_lag_commands") >= 0
    # Where one command's time goes: the time inside the store is a part of the commit,
    # and SQLite tells its sync apart (tests/integration/test_command_stages.py: each
    # stage a part of the core's round trip).
    stages = {
        labels["stage"]: seconds for labels, seconds in found["trade_engine_command_stage_seconds_total"]
    }
    assert 0 < stages["store"] <= stages["commit"]
    assert stages["apply"] > 0
    if api.server.config.database.url.startswith("sqlite"):
        assert 0 < stages["sync"] <= stages["store"]
    else:  # PostgreSQL commits inside the append's one statement
        assert stages["sync"] == 0
    assert stages["queue"] >= 0
    assert stages["previous_commit"] >= 0
    assert value(found, "trade_engine_core_round_trip_seconds_count") >= 4
    assert value(found, "trade_engine_api_send_seconds_count") >= 4
    assert value(found, "trade_engine_ready") == 1
    # The process has allocated enough since it started for the collector to have run.
    assert value(found, "trade_engine_gc_pause_seconds_count", generation="0") >= 1


# -- request ids ---------------------------------------------------------------------------------------


GENERATED = r"[0-9a-f-]{8,64}"


def test_the_cli_deposits_retry_safely_and_says_plainly_when_the_service_is_unreachable(api: Api) -> None:
    """Once a deposit without `--reference` could not be retried safely after a lost
    answer, and an unreachable service printed a traceback."""
    server = api.server

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "trade_engine.cli", *args]
        return subprocess.run(
            command,
            check=False,
            env=server.env,
            cwd=server.workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )

    user = api.user("cli-depositor")
    deposit = ("deposit", "--user", user.id, "--asset", QUOTE, "--amount", "5")
    made = cli(*deposit, "--url", server.url)
    assert made.returncode == 0, made.stderr
    first = json.loads(made.stdout)["data"]
    assert first["reference"].startswith("cli-")
    assert first["replayed"] is False
    again = cli(*deposit, "--url", server.url, "--reference", first["reference"])
    assert json.loads(again.stdout)["data"]["replayed"] is True
    assert api.balances(user)[QUOTE]["available"] == "5.00000000"  # credited once

    unreachable = cli(*deposit, "--url", f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 1
    assert "cannot reach the service at http://127.0.0.1:" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


def test_every_response_carries_a_request_id(api: Api) -> None:
    first = api.http.get(f"{API}/markets")
    second = api.http.get(f"{API}/markets")
    for response in (first, second):
        assert re.fullmatch(GENERATED, response.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    assert api.http.get("/health", headers={"X-Request-ID": "probe-1"}).headers["X-Request-ID"] == "probe-1"
    refused = api.http.get(f"{API}/balances", headers={"X-Request-ID": "trace-abc.123"})
    error(refused, 401, "UNAUTHENTICATED")
    assert refused.headers["X-Request-ID"] == "trace-abc.123"
    # Too long or not ASCII: replaced by a generated id.
    for given in ("x" * 65, "caf\xe9"):
        answer = api.http.get("/health", headers={b"X-Request-ID": given.encode("latin-1")})
        assert re.fullmatch(GENERATED, answer.headers["X-Request-ID"])


def log_lines(server: Server) -> list[dict[str, Any]]:
    lines = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


async def set_connections(database: str, allowed: bool) -> None:
    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await connection.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database
            )
    finally:
        await connection.close()


def test_database_outage_answers_503_and_logs_the_request_id(postgres_url: str, tmp_path: Any) -> None:
    """Reads while PostgreSQL refuses connections: 503 UNAVAILABLE (once a 500), and the
    warning logged for each carries the request id the response names."""
    server = Server(postgres_url, tmp_path)
    server.start()
    database = postgres_url.rsplit("/", 1)[1]
    headers = server.headers("outage-reader")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert ok(http.get(f"{API}/orders", headers=headers))["total"] == 0
            asyncio.run(set_connections(database, allowed=False))
            given = f"outage-{uuid.uuid4().hex[:8]}"
            # First the pool's broken connection, then a refused new one.
            lost = http.get(f"{API}/orders", headers={**headers, "X-Request-ID": given})
            refused = http.get(f"{API}/fills", headers=headers)
            for response in (lost, refused):
                error(response, 503, "UNAVAILABLE")
                assert response.headers["Retry-After"] == "1"
            assert lost.headers["X-Request-ID"] == given
            ready = http.get("/ready")
            assert (ready.status_code, ready.json()["database"]) == (503, False)
        logged = {
            line.get("request_id"): line
            for line in log_lines(server)
            if line["message"] == "database unavailable"
        }
        for response in (lost, refused):
            line = logged[response.headers["X-Request-ID"]]
            assert line["level"] == "warning"
            assert line["logger"] == "trade_engine.edge.app"
    finally:
        server.kill()
        asyncio.run(set_connections(database, allowed=True))

"""Database faults under a running service: an outage under load, a commit whose answer
is lost, a full disk. Each on a database of the test's own (a throwaway PostgreSQL
cluster, or a SQLite file on a small file system), never the machine's shared one.

What must hold: no 500, every refusal a 503 with Retry-After, no request left without
an answer, every refused operation succeeds when retried, and the store stays
consistent (`trade-engine verify`).
"""

import asyncio
import hashlib
import hmac
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.client import API
from tests.e2e.postgres_cluster import PostgresCluster, wait_until
from tests.e2e.server import Server
from tests.e2e.tcp_proxy import LosingProxy

OUTAGE_SECONDS = 5.0
WORKERS = 6
CLIENT_TIMEOUT = 60.0


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    running = PostgresCluster()
    running.create()
    try:
        yield running
    finally:
        running.remove()


def verify(server: Server, url: str | None = None) -> subprocess.CompletedProcess[str]:
    """`trade-engine verify` on the server's database (or on `url`)."""
    env = server.env if url is None else {**server.env, "TRADE_ENGINE_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "trade_engine.cli", "verify"],
        env=env,
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def fund(server: Server, users: list[str]) -> None:
    admin = server.headers("ops", "admin")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for user in users:
            for asset, amount in (("USDT", "1000000"), ("BTC", "100")):
                body = {"user_id": user, "asset": asset, "amount": amount}
                assert http.post(f"{API}/admin/deposits", json=body, headers=admin).status_code == 201


@dataclass
class Call:
    """One request of the load and what became of it."""

    kind: str
    method: str
    path: str
    body: dict[str, Any] | None
    headers: dict[str, str]
    status: int = 0  # 0: no answer (timed out or the connection failed)
    retry_after: str | None = None
    code: str | None = None
    at: float = 0.0

    @property
    def writes(self) -> bool:
        return self.method != "GET"


async def _send(http: httpx.AsyncClient, call: Call) -> Call:
    call.at = time.monotonic()
    try:
        response = await http.request(call.method, call.path, json=call.body, headers=call.headers)
    except httpx.HTTPError:
        return call
    call.status = response.status_code
    call.retry_after = response.headers.get("retry-after")
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        body = response.json()
        call.code = body["error"]["code"] if "error" in body else str(body.get("code"))
    return call


def api_keys(server: Server, users: list[str]) -> dict[str, tuple[str, str]]:
    """A Binance API key and its secret for each user."""
    keys: dict[str, tuple[str, str]] = {}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for user in users:
            body = {"user_id": user, "label": "fault load"}
            created = http.post(f"{API}/admin/api-keys", json=body, headers=server.headers("ops", "admin"))
            assert created.status_code == 201, created.text
            keys[user] = (created.json()["data"]["api_key"], created.json()["data"]["secret"])
    return keys


def _signed(path: str, query: str, key: tuple[str, str]) -> tuple[str, dict[str, str]]:
    """A signed Binance GET: its path with the signed query, and its key header."""
    query = f"{query}&timestamp={int(time.time() * 1000)}"
    signature = hmac.new(key[1].encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{path}?{query}&signature={signature}", {"X-MBX-APIKEY": key[0]}


def _calls(server: Server, worker: int, step: int, keys: dict[str, tuple[str, str]]) -> list[Call]:
    """A round of one worker: an order, reads and an amend of it, its cancel, a deposit,
    public reads, a signed Binance read and the operators' reads."""
    user = f"load-{worker}"
    headers = server.headers(user)
    admin = server.headers("ops", "admin")
    client_id = f"w{worker}-{step}"
    side = "BUY" if (worker + step) % 2 else "SELL"
    price = f"{30000 + (step % 7) * 10 - (20 if side == 'BUY' else 0)}.00"
    order = {
        "market": "BTC-USDT",
        "side": side,
        "price": price,
        "quantity": "0.01",
        "client_order_id": client_id,
    }
    deposit = {"user_id": user, "asset": "USDT", "amount": "1", "reference": f"dep-{worker}-{step}"}
    amend = {"quantity": "0.005"}
    calls = [
        Call("place", "POST", f"{API}/orders", order, headers),
        Call("read", "GET", f"{API}/orders/by-client-id/{client_id}", None, headers),
        Call("amend", "PATCH", f"{API}/orders/by-client-id/{client_id}", amend, headers),
        Call("read", "GET", f"{API}/balances", None, headers),
        Call("read", "GET", f"{API}/fills", None, headers),
        Call("read", "GET", f"{API}/orders/{10**9 + step}", None, headers),
        Call("cancel", "DELETE", f"{API}/orders/by-client-id/{client_id}", None, headers),
        Call("cancel", "DELETE", f"{API}/orders/{10**9 + step}", None, headers),
        Call("deposit", "POST", f"{API}/admin/deposits", deposit, admin),
        Call("read", "GET", f"{API}/markets/BTC-USDT/trades", None, {}),
        Call("read", "GET", "/api/v3/trades?symbol=BTCUSDT", None, {}),
        Call("read", "GET", f"{API}/admin/audit-log?limit=5", None, admin),
        Call("read", "GET", f"{API}/admin/transfers?limit=5&user_id={user}", None, admin),
    ]
    if user in keys:
        path, key_header = _signed("/api/v3/openOrders", "symbol=BTCUSDT", keys[user])
        calls.append(Call("read", "GET", path, None, key_header))
    return calls


async def _load(server: Server, stop: asyncio.Event, keys: dict[str, tuple[str, str]]) -> list[Call]:
    """WORKERS workers making every call of their rounds, and as many readers making only
    the reads: a worker waits on its write while the database is away, a reader keeps
    reading through the outage, so every read route meets it."""
    done: list[Call] = []

    async def worker(index: int, reads_only: bool) -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=CLIENT_TIMEOUT) as http:
            step = 0
            while not stop.is_set():
                for call in _calls(server, index, step, keys):
                    if not (reads_only and call.writes):
                        done.append(await _send(http, call))
                step += 1

    async def prober() -> None:
        """Orders sent every quarter second without waiting for the one before: a worker's
        write taken into the batch the database failed on waits for it to return, so
        only writes sent while the service refuses them (after a commit has failed) meet
        the outage; these do, whatever the workers are waiting on."""
        headers = server.headers("load-0")
        sent: list[asyncio.Future[Call]] = []
        async with httpx.AsyncClient(base_url=server.url, timeout=CLIENT_TIMEOUT) as http:
            while not stop.is_set():
                order = {**_order(f"probe-{len(sent)}"), "price": "29000.00"}
                call = Call("place", "POST", f"{API}/orders", order, headers)
                sent.append(asyncio.ensure_future(_send(http, call)))
                await asyncio.sleep(0.25)
            done.extend(await asyncio.gather(*sent))

    await asyncio.gather(
        prober(), *(worker(index, reads_only) for index in range(WORKERS) for reads_only in (False, True))
    )
    return done


def _run_load_through(
    server: Server, fault: Any, recover: Any, keys: dict[str, tuple[str, str]]
) -> tuple[list[Call], float]:
    """Load before, during and after a fault; every call made, and when the service was
    ready again."""

    async def scenario() -> tuple[list[Call], float]:
        stop = asyncio.Event()
        load = asyncio.ensure_future(_load(server, stop, keys))
        await asyncio.sleep(1.5)
        await asyncio.to_thread(fault)
        await asyncio.sleep(OUTAGE_SECONDS)
        await asyncio.to_thread(recover)
        await asyncio.to_thread(server.wait_ready, 60)
        ready_at = time.monotonic()
        await asyncio.sleep(1.5)
        stop.set()
        return await load, ready_at

    return asyncio.run(scenario())


def _retry_refused(server: Server, calls: list[Call]) -> list[Call]:
    """Every refused write once more, now that the database is back."""
    retried = []
    with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT) as http:
        for call in calls:
            if call.writes and call.status == 503:
                response = http.request(call.method, call.path, json=call.body, headers=call.headers)
                again = Call(call.kind, call.method, call.path, call.body, call.headers, response.status_code)
                if response.status_code >= 400:
                    again.code = response.json()["error"]["message"]
                retried.append(again)
    return retried


def _still_refused(retried: list[Call]) -> list[Call]:
    """Retried writes that failed for another reason than the order having moved on in the
    meantime: a cancel or an amend may find it filled or cancelled, an amend may find more
    of it filled than its new quantity."""
    moved_on = "the new quantity must exceed the filled quantity"
    return [
        c
        for c in retried
        if c.status >= 300
        and not (c.kind in ("cancel", "amend") and c.status in (404, 409))
        and not (c.kind == "amend" and c.status == 400 and c.code == moved_on)
    ]


def _audited_references(server: Server) -> set[str]:
    """The references of the deposits in the audit log."""
    admin = server.headers("ops", "admin")
    references: set[str] = set()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        offset, total = 0, 1
        while offset < total:
            params = {"limit": 1000, "offset": offset}
            page = http.get(f"{API}/admin/audit-log", params=params, headers=admin).json()["data"]
            references |= {e["summary"].get("reference") for e in page["entries"]} - {None}
            offset, total = offset + len(page["entries"]), page["total"]
    return references


def assert_fault_contract(calls: list[Call]) -> None:
    unanswered = [c for c in calls if c.status == 0]
    assert unanswered == [], f"{len(unanswered)} requests got no answer, e.g. {unanswered[:3]}"
    server_errors = [c for c in calls if c.status >= 500 and c.status != 503]
    assert server_errors == [], server_errors[:5]
    without_retry_after = [c for c in calls if c.status == 503 and c.retry_after is None]
    assert without_retry_after == [], without_retry_after[:5]


def test_a_database_outage_under_load_is_answered_with_503_and_passes(
    cluster: PostgresCluster, tmp_path: Path
):
    server = Server(cluster.url(), tmp_path)
    server.start()
    try:
        users = [f"load-{index}" for index in range(WORKERS)]
        fund(server, users)
        keys = api_keys(server, users)
        calls, ready_at = _run_load_through(server, lambda: cluster.stop("fast"), cluster.start, keys)
        assert_fault_contract(calls)
        refused = [c for c in calls if c.status == 503]
        assert len(refused) >= WORKERS, "the outage was not noticed"
        assert {c.code for c in refused} <= {"UNAVAILABLE", "-1001"}, {c.code for c in refused}
        assert max(c.at for c in refused) - min(c.at for c in refused) >= OUTAGE_SECONDS / 2
        # The readers met the outage on the reads that need the database, the operators' too.
        reads_refused = {c.path.split("?")[0] for c in refused if c.kind == "read"}
        needed = {f"{API}/admin/audit-log", f"{API}/admin/transfers", "/api/v3/openOrders", f"{API}/balances"}
        assert needed <= reads_refused, needed - reads_refused
        # Trading resumed by itself, and every refused write goes through now.
        assert any(c.kind == "place" and c.status == 201 and c.at > ready_at for c in calls)
        retried = _retry_refused(server, calls)
        assert any(c.body and str(c.body.get("client_order_id")).startswith("probe-") for c in retried)
        failed = _still_refused(retried)
        assert failed == [], failed[:5]
        assert all(c.status in (200, 201) for c in retried if c.kind in ("place", "deposit"))
        # Every deposit answered as done has its audit entry, including one done just as
        # the database went away (its entry waited and was written once it was back).
        done = {
            c.body["reference"]
            for c in [*calls, *retried]
            if c.kind == "deposit" and c.status == 201 and c.body
        }
        wait_until(lambda: done <= _audited_references(server), 15, "the audit entries of every deposit")
        errors = [line for line in server.log_path.read_text().splitlines() if '"level":"error"' in line]
        assert errors == [], errors[:3]
    finally:
        server.kill()
    checked = verify(server)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _order(client_order_id: str) -> dict[str, str]:
    return {
        "market": "BTC-USDT",
        "side": "BUY",
        "price": "100.00",
        "quantity": "0.01",
        "client_order_id": client_order_id,
    }


def test_an_outage_longer_than_the_retry_budget_restarts_the_service_and_trading_resumes(
    cluster: PostgresCluster, tmp_path: Path
) -> None:
    # The sequencer gives a commit 2 s: past that it stops for good (its engine may hold
    # what the database lacks). The service must not stay alive and unready: it starts
    # afresh from the database, in the same process, once the database is back.
    server = Server(cluster.url(), tmp_path, TRADE_ENGINE_SEQUENCER_RETRY_TOTAL_SECONDS="2")
    server.start()
    try:
        fund(server, ["long"])
        headers = server.headers("long")
        assert server.process is not None
        pid = server.process.pid
        with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT) as http:
            assert http.post(f"{API}/orders", json=_order("before"), headers=headers).status_code == 201
            cluster.stop("fast")
            # Not ready while the database is away, and the log says why.
            probed = http.get("/ready")
            assert (probed.status_code, probed.json()["database"]) == (503, False)
            assert '"message":"the database probe failed"' in server.log_path.read_text()
            during = http.post(f"{API}/orders", json=_order("during"), headers=headers)
            assert during.status_code == 503, during.text
            stopped = lambda: "sequencer stopped" in server.log_path.read_text()  # noqa: E731
            wait_until(stopped, 30, "the sequencer to stop")
            # Restarted, it answers while the database is still away: alive, not ready,
            # orders refused with 503 (never a closed port for the outage's length).
            restarted = lambda: server.log_path.read_text().count('"message":"starting"') == 2  # noqa: E731
            wait_until(restarted, 30, "the restart")
            wait_until(lambda: _answers(f"{server.url}/health"), 30, "the restarted service to listen")
            assert http.get("/ready").status_code == 503
            refused = http.post(f"{API}/orders", json=_order("refused"), headers=headers)
            assert refused.status_code == 503, refused.text
            cluster.start()
            server.wait_ready(60)
            assert server.process.poll() is None  # no exit: the same process, restarted
            assert server.process.pid == pid
            after = http.post(f"{API}/orders", json=_order("after"), headers=headers)
            assert after.status_code == 201, after.text
            retried = http.post(f"{API}/orders", json=_order("during"), headers=headers)
            assert retried.status_code == 201, retried.text
            before = http.get(f"{API}/orders/by-client-id/before", headers=headers)
            assert before.json()["data"]["status"] == "NEW"
        assert '"message":"ready"' in server.log_path.read_text().split("restarting from the database")[1]
    finally:
        server.kill()
    checked = verify(server)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_readiness_logs_a_database_outage_when_it_begins_and_ends_not_at_every_probe(
    cluster: PostgresCluster, tmp_path: Path
) -> None:
    # No command is sent while the database is away, so the service does not restart:
    # only its probe meets the outage. A load balancer probes every few seconds; the log
    # says when the probe began to fail and when it passed again, not each time.
    server = Server(cluster.url(), tmp_path)
    server.start()
    try:
        fund(server, ["probed"])
        logged = lambda message: server.log_path.read_text().count(f'"message":"{message}"')  # noqa: E731
        with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT) as http:
            cluster.stop("fast")
            for _ in range(3):
                probed = http.get("/ready")
                assert (probed.status_code, probed.json()["database"]) == (503, False)
            failed = logged("the database probe failed")
            assert failed >= 1
            for _ in range(5):
                assert http.get("/ready").status_code == 503
            assert logged("the database probe failed") == failed
            assert logged("the database probe succeeded again") == 0
            cluster.start()
            server.wait_ready(60)
            assert logged("the database probe succeeded again") == 1
            assert http.get("/ready").status_code == 200
            assert logged("the database probe succeeded again") == 1
            placed = http.post(f"{API}/orders", json=_order("after-probes"), headers=server.headers("probed"))
            assert placed.status_code == 201, placed.text
        assert logged("starting") == 1  # the same process image throughout: no restart
    finally:
        server.kill()


def test_a_service_started_while_the_database_is_down_becomes_ready_when_it_returns(
    cluster: PostgresCluster, tmp_path: Path
) -> None:
    server = Server(cluster.url(), tmp_path)
    cluster.stop("fast")
    server.start(wait=False)
    try:
        wait_until(lambda: _answers(f"{server.url}/health"), 30, "the service to listen")
        assert httpx.get(f"{server.url}/ready", timeout=5).status_code == 503
        # Binance's system status says so too (sapi/v1/system/status: 1 "system maintenance").
        status = httpx.get(f"{server.url}/sapi/v1/system/status", timeout=5).json()
        assert status == {"status": 1, "msg": "system maintenance"}
        cluster.start()
        server.wait_ready(60)
        status = httpx.get(f"{server.url}/sapi/v1/system/status", timeout=5).json()
        assert status == {"status": 0, "msg": "normal"}
        fund(server, ["late"])
        with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT) as http:
            placed = http.post(f"{API}/orders", json=_order("late-1"), headers=server.headers("late"))
            assert placed.status_code == 201, placed.text
        assert server.terminate() == 0
    finally:
        server.kill()


def test_a_commit_whose_answer_is_lost_is_answered_as_committed(
    cluster: PostgresCluster, tmp_path: Path
) -> None:
    # Every time the order's batch goes through to the database, the proxy drops the
    # database's answer and cuts the connection: the batch is committed each time, but
    # the service never hears so. It must find out (ask the database for its committed
    # position) and answer 201, never 503 for an order that is durable.
    proxy = LosingProxy(cluster.port)
    proxy.start()
    url = f"postgresql://postgres@127.0.0.1:{proxy.port}/trade_engine"
    server = Server(url, tmp_path, TRADE_ENGINE_SEQUENCER_RETRY_TOTAL_SECONDS="5")
    server.start()
    try:
        fund(server, ["lost"])
        headers = server.headers("lost")
        proxy.arm(b"lost-commit-1")
        order = {
            "market": "BTC-USDT",
            "side": "BUY",
            "price": "100.00",
            "quantity": "0.01",
            "client_order_id": "lost-commit-1",
        }
        with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT) as http:
            placed = http.post(f"{API}/orders", json=order, headers=headers)
            proxy.arm(None)
            assert proxy.cuts >= 1
            assert placed.status_code == 201, placed.text
            order_id = placed.json()["data"]["order_id"]
            again = http.get(f"{API}/orders/by-client-id/lost-commit-1", headers=headers)
            assert again.json()["data"]["order_id"] == order_id
            follow = {**order, "client_order_id": "after", "price": "150.00"}
            assert http.post(f"{API}/orders", json=follow, headers=headers).status_code == 201
        server.kill()
        rows = asyncio.run(cluster.query("SELECT id FROM orders WHERE client_order_id = 'lost-commit-1'"))
        assert [row["id"] for row in rows] == [order_id]  # durable, and once
        server.start()
        with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT) as http:
            recovered = http.get(f"{API}/orders/{order_id}", headers=headers)
            assert recovered.json()["data"]["status"] == "NEW"
    finally:
        server.kill()
        proxy.stop()
    checked = verify(server, cluster.url())
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB file system of the test's own (tmpfs), to fill up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path) -> Path:
    """Take every free byte of the file system; returns the file that holds them.
    Unbuffered: a buffered file kept the bytes a full disk refused and wrote them again
    on close, which raised out of here (a failure seen once in a local run)."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as sink:
        block = b"\0" * 65536
        try:
            while True:
                sink.write(block)
        except OSError:
            pass
    return filler


def test_a_full_disk_is_answered_with_503_and_trading_resumes_when_space_returns(
    small_disk: Path, tmp_path: Path
):
    server = Server(f"sqlite:///{small_disk}/trade-engine.db", tmp_path)
    server.start()
    try:
        fund(server, ["disk"])
        headers = server.headers("disk")
        order = {"market": "BTC-USDT", "side": "BUY", "price": "100.00", "quantity": "0.01"}

        async def scenario() -> tuple[list[httpx.Response], httpx.Response]:
            async with httpx.AsyncClient(base_url=server.url, timeout=CLIENT_TIMEOUT) as http:
                filler = await asyncio.to_thread(_fill, small_disk)
                # Orders keep coming until the database needs space it cannot get (the
                # log it appends to has room left at first).
                answers: list[httpx.Response] = []
                full = asyncio.Event()

                async def trader() -> None:
                    for _ in range(5000):
                        if full.is_set():
                            return
                        response = await http.post(f"{API}/orders", json=order, headers=headers)
                        answers.append(response)
                        if response.status_code != 201:
                            full.set()

                async def probe() -> None:
                    response = await http.post(f"{API}/orders", json=order, headers=headers)
                    answers.append(response)
                    if response.status_code != 201:
                        full.set()

                async def prober() -> None:
                    # The traders' orders may all wait in the batch whose commit is
                    # being retried and the one applied behind it; an order sent while
                    # they wait is refused at once, so one is sent every 50 ms without
                    # waiting for the one before.
                    probes = []
                    while not full.is_set():
                        probes.append(asyncio.ensure_future(probe()))
                        await asyncio.sleep(0.05)
                    await asyncio.gather(*probes)

                traders = [asyncio.ensure_future(trader()) for _ in range(4)]
                traders.append(asyncio.ensure_future(prober()))
                await asyncio.wait_for(full.wait(), 120)
                filler.unlink()  # space returns while orders may be waiting on it
                await asyncio.gather(*traders)
                return answers, await http.post(f"{API}/orders", json=order, headers=headers)

        answers, after = asyncio.run(scenario())
        refused = [response for response in answers if response.status_code != 201]
        assert refused, "the disk never filled"
        for response in refused:
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "UNAVAILABLE"
            assert response.headers["retry-after"] == "1"
        assert after.status_code == 201, after.text
        wait_until(lambda: httpx.get(f"{server.url}/ready").status_code == 200, 30, "ready again")
    finally:
        server.kill()
    with sqlite3.connect(small_disk / "trade-engine.db") as store:
        assert store.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    checked = verify(server)
    assert checked.returncode == 0, checked.stdout + checked.stderr

"""Cluster benchmark: takeover time, orders/s through gateways beside `serve`, chaos.

Every process is real: nats-server (one node; three for (d)), PostgreSQL, `trade-engine
core` and `gateway` processes, `trade-engine serve` for comparison (tests/cluster/harness.py).

(a) throughput: on a fresh store each (1,000 funded accounts, 10,000 resting orders),
    `--clients` concurrent HTTP clients place resting limit orders for `--seconds`
    through `serve`, through one gateway, and through two gateways (clients split
    between them; an active core and a warm standby behind them). Reported: orders/s,
    latency p50/p99 (acknowledged = committed), and CPU seconds per 1,000 orders of
    each kind of process (from /proc): serve, core, standby, gateway, nats-server and
    PostgreSQL (every postgres process of the machine, backends that ended during the
    run not counted).
(b) takeover: a store of `--resting` resting orders over 1,000 accounts (built through
    the sequencer, as benchmarks/durable.py does), an active core, a warm standby and a
    gateway; the active core is killed (SIGKILL) `--takeovers` times, each time timed
    from the kill to the first order committed through the gateway (a client retrying
    on 503), then a new standby is started. Reported: p50 and max, and what each new
    leader logged of its takeover. `--tail N`: each kill comes after N orders were
    acknowledged with the tables held back (a lock on their position row), so the new
    leader first writes the rows they lack. `--takeover-only` runs (b) alone.
(c) chaos: `--kills` random kills of the active core under load through two gateways on
    a small store, with every check of the failover test after them (tests/cluster:
    every answer one of the four outcomes, every acknowledged and every OUTCOME_UNKNOWN
    order found, no order or trade twice, `trade-engine verify`, one epoch per leader).
(d) formations, with (c): `--formations` three-node NATS clusters, each started at once
    as a deployment's are, each until a core has set the cluster's streams up (R3),
    meanwhile restarting a node nats-server left out of its JetStream meta group, as an
    operator would (tests/cluster/harness.py). Reported: how long setting up took, and
    how many starts needed a node restarted.

Prints one JSON object. Run: `make bench-cluster` (`BENCH_ARGS=--quick` for a smoke
run), `make chaos` for (c) and (d) alone.
"""

import sys
from pathlib import Path

# benchmarks/ last on the path (its http.py must not shadow the stdlib's `http`), the
# project root first (tests.cluster).
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(e for e in sys.path if Path(e or ".").resolve() != HERE), str(HERE)]

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any

import httpx
from tests.cluster.checks import check_answers, check_store
from tests.cluster.harness import Cluster, Gateway, Nats, cluster_settings, tables_held
from tests.cluster.load import Load, fund
from tests.conftest import postgres_database
from tests.e2e.server import Server

from durable import build_store
from flows import USERS
from trade_engine.cluster import bus
from trade_engine.config import ClusterConfig

SETTINGS = {
    "TRADE_ENGINE_RATE_LIMITS_ENABLED": "false",
    "TRADE_ENGINE_CORE_PORT_ROUNDTRIP": "false",
    "TRADE_ENGINE_CLUSTER_LEASE_SECONDS": "1.5",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # a PostgreSQL backend that ended meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    """Every PostgreSQL process of the machine (the benchmark's is the only load on it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@contextmanager
def fresh_store(resting: int) -> Iterator[str]:
    databases = postgres_database()
    url = next(databases)
    try:
        log(f"building a store of {resting:,} resting orders")
        asyncio.run(build_store(url, resting, 1000))
        yield url
    finally:
        for _ in databases:
            pass


# -- (a) throughput --------------------------------------------------------------------------


async def drive(urls: list[str], server: Server, clients: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def client(index: int) -> None:
        nonlocal errors
        rng = random.Random(index)
        user = USERS[index % len(USERS)]
        headers = server.headers(user)
        async with httpx.AsyncClient(base_url=urls[index % len(urls)], timeout=30, headers=headers) as http:
            while time.monotonic() < deadline:
                buy = rng.random() < 0.5
                price = 40_000 - rng.randint(0, 500) if buy else 60_000 + rng.randint(0, 500)
                body = {"market": "BTC-USDT", "side": "BUY" if buy else "SELL", "price": f"{price}.00"}
                body["quantity"] = "0.00010"
                began = time.perf_counter()
                response = await http.post("/api/v1/orders", json=body)
                if response.status_code == 201:
                    latencies.append(time.perf_counter() - began)
                else:
                    errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "orders": len(latencies),
        "errors": errors,
        "orders_per_s": round(len(latencies) / elapsed, 1),
        "latency_ms": {
            "p50": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else None,
            "p99": round(latencies[int(len(latencies) * 0.99)] * 1000, 2) if latencies else None,
        },
    }


def throughput(kind: str, gateways: int, clients: int, seconds: float, scratch: Path) -> dict[str, Any]:
    with fresh_store(10_000) as url:
        processes: dict[str, list[Server]] = {}
        nats: Nats | None = None
        try:
            if kind == "serve":
                (scratch / "serve").mkdir()
                serve = Server(url, scratch / "serve", **SETTINGS)
                serve.start()
                processes["serve"] = [serve]
                front: list[Server] = [serve]
            else:
                nats = Nats(scratch / "nats", 1)
                nats.start()
                cluster = Cluster(url, nats, scratch, **SETTINGS)
                cluster.add_core(wait_role="leader")
                cluster.add_core(wait_role="standby")  # warm, as in production: it applies the stream
                for _ in range(gateways):
                    cluster.add_gateway()
                processes = {
                    "core": list[Server](cluster.cores[:1]),
                    "standby": list[Server](cluster.cores[1:]),
                    "gateway": list(cluster.gateways),
                }
                front = list(cluster.gateways)
            pids = {name: [p.process.pid for p in group if p.process] for name, group in processes.items()}
            if nats is not None:
                pids["nats-server"] = [node.process.pid for node in nats.nodes if node.process]
            pids["postgresql"] = postgres_pids()
            before = {name: sum(cpu_seconds(pid) for pid in group) for name, group in pids.items()}
            result = asyncio.run(drive([p.url for p in front], front[0], clients, seconds))
            pids["postgresql"] = postgres_pids()  # backends come and go: the ones alive now
            after = {name: sum(cpu_seconds(pid) for pid in group) for name, group in pids.items()}
            # The engine the core (or serve) process runs, as it says.
            result["core"] = processes["serve" if kind == "serve" else "core"][0].core_build()
            per_thousand = max(result["orders"], 1) / 1000
            result["cpu_seconds_per_1000_orders"] = {
                name: round((after[name] - before[name]) / per_thousand, 3) for name in pids
            }
            return result
        finally:
            for group in processes.values():
                for process in group:
                    process.kill()
            if nats is not None:
                nats.stop()


# -- (b) takeover ----------------------------------------------------------------------------


def first_commit(gateway: Gateway, timeout: float = 120.0) -> float:
    """Seconds until an order placed through `gateway` is committed (retrying 503s)."""
    headers = gateway.headers(USERS[0])
    body = {"market": "BTC-USDT", "side": "BUY", "price": "40000.00", "quantity": "0.00010"}
    began = time.monotonic()
    with httpx.Client(base_url=gateway.url, timeout=30, headers=headers) as http:
        while time.monotonic() - began < timeout:
            if http.post("/api/v1/orders", json=body).status_code == 201:
                return time.monotonic() - began
            time.sleep(0.01)
    raise RuntimeError("no order was committed after the kill")


def acknowledged_with_tables_held(gateway: Gateway, orders: int) -> None:
    """`orders` resting orders acknowledged (16 clients) while the tables are held back
    (tests/cluster/harness.py `tables_held`), so that the tables trail the journal by
    them. Returns with the tables still held: the caller kills the leader first."""
    headers = gateway.headers(USERS[0])

    def place(indexes: range) -> None:
        body = {"market": "BTC-USDT", "side": "BUY", "price": "40000.00", "quantity": "0.00010"}
        with httpx.Client(base_url=gateway.url, timeout=30, headers=headers) as http:
            for _ in indexes:
                response = http.post("/api/v1/orders", json=body)
                if response.status_code != 201:
                    raise RuntimeError(f"an order of the tail was refused: {response.text}")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(place, (range(n, orders, 16) for n in range(16))))


def _took_over(core: Server) -> dict[str, Any]:
    """What the new leader's log says of its takeover: the seconds from holding the lease
    to leading, and the tail it published again and wrote (versions that log it)."""
    said: dict[str, Any] = {}
    for line in core.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("message") in ("leading", "the tables' tail written"):
                fields = ("batches", "writes", "publish_seconds", "seconds")
                said[record["message"]] = {k: record[k] for k in fields if k in record}
    return said


def takeover(resting: int, takeovers: int, scratch: Path, tail: int = 0) -> dict[str, Any]:
    with fresh_store(resting) as url:
        nats = Nats(scratch / "nats-takeover", 1)
        nats.start()
        cluster = Cluster(url, nats, scratch / "takeover", **SETTINGS)
        try:
            started = time.monotonic()
            cluster.add_core(wait_role="leader")
            leader_start = time.monotonic() - started
            started = time.monotonic()
            cluster.add_core(wait_role="standby")
            standby_start = time.monotonic() - started
            gateway = cluster.add_gateway()
            seconds, leaders = [], []
            for index in range(takeovers):
                first_commit(gateway)
                old = cluster.leader()
                if tail:  # the tables trail the journal by `tail` orders at the kill
                    with tables_held(url):
                        acknowledged_with_tables_held(gateway, tail)
                        old.kill()
                        killed = time.monotonic()
                else:
                    old.kill()
                    killed = time.monotonic()
                first_commit(gateway)
                seconds.append(time.monotonic() - killed)
                leaders.append(_took_over(cluster.leader()))
                log(f"takeover {index + 1}: {seconds[-1]:.2f} s {leaders[-1]}")
                if index + 1 < takeovers:
                    cluster.add_core(wait_role="standby")
            return {
                "resting_orders": resting,
                "takeovers": takeovers,
                "seconds_p50": round(statistics.median(seconds), 3),
                "seconds_max": round(max(seconds), 3),
                "seconds": [round(second, 3) for second in seconds],
                # Each kill with the tables held back while this many orders were
                # acknowledged (`--tail`): the new leader writes their rows first.
                "tail_orders": tail,
                "new_leaders_said": leaders,
                "leader_start_seconds": round(leader_start, 1),
                "core": cluster.cores[-1].core_build(),
                "standby_start_seconds": round(standby_start, 1),
            }
        finally:
            cluster.stop()


# -- (c) chaos -------------------------------------------------------------------------------


def chaos(kills: int, scratch: Path) -> dict[str, Any]:
    databases = postgres_database()
    url = next(databases)
    nats = Nats(scratch / "nats-chaos", 1)
    nats.start()
    cluster = Cluster(url, nats, scratch / "chaos", **cluster_settings(nats))
    users = [f"chaos-{n}" for n in range(4)]
    rng = random.Random(7)
    try:
        cluster.start(cores=2, gateways=2)
        core = cluster.cores[0].core_build()  # the engine the cores run, as they say
        fund(cluster.gateways[0], users)
        with Load(cluster.gateways, users) as load:
            for index in range(kills):
                leader = cluster.cores[index]
                leader.wait_role("leader", timeout=60)
                time.sleep(rng.uniform(0.5, 2.0))
                leader.kill()
                assert cluster.leader(timeout=60) is cluster.cores[index + 1]
                cluster.add_core()
                log(f"kill {index + 1} of {kills}")
            time.sleep(1.0)
        outcomes = load.outcomes
        check_answers(cluster, outcomes)
        epoch = check_store(cluster)
        assert epoch == kills + 1, epoch
        return {
            "core": core,
            "kills": kills,
            "committed": len(outcomes.committed),
            "rejected": len(outcomes.rejected),
            "unavailable": len(outcomes.unavailable),
            "outcome_unknown": len(outcomes.unknown),
            "checks": "passed",
        }
    finally:
        cluster.stop()
        for _ in databases:
            pass


def formations(count: int, scratch: Path) -> dict[str, Any]:
    took: list[float] = []
    restarted = 0
    for index in range(count):
        nats = Nats(scratch / f"formation-{index}", 3)
        nats.launch()
        started = time.monotonic()
        try:
            _, restarts = nats.operated(partial(asyncio.run, _set_up_streams(nats.urls)))
            took.append(time.monotonic() - started)
            restarted += restarts > 0
        finally:
            nats.stop()
        log(f"formation {index + 1} of {count}: {took[-1]:.1f} s")
    return {
        "formations": count,
        "needed_a_node_restarted": restarted,
        "streams_set_up_seconds_p50": round(statistics.median(took), 2),
        "streams_set_up_seconds_max": round(max(took), 2),
    }


async def _set_up_streams(urls: str) -> None:
    """What a core does first: set the streams up, waiting up to bus.SETUP_SECONDS."""
    config = ClusterConfig(nats_urls=urls, replicas=3)
    client = await bus.connect(config, "formation", "core")
    try:
        await bus.ensure(client, config)
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run: small store, short runs")
    parser.add_argument("--resting", type=int, default=1_000_000)
    parser.add_argument("--takeovers", type=int, default=3)
    parser.add_argument(
        "--tail", type=int, default=0, help="orders acknowledged with the tables held back before each kill"
    )
    parser.add_argument("--takeover-only", action="store_true")
    parser.add_argument("--kills", type=int, default=int(os.environ.get("CHAOS_KILLS", "10")))
    parser.add_argument("--formations", type=int, default=int(os.environ.get("CHAOS_FORMATIONS", "20")))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--chaos-only", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.resting, args.takeovers, args.kills, args.seconds = 20_000, 2, 3, 3.0
        args.formations = 3
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": SETTINGS,
    }
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as directory:
        scratch = Path(directory)
        if args.takeover_only:
            report["takeover"] = takeover(args.resting, args.takeovers, scratch, args.tail)
        elif not args.chaos_only:
            report["throughput"] = {}
            for name, kind, gateways in (
                ("serve", "serve", 0),
                ("1_gateway", "gateway", 1),
                ("2_gateways", "gateway", 2),
            ):
                log(f"throughput: {name}")
                (scratch / name).mkdir()
                report["throughput"][name] = throughput(
                    kind, gateways, args.clients, args.seconds, scratch / name
                )
            log("takeover")
            report["takeover"] = takeover(args.resting, args.takeovers, scratch, args.tail)
        if not args.takeover_only:
            log("chaos")
            report["chaos"] = chaos(args.kills, scratch)
            log("formations")
            report["formations"] = formations(args.formations, scratch)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

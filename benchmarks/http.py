"""HTTP benchmark: orders placed and cancelled over keep-alive connections.

Starts a real service process (compiled core when run through `make bench-http`) on
SQLite and on PostgreSQL, funds traders, then runs a load generator in separate
processes for a fixed duration. Each connection alternates: place a resting limit
order, cancel it. Requests are pre-encoded and responses parsed minimally, so the
generator spends as little as possible of the machine's two cores.

Prints one JSON object: per database, order operations per second (placements and
cancels, each acknowledged only after its commit), p50/p99/p99.9 latency in ms seen
by the clients, and the error count. Run: `.venv/bin/python benchmarks/http.py
[--seconds 20] [--processes 2] [--connections 32] [--only sqlite|postgresql]`.
"""

import sys
from pathlib import Path

# This file is named after what it measures; keep it from shadowing the stdlib `http`.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Sequence

import asyncpg
import httpx

sys.path.insert(0, str(_HERE.parent))

from tests.e2e.server import Server

PG_ADMIN = os.environ.get(
    "TRADE_ENGINE_TEST_PG", "postgresql://trade_engine:trade_engine@127.0.0.1:5432/postgres"
)


def _request(method: str, path: str, token: str, body: bytes = b"") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length)
    return status, body


async def _connection(
    port: int, token: str, user_index: int, deadline: float, latencies: list[float], errors: list[int]
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    operations = 0
    price = 20_000 + (user_index % 50)
    try:
        while time.perf_counter() < deadline:
            body = json.dumps(
                {"market": "BTC-USDT", "side": "BUY", "price": f"{price}.00", "quantity": "0.001"}
            ).encode()
            started = time.perf_counter()
            writer.write(_request("POST", "/api/v1/orders", token, body))
            status, payload = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            operations += 1
            if status != 201:
                errors.append(status)
                continue
            order_id = json.loads(payload)["data"]["order_id"]
            started = time.perf_counter()
            writer.write(_request("DELETE", f"/api/v1/orders/{order_id}", token))
            status, _ = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            operations += 1
            if status != 200:
                errors.append(status)
    finally:
        writer.close()
    return operations


def _generator(
    port: int, tokens: list[str], offset: int, seconds: float, start_at: float, queue: object
) -> None:
    async def run() -> tuple[int, list[float], list[int]]:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        deadline = time.perf_counter() + seconds
        latencies: list[float] = []
        errors: list[int] = []
        counts = await asyncio.gather(
            *(
                _connection(port, token, offset + i, deadline, latencies, errors)
                for i, token in enumerate(tokens)
            )
        )
        return sum(counts), latencies, errors

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    queue.put(asyncio.run(run()))  # type: ignore[attr-defined]


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 2)


def bench(
    database_url: str, workdir: Path, seconds: float, processes: int, connections: int
) -> dict[str, object]:
    # Production settings: the test harness's codec round trip at the core port is off.
    server = Server(
        database_url, workdir, TRADE_ENGINE_LOGGING_LEVEL="WARNING", TRADE_ENGINE_CORE_PORT_ROUNDTRIP="false"
    )
    server.start()
    try:
        users = [f"bench-{n}" for n in range(processes * connections)]
        admin = server.headers("bench-ops", "admin")
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for user in users:
                body = {
                    "user_id": user,
                    "asset": "USDT",
                    "amount": "100000000",
                    "reference": uuid.uuid4().hex,
                }
                assert http.post("/api/v1/admin/deposits", json=body, headers=admin).status_code == 201
        tokens = [server.token(user) for user in users]
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        start_at = time.time() + 2.0
        workers = [
            context.Process(
                target=_generator,
                args=(
                    server.port,
                    tokens[p * connections : (p + 1) * connections],
                    p * connections,
                    seconds,
                    start_at,
                    queue,
                ),
            )
            for p in range(processes)
        ]
        for worker in workers:
            worker.start()
        results = [queue.get(timeout=seconds + 120) for _ in workers]
        for worker in workers:
            worker.join()
    finally:
        server.terminate()
    operations = sum(r[0] for r in results)
    latencies = [value for r in results for value in r[1]]
    errors = [value for r in results for value in r[2]]
    return {
        "order_operations": operations,
        "order_operations_per_s": round(operations / seconds),
        "placements_per_s": round(operations / 2 / seconds),
        "latency_ms": {
            "p50": _percentile(latencies, 0.5),
            "p99": _percentile(latencies, 0.99),
            "p99_9": _percentile(latencies, 0.999),
        },
        "errors": len(errors),
        "error_statuses": sorted(set(errors)),
        "connections": processes * connections,
        "load_generator_processes": processes,
    }


async def _create_pg_database(name: str) -> str:
    connection = await asyncpg.connect(PG_ADMIN)
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


async def _drop_pg_database(name: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN)
    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await connection.close()


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32, help="per load-generator process")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args(argv)
    result: dict[str, object] = {
        "benchmark": "http",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "seconds": args.seconds,
        "compiled_core": not __import__("trade_engine.engine.engine").engine.engine.__file__.endswith(".py"),
    }
    with tempfile.TemporaryDirectory() as scratch:
        if args.only in (None, "sqlite"):
            workdir = Path(scratch) / "sqlite"
            workdir.mkdir()
            result["sqlite"] = bench(
                f"sqlite:///{workdir}/bench.db", workdir, args.seconds, args.processes, args.connections
            )
        if args.only in (None, "postgresql"):
            name = f"te_bench_{uuid.uuid4().hex[:10]}"
            url = asyncio.run(_create_pg_database(name))
            workdir = Path(scratch) / "postgresql"
            workdir.mkdir()
            try:
                result["postgresql"] = bench(url, workdir, args.seconds, args.processes, args.connections)
            finally:
                asyncio.run(_drop_pg_database(name))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])

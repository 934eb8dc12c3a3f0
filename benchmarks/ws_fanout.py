"""WebSocket fan-out benchmark: many clients watch one market while orders flow.

Starts a real service process (compiled core when run through `make bench-ws`), opens
N WebSocket connections from separate client processes (`--processes` x `--connections`),
each subscribed to `trades:BTC-USDT` and `book:BTC-USDT`, then places orders over HTTP
from another process at a fixed rate (`--rate` per second, paced on a schedule, over
keep-alive connections): random limit orders around a mid price on both sides, so
about half of them trade and every one changes the book.

Every client checks that each book delta's `seq` is exactly one more than the previous
one (a gap) and measures latency as its receive time minus the message's
`commit_time_us` (when the oldest change the message carries was committed; same
machine, same clock). Prints one JSON object: messages delivered per second, latency
percentiles in ms and the mean split in two (the wait for the flush, from the server's
metric, and the fan-out after it), gaps, disconnects, the order rate achieved, server CPU.

Run: `.venv/bin/python benchmarks/ws_fanout.py [--processes 4] [--connections 250]
[--rate 1000] [--seconds 20] [--database sqlite|postgresql]`.
"""

import sys
from pathlib import Path

# benchmarks/http.py would shadow the stdlib `http` package: drop this directory first.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import tempfile
import time
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import httpx
import msgspec

sys.path.insert(0, str(_HERE.parent))

from tests.e2e.server import Server

from trade_engine.config import WebSocketConfig

PG_ADMIN = os.environ.get(
    "TRADE_ENGINE_TEST_PG", "postgresql://trade_engine:trade_engine@127.0.0.1:5432/postgres"
)
MARKET = "BTC-USDT"
CHANNELS = [f"trades:{MARKET}", f"book:{MARKET}"]
TRADERS = 20
CONNECTIONS = 200  # HTTP connections of the order flow
MID = 30_000


# -- the watching clients ---------------------------------------------------------------------------


class _Message(msgspec.Struct):
    type: str
    seq: int = 0
    commit_time_us: int | None = None


class _Watch:
    """Counters of one client process."""

    def __init__(self) -> None:
        self.messages = 0
        self.frames = 0  # frames received while measuring
        self.book_deltas = 0  # book deltas received while measuring
        self.book_latency_us = 0  # their latencies, summed (one per flush: see the mean's split)
        self.latencies_us: list[int] = []
        self.gaps = 0
        self.disconnects = 0
        self.measuring = False


class _Client(asyncio.Protocol):
    """One WebSocket connection: `websockets`' sans-I/O protocol on a plain asyncio
    transport. The measuring processes share the machine with the server, so they do as
    little per frame as they can: parse it, decode the few fields used, count."""

    def __init__(self, url: str, watch: _Watch, decode: Any) -> None:
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        self.protocol = ClientProtocol(parse_uri(url), max_size=None)
        self.watch = watch
        self.decode = decode
        self.transport: asyncio.Transport | None = None
        self.seq: int | None = None
        self.ready = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.last_ping = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def _flush(self) -> None:
        assert self.transport is not None
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)

    def send(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        self._flush()

    def data_received(self, data: bytes) -> None:
        from websockets.frames import Frame, Opcode
        from websockets.http11 import Response

        received = time.time_ns() // 1000
        self.protocol.receive_data(data)
        watch = self.watch
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                self.send(json.dumps({"op": "subscribe", "id": 1, "channels": CHANNELS}))
                continue
            if not isinstance(event, Frame) or event.opcode != Opcode.TEXT:
                continue
            if watch.measuring:
                watch.frames += 1
            for message in self.decode(event.data):
                kind = message.type
                if kind == "book_snapshot":
                    self.seq = message.seq
                    if not self.ready.done():
                        self.ready.set_result(None)
                elif kind == "book_delta" and self.seq is not None:
                    if message.seq != self.seq + 1:
                        watch.gaps += 1
                    self.seq = message.seq
                    if watch.measuring:
                        watch.book_deltas += 1
                if watch.measuring and message.commit_time_us:
                    watch.messages += 1
                    watch.latencies_us.append(received - message.commit_time_us)
                    if kind == "book_delta":
                        watch.book_latency_us += received - message.commit_time_us
        self._flush()  # pongs to the server's pings
        if received / 1e6 - self.last_ping > 10:  # keep the idle timeout away
            self.last_ping = received / 1e6
            self.send('{"op":"ping"}')

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.ready.done():
            self.ready.set_result(None)


def _watcher(url: str, connections: int, connected: Any, go: Any, done: Any, results: Any) -> None:
    async def run() -> _Watch:
        watch = _Watch()
        loop = asyncio.get_running_loop()
        decoder = msgspec.json.Decoder(_Message | list[_Message])

        def decode(data: bytes) -> list[_Message]:
            """A frame holds one message, or (batching) a list of them."""
            decoded = decoder.decode(data)
            return decoded if isinstance(decoded, list) else [decoded]

        host, port = url.split("//")[1].split("/", maxsplit=1)[0].split(":")
        clients: list[_Client] = []
        for _ in range(connections):
            _, client = await loop.create_connection(lambda: _Client(url, watch, decode), host, int(port))
            clients.append(client)
            await asyncio.sleep(0.002)  # a gentle ramp: the server accepts ~1 000 per second
        await asyncio.wait([client.ready for client in clients], timeout=120)
        connected.put(sum(1 for client in clients if not client.closed.done()))
        await loop.run_in_executor(None, go.wait)
        watch.measuring = True
        await loop.run_in_executor(None, done.wait)
        watch.measuring = False
        watch.disconnects = sum(1 for client in clients if client.closed.done())
        for client in clients:
            if client.transport is not None:
                client.transport.close()
        return watch

    import uvloop

    watch = uvloop.run(run())
    results.put(
        (
            watch.messages,
            watch.latencies_us,
            watch.gaps,
            watch.disconnects,
            watch.frames,
            watch.book_deltas,
            watch.book_latency_us,
        )
    )


# -- the order flow -------------------------------------------------------------------------------


def _request(path: str, token: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return int(head[9:12])


def _orders(port: int, tokens: list[str], rate: float, seconds: float, go: Any, results: Any) -> None:
    """Place `rate` orders per second for `seconds`, on a fixed schedule."""

    async def run() -> tuple[int, int, float, float, float]:
        rng = random.Random(1)
        total = int(rate * seconds)
        schedule: asyncio.Queue[int] = asyncio.Queue()
        for index in range(total):
            schedule.put_nowait(index)
        placed = errors = 0
        latencies: list[float] = []

        async def connection(token: str, start: float) -> None:
            nonlocal placed, errors
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                while not schedule.empty():
                    index = schedule.get_nowait()
                    due = start + index / rate
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    side = rng.choice(("BUY", "SELL"))
                    offset = rng.randint(-20, 20)
                    body = json.dumps(
                        {
                            "market": MARKET,
                            "side": side,
                            "price": f"{MID + offset}.00",
                            "quantity": f"0.{rng.randint(1, 50):03d}",
                        }
                    ).encode()
                    writer.write(_request("/api/v1/orders", token, body))
                    sent = time.perf_counter()
                    status = await _read_status(reader)
                    latencies.append(time.perf_counter() - sent)
                    if status == 201:
                        placed += 1
                    else:
                        errors += 1
            finally:
                writer.close()

        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        start = time.perf_counter() + 0.05
        # Enough connections that a slow answer never holds up the schedule.
        await asyncio.gather(*(connection(tokens[i % len(tokens)], start) for i in range(CONNECTIONS)))
        latencies.sort()
        p50, p99 = (round(latencies[int(f * len(latencies))] * 1000, 2) for f in (0.5, 0.99))
        return placed, errors, time.perf_counter() - start, p50, p99

    import uvloop

    results.put(uvloop.run(run()))


# -- the run --------------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


ORDER_HISTOGRAM = "trade_engine_api_request_seconds_bucket"


def _order_buckets(server: Server) -> dict[float, float]:
    """The server's own histogram of order requests (POST /api/v1/orders): cumulative
    count per upper bound in seconds."""
    text = httpx.get(server.url + "/metrics", timeout=30).text
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(ORDER_HISTOGRAM) and 'method="POST"' in line and '/orders"' in line:
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound)] = buckets.get(float(bound), 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


FLUSH_WAIT = "trade_engine_websocket_flush_wait_seconds"


def _flush_wait(server: Server) -> tuple[float, float]:
    """The server's flush-wait histogram: (count, sum in seconds)."""
    text = httpx.get(server.url + "/metrics", timeout=30).text
    values = {"count": 0.0, "sum": 0.0}
    for line in text.splitlines():
        for part in values:
            if line.startswith(f"{FLUSH_WAIT}_{part} "):
                values[part] = float(line.rsplit(" ", 1)[1])
    return values["count"], values["sum"]


def _server_percentiles(before: dict[float, float], after: dict[float, float]) -> dict[str, Any]:
    """Upper bounds of the buckets holding the 50th and 99th percentile of the orders
    answered between two scrapes: the server's time, without the clients' scheduling."""
    counts = sorted((bound, after[bound] - before.get(bound, 0.0)) for bound in after)
    total = counts[-1][1] if counts else 0.0

    def bound_of(fraction: float) -> float | None:
        for bound, cumulative in counts:
            if total and cumulative >= fraction * total:
                return None if bound == float("inf") else round(bound * 1000, 3)
        return None

    return {"orders": int(total), "p50_at_most": bound_of(0.5), "p99_at_most": bound_of(0.99)}


def _percentile(values: list[int], fraction: float) -> float:
    return round(values[min(len(values) - 1, int(fraction * len(values)))] / 1000, 2) if values else 0.0


def bench(database_url: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    clients = args.processes * args.connections
    server = Server(
        database_url,
        workdir,
        TRADE_ENGINE_LOGGING_LEVEL="WARNING",
        TRADE_ENGINE_CORE_PORT_ROUNDTRIP="false",  # production settings, not the tests'
        TRADE_ENGINE_WEBSOCKET_MAX_CLIENTS=str(clients + 10),
        TRADE_ENGINE_WEBSOCKET_IDLE_TIMEOUT_SECONDS="60",
        **(
            {"TRADE_ENGINE_WEBSOCKET_FLUSH_INTERVAL_MS": str(args.flush_ms)}
            if args.flush_ms is not None
            else {}
        ),
    )
    server.start()
    core = server.core_build()
    try:
        users = [f"ws-bench-{n}" for n in range(TRADERS)]
        admin = server.headers("bench-ops", "admin")
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for user in users:
                for asset, amount in (("USDT", "1000000000"), ("BTC", "100000")):
                    body = {"user_id": user, "asset": asset, "amount": amount, "reference": uuid.uuid4().hex}
                    assert http.post("/api/v1/admin/deposits", json=body, headers=admin).status_code == 201
        tokens = [server.token(user) for user in users]
        context = multiprocessing.get_context("spawn")
        connected, results, order_results = context.Queue(), context.Queue(), context.Queue()
        go, done = context.Event(), context.Event()
        url = server.url.replace("http://", "ws://") + ("/ws?batch=true" if args.batch else "/ws")
        watchers = [
            context.Process(target=_watcher, args=(url, args.connections, connected, go, done, results))
            for _ in range(args.processes)
        ]
        for watcher in watchers:
            watcher.start()
        admitted = sum(connected.get(timeout=300) for _ in watchers)
        generator = context.Process(
            target=_orders, args=(server.port, tokens, args.rate, args.seconds, go, order_results)
        )
        generator.start()
        time.sleep(1.0)
        assert server.process is not None
        clients_pids = [process.pid for process in [*watchers, generator] if process.pid is not None]
        buckets_before = _order_buckets(server)
        waits_before = _flush_wait(server)
        cpu_before, wall_before = _cpu_seconds(server.process.pid), time.perf_counter()
        clients_cpu_before = sum(_cpu_seconds(pid) for pid in clients_pids)
        go.set()
        placed, errors, elapsed, order_p50, order_p99 = order_results.get(timeout=args.seconds + 300)
        time.sleep(0.5)  # the last flush reaches the clients
        cpu = _cpu_seconds(server.process.pid) - cpu_before
        clients_cpu = sum(_cpu_seconds(pid) for pid in clients_pids) - clients_cpu_before
        wall = time.perf_counter() - wall_before
        server_orders = _server_percentiles(buckets_before, _order_buckets(server))
        waits_after = _flush_wait(server)
        done.set()
        reports = [results.get(timeout=120) for _ in watchers]
        for process in [*watchers, generator]:
            process.join(timeout=60)
    finally:
        server.terminate()
    messages = sum(r[0] for r in reports)
    latencies = sorted(value for r in reports for value in r[1])
    flushes = waits_after[0] - waits_before[0]
    wait_mean_ms = (waits_after[1] - waits_before[1]) / flushes * 1000 if flushes else None
    delivery_mean_ms = sum(latencies) / len(latencies) / 1000 if latencies else 0.0
    # The split uses the book deltas only: one per client per flush of the one market, as
    # the metric has one observation per flush (a flush with trades sends two messages).
    book_deltas = sum(r[5] for r in reports)
    book_mean_ms = sum(r[6] for r in reports) / book_deltas / 1000 if book_deltas else None
    parts: dict[str, float | None] = dict.fromkeys(("book_delta_delivery", "flush_wait", "fan_out"))
    if wait_mean_ms is not None and book_mean_ms is not None:
        parts = {
            "book_delta_delivery": round(book_mean_ms, 2),
            "flush_wait": round(wait_mean_ms, 2),
            "fan_out": round(book_mean_ms - wait_mean_ms, 2),
        }
    return {
        "core": core,  # the engine the server runs, as it says
        "clients": clients,
        "clients_connected": admitted,
        "client_processes": args.processes,
        "orders_per_s_target": args.rate,
        "orders_placed": placed,
        "orders_per_s": round(placed / elapsed),
        "order_errors": errors,
        "order_latency_ms": {"p50": order_p50, "p99": order_p99},
        "messages_delivered": messages,
        "messages_per_s": round(messages / wall),
        "latency_ms": {
            "p50": _percentile(latencies, 0.5),
            "p99": _percentile(latencies, 0.99),
            "p99_9": _percentile(latencies, 0.999),
            "max": _percentile(latencies, 1.0),
            "mean": round(delivery_mean_ms, 2),
        },
        # A book delta's delivery time in two parts (means): the wait of its oldest change for
        # its flush (the server's trade_engine_websocket_flush_wait_seconds, per market and
        # user: the conflation's part, set by websocket.flush_interval_ms and by how soon
        # after a flush the next change commits), and the rest, from the flush to the
        # client's receipt (the fan-out: framing, writes, the clients' own scheduling).
        "delivery_parts_mean_ms": parts,
        # Per client: book deltas are conflated, one per flush (websocket.flush_interval_ms)
        # carrying the net change of each level, like Binance's `@100ms` depth stream.
        "book_deltas_per_client_per_s": round(sum(r[5] for r in reports) / max(1, admitted) / wall, 1),
        "frames_per_client_per_s": round(sum(r[4] for r in reports) / max(1, admitted) / wall, 1),
        "gaps": sum(r[2] for r in reports),
        "disconnects": sum(r[3] for r in reports),
        "server_cpu_percent": round(100 * cpu / wall),
        # The load generator shares the two cores: its processes' CPU, of one core.
        "clients_cpu_percent": round(100 * clients_cpu / wall),
        # Order latency as the server measured it (request in to response out).
        "server_order_latency_ms": server_orders,
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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--connections", type=int, default=250, help="WebSocket connections per process")
    parser.add_argument("--rate", type=float, default=1000.0, help="orders per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--batch",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="connect with ?batch=true: one frame per client per flush",
    )
    parser.add_argument("--flush-ms", type=float, default=None, help="websocket.flush_interval_ms")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "benchmark": "ws_fanout",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "seconds": args.seconds,
        "database": args.database,
        "batch": args.batch,
        "flush_interval_ms": WebSocketConfig().flush_interval_ms if args.flush_ms is None else args.flush_ms,
        "channels": CHANNELS,
    }
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        if args.database == "sqlite":
            result.update(bench(f"sqlite:///{workdir}/bench.db", workdir, args))
        else:
            name = f"te_bench_{uuid.uuid4().hex[:10]}"
            url = asyncio.run(_create_pg_database(name))
            try:
                result.update(bench(url, workdir, args))
            finally:
                asyncio.run(_drop_pg_database(name))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])

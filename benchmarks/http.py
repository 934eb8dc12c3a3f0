"""HTTP benchmark: orders through a real server process, driven by `wrk`.

Starts `trade-engine serve` (compiled core when run through `make bench-http`) on SQLite
and on PostgreSQL with the shipped configuration, funds 100 users, then runs `wrk`
(Debian's package; Lua scripts in benchmarks/wrk/) for each flow at 8 and 64
connections:

- `resting`: random limit orders that rest (the request shape of the PyPI
  matching-engine's FastAPI gateway, so the figures compare with it under `wrk`);
- `mixed`: about 50% resting, 30% crossing (trades), 20% cancels of earlier orders;
- `binance`: resting limit orders through `POST /api/v3/order`, HMAC-signed.

Every answer is an acknowledgement after the commit. The JSON gives requests/s and the
latency percentiles `wrk` measured, the non-2xx count, and per run the server's own
breakdown of one command's time (queue wait, apply, commit; from its metrics, means),
one order's time in parts that add up to the request's (`one_order_ms`: before the core,
queue wait, apply, the commit before it, write, fsync, the hand-off to the writer's
thread, the hand-back to the request, send), its own request time's p50 and p99
(estimated within its histogram's buckets: what the server spends, without the
kernel's and wrk's share of the two cores),
and the garbage collector's pauses per generation (count and total: every request in
flight waits for them), plus any setting that differs from the defaults. Run: `.venv/bin/python
benchmarks/http.py [--seconds 10] [--connections 8 64] [--flows resting mixed binance]
[--only sqlite|postgresql]`.
"""

import sys
from pathlib import Path

# This file is named after what it measures; keep it from shadowing the stdlib `http`.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import platform
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(_HERE.parent))
from tests.e2e.server import Server

PG_ADMIN = os.environ.get(
    "TRADE_ENGINE_TEST_PG", "postgresql://trade_engine:trade_engine@127.0.0.1:5432/postgres"
)
WRK_DIR = _HERE / "wrk"
USERS = 100
# All load comes from one address: the per-IP limits would cap it at their burst. The
# per-user limits stay as shipped (100 users share the load).
SETTINGS = {
    "TRADE_ENGINE_RATE_LIMITS_PER_IP_PER_SECOND": "1000000",
    "TRADE_ENGINE_RATE_LIMITS_PER_IP_BURST": "1000000",
    # Binance's weights and order counts are counted and reported as shipped, but their
    # limits (6,000 weight a minute per address, 100 orders per 10 s per user) would
    # turn the load into 429s.
    "TRADE_ENGINE_BINANCE_REQUEST_WEIGHT_LIMIT": "1000000000",
    "TRADE_ENGINE_BINANCE_ORDERS_LIMIT": "1000000000",
    "TRADE_ENGINE_BINANCE_ORDERS_DAILY_LIMIT": "1000000000",
}
# Metrics that break one command's time down: (name in the JSON, histogram).
BREAKDOWN = {
    "queue_wait": "trade_engine_queue_wait_seconds",
    "apply_per_command": "trade_engine_matching_seconds",
    "commit": "trade_engine_commit_seconds",
    "request": "trade_engine_api_request_seconds",
    "core_round_trip": "trade_engine_core_round_trip_seconds",
    "send": "trade_engine_api_send_seconds",
}
STAGES = "trade_engine_command_stage_seconds_total"
# The first four follow one another; "store" is a part of "commit", "sync" of "store".
STAGES_REPORTED = ("queue", "apply", "previous_commit", "commit", "store", "sync")


def fund(server: Server) -> list[tuple[str, str, str]]:
    """100 funded users: (token, API key, API secret) each."""
    admin = server.headers("bench-ops", "admin")
    users = []
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for n in range(USERS):
            user = f"bench-{n}-{uuid.uuid4().hex[:6]}"
            for asset, amount in (("USDT", "10000000"), ("BTC", "1000")):
                body = {"user_id": user, "asset": asset, "amount": amount}
                answer = http.post("/api/v1/admin/deposits", json=body, headers=admin)
                assert answer.status_code == 201, answer.text
            created = http.post(
                "/api/v1/admin/api-keys",
                json={"user_id": user, "permissions": ["read", "trade"]},
                headers=admin,
            ).json()["data"]
            users.append((server.token(user, ttl=7200), created["api_key"], created["secret"]))
    return users


def signed_requests(users: list[tuple[str, str, str]], count: int) -> list[str]:
    """Pre-signed Binance new-order requests (query string, key) valid for a minute."""
    now = int(time.time() * 1000)
    lines = []
    for n in range(count):
        _, key, secret = users[n % len(users)]
        side, price = ("BUY", 9000 + n % 1000) if n % 2 else ("SELL", 11001 + n % 1000)
        query = (
            f"symbol=BTCUSDT&side={side}&type=LIMIT&timeInForce=GTC&quantity=0.001&price={price}.00"
            f"&newOrderRespType=ACK&recvWindow=60000&timestamp={now}"
        )
        signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
        lines.append(f"{key} {query}&signature={signature}")
    return lines


GC_PAUSES = "trade_engine_gc_pause_seconds"
REQUESTS = "trade_engine_api_request_seconds_bucket"


def scrape(server: Server) -> dict[str, tuple[float, float]]:
    """(sum, count) of each breakdown histogram, and of the collector's pauses per
    generation (`gc_<generation>`)."""
    text = httpx.get(server.url + "/metrics", timeout=30).text
    found: dict[str, tuple[float, float]] = {}
    for generation in "012":
        label = '{generation="' + generation + '"}'
        pairs = dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith(GC_PAUSES))
        found[f"gc_{generation}"] = (
            float(pairs.get(f"{GC_PAUSES}_sum{label}", 0)),
            float(pairs.get(f"{GC_PAUSES}_count{label}", 0)),
        )
    for name, metric in BREAKDOWN.items():
        total = count = 0.0
        for line in text.splitlines():
            if line.startswith(metric + "_sum"):
                total += float(line.rsplit(" ", 1)[1])
            elif line.startswith(metric + "_count"):
                count += float(line.rsplit(" ", 1)[1])
        found[name] = (total, count)
    # Where commands' time went, per stage, summed over commands: `stage_<name>` = (seconds, 0).
    for line in text.splitlines():
        if line.startswith(STAGES + "{"):
            stage = line.split('stage="', 1)[1].split('"', 1)[0]
            found["stage_" + stage] = (float(line.rsplit(" ", 1)[1]), 0.0)
    # Every route's request histogram, summed per upper bound (the flow's requests and
    # this scrape are all that arrive during a run): `le_<bound>` = (cumulative count, 0).
    for line in text.splitlines():
        if line.startswith(REQUESTS):
            key = "le_" + line.split('le="', 1)[1].split('"', 1)[0]
            found[key] = (found.get(key, (0.0, 0.0))[0] + float(line.rsplit(" ", 1)[1]), 0.0)
    return found


def server_quantiles(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, Any]:
    """The 50th and 99th percentile of the server's own request time over a run (from
    its handler's start to its answer: without the sockets' and wrk's share, though with
    any time the server itself waits for a core), estimated as Prometheus'
    `histogram_quantile` does: linearly within the bucket that holds it. None where it
    falls in the last bucket (over 2.5 s), which Prometheus reports as that bucket's
    lower bound. The scrape that opens the run is one of the requests counted."""
    counts = sorted(
        (float(key[3:]), after[key][0] - before.get(key, (0.0, 0.0))[0])
        for key in after
        if key.startswith("le_")
    )
    total = counts[-1][1] if counts else 0.0

    def quantile(fraction: float) -> float | None:
        lower, below = 0.0, 0.0
        for bound, cumulative in counts:
            if total and cumulative >= fraction * total:
                if bound == float("inf"):
                    return None
                share = (fraction * total - below) / (cumulative - below) if cumulative > below else 1.0
                return round((lower + (bound - lower) * share) * 1000, 3)
            lower, below = bound, cumulative
        return None

    return {"requests": int(total), "p50_ms": quantile(0.5), "p99_ms": quantile(0.99)}


Scrape = dict[str, tuple[float, float]]


def one_order(before: Scrape, after: Scrape) -> dict[str, Any]:
    """One order's server time, broken down (means over the run's commands, in ms): what
    the stages measure (the sequencer's per-command sums, the core's round trip, the
    response's send) and what is left between them. Each part is one of: `before_core`
    (parsing, authentication, validation, rendering: the request's time outside the
    core and the send), `queue_wait` (with the waits for a place in the pipeline),
    `apply` (the command's batch), `previous_commit` (its batch waiting for the batch
    before it to be committed and answered), `write` and `fsync` (SQLite's INSERT and
    COMMIT on its writer's thread; PostgreSQL's one statement is `write_and_fsync`),
    `writer_queue_and_hand_off` (the commit's remainder: to the writer's thread and
    back, and on SQLite any table write the append waited behind on that thread),
    `hand_back` (from the answer to the request resuming: the batch's readers, the
    loop's turn), `send`. The parts add up to `request`. Where some requests did not
    reach the core, `before_core` and `request` are None (the rest are per command)."""

    def delta(key: str, index: int) -> float:
        return after.get(key, (0.0, 0.0))[index] - before.get(key, (0.0, 0.0))[index]

    commands = delta("core_round_trip", 1)
    requests = delta("request", 1)
    if not commands or not requests:
        return {}
    stage = {name: delta("stage_" + name, 0) / commands * 1000 for name in STAGES_REPORTED}
    round_trip = delta("core_round_trip", 0) / commands * 1000
    send = delta("send", 0) / delta("send", 1) * 1000 if delta("send", 1) else 0.0
    request = delta("request", 0) / requests * 1000
    synced_apart = delta("stage_sync", 0) > 0
    # The run's requests and its scrape; where some did not reach the core (a cancel of
    # an order already gone is refused before it), a request is not one command, and the
    # request's time and what it spends outside the core are not shown.
    one_each = requests - commands <= 1
    parts: dict[str, float | None] = {
        "before_core": request - round_trip - send if one_each else None,
        "queue_wait": stage["queue"],
        "apply": stage["apply"],
        "previous_commit": stage["previous_commit"],
        "write": stage["store"] - stage["sync"] if synced_apart else None,
        "fsync": stage["sync"] if synced_apart else None,
        "write_and_fsync": None if synced_apart else stage["store"],
        "writer_queue_and_hand_off": stage["commit"] - stage["store"],
        "hand_back": round_trip - sum(stage[name] for name in STAGES_REPORTED[:4]),
        "send": send,
        "request": request if one_each else None,
    }
    return {name: None if value is None else round(value, 3) for name, value in parts.items()}


def run_wrk(server: Server, flow: str, connections: int, seconds: float, scratch: Path) -> dict[str, Any]:
    env = {**os.environ, "WRK_TOKENS": str(scratch / "tokens.txt"), "WRK_DIR": str(WRK_DIR)}
    env["WRK_SIGNED"] = str(scratch / "signed.txt")
    threads = min(2, connections)
    before = scrape(server)
    script = str(WRK_DIR / f"{flow}.lua")
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{round(seconds)}s", "-s", script]
    completed = subprocess.run(
        [*command, server.url], env=env, capture_output=True, text=True, timeout=seconds + 120, check=False
    )
    after = scrape(server)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed: {completed.stdout[-2000:]} {completed.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["requests_per_s"] = round(result["requests"] / (result["duration_us"] / 1e6))
    result["latency_ms"] = {k: round(v / 1000, 3) for k, v in result.pop("latency_us").items()}
    breakdown = {}
    for name in BREAKDOWN:
        total = after[name][0] - before[name][0]
        count = after[name][1] - before[name][1]
        breakdown[name + "_mean_ms"] = round(total / count * 1000, 3) if count else None
    result["server_breakdown"] = breakdown
    result["one_order_ms"] = one_order(before, after)
    result["server_request_ms_estimated"] = server_quantiles(before, after)
    # Every request in flight waits for a collection: how many ran, and for how long.
    result["gc_pauses"] = {
        f"generation_{generation}": {
            "count": int(after[f"gc_{generation}"][1] - before[f"gc_{generation}"][1]),
            "total_ms": round((after[f"gc_{generation}"][0] - before[f"gc_{generation}"][0]) * 1000, 1),
        }
        for generation in "012"
    }
    return result


def bench(database_url: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    server = Server(
        database_url,
        workdir,
        TRADE_ENGINE_RATE_LIMITS_ENABLED="true",
        TRADE_ENGINE_CORE_PORT_ROUNDTRIP="false",
        TRADE_ENGINE_LOGGING_LEVEL="INFO",
        **SETTINGS,
    )
    server.start()
    try:
        users = fund(server)
        (workdir / "tokens.txt").write_text("\n".join(token for token, _, _ in users) + "\n")
        # The engine the server runs, as it says (not this process's: a path that does
        # not resolve from the server's directory would load the source unseen).
        runs: dict[str, Any] = {"core": server.core_build()}
        for flow in args.flows:
            for connections in args.connections:
                if flow == "binance":
                    count = int(args.seconds * 20_000)
                    (workdir / "signed.txt").write_text("\n".join(signed_requests(users, count)) + "\n")
                runs[f"{flow}_{connections}"] = run_wrk(server, flow, connections, args.seconds, workdir)
        return runs
    finally:
        server.terminate()


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
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--flows", nargs="+", default=["resting", "mixed", "binance"])
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "benchmark": "http",
        "load_generator": subprocess.run(
            ["wrk", "--version"], check=False, capture_output=True, text=True
        ).stdout.split()[1],
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "seconds_per_run": args.seconds,
        "settings_differing_from_defaults": SETTINGS,
    }
    with tempfile.TemporaryDirectory() as scratch:
        if args.only in (None, "sqlite"):
            workdir = Path(scratch) / "sqlite"
            workdir.mkdir()
            result["sqlite"] = bench(f"sqlite:///{workdir}/bench.db", workdir, args)
        if args.only in (None, "postgresql"):
            name = f"te_bench_{uuid.uuid4().hex[:10]}"
            url = asyncio.run(_create_pg_database(name))
            workdir = Path(scratch) / "postgresql"
            workdir.mkdir()
            try:
                result["postgresql"] = bench(url, workdir, args)
            finally:
                asyncio.run(_drop_pg_database(name))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])

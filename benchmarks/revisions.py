"""Two revisions side by side: the engine, orders over HTTP and WebSocket fan-out.

    python benchmarks/revisions.py --old <rev> [--rounds 3] [--seconds 10] [--only ws ...]
        [--ws-flush-ms MS]

The old revision is checked out as a worktree under build/revisions/ and built by its
own Makefile (`make compiled`: its virtual environment with its own dependencies, its
compiled core). Runs alternate, old then new, then new then old, so that the noise of
this machine falls on both alike; the JSON gives every run and the medians.

- engine: each revision's `benchmarks/engine.py` on its compiled core (pass
  `--engine-script` to use one script for both when they differ).
- workload: this tree's `benchmarks/workload.py` on each revision's compiled core: the
  field harness's static scenario (the deep book), the engine alone and with each
  message made into a command on the clock.
- http: one `wrk` script (benchmarks/wrk/resting.lua, this tree's) against a `serve`
  process of each revision on SQLite with the shipped settings, the per-IP limit lifted
  (all load comes from one address), 100 funded users, at 8 and 64 connections.
- ws: each revision's `benchmarks/ws_fanout.py` (1,000 clients, 1,000 orders/s), as
  each reports it; `ws_scripts_identical` in the JSON says whether the two scripts are
  the same file (if not, read their diff before comparing). `--ws-flush-ms` sets both
  revisions' flush interval (a short one shows the fan-out's own delay, which the
  default interval's wait otherwise dominates). A revision whose script splits a book
  delta's delivery time into the wait for its flush and the fan-out after it (since
  b9df7ce) reports both parts.
"""

import sys
from pathlib import Path

# benchmarks/http.py would shadow the stdlib `http` package: drop this directory first.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from typing import Any

import httpx
import jwt

from trade_engine.app.process import COLLECTOR_THRESHOLDS

ROOT = Path(__file__).resolve().parent.parent
WRK_DIR = ROOT / "benchmarks" / "wrk"
# The development secret both revisions ship (config.DEV_SECRET): tokens for the load.
SECRET = "development-secret-change-me-please-0123456789"
USERS = 100


class Revision:
    def __init__(self, name: str, tree: Path) -> None:
        self.name, self.tree = name, tree
        self.python = str(tree / ".venv" / "bin" / "python")
        self.compiled = str(tree / "build" / "compiled")

    def env(self, **settings: str) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": self.compiled, **settings}


def checkout(rev: str) -> Revision:
    sha = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    tree = ROOT / "build" / "revisions" / sha
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), sha], cwd=ROOT, check=True)
    subprocess.run(["make", "--no-print-directory", "compiled"], cwd=tree, check=True, stdout=sys.stderr)
    return Revision(sha, tree)


def _token(user: str, *roles: str) -> str:
    now = int(time.time())
    claims = {"sub": user, "roles": list(roles) or ["trader"], "iat": now, "exp": now + 7200}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def engine(revision: Revision, script: Path | None) -> dict[str, Any]:
    path = script or revision.tree / "benchmarks" / "engine.py"
    out = subprocess.run(
        [revision.python, str(path)], cwd=revision.tree, env=revision.env(), check=True, capture_output=True
    )
    report = json.loads(out.stdout)
    mixed, deep = report["mixed_flow"], report["deep_book"]
    return {
        "commands_per_s": mixed["commands_per_s"],
        "p50_us": mixed["latency_us"]["p50"],
        "p99_us": mixed["latency_us"]["p99"],
        "bytes_per_resting_order": deep["bytes_per_resting_order_rss"],
    }


def http_orders(revision: Revision, connections: int, seconds: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"revisions-{revision.name}-"))
    port = _free_port()
    env = revision.env(
        TRADE_ENGINE_HTTP_PORT=str(port),
        TRADE_ENGINE_DATABASE_URL=f"sqlite:///{work}/trade-engine.db",
        TRADE_ENGINE_RATE_LIMITS_PER_IP_PER_SECOND="1000000",
        TRADE_ENGINE_RATE_LIMITS_PER_IP_BURST="1000000",
    )
    url = f"http://127.0.0.1:{port}"
    with (work / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [revision.python, "-m", "trade_engine.cli", "serve"], cwd=work, env=env, stdout=log, stderr=log
        )
    try:
        _until_ready(url, server)
        tokens = _funded_users(url)
        (work / "tokens.txt").write_text("\n".join(tokens) + "\n")
        wrk_env = {**os.environ, "WRK_TOKENS": str(work / "tokens.txt"), "WRK_DIR": str(WRK_DIR)}
        command = ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{seconds}s"]
        out = subprocess.run(
            [*command, "-s", str(WRK_DIR / "resting.lua"), url],
            env=wrk_env,
            check=True,
            capture_output=True,
            text=True,
        )
        summary = json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])
        return {
            "orders_per_s": round(summary["requests"] / (summary["duration_us"] / 1e6)),
            "non_2xx": summary["non_2xx"],
            "p50_ms": summary["latency_us"]["p50"] / 1000,
            "p99_ms": summary["latency_us"]["p99"] / 1000,
        }
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


def _until_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            if httpx.get(url + "/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the server was not ready within 60 s")


def _funded_users(url: str) -> list[str]:
    admin = {"Authorization": "Bearer " + _token("bench-ops", "admin")}
    tokens = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for n in range(USERS):
            user = f"bench-{n}-{uuid.uuid4().hex[:6]}"
            for asset, amount in (("USDT", "10000000"), ("BTC", "1000")):
                body = {"user_id": user, "asset": asset, "amount": amount}
                answer = client.post("/api/v1/admin/deposits", json=body, headers=admin)
                if answer.status_code != 201:
                    raise RuntimeError(f"funding failed: {answer.text}")
            tokens.append(_token(user))
    return tokens


def ws(revision: Revision, seconds: int, flush_ms: float | None) -> dict[str, Any]:
    script = revision.tree / "benchmarks" / "ws_fanout.py"
    flush = [] if flush_ms is None else ["--flush-ms", str(flush_ms)]
    out = subprocess.run(
        [revision.python, str(script), "--seconds", str(seconds), *flush],
        cwd=revision.tree,
        env=revision.env(),
        check=True,
        capture_output=True,
    )
    report = json.loads(out.stdout)
    result = {
        "order_p50_ms": report["order_latency_ms"]["p50"],
        "order_p99_ms": report["order_latency_ms"]["p99"],
        "delivery_p50_ms": report["latency_ms"]["p50"],
        "delivery_p99_ms": report["latency_ms"]["p99"],
        "gaps": report["gaps"],
        "server_cpu_percent": report["server_cpu_percent"],
    }
    # Revisions since the flush-wait metric also split the delivery's mean in two.
    parts = report.get("delivery_parts_mean_ms") or {}
    if parts.get("flush_wait") is not None:
        result["book_delta_delivery_mean_ms"] = parts["book_delta_delivery"]
        result["flush_wait_mean_ms"] = parts["flush_wait"]
        result["fan_out_mean_ms"] = parts["fan_out"]
    return result


KINDS = ("engine", "workload", "http_8", "http_64", "ws")
STATIC_WORKLOAD = ROOT / "build" / "workload" / "orders_static.bin"


def workload(revision: Revision) -> dict[str, Any]:
    """This tree's benchmarks/workload.py (the field harness's static scenario, the deep
    book) on the revision's compiled core: one run each, the rounds give the median. Both
    revisions get this tree's collector thresholds, and each must report the published
    stream (the script exits 1 otherwise). A revision whose engine lacks a name the script
    imports cannot run it (the import error says which); bdf2a71, of 2026-11-25, can."""
    thresholds = [str(value) for value in COLLECTOR_THRESHOLDS]
    script = str(ROOT / "benchmarks" / "workload.py")
    arguments = [str(STATIC_WORKLOAD), "--runs", "1", "--scenario", "static", "--gc-thresholds", *thresholds]
    out = subprocess.run(
        [revision.python, script, *arguments],
        cwd=revision.tree,
        env=revision.env(),
        check=True,
        capture_output=True,
    )
    report = json.loads(out.stdout)
    return {
        "messages_per_s": report["messages_per_s"],
        "messages_per_s_translating": report["messages_per_s_translating"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--old", required=True, help="the revision to compare this tree with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="per HTTP and WebSocket run")
    parser.add_argument("--engine-script", type=Path, default=None)
    parser.add_argument(
        "--ws-flush-ms",
        type=float,
        default=None,
        help="both revisions' WebSocket flush interval (default: each one's own); a short one shows "
        "the fan-out's own delay, which the interval's wait otherwise dominates",
    )
    parser.add_argument(
        "--only", nargs="+", choices=KINDS, default=list(KINDS), help="the benchmarks to run (default: all)"
    )
    args = parser.parse_args()
    subprocess.run(["make", "--no-print-directory", "compiled"], cwd=ROOT, check=True, stdout=sys.stderr)
    if "workload" in args.only:
        target = str(STATIC_WORKLOAD.relative_to(ROOT))
        subprocess.run(["make", "--no-print-directory", target], cwd=ROOT, check=True, stdout=sys.stderr)
    revisions = {"old": checkout(args.old), "new": Revision("HEAD", ROOT)}
    runs: dict[str, list[dict[str, Any]]] = {}
    for round_ in range(args.rounds):
        order = ("old", "new") if round_ % 2 == 0 else ("new", "old")
        for kind in args.only:
            for name in order:
                revision = revisions[name]
                if kind == "engine":
                    result = engine(revision, args.engine_script)
                elif kind == "workload":
                    result = workload(revision)
                elif kind.startswith("http"):
                    result = http_orders(revision, int(kind.split("_")[1]), args.seconds)
                else:
                    result = ws(revision, args.seconds, args.ws_flush_ms)
                runs.setdefault(f"{kind}/{name}", []).append(result)
                print(f"{kind} {name}: {result}", file=sys.stderr, flush=True)
    medians = {
        # A metric some run lacks (a flush-wait split with no flush) has no median.
        key: {
            metric: statistics.median(run[metric] for run in results)
            for metric in results[0]
            if all(run.get(metric) is not None for run in results)
        }
        for key, results in runs.items()
    }
    scripts = [tree / "benchmarks" / "ws_fanout.py" for tree in (revisions["old"].tree, ROOT)]
    print(
        json.dumps(
            {
                "benchmark": "revisions",
                "old": f"{args.old} ({revisions['old'].name})",
                "new": "this tree",
                "cpus": os.cpu_count(),
                "rounds": args.rounds,
                "ws_flush_ms": args.ws_flush_ms,
                "ws_scripts_identical": scripts[0].read_bytes() == scripts[1].read_bytes(),
                "median": medians,
                "runs": runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

"""Restart benchmark (issue 12): kill -9, then `/ready` with 1,000,000 resting orders over
1,000 users and 3 markets and more than 100,000 commands since the last snapshot.

1. A builder process (this file, `--build-probe`) runs the core (`start_core`, snapshots
   every `SNAPSHOT_EVERY` commands, as `serve` does by default) and submits: the funding,
   the resting orders, then a paced phase at `PACED_RATE` orders/s during which a
   snapshot of the whole book is written (order latency while it is written and while
   none is), then the tail: `TAIL` more resting orders, none of them in a snapshot. It
   prints the live engine's digest and is killed with SIGKILL (the tables may trail the
   journal then, as after a real crash).
2. `start_core` timed in a fresh process: the recovered engine's digest must equal the
   live one; its peak memory.
3. `trade-engine serve` until `/ready` answers 200: the first restart after the kill,
   `RUNS` times on fresh copies of the crashed store, alternating between the store as
   the crash left it (snapshot plus journal) and one without its snapshot (recovery
   from the tables, as before snapshots): side by side in one run.

Run through `benchmarks/durable.py --only restart` (`make bench-durable`), which starts
this file with `--bench` and prints everything as JSON.
"""

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import asyncpg

from durable import (
    PG_ADMIN_URL,
    TARGET_PEAK_RSS_MB,
    TARGET_RESTART_SECONDS,
    _admin,
    drop_database,
    latency_ms,
    log,
    snapshot_digest,
    submit_in_order,
    throwaway_database,
)
from flows import FUNDED_USDT, MID, SPEC, USERS
from trade_engine.app.process import core_build, tune_collector
from trade_engine.config import SequencerConfig
from trade_engine.core.bootstrap import start_core
from trade_engine.domain.market import market_from_spec
from trade_engine.engine import AddMarket, Command, Deposit, PlaceOrder

SNAPSHOT_EVERY = 250_000  # the service's default (config/default.yaml)
SYMBOLS = ("BTC-USDT", "ETH-USDT", "SOL-USDT")
BASE_FUNDS = 10**13
DEEP_SPREAD = 10_000  # resting orders spread over 10,000 ticks each side of the mid
PACED_RATE = 1_000  # orders/s while a snapshot is written
PACED_SECONDS = 8.0
TAIL = 100_000  # commands after the latest snapshot (with the paced phase's: more)
RUNS = 3  # of `serve` per recovery path


def setup() -> list[Command]:
    commands: list[Command] = []
    for symbol in SYMBOLS:
        spec = type(SPEC)(**{**{f: getattr(SPEC, f) for f in SPEC.__struct_fields__}, "symbol": symbol})
        commands.append(AddMarket(ts=0, market=market_from_spec(spec)))
    for user in USERS:
        commands.append(Deposit(ts=0, user_id=user, asset="USDT", amount=FUNDED_USDT))
        for symbol in SYMBOLS:
            commands.append(Deposit(ts=0, user_id=user, asset=symbol.split("-")[0], amount=BASE_FUNDS))
    return commands


def resting(rng: random.Random) -> PlaceOrder:
    """A non-crossing limit order somewhere in one of the three books."""
    buy = rng.random() < 0.5
    offset = rng.randint(1, DEEP_SPREAD)
    return PlaceOrder(
        ts=0,
        user_id=rng.choice(USERS),
        market=rng.choice(SYMBOLS),
        side="BUY" if buy else "SELL",
        price=MID - offset if buy else MID + offset,
        quantity=rng.randint(1, 100),
    )


def orders(rng: random.Random, count: int) -> Iterator[Command]:
    for _ in range(count):
        yield resting(rng)


# -- 1. the builder (a process of its own, killed with SIGKILL) ---------------------


async def paced_with_snapshot(core: Any, rng: random.Random) -> dict[str, Any]:
    """Orders at PACED_RATE/s for PACED_SECONDS, a snapshot started after one second:
    each order's acknowledgement latency, split by whether a snapshot was being written
    when it was submitted."""
    loop = asyncio.get_running_loop()
    submit, clock = core.sequencer.submit, time.perf_counter_ns
    timings: list[tuple[int, int]] = []  # (submitted at, latency), ns

    async def one(command: Command) -> None:
        began = clock()
        await submit(command)
        timings.append((began, clock() - began))

    window: list[int] = []

    async def snapshot() -> Any:
        window.append(clock())
        info = await core.snapshotter.take()
        window.append(clock())
        return info

    tasks, snapshot_task = [], None
    start, count = loop.time(), int(PACED_RATE * PACED_SECONDS)
    for index in range(count):
        delay = start + index / PACED_RATE - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if snapshot_task is None and loop.time() - start >= 1.0:
            snapshot_task = asyncio.create_task(snapshot())
        tasks.append(asyncio.create_task(one(resting(rng))))
    await asyncio.gather(*tasks)
    assert snapshot_task is not None
    info = await snapshot_task
    during = [latency for at, latency in timings if window[0] <= at <= window[1]]
    outside = [latency for at, latency in timings if not window[0] <= at <= window[1]]
    stats = core.snapshotter.stats
    return {
        "orders": count,
        "rate_per_s": PACED_RATE,
        "snapshot": {
            "seq": info.seq,
            "orders": info.orders,
            "bytes": info.size,
            "parts": info.parts,
            "order_path_paused_ms": round(stats.last_fork_seconds * 1000, 1),
            "child_encode_seconds": round(stats.last_encode_seconds, 3),
            "total_seconds": round(stats.last_total_seconds, 3),
        },
        "ack_ms_while_snapshot_written": latency_ms(during) | {"orders": len(during)},
        "ack_ms_otherwise": latency_ms(outside) | {"orders": len(outside)},
    }


async def build_probe(url: str, resting_orders: int, batch: int) -> None:
    tune_collector()  # as every service role does (app/process.py)
    window = 2 * batch
    core = await start_core(
        url, settings=SequencerConfig(max_queue=2 * window, max_batch=batch), snapshot_every=SNAPSHOT_EVERY
    )
    rng = random.Random(11)
    commands = setup()
    await submit_in_order(core.sequencer, commands, len(commands), window)
    snapshotter = core.snapshotter
    assert snapshotter is not None
    paced = int(PACED_RATE * PACED_SECONDS)
    tail = min(TAIL, resting_orders // 5)  # --quick: a smoke run
    first = max(resting_orders - paced - tail, 0)
    started = time.perf_counter()
    built = await submit_in_order(core.sequencer, orders(rng, first), first, window, progress_every=15.0)
    build_seconds = time.perf_counter() - started
    log(f"built {first:,} orders in {build_seconds:.1f} s; a paced phase with a snapshot")
    await core.settled()  # the build's backlog of table writes is not the paced phase's
    during = await paced_with_snapshot(core, rng)
    log(f"the tail: {tail:,} orders after the latest snapshot")
    after = await submit_in_order(core.sequencer, orders(rng, tail), tail, window)
    sequencer = core.sequencer
    result = {
        "resting_orders": sum(1 for _ in core.engine.each_open_order()),
        "markets": len(core.engine.markets()),
        "rejected": built.rejected + after.rejected,
        "build_orders_per_s": round(first / build_seconds),
        "snapshots_taken": snapshotter.stats.taken,
        "paced_phase": during,
        "commands_since_snapshot": sequencer.last_seq - snapshotter.stats.last_seq,
        "tables_trail_at_kill": sequencer.tables.lag(sequencer.last_seq),
        "digest": snapshot_digest(core.engine),
    }
    print(json.dumps(result), flush=True)
    await asyncio.sleep(3600)  # killed here


def build_and_kill(url: str, resting_orders: int, batch: int) -> dict[str, Any]:
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--build-probe",
        url,
        str(resting_orders),
        str(batch),
    ]
    builder = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert builder.stdout is not None
    line = builder.stdout.readline()
    os.kill(builder.pid, signal.SIGKILL)
    builder.wait()
    if not line:
        raise RuntimeError(f"the builder exited with status {builder.returncode}")
    parsed: dict[str, Any] = json.loads(line)
    return parsed


# -- 2. start_core in a fresh process ---------------------------------------------


async def restart_probe(url: str) -> dict[str, Any]:
    started = time.perf_counter()
    core = await start_core(url, snapshot_every=SNAPSHOT_EVERY)
    seconds = time.perf_counter() - started
    peak = own_peak_rss_mb()  # before the digest, which copies the whole book
    digest = snapshot_digest(core.engine)
    used = core.recovered_from
    await core.close()
    return {
        "start_core_seconds": round(seconds, 3),
        "from_snapshot_seq": None if used is None else used.seq,
        "peak_rss_mb": peak,
        "digest": digest,
        "core": core_build(),
    }


def run_restart_probe(url: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--restart-probe", url],
        check=False,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"restart probe failed:\n{completed.stderr}")
    parsed: dict[str, Any] = json.loads(completed.stdout)
    return parsed


# -- 3. serve until /ready, with and without the snapshot --------------------------


def own_peak_rss_mb() -> int:
    """This process's own high-water mark of resident memory (VmHWM). Not `ru_maxrss`:
    Linux carries that across fork and exec, so a probe started by this benchmark, which
    holds the million orders it just built, would report the benchmark's memory."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _ready(port: int) -> bool:
    """Whether /ready answers 200 (a plain socket: this directory's http.py shadows the
    standard library's `http`, which urllib needs)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return connection.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _with_bytecode() -> dict[str, str]:
    """The environment, with Python's compiled bytecode written and used, as an installed
    package has it (pip compiles it): where PYTHONDONTWRITEBYTECODE is set, every start
    would compile the service's modules again (measured: about 0.2 s of each start)."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def warm_bytecode() -> None:
    """Compile (and keep) the bytecode of everything `serve` imports, before timing it."""
    imports = "import trade_engine.cli, trade_engine.app.root"
    subprocess.run([sys.executable, "-c", imports], env=_with_bytecode(), check=True)


def serve_until_ready(url: str, timeout: float = 180.0) -> dict[str, float]:
    """Start `trade-engine serve` on the store at `url` and time it until /ready answers
    200; its own peak memory then (VmHWM)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**_with_bytecode(), "TRADE_ENGINE_DATABASE_URL": url, "TRADE_ENGINE_HTTP_PORT": str(port)}
    command = [sys.executable, "-m", "trade_engine.cli", "serve"]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            while time.perf_counter() - started < timeout:
                if server.poll() is not None:
                    errors.seek(0)
                    said = errors.read().decode(errors="replace")[-3000:]
                    raise RuntimeError(f"serve exited with status {server.returncode} first:\n{said}")
                if _ready(port):
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError(f"serve was not ready within {timeout} s")
            seconds = time.perf_counter() - started
            with open(f"/proc/{server.pid}/status", encoding="ascii") as status:
                peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        finally:
            server.terminate()
            server.wait(60)
    return {"serve_ready_seconds": round(seconds, 3), "serve_peak_rss_mb": round(peak_kb / 1024)}


async def copy_store(kind: str, url: str, suffix: str, *, without_snapshot: bool) -> str:
    """A copy of the store at `url` as the crash left it (no process has it open), with
    or without its snapshot (without: recovery loads the tables)."""
    if kind == "sqlite":
        source = url.removeprefix("sqlite:///")
        target = source.replace(".db", f"-{suffix}.db")
        for ending in ("", "-wal"):  # what a killed writer left in the log is the store's
            if os.path.exists(source + ending):
                shutil.copyfile(source + ending, target + ending)
        if without_snapshot:
            with sqlite3.connect(target) as connection:
                connection.execute("DELETE FROM snapshots")
                connection.execute("DELETE FROM snapshot_parts")
        return f"sqlite:///{target}"
    source_name = url.rsplit("/", 1)[1]
    name = f"{source_name}_{suffix}"
    for attempt in range(40):  # the killed builder's sessions end a moment after it
        try:
            # Copied file by file (synced before it returns), not through the write-ahead
            # log (PostgreSQL 15's default): six copies of a 1M-order store wrote about
            # 4 GB of log, which the server was still checkpointing during the timed runs.
            await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{source_name}" STRATEGY FILE_COPY')
            break
        except asyncpg.ObjectInUseError:
            if attempt == 39:
                raise
            await asyncio.sleep(0.25)
    copy = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    if without_snapshot:
        connection = await asyncpg.connect(copy)
        try:
            await connection.execute("DELETE FROM snapshots; DELETE FROM snapshot_parts")
        finally:
            await connection.close()
    return copy


async def bench_restart(kind: str, resting_orders: int, batch: int) -> dict[str, Any]:
    """The first restart after the kill, each time on a fresh copy of the crashed store
    (the first restart also writes the rows the tables lacked), alternating between the
    two recovery paths."""
    async with throwaway_database(kind) as url:
        log(f"{kind}: building {resting_orders:,} resting orders over 3 markets, then kill -9")
        built = build_and_kill(url, resting_orders, batch)
        copies: list[str] = []
        try:
            stores = []
            for run in range(RUNS):
                for path in ("tables", "snapshot"):
                    copy = await copy_store(kind, url, f"{path}{run}", without_snapshot=path == "tables")
                    copies.append(copy)
                    stores.append((path, copy))
            log(f"{kind}: killed; timing start_core in a fresh process")
            probe = run_restart_probe(url)
            warm_bytecode()
            runs: dict[str, list[dict[str, float]]] = {"snapshot": [], "tables": []}
            for number, (path, store) in enumerate(stores):
                log(f"{kind}: serve until /ready from the {path} ({number // 2 + 1} of {RUNS})")
                runs[path].append(serve_until_ready(store))
        finally:
            if kind != "sqlite":
                for copy in copies:
                    await drop_database(copy.rsplit("/", 1)[1])
    digest = built.pop("digest")

    def median(path: str, key: str) -> float:
        return sorted(run[key] for run in runs[path])[len(runs[path]) // 2]

    ready, peak = median("snapshot", "serve_ready_seconds"), median("snapshot", "serve_peak_rss_mb")
    return {
        **built,
        "recovered_equal_to_live": probe.pop("digest") == digest,
        "start_core": probe,
        "serve_ready_seconds": {"snapshot": ready, "tables": median("tables", "serve_ready_seconds")},
        "serve_peak_rss_mb": {"snapshot": peak, "tables": median("tables", "serve_peak_rss_mb")},
        "runs": runs,
        "python_bytecode": "cached, as an installed package keeps it (PYTHONDONTWRITEBYTECODE unset)",
        "meets_target": ready <= TARGET_RESTART_SECONDS and peak <= TARGET_PEAK_RSS_MB,
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-probe", nargs=3, metavar=("URL", "ORDERS", "BATCH"))
    parser.add_argument("--restart-probe", metavar="URL")
    parser.add_argument("--bench", nargs=3, metavar=("KIND", "ORDERS", "BATCH"))
    args = parser.parse_args(argv)
    if args.bench:
        kind, count, batch = args.bench
        print(json.dumps(asyncio.run(bench_restart(kind, int(count), int(batch)))))
    elif args.build_probe:
        url, count, batch = args.build_probe
        asyncio.run(build_probe(url, int(count), int(batch)))
    elif args.restart_probe:
        print(json.dumps(asyncio.run(restart_probe(args.restart_probe))))


if __name__ == "__main__":
    main(sys.argv[1:])

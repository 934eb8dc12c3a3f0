"""The `core` role's process: the cluster core (cluster/node.py) and a small HTTP
server for probes and metrics on `http.host:http.port`:

- `/health`: 200 while the process runs;
- `/ready`: 200 on the active core and on a standby that follows it (body: the role);
- `/metrics`: the cluster metrics (cluster/metrics.py).

SIGTERM or SIGINT: a standby stops at once; the active core stops taking commands,
commits, publishes and answers what it took, gives the lease up (the standby takes over
without waiting for it to expire) and exits 0. `trade-engine core --step-down` asks the
active core to do the same. A stop that overruns `http.shutdown_timeout_seconds` logs
what it waits for and exits 70 (app/stop_deadline.py).
"""

import asyncio
import json
import logging
import secrets
import signal
from typing import Final

from prometheus_client import generate_latest

from trade_engine.app import stop_deadline
from trade_engine.app.process import core_build, register_build, tune_collector
from trade_engine.cluster import bus
from trade_engine.cluster.metrics import core_metrics
from trade_engine.cluster.names import Names
from trade_engine.cluster.node import CoreNodeState, run_core
from trade_engine.config import Config, ConfigError
from trade_engine.observability.logging import configure_logging

log = logging.getLogger("trade_engine.core")
_STATUS: Final = {200: b"OK", 404: b"Not Found", 503: b"Service Unavailable"}


def run(config: Config, *, restarted: bool = False) -> int:
    """`restarted`: this process is a core that restarted itself (cluster/leader.py)."""
    configure_logging(config.logging.level)
    tune_collector()
    state = CoreNodeState(node=config.cluster.node_id or f"core-{secrets.token_hex(3)}")
    try:
        return asyncio.run(_main(config, state, restarted))
    except ConfigError as error:
        log.error("configuration error", extra={"error": str(error)})
        return 2


async def _main(config: Config, state: CoreNodeState, restarted: bool) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop_asked(name: str) -> None:
        log.info("asked to stop", extra={"signal": name, "role": state.role})
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_asked, sig.name)
    registry = core_metrics(state)
    register_build(registry)

    async def probe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await reader.readline()).decode(errors="replace").split()
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            path = line[1] if len(line) > 1 else "/"
            status, body, kind = 404, b"", "text/plain"
            if path == "/health":
                status, body = 200, b'{"status": "ok"}'
            elif path == "/ready":
                ready = state.role in ("leader", "standby")
                status = 200 if ready else 503
                body = json.dumps({"ready": ready, "role": state.role, "epoch": state.epoch}).encode()
            elif path == "/metrics":
                status, body, kind = 200, generate_latest(registry), "text/plain; version=0.0.4"
            head = f"HTTP/1.1 {status} {_STATUS[status].decode()}\r\nContent-Type: {kind}\r\n"
            writer.write(f"{head}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(probe, config.http.host, config.http.port)
    probes = f"{config.http.host}:{config.http.port}"
    extra = {"node": state.node, "probes": probes, "restarted": restarted, "core": core_build()}
    log.info("core starting", extra=extra)
    deadline = asyncio.create_task(
        stop_deadline.enforce(stop, config.http.shutdown_timeout_seconds), name="stop-deadline"
    )
    try:
        return await run_core(config, state, stop, restarted=restarted)
    finally:
        server.close()
        deadline.cancel()


def step_down(config: Config) -> int:
    """Ask the active core to hand over (it commits what it took, then gives the lease up)."""

    async def ask() -> int:
        client = await bus.connect(config.cluster, "step-down", "core")
        try:
            answer = await client.request(Names.of(config.cluster).step_down, b"", timeout=30)
            print(answer.data.decode())
            return 0
        except Exception as error:
            print(f"no active core answered: {error!r}")
            return 1
        finally:
            await client.close()

    return asyncio.run(ask())

"""The service process: configuration, logging, the HTTP server and the core's life.

Start-up order: listen first (so `/health` answers and `/ready` reports progress),
then recover in the background; trading endpoints answer 503 until recovery and
verification are done.

Shutdown (SIGTERM, or SIGINT): the service drains first. `/ready` turns false at once,
WebSocket clients get a close frame (1001), and every new request is answered 503 with
`Connection: close`, so keep-alive clients learn of the shutdown from an answer rather
than from a connection closed under a request on its way. Once no request has been in
flight for a moment (at most `http.shutdown_timeout_seconds`), the server stops
listening and closes the remaining connections, the sequencer commits everything still
queued, and the process exits with status 0. A second SIGINT forces the exit.
"""

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from types import FrameType
from typing import Final

import uvicorn

from trade_engine.app import root
from trade_engine.app.http import create_app
from trade_engine.app.process import core_build, tune_collector
from trade_engine.app.service import Service
from trade_engine.config import DEV_SECRET, Config
from trade_engine.observability.logging import configure_logging

log = logging.getLogger("trade_engine.service")  # the name operators know
WS_MAX_MESSAGE_BYTES = 64 * 1024
# A drain lasts until no request has been in flight for this long: keep-alive clients
# sending continuously each get a 503 with `Connection: close` in that time.
DRAIN_QUIET_SECONDS: Final = 0.5


def build(config: Config, role: str = "serve") -> tuple[Service, object]:
    service = root.build(config, role)
    background: list[asyncio.Task[None]] = []

    async def startup() -> None:
        background.append(asyncio.create_task(root.start(service), name="recovery"))

    async def shutdown() -> None:
        service.stopping.set()  # a recovery waiting for the database gives up
        for task in background:
            if not task.done():
                await task
        await root.stop(service)

    return service, create_app(service, on_startup=[startup], on_shutdown=[shutdown])


def serve(config: Config, role: str = "serve") -> None:
    """Run the service: `serve` (the whole engine in this process) or a cluster's
    `gateway` (the core in other processes, reached over NATS: docs/cluster.md)."""
    configure_logging(config.logging.level)
    tune_collector()
    if DEV_SECRET in (config.auth.secret, config.auth.api_key_encryption_key):
        log.warning(
            "using the built-in development secret: set TRADE_ENGINE_AUTH_SECRET and "
            "TRADE_ENGINE_AUTH_API_KEY_ENCRYPTION_KEY before exposing this service"
        )
    service, app = build(config, role)
    base = f"http://{config.http.host}:{config.http.port}"
    log.info(
        "starting",
        extra={
            "url": base,
            "docs": f"{base}/docs",
            "openapi": f"{base}/openapi.json",
            "get_a_token": ".venv/bin/trade-engine token --user alice",
            "database": config.database.url.split("@")[-1],
            "role": role,
            "core": core_build(),
        },
    )
    settings = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=config.http.host,
        port=config.http.port,
        loop="uvloop",
        http="httptools",
        # WebSocket: no per-message compression (each message is encoded once and the
        # same bytes go to every subscriber), small client messages, protocol pings
        # that drop peers which stopped answering.
        ws="websockets-sansio",
        ws_max_size=WS_MAX_MESSAGE_BYTES,
        ws_per_message_deflate=False,
        ws_ping_interval=config.websocket.heartbeat_seconds,
        ws_ping_timeout=config.websocket.idle_timeout_seconds,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(1, int(config.http.shutdown_timeout_seconds)),
        server_header=False,
    )
    server = _Server(settings, service)
    server.run()
    if not server.started:
        sys.exit(3)
    if service.exit_code:
        sys.exit(service.exit_code)
    if service.restart_requested:
        # The same command in a fresh process image, under the same process id (its
        # supervisor sees no exit): it recovers from the database like any start-up, as
        # a cluster core that cannot lead on does (cluster/leader.py, `restart`).
        log.info("restarting", extra={"argv": sys.argv})
        logging.shutdown()
        os.execv(sys.executable, [sys.executable, "-m", "trade_engine.cli", *sys.argv[1:]])


class _Server(uvicorn.Server):
    """uvicorn, with a drain before its shutdown (see the module docstring), and our
    close frame (1001) to every WebSocket client."""

    def __init__(self, config: uvicorn.Config, service: Service) -> None:
        super().__init__(config)
        self._service = service
        self._draining: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not uvicorn's: it would exit at once and raise the signal again afterwards
        # (exit status -15). A drained shutdown is a normal exit.
        if self._draining is not None or self.should_exit:
            if sig == signal.SIGINT:
                self.force_exit = True
            return
        log.info("shutdown requested: draining", extra={"signal": signal.Signals(sig).name})
        # From a signal handler: hand the work to the event loop (and wake it).
        asyncio.get_event_loop().call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        if self._draining is None:
            self._draining = asyncio.get_running_loop().create_task(self._drain(), name="drain")

    async def _drain(self) -> None:
        service = self._service
        gateway = service.gateway
        gateway.begin_drain()
        await service.streams.shutdown()
        deadline = time.monotonic() + (self.config.timeout_graceful_shutdown or 0)
        quiet_since = time.monotonic()
        while time.monotonic() < deadline and not self.force_exit:
            if gateway.requests_in_flight:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= DRAIN_QUIET_SECONDS:
                break
            await asyncio.sleep(0.02)
        log.info("drained: closing connections", extra={"in_flight": gateway.requests_in_flight})
        self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self._service.streams.shutdown()
        await super().shutdown(sockets)

"""The service process: configuration, logging, the HTTP server and the core's life.

Start-up order: listen first (so `/health` answers and `/ready` reports progress),
then recover in the background; trading endpoints answer 503 until recovery and
verification are done. On SIGTERM/SIGINT the server stops taking connections, lets
requests in flight finish, then the sequencer commits everything still queued before
the process exits.
"""

import asyncio
import logging
import socket
import sys

import uvicorn

from trade_engine.api.app import create_app
from trade_engine.api.services import Services
from trade_engine.config import DEV_SECRET, Config
from trade_engine.observability.logging import configure_logging

log = logging.getLogger("trade_engine.service")
WS_MAX_MESSAGE_BYTES = 64 * 1024


def build(config: Config) -> tuple[Services, object]:
    services = Services(config)
    background: list[asyncio.Task[None]] = []

    async def startup() -> None:
        background.append(asyncio.create_task(services.start(), name="recovery"))

    async def shutdown() -> None:
        for task in background:
            if not task.done():
                await task
        await services.stop()

    return services, create_app(services, on_startup=[startup], on_shutdown=[shutdown])


def serve(config: Config) -> None:
    configure_logging(config.logging.level)
    if DEV_SECRET in (config.auth.secret, config.auth.api_key_encryption_key):
        log.warning(
            "using the built-in development secret: set TRADE_ENGINE_AUTH_SECRET and "
            "TRADE_ENGINE_AUTH_API_KEY_ENCRYPTION_KEY before exposing this service"
        )
    services, app = build(config)
    base = f"http://{config.http.host}:{config.http.port}"
    log.info(
        "starting",
        extra={
            "url": base,
            "docs": f"{base}/docs",
            "openapi": f"{base}/openapi.json",
            "get_a_token": ".venv/bin/trade-engine token --user alice",
            "database": config.database.url.split("@")[-1],
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
        timeout_graceful_shutdown=int(config.http.shutdown_timeout_seconds),
        server_header=False,
    )
    server = _Server(settings, services)
    server.run()
    if not server.started:
        sys.exit(3)


class _Server(uvicorn.Server):
    """uvicorn, with our close frame (1001) to every WebSocket client at shutdown: sent
    before uvicorn closes the connections itself."""

    def __init__(self, config: uvicorn.Config, services: Services) -> None:
        super().__init__(config)
        self._services = services

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self._services.streams.shutdown()
        await super().shutdown(sockets)

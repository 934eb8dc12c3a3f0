"""Real-time streams, wired together: the hub, the native channels, the sessions.

The composition root creates one `Streams` and calls `start` once the core is
recovered (the channels become a reader of the read model there), `shutdown` when the server begins to shut
down (every client gets a close frame, 1001) and `stop` at the end. Other gateways
reuse `hub` (connections, limits, fan-out) with their own encoders.
"""

import asyncio
import logging
import time
from typing import Any, Final

from trade_engine.domain.errors import TradeEngineError
from trade_engine.edge.asgi import Send
from trade_engine.edge.connection import CLOSE_GRACE_SECONDS, Frame
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.websocket import CLOSE_GOING_AWAY, CLOSE_TRY_AGAIN_LATER, AsgiWebSocket
from trade_engine.marketdata.depth import DepthBook
from trade_engine.marketdata.live import LiveMarketData
from trade_engine.readmodel.views import ReadModel
from trade_engine.ws import protocol
from trade_engine.ws.channels import Channels
from trade_engine.ws.protocol import CLOSE_SLOW_CONSUMER, CLOSE_TOKEN_EXPIRED, Heartbeat
from trade_engine.ws.session import Session, serve
from trade_engine.ws.snapshots import Snapshots

log = logging.getLogger(__name__)

TICK_SECONDS: Final = 1.0
SLOW_CONSUMER_NOTICE: Final = protocol.error(
    None, "SLOW_CONSUMER", "this connection fell too far behind and is closed; reconnect and resubscribe"
)


class Streams:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.config = gateway.config.websocket
        self.token_leeway = gateway.config.auth.leeway_seconds
        self.auth = gateway.auth
        self.limiter = gateway.limiter
        self.metrics = gateway.metrics
        self.hub = gateway.hub
        self.sessions: dict[Session, None] = {}
        self._channels: Channels | None = None
        self._snapshots: Snapshots | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._shutting_down = False

    @property
    def channels(self) -> Channels:
        assert self._channels is not None
        return self._channels

    @property
    def snapshots(self) -> Snapshots:
        assert self._snapshots is not None
        return self._snapshots

    @property
    def storage_failed(self) -> bool:
        """The core stopped on a storage failure: it will not commit again until it is
        rebuilt, so no new subscriber is served a state that may be left behind."""
        status = self.gateway.core_status()
        return status is not None and status.failed

    # -- lifecycle --

    def start(self, read_model: ReadModel, depth: DepthBook, live: LiveMarketData) -> None:
        """Once recovered, before the first command; `channels.on_view` must then read
        every committed batch (the composition root subscribes it)."""
        self._channels = Channels(
            self.hub,
            read_model=read_model,
            depth=depth,
            live=live,
            flush_interval=self.config.flush_interval_ms / 1000,
            observe_wait=self.metrics.ws_flush_wait.observe,
        )
        self._snapshots = Snapshots(self._channels)
        self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="ws-tick")

    async def shutdown(self) -> None:
        """Send every client what is pending, then a close frame (1001); wait for them."""
        if self._shutting_down:
            return
        self._shutting_down = True
        if self._channels is not None:
            self._channels.flush()
        sessions = list(self.sessions)
        for session in sessions:
            session.close(CLOSE_GOING_AWAY, "server shutting down")
        if sessions:
            log.info("closing websocket clients", extra={"clients": len(sessions)})
            await asyncio.wait(
                [asyncio.ensure_future(session.finish()) for session in sessions],
                timeout=CLOSE_GRACE_SECONDS + 1,
            )

    async def stop(self) -> None:
        await self.shutdown()
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    # -- connections --

    async def serve(self, socket: AsgiWebSocket) -> None:
        await serve(socket, self)

    def refusal(self, socket: AsgiWebSocket) -> tuple[int, str, str] | None:
        """Why a new connection cannot be served: (close code, error code, message)."""
        if self._shutting_down:
            return CLOSE_GOING_AWAY, "UNAVAILABLE", "the server is shutting down"
        if self._channels is None:
            return CLOSE_TRY_AGAIN_LATER, "NOT_READY", "the service is recovering; retry shortly"
        try:
            socket.count_against(self.limiter)
        except TradeEngineError as error:
            return CLOSE_TRY_AGAIN_LATER, error.code, error.message
        return None

    def too_many_clients(self) -> tuple[int, str, str]:
        limit = self.hub.max_clients
        return CLOSE_TRY_AGAIN_LATER, "TOO_MANY_CLIENTS", f"the server has its maximum of {limit} clients"

    def open_session(self, send: Send, *, batching: bool = False) -> Session | None:
        session = Session(
            send,
            **self.connection_limits(),
            slow_consumer_notice=SLOW_CONSUMER_NOTICE,
            slow_consumer_code=CLOSE_SLOW_CONSUMER,
            latency=self.metrics.ws_latency,
            batching=batching,
        )
        if not self.hub.register(session):
            return None
        self.sessions[session] = None
        session.start()
        return session

    def connection_limits(self) -> dict[str, Any]:
        return self.gateway.connection_limits()

    def close_session(self, session: Session) -> None:
        self.hub.unregister(session)
        self.sessions.pop(session, None)

    # -- housekeeping --

    async def _tick(self) -> None:
        """Each second: clients that fell behind, tickers whose window slid, expired
        tokens; heartbeats when due."""
        loop = asyncio.get_running_loop()
        next_heartbeat = loop.time() + self.config.heartbeat_seconds
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.hub.check_backlogs(loop.time())
                self.channels.tick()
                now = time.time()
                leeway = self.token_leeway
                for session in list(self.sessions):
                    if session.expires_at is not None and now > session.expires_at + leeway:
                        session.fail(None, "TOKEN_EXPIRED", "the token has expired; reconnect with a new one")
                        session.close(CLOSE_TOKEN_EXPIRED, "token expired")
                if loop.time() >= next_heartbeat:
                    next_heartbeat = loop.time() + self.config.heartbeat_seconds
                    frame = Frame(protocol.encode(Heartbeat(int(now * 1000))))
                    for session in list(self.sessions):
                        session.offer(frame)
            except Exception:
                log.exception("websocket housekeeping failed")

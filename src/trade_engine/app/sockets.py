"""The WebSocket endpoints, routed straight on ASGI (see edge/websocket.py for why).

`/ws` speaks the protocol its client's first frame chooses: the native protocol's
requests have `op` (docs/websocket.md), Binance's have `method` (SUBSCRIBE, UNSUBSCRIBE,
LIST_SUBSCRIPTIONS, ...: binance/ws.py). `/ws/<streams>` (market streams or a listen
key), `/stream?streams=` and `/ws-api/v3` are Binance's only. Any other path refuses
the handshake. Connection attempts count against the per-IP rate limit inside each
endpoint, so that a refused client is told why; `/ws` counts a client that says
nothing at first before it waits for it, and such clients count against the maximum
of clients while they wait (else any number could sit in that wait).
"""

import asyncio
from collections.abc import Awaitable, Callable

from trade_engine.app.service import Service
from trade_engine.binance.ws import combined_streams, raw_streams, speaks_binance
from trade_engine.binance.ws_api import websocket_api
from trade_engine.domain.errors import TradeEngineError
from trade_engine.edge.asgi import Receive, Scope, Send
from trade_engine.edge.websocket import CLOSE_POLICY_VIOLATION, CLOSE_TRY_AGAIN_LATER, AsgiWebSocket
from trade_engine.ws.protocol import CLOSE_IDLE
from trade_engine.ws.session import refuse


def websocket_routes(service: Service) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The handler of every WebSocket connection."""
    gateway = service.gateway
    user_data = service.user_data
    undecided = 0  # `/ws` clients waited for: not in the hub yet

    def native_at_once(socket: AsgiWebSocket) -> bool:
        """A client the native protocol answers before it sends anything: one that
        authenticates by header or asks for batches (only native clients do), or one
        that is refused (not ready, shutting down, no room)."""
        hub = gateway.hub
        return (
            "authorization" in socket.headers
            or "batch" in socket.query_params
            or not gateway.is_ready
            or gateway.draining
            or len(hub) >= hub.max_clients
        )

    async def either(socket: AsgiWebSocket) -> None:
        """`/ws`: wait (as long as the native protocol lets a client idle) for the first
        frame, and serve the protocol it speaks."""
        nonlocal undecided
        if native_at_once(socket):
            await service.streams.serve(socket)
            return
        # Turned away as every client the server turns away is: natively (docs/websocket.md).
        try:
            socket.count_against(gateway.limiter)
        except TradeEngineError as refused:
            await refuse(socket, CLOSE_TRY_AGAIN_LATER, refused.code, refused.message)
            return
        hub = gateway.hub
        if len(hub) + undecided >= hub.max_clients:
            await refuse(socket, *service.streams.too_many_clients())
            return
        undecided += 1
        try:
            async with asyncio.timeout(gateway.config.websocket.idle_timeout_seconds):
                first = await socket.first_message()
        except TimeoutError:
            await socket.close(CLOSE_IDLE, "idle timeout")
            return
        except OSError:  # the client went away mid-handshake
            return
        finally:
            undecided -= 1
        if first["type"] == "websocket.disconnect":
            return
        if speaks_binance(first):
            await raw_streams(socket, "", gateway, user_data)
        else:
            await service.streams.serve(socket)

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        socket = AsgiWebSocket(scope, receive, send)
        path = socket.path
        if path == "/ws":
            await either(socket)
        elif path.startswith("/ws/"):
            await raw_streams(socket, path.removeprefix("/ws/"), gateway, user_data)
        elif path == "/stream":
            await combined_streams(socket, gateway, user_data)
        elif path == "/ws-api/v3":
            await websocket_api(socket, gateway, user_data, service.binance_limits)
        else:
            await socket.close(CLOSE_POLICY_VIOLATION, "no WebSocket endpoint here")

    return serve

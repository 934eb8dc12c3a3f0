"""The WebSocket endpoints, routed straight on ASGI (see edge/websocket.py for why).

`/ws` is the native protocol (docs/websocket.md); `/ws/<streams>` (market streams or a
listen key), `/stream?streams=` and `/ws-api/v3` are the Binance-compatible ones. Any other path refuses
the handshake. Connection attempts count against the per-IP rate limit inside each
endpoint, so that a refused client is told why.
"""

from collections.abc import Awaitable, Callable

from trade_engine.app.root import Service
from trade_engine.binance.ws import combined_streams, raw_streams
from trade_engine.binance.ws_api import websocket_api
from trade_engine.edge.asgi import Receive, Scope, Send
from trade_engine.edge.websocket import AsgiWebSocket

CLOSE_POLICY_VIOLATION = 1008


def websocket_routes(service: Service) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The handler of every WebSocket connection."""
    gateway = service.gateway
    user_data = service.user_data

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        socket = AsgiWebSocket(scope, receive, send)
        path = socket.path
        if path == "/ws":
            await service.streams.serve(socket)
        elif path.startswith("/ws/"):
            await raw_streams(socket, path.removeprefix("/ws/"), gateway, user_data)
        elif path == "/stream":
            await combined_streams(socket, gateway, user_data)
        elif path == "/ws-api/v3":
            await websocket_api(socket, gateway, user_data)
        else:
            await socket.close(CLOSE_POLICY_VIOLATION, "no WebSocket endpoint here")

    return serve

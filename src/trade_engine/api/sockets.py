"""The WebSocket endpoints, routed straight on ASGI (see ws/asgi.py for why).

`/ws` is the native protocol (docs/websocket.md); `/ws/<streams>`, `/stream?streams=`
and `/ws-api/v3` are the Binance-compatible ones. Any other path refuses the handshake.
Connection attempts count against the per-IP rate limit inside each endpoint, so that
a refused client is told why.
"""

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from trade_engine.api.services import Services
from trade_engine.binance.ws import combined_streams, raw_streams, websocket_api
from trade_engine.ws.asgi import AsgiWebSocket

CLOSE_POLICY_VIOLATION = 1008


def websocket_routes(app: ASGIApp, services: Services) -> ASGIApp:
    """Wraps `app` (outside the framework, which routes before its middleware runs):
    every WebSocket connection is served here; everything else goes on to `app`."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.WEBSOCKET:
            await app(scope, receive, send)
            return
        socket = AsgiWebSocket(scope, receive, send)
        path = socket.path
        if path == "/ws":
            await services.streams.serve(socket)
        elif path.startswith("/ws/"):
            await raw_streams(socket, path.removeprefix("/ws/"), services)
        elif path == "/stream":
            await combined_streams(socket, services)
        elif path == "/ws-api/v3":
            await websocket_api(socket, services)
        else:
            await socket.close(CLOSE_POLICY_VIOLATION, "no WebSocket endpoint here")

    return middleware

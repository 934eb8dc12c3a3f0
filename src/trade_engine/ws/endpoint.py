"""The `/ws` route of the HTTP application (registered in api/app.py)."""

from typing import Any

from litestar import WebSocket, websocket

from trade_engine.api.services import Services


# Connection attempts count against the per-IP rate limit inside, so that a refused
# client is told why (a guard could only reject the handshake with a bare 403).
@websocket("/ws", opt={"rate_limited": False})
async def websocket_endpoint(socket: WebSocket[Any, Any, Any], services: Services) -> None:
    """The native WebSocket API: public market channels and private account channels
    (docs/websocket.md)."""
    await services.streams.serve(socket)

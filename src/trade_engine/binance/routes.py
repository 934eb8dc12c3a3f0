"""What the app mounts of the Binance-compatible API over HTTP: the `/api/v3` router (its
WebSocket endpoints are routed in api/sockets.py)."""

from litestar.types import ControllerRouterHandler

from trade_engine.binance.rest import router

handlers: list[ControllerRouterHandler] = [router]

"""What the app mounts: the `/api/v3` REST router and the WebSocket endpoints."""

from litestar.types import ControllerRouterHandler

from trade_engine.binance.rest import router
from trade_engine.binance.ws import combined_streams, raw_streams, websocket_api

handlers: list[ControllerRouterHandler] = [router, raw_streams, combined_streams, websocket_api]

"""The HTTP application: the native API's routes and the Binance-compatible API's, the
WebSocket endpoints, all on the framework-free edge (edge/app.py)."""

from collections.abc import Awaitable, Callable
from typing import Final

import msgspec

from trade_engine.api import routes as native_routes
from trade_engine.api.native import ERROR_TYPE, NativeApi, answer_type
from trade_engine.api.services import Services
from trade_engine.api.sockets import websocket_routes
from trade_engine.binance import routes as binance_routes
from trade_engine.binance.api import BinanceApi
from trade_engine.edge.app import EdgeApp
from trade_engine.edge.openapi import document
from trade_engine.edge.router import Router
from trade_engine.web import security
from trade_engine.web.pages import web_routes

TITLE: Final = "Trade Engine API"
DESCRIPTION: Final = "Native REST API. Amounts are decimal strings; times are Unix milliseconds."


def create_app(
    services: Services,
    *,
    on_startup: list[Callable[[], Awaitable[None]]] | None = None,
    on_shutdown: list[Callable[[], Awaitable[None]]] | None = None,
) -> EdgeApp:
    native = NativeApi(services.auth, services.limiter)
    binance = BinanceApi()
    routes = [
        *native_routes.routes(services, native),
        *binance_routes.routes(services, binance),
        *web_routes(native),
    ]
    services.openapi = msgspec.json.encode(
        document(
            routes,
            title=TITLE,
            version="1",
            description=DESCRIPTION,
            answer_type=answer_type,
            error_type=ERROR_TYPE,
        )
    )

    def in_flight(change: int) -> None:
        services.requests_in_flight += change

    return EdgeApp(
        Router(routes),
        apis=((binance_routes.PREFIX, binance), ("/sapi", binance), ("", native)),
        limiter=services.limiter,
        metrics=services.metrics,
        body_limit=services.config.http.max_body_bytes,
        websocket=websocket_routes(services),
        draining=lambda: services.draining,
        in_flight=in_flight,
        headers=security.HEADERS,
        on_startup=on_startup or [],
        on_shutdown=on_shutdown or [],
    )

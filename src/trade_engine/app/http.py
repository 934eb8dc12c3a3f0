"""The HTTP application: the native API's routes and the Binance-compatible API's, the
web page, the WebSocket endpoints, all on the framework-free edge (edge/app.py)."""

from collections.abc import Awaitable, Callable
from typing import Final

import msgspec

from trade_engine.api import routes as native_routes
from trade_engine.api.native import ERROR_TYPE, NativeApi, answer_type
from trade_engine.app.service import Service
from trade_engine.app.sockets import websocket_routes
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
    service: Service,
    *,
    on_startup: list[Callable[[], Awaitable[None]]] | None = None,
    on_shutdown: list[Callable[[], Awaitable[None]]] | None = None,
) -> EdgeApp:
    gateway = service.gateway
    native = NativeApi(gateway.auth, gateway.limiter)
    binance = BinanceApi(service.binance_limits)
    routes = [
        *native_routes.routes(gateway, native, service.audit),
        *binance_routes.routes(gateway, binance),
        *web_routes(native),
    ]
    gateway.openapi = msgspec.json.encode(
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
        gateway.requests_in_flight += change

    return EdgeApp(
        Router(routes),
        apis=(*((prefix, binance) for prefix in binance_routes.PREFIXES), ("", native)),
        limiter=gateway.limiter,
        metrics=gateway.metrics,
        body_limit=gateway.config.http.max_body_bytes,
        websocket=websocket_routes(service),
        draining=lambda: gateway.draining,
        in_flight=in_flight,
        headers=security.HEADERS,
        # A gateway of a cluster first catches up with what the core has answered
        # through other gateways (read-your-writes across gateways).
        before_route=gateway.caught_up if service.role.catch_up_before_requests else None,
        on_startup=on_startup or [],
        on_shutdown=on_shutdown or [],
    )

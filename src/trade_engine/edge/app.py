"""The ASGI application: every request of every API enters here, with no framework.

For each HTTP request: a request id (the client's `X-Request-ID`, or a new one) on the
response and every log line; while the service drains, 503 with `Connection: close`;
the per-address rate limit (probes and scrapes excepted: behind a proxy they share an
address with the traffic); the route (`router.py`); the answer, or the error rendered by
the API the path belongs to (the error table, `errors.py`); latency and status metrics.
WebSocket connections go to `websocket`; the lifespan protocol runs `on_startup` and
`on_shutdown`.
"""

import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.edge.asgi import Receive, Scope, Send
from trade_engine.edge.errors import internal_error
from trade_engine.edge.http import Request, Response, send_response
from trade_engine.edge.ratelimit import RateLimiter
from trade_engine.edge.router import OPTIONS, Router, run
from trade_engine.edge.routes import Api
from trade_engine.observability.logging import request_id
from trade_engine.observability.metrics import Metrics
from trade_engine.storage.database import StorageUnavailable

log = logging.getLogger(__name__)

NOT_RATE_LIMITED: Final = frozenset({"/health", "/ready", "/metrics"})
_ID_PREFIX: Final = uuid.uuid4().hex[:12]  # unique per process; a counter within it
_ids = itertools.count(1)

Hook = Callable[[], Awaitable[None]]
WebSocketHandler = Callable[[Scope, Receive, Send], Awaitable[None]]


class EdgeApp:
    def __init__(
        self,
        router: Router,
        *,
        apis: Sequence[tuple[str, Api]],
        limiter: RateLimiter,
        metrics: Metrics,
        body_limit: int,
        websocket: WebSocketHandler,
        draining: Callable[[], bool],
        in_flight: Callable[[int], None],
        headers: Sequence[tuple[bytes, bytes]] = (),
        before_route: Hook | None = None,
        on_startup: Sequence[Hook] = (),
        on_shutdown: Sequence[Hook] = (),
    ) -> None:
        """`apis`: (path prefix, API) pairs, longest prefix first; the last one (prefix
        "") answers for every other path. `headers` go on every HTTP response;
        `before_route` runs before every route but the probes (it may refuse with an error)."""
        self.router = router
        self._apis = tuple(apis)
        self._limiter = limiter
        self._metrics = metrics
        self._body_limit = body_limit
        self._websocket = websocket
        self._draining = draining
        self._in_flight = in_flight
        self._headers = tuple(headers)
        self._before_route = before_route
        self._startup = tuple(on_startup)
        self._shutdown = tuple(on_shutdown)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    def api_for(self, path: str) -> Api:
        for prefix, api in self._apis:
            if path.startswith(prefix):
                return api
        raise AssertionError("the last API answers for every path")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        incoming = request.header(b"x-request-id") or ""
        rid = incoming if 0 < len(incoming) <= 64 and incoming.isascii() else f"{_ID_PREFIX}-{next(_ids):x}"
        token = request_id.set(rid)
        started = time.perf_counter()
        template = "unmatched"
        status = 500
        self._in_flight(1)
        try:
            response, template = await self._answer(request)
            status = response.status
            answered = time.perf_counter()
            await send_response(send, response, ((b"x-request-id", rid.encode()), *self._headers))
            self._metrics.api_send.add(time.perf_counter() - answered)
        finally:
            self._in_flight(-1)
            metrics = self._metrics
            metrics.route_seconds(template, request.method).observe(time.perf_counter() - started)
            metrics.responses_of(str(status)).inc()
            request_id.reset(token)

    async def _answer(self, request: Request) -> tuple[Response, str]:
        """The response, and the route template it came from (for the metrics)."""
        path = request.path
        try:
            if path not in NOT_RATE_LIMITED:
                if self._draining():
                    stopping = TradeEngineError(
                        ErrorCode.UNAVAILABLE, "the service is shutting down; retry shortly"
                    )
                    response = self._error(self.api_for(path), stopping)
                    response.headers.append(("Connection", "close"))
                    return response, "unmatched"
                self._limiter.check_ip(request.client_host)
            found = self.router.match(request)
            route = found.route
            if route is None:
                if request.method == OPTIONS and found.allowed:
                    return Response(204, headers=[("Allow", ", ".join(found.allowed))]), "unmatched"
                api = self.api_for(path)
                if found.allowed:
                    refused = TradeEngineError(ErrorCode.METHOD_NOT_ALLOWED, "Method Not Allowed")
                    response = api.render_unrouted(request, refused)
                    response.headers.append(("Allow", ", ".join(found.allowed)))
                    return response, "unmatched"
                not_found = TradeEngineError(ErrorCode.NOT_FOUND, "Not Found")
                return api.render_unrouted(request, not_found), "unmatched"
            try:
                if self._before_route is not None and path not in NOT_RATE_LIMITED:
                    await self._before_route()
                return await run(route, request, self._body_limit), route.path
            except Exception as error:
                return self._error(route.api, error), route.path
        except Exception as error:
            return self._error(self.api_for(path), error), "unmatched"

    def _error(self, api: Api, error: Exception) -> Response:
        if isinstance(error, StorageUnavailable):
            log.warning("database unavailable", extra={"error": error.reason})
        response = api.render_error(error)
        if response is None:
            log.error("unhandled error", exc_info=error)
            response = api.render_error(internal_error())
            assert response is not None
        return response

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                for hook in self._startup:
                    await hook()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for hook in self._shutdown:
                    await hook()
                await send({"type": "lifespan.shutdown.complete"})
                return

"""The order path without the framework: placing and cancelling, straight on ASGI.

Placing and cancelling are most of an exchange's traffic. Litestar's routing, signature
models and dependency injection cost more per request than the whole order path itself
(measured: ~100 us of ~230 us of CPU per request), so these two routes are served here
directly with msgspec. The route handlers in app.py remain the documented (OpenAPI)
definition of the same endpoints and share all their logic with this module:
authentication, the command, the sequencer, the rendering and the error envelope are the
same functions. Requests this path does not recognise (another content type, another
route) go to Litestar unchanged.
"""

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Final

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Receive, Scope, Send

from trade_engine.api.auth import TRADER, Principal
from trade_engine.api.errors import STATUS_OF, ApiError, envelope
from trade_engine.api.schemas import Envelope, OrderView, PlaceOrderBody
from trade_engine.api.services import Services
from trade_engine.domain.errors import TradeEngineError
from trade_engine.storage.database import StorageUnavailable

log = logging.getLogger(__name__)

ORDERS: Final = "/api/v1/orders"
_CANCEL_PREFIX: Final = ORDERS + "/"
_decoder: Final = msgspec.json.Decoder(PlaceOrderBody)
_encoder: Final = msgspec.json.Encoder()
# An order id: ASCII digits only (str.isdigit() and int() also take other scripts' digits).
_ID: Final = re.compile(r"[1-9][0-9]{0,18}")


PlaceLogic = Callable[[Services, Principal, PlaceOrderBody], Awaitable[OrderView]]
CancelLogic = Callable[[Services, str, int | None, str | None], Awaitable[OrderView]]


def order_fast_path(place: PlaceLogic, cancel: CancelLogic) -> Callable[[ASGIApp], ASGIApp]:
    """Middleware serving the two order routes with the routes' own logic."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP:
                method, path = scope["method"], scope["path"]
                if method == "POST" and path == ORDERS and _is_json(scope):
                    scope["path_template"] = ORDERS

                    async def placing(services: Services, principal: Principal) -> OrderView:
                        return await _place(services, principal, receive, place)

                    await _serve(scope, send, 201, placing)
                    return
                tail = path[len(_CANCEL_PREFIX) :]
                # Ids outside 1..2**63-1 go to the framework, which refuses them (400).
                if method == "DELETE" and path.startswith(_CANCEL_PREFIX) and _valid_id(tail):
                    scope["path_template"] = ORDERS + "/{order_id:int}"
                    order_id = int(tail)

                    async def cancelling(services: Services, principal: Principal) -> OrderView:
                        return await cancel(services, principal.user_id, order_id, None)

                    await _serve(scope, send, 200, cancelling)
                    return
            await app(scope, receive, send)

        return middleware

    return wrap


def _valid_id(text: str) -> bool:
    return _ID.fullmatch(text) is not None and int(text) < 2**63


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/json"
    return False


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return value.decode("latin-1")
    return None


async def _body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ApiError("VALIDATION_ERROR", "the client went away")
        chunk = message["body"]
        size += len(chunk)
        if size > limit:
            raise ApiError("BODY_TOO_LARGE", f"the request body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


Logic = Callable[[Services, Principal], Awaitable[OrderView]]


async def _serve(scope: Scope, send: Send, status: int, logic: Logic) -> None:
    services: Services = scope["app"].state.services
    headers: dict[str, str] = {}
    try:
        principal = services.auth.authenticate(_header(scope, b"authorization"))
        services.limiter.check_user(principal.user_id)
        if TRADER not in principal.roles:
            raise ApiError("FORBIDDEN", "this action needs the trader role")
        body = _encoder.encode(Envelope(data=await logic(services, principal)))
    except ApiError as error:
        status, headers = error.status, error.headers
        body = _encoder.encode(envelope(error.code, error.message, error.details))
    except TradeEngineError as error:
        status = STATUS_OF.get(error.code.value, 400)
        body = _encoder.encode(envelope(error.code.value, error.message, error.details or None))
    except StorageUnavailable as failure:
        log.warning("database unavailable", extra={"error": str(failure)})
        unavailable = ApiError("UNAVAILABLE", "the database is unavailable; retry shortly")
        status, headers = unavailable.status, unavailable.headers
        body = _encoder.encode(envelope(unavailable.code, unavailable.message))
    except Exception:
        log.exception("unhandled error on the order path")
        status, body = 500, _encoder.encode(envelope("INTERNAL_ERROR", "an internal error occurred"))
    await _respond(send, status, body, headers)


async def _place(services: Services, principal: Principal, receive: Receive, place: PlaceLogic) -> OrderView:
    raw = await _body(receive, services.config.http.max_body_bytes)
    try:
        data = _decoder.decode(raw)
    except msgspec.ValidationError as error:
        details = [_validation_detail(str(error))]
        raise ApiError("VALIDATION_ERROR", "the request is not valid", details=details) from error
    except msgspec.DecodeError as error:
        raise ApiError("VALIDATION_ERROR", "the request body is not valid JSON") from error
    return await place(services, principal, data)


def _validation_detail(text: str) -> dict[str, str]:
    """msgspec's "<message> - at `$.<key>`" in the shape Litestar's validation uses."""
    message, _, where = text.partition(" - at `$")
    return {"message": message, "key": where.strip("`").lstrip("."), "source": "body"}


async def _respond(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(key.lower().encode(), value.encode()) for key, value in headers.items()]
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": raw_headers}
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})

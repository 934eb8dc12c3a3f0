"""How the native API answers: bearer tokens, `{"success": true, "data": ...}`, and the
error envelope with the status the error table gives (edge/errors.py)."""

from typing import Any, Final

import msgspec

from trade_engine.api.schemas import Envelope, ErrorEnvelope
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.edge.auth import ADMIN, TRADER, Authenticator, Principal
from trade_engine.edge.errors import envelope, headers_of, status_of
from trade_engine.edge.http import Request, Response
from trade_engine.edge.ratelimit import RateLimiter
from trade_engine.edge.routes import Access, Route

_encode: Final = msgspec.json.Encoder().encode


class NativeApi:
    def __init__(self, auth: Authenticator, limiter: RateLimiter) -> None:
        self._auth = auth
        self._limiter = limiter

    def authenticate(self, request: Request, access: Access) -> Principal | None:
        if access is Access.PUBLIC:
            return None
        principal = self._auth.authenticate(request.header(b"authorization"))
        self._limiter.check_user(principal.user_id)
        if access is Access.TRADER and TRADER not in principal.roles:
            raise TradeEngineError(ErrorCode.FORBIDDEN, "this action needs the trader role")
        if access is Access.ADMIN and ADMIN not in principal.roles:
            raise TradeEngineError(ErrorCode.FORBIDDEN, "this action needs the admin role")
        return principal

    def render(self, route: Route, data: object) -> Response:
        if isinstance(data, Response):
            return data
        return Response(route.status, _encode(Envelope(data=data)))

    def render_error(self, error: Exception) -> Response | None:
        if not isinstance(error, TradeEngineError):
            return None
        return Response(status_of(error.code), _encode(envelope(error)), headers=headers_of(error).items())

    def render_unrouted(self, request: Request, error: TradeEngineError) -> Response:
        response = self.render_error(error)
        assert response is not None
        return response


def answer_type(route: Route) -> Any:
    """What a native route's answer body is, for the OpenAPI document."""
    if route.data_type is None or route.raw:
        return route.data_type
    return Envelope[route.data_type]  # type: ignore[name-defined]


ERROR_TYPE: Final = ErrorEnvelope

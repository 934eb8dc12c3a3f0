"""How the Binance-compatible API answers: plain JSON, and `{"code", "msg"}` for every
error, its own or one of the error table's (binance/errors.py). A request that no route
takes is charged its weight all the same (limits.py), as Binance charges every request."""

from typing import Final

import msgspec

from trade_engine.binance.errors import BinanceError, from_engine
from trade_engine.binance.limits import UNROUTED_WEIGHT, BinanceLimits
from trade_engine.domain.errors import TradeEngineError
from trade_engine.edge.auth import Principal
from trade_engine.edge.http import Request, Response
from trade_engine.edge.routes import Access, Route

_encode: Final = msgspec.json.Encoder().encode


class Answer:
    """A handler's data and the headers its answer carries (the rate-limit counts)."""

    __slots__ = ("data", "headers")

    def __init__(self, data: object, headers: dict[str, str]) -> None:
        self.data = data
        self.headers = headers


class BinanceApi:
    def __init__(self, limits: BinanceLimits) -> None:
        self.limits = limits

    def authenticate(self, request: Request, access: Access) -> Principal | None:
        """Signed requests are verified by each handler (binance/auth.py): the signature
        covers the raw query and body, which only the handler reads."""
        return None

    def render(self, route: Route, data: object) -> Response:
        if isinstance(data, Answer):
            return Response(route.status, _encode(data.data), headers=data.headers.items())
        return Response(route.status, _encode(data))

    def render_error(self, error: Exception) -> Response | None:
        if isinstance(error, TradeEngineError):
            error = from_engine(error)
        if not isinstance(error, BinanceError):
            return None
        return Response(error.status, _encode(error.body()), headers=error.headers.items())

    def render_unrouted(self, request: Request, error: TradeEngineError) -> Response:
        budget = self.limits.admit(request.client_host, UNROUTED_WEIGHT)
        answer = from_engine(budget.refusal or error)
        headers = {**budget.headers, **answer.headers}
        return Response(answer.status, _encode(answer.body()), headers=headers.items())

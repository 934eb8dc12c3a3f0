"""Finding a request's route, and running it: match, authenticate, validate, call, answer.

Paths without parameters are found by one dictionary lookup (the order routes are
among them, so the busiest requests pay the least); the others are tried in order. A
path that some route matches with another method answers 405 with `Allow`; `OPTIONS`
on it answers 204 with every method the path takes. Nothing here knows an API's
formats: the route's `Api` authenticates and renders its answers and errors.
"""

from collections.abc import Sequence
from typing import Final

import msgspec

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.edge.client_json import decode
from trade_engine.edge.http import Request, Response
from trade_engine.edge.routes import Call, Route, from_text, validation_error

OPTIONS: Final = "OPTIONS"


class Match:
    """What a path found: a route for its method, or the methods it takes."""

    __slots__ = ("allowed", "route")

    def __init__(self, route: Route | None, allowed: tuple[str, ...]) -> None:
        self.route = route
        self.allowed = allowed


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)
        self._static: dict[str, dict[str, Route]] = {}
        self._templated: list[Route] = []
        for route in routes:
            if route.params:
                self._templated.append(route)
            else:
                self._static.setdefault(route.path, {})[route.method] = route

    def match(self, request: Request) -> Match:
        """The route for the request (its path parameters set on it), or what the path allows."""
        path, method = request.path, request.method
        static = self._static.get(path)
        if static is not None:
            route = static.get(method)
            if route is not None:
                return Match(route, ())
        allowed = set(static or ())
        for route in self._templated:
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            if route.method == method:
                request.path_params = dict(zip(route.params, found.groups(), strict=True))
                return Match(route, ())
            allowed.add(route.method)
        return Match(None, tuple(sorted(allowed | {OPTIONS})) if allowed else ())


async def run(route: Route, request: Request, body_limit: int) -> Response:
    """Authenticate, validate the path, query and body against the route's types, call
    the handler and render its answer."""
    principal = route.api.authenticate(request, route.access)
    path = from_text(request.path_params, route.path_type, "path") if route.path_type else None
    query = from_text(request.query, route.query_type, "query") if route.query_type else None
    body = None
    if route.body_type is not None:
        raw = await request.body(body_limit)
        body = decode_body(raw, route.body_type)
    data = await route.handler(Call(request, principal, path, query, body))
    return route.api.render(route, data)


_DECODERS: dict[type, msgspec.json.Decoder[object]] = {}


def decode_body(raw: bytes, kind: type[msgspec.Struct]) -> object:
    decoder = _DECODERS.get(kind)
    if decoder is None:
        decoder = _DECODERS[kind] = msgspec.json.Decoder(kind)
    try:
        return decode(decoder, raw)
    except msgspec.ValidationError as error:
        raise validation_error(str(error), "body") from error
    except msgspec.DecodeError as error:
        raise TradeEngineError(ErrorCode.VALIDATION_ERROR, "the request body is not valid JSON") from error

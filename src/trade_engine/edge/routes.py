"""Routes: what a request may be, stated once as data, for validation and documentation.

A `Route` names its method and path template, who may call it, and the msgspec types
of its path parameters, query and body. The router (`router.py`) validates a request
against those types before the handler runs, and the OpenAPI document (`openapi.py`) is
generated from the same types, so the two cannot disagree.

Path templates mark parameters as `{name}` (one segment of any text), `{name:int}` (one
segment of ASCII digits, optionally signed: anything else is no match, 404) or
`{name:path}` (the rest of the path). Query and path text is converted strictly: an
integer is ASCII digits (`-?[0-9]+`), a boolean `true` or `false`, never a float,
an exponent or another script's digits.
"""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Protocol, TypeVar

import msgspec
from msgspec import inspect

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.edge.auth import Principal
from trade_engine.edge.http import Request, Response

_INTEGER: Final = re.compile(r"-?[0-9]{1,40}")
_PARAM: Final = re.compile(r"\{([a-z_]+)(?::(int|path))?\}")
T = TypeVar("T")


class Access(Enum):
    PUBLIC = "public"  # anyone
    USER = "user"  # any authenticated user
    TRADER = "trader"  # the trader role
    ADMIN = "admin"  # the admin role
    OWN = "own"  # the API authenticates by its own means (signed requests)


class Call:
    """A validated request, as a handler receives it."""

    __slots__ = ("body", "path", "principal", "query", "request")

    def __init__(
        self, request: Request, principal: Principal | None, path: Any, query: Any, body: Any
    ) -> None:
        self.request = request
        self.principal = principal
        self.path = path
        self.query = query
        self.body = body

    def user(self) -> Principal:
        assert self.principal is not None, "an authenticated route"
        return self.principal

    def path_as(self, kind: type[T]) -> T:
        assert isinstance(self.path, kind)
        return self.path

    def query_as(self, kind: type[T]) -> T:
        assert isinstance(self.query, kind)
        return self.query

    def body_as(self, kind: type[T]) -> T:
        assert isinstance(self.body, kind)
        return self.body


Handler = Callable[[Call], Awaitable[object]]


class Api(Protocol):
    """How the routes of one API answer: their authentication, their data and errors."""

    def authenticate(self, request: Request, access: Access) -> Principal | None: ...

    def render(self, route: "Route", data: object) -> Response: ...

    def render_error(self, error: Exception) -> Response | None:
        """The answer to `error`, or None if this API leaves it to the edge."""

    def render_unrouted(self, request: Request, error: TradeEngineError) -> Response:
        """The answer to a request under this API's paths that no route takes (404, or
        405): an API that charges every request (Binance's weights) charges it here."""


@dataclass(frozen=True, eq=False)
class Route:
    method: str
    path: str
    handler: Handler
    api: Api
    status: int = 200
    access: Access = Access.PUBLIC
    path_type: type[msgspec.Struct] | None = None
    query_type: type[msgspec.Struct] | None = None
    body_type: type[msgspec.Struct] | None = None
    data_type: object = None  # what the answer carries, for the documentation
    raw: bool = False  # the answer is the data itself, not wrapped in the API's envelope
    media_type: str = "application/json"
    tags: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()  # documented error statuses (the API's error body)
    also: tuple[int, ...] = ()  # other statuses answered with the same body as success
    documented: bool = True
    # Derived when the route is built:
    pattern: re.Pattern[str] = field(init=False)
    params: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        pattern, names, at = "", [], 0
        for match in _PARAM.finditer(self.path):
            pattern += re.escape(self.path[at : match.start()])
            kind = match.group(2)
            pattern += {"int": r"(-?[0-9]+)", "path": r"(.*)"}.get(kind or "", r"([^/]+)")
            names.append(match.group(1))
            at = match.end()
        pattern += re.escape(self.path[at:])
        object.__setattr__(self, "pattern", re.compile(pattern))
        object.__setattr__(self, "params", tuple(names))

    @property
    def template(self) -> str:
        """The path as OpenAPI writes it: `{name}` whatever the kind."""
        return _PARAM.sub(lambda match: "{" + match.group(1) + "}", self.path)

    @property
    def summary(self) -> str:
        doc = (self.handler.__doc__ or "").strip()
        return doc.split("\n\n")[0].replace("\n", " ")


# -- strict text conversion (path and query) -------------------------------------------------


def from_text(values: dict[str, str], kind: type[msgspec.Struct], source: str) -> msgspec.Struct:
    """`values` (text, as a path or query string carries it) as `kind`, or a 400."""
    fields = _field_kinds(kind)
    converted: dict[str, object] = {}
    for name, text in values.items():
        scalar = fields.get(name)
        if scalar is None:
            continue  # unknown query parameters are ignored, as is usual
        converted[name] = _scalar(text, scalar, name, source)
    try:
        return msgspec.convert(converted, kind)
    except msgspec.ValidationError as error:
        raise validation_error(str(error), source) from error


_KINDS: dict[type[msgspec.Struct], dict[str, type]] = {}


def _field_kinds(kind: type[msgspec.Struct]) -> dict[str, type]:
    """Per field, what its text converts to first: int, bool, or str (left as text)."""
    known = _KINDS.get(kind)
    if known is None:
        info = inspect.type_info(kind)
        assert isinstance(info, inspect.StructType)
        known = _KINDS[kind] = {field.name: _scalar_kind(field.type) for field in info.fields}
    return known


def _scalar_kind(info: inspect.Type) -> type:
    while isinstance(info, inspect.Metadata):  # a description or examples around the type
        info = info.type
    options = info.types if isinstance(info, inspect.UnionType) else (info,)
    options = tuple(option.type if isinstance(option, inspect.Metadata) else option for option in options)
    if any(isinstance(option, inspect.BoolType) for option in options):
        return bool
    if any(isinstance(option, inspect.IntType) for option in options):
        return int
    return str


def _scalar(text: str, kind: type, name: str, source: str) -> object:
    if kind is int:
        if _INTEGER.fullmatch(text) is None:
            raise validation_error(f"Expected `int`, got `str` - at `$.{name}`", source)
        return int(text)
    if kind is bool:
        if text not in ("true", "false"):
            raise validation_error(f"Expected `bool`, got `str` - at `$.{name}`", source)
        return text == "true"
    return text


def validation_error(text: str, source: str) -> TradeEngineError:
    """msgspec's "<message> - at `$.<key>`" as the API's validation detail."""
    message, _, where = text.partition(" - at `$")
    detail = {"message": message, "key": where.strip("`").lstrip("."), "source": source}
    return TradeEngineError(ErrorCode.VALIDATION_ERROR, "the request is not valid", details=[detail])

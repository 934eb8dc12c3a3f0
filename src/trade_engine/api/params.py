"""Path and query parameters of the native API, as types: the router validates requests
against them and the OpenAPI document describes them from the same declarations."""

from typing import Annotated, Final, Literal

from msgspec import Meta, Struct

from trade_engine.domain import identifiers
from trade_engine.domain.identifiers import whole
from trade_engine.domain.timestamps import NS_PER_MS

MAX_PAGE: Final = 1000
MAX_ID: Final = 2**63 - 1
# Times become nanoseconds in 64-bit columns: larger values could not be compared there.
MAX_TIME_MS: Final = MAX_ID // NS_PER_MS

OrderId = Annotated[int, Meta(ge=1, le=MAX_ID, description="an order id")]
ClientOrderId = Annotated[
    str, Meta(pattern=whole(identifiers.CLIENT_ORDER_ID), description="a client order id")
]
Symbol = Annotated[str, Meta(pattern=whole(identifiers.SYMBOL), description="a market symbol")]
UserId = Annotated[str, Meta(pattern=whole(identifiers.USER_ID), description="a user id")]
Asset = Annotated[str, Meta(pattern=whole(identifiers.ASSET), description="an asset")]
TimeMs = Annotated[int, Meta(ge=0, le=MAX_TIME_MS, description="Unix time in milliseconds")]
Limit = Annotated[int, Meta(ge=1, le=MAX_PAGE, description="page size (max 1000)")]
Offset = Annotated[int, Meta(ge=0, le=10_000_000)]


# -- paths --


class OrderPath(Struct, frozen=True):
    order_id: OrderId


class ClientOrderPath(Struct, frozen=True):
    client_order_id: ClientOrderId


class MarketPath(Struct, frozen=True):
    # Any text: a symbol that names no market is a 404, not a malformed request.
    symbol: Annotated[str, Meta(description="a market symbol")]


class ApiKeyPath(Struct, frozen=True):
    api_key: Annotated[str, Meta(pattern=whole(identifiers.API_KEY), description="an API key")]


# -- queries --


class TimeRange(Struct, frozen=True, kw_only=True):
    start_time: TimeMs | None = None
    end_time: TimeMs | None = None


class Page(TimeRange, frozen=True, kw_only=True):
    limit: Limit = 100
    offset: Offset = 0


class OrdersQuery(Page, frozen=True, kw_only=True):
    market: Symbol | None = None
    status: Literal["open", "closed", "all"] = "all"


class FillsQuery(Page, frozen=True, kw_only=True):
    market: Symbol | None = None


class TradesQuery(Page, frozen=True, kw_only=True):
    pass


class MarketQuery(Struct, frozen=True, kw_only=True):
    market: Symbol | None = None


class DepthQuery(Struct, frozen=True, kw_only=True):
    limit: Annotated[int, Meta(ge=1, le=5000)] = 100


class CandlesQuery(TimeRange, frozen=True, kw_only=True):
    interval: Literal["1m", "5m", "15m", "1h", "4h", "1d"] = "1m"
    limit: Annotated[int, Meta(ge=1, le=1000)] = 500


class ApiKeysQuery(Struct, frozen=True, kw_only=True):
    user_id: UserId | None = None

"""The HTTP application: routes of `/api/v1`, operations endpoints, error handling.

Handlers stay thin: validate and convert at the edge (decimal strings -> integers),
build a command, submit it, render the committed result. Reads of orders, fills,
balances and trades come from the database (committed state); depth from the
committed depth view.
"""

import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import Litestar, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import MediaType, ScopeType
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from trade_engine.api import views
from trade_engine.api.audit import audit_trail
from trade_engine.api.auth import TRADER, Principal
from trade_engine.api.errors import STATUS_OF, ApiError, envelope
from trade_engine.api.fastpath import order_fast_path
from trade_engine.api.operator import operator_router
from trade_engine.api.schemas import (
    AmendOrderBody,
    ApiKeyBody,
    ApiKeyCreated,
    ApiKeyView,
    BalanceView,
    CancelAllView,
    CandleView,
    DepthView,
    Envelope,
    ErrorEnvelope,
    FillPage,
    MarketBody,
    MarketView,
    OrderPage,
    OrderView,
    PlaceOrderBody,
    TickerView,
    TradePage,
    TransferBody,
    TransferView,
)
from trade_engine.api.services import Services
from trade_engine.binance.routes import handlers as binance_handlers
from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.market import Market, asset_text, asset_units, market_from_spec
from trade_engine.domain.vocabulary import CONDITIONAL_TYPES
from trade_engine.engine import (
    AddMarket,
    AmendOrder,
    Balance,
    CancelAllOrders,
    CancelOrder,
    Deposit,
    FundsDeposited,
    FundsWithdrawn,
    OrderCancelled,
    PlaceOrder,
    SetMarketStatus,
    Withdraw,
)
from trade_engine.marketdata import candles as candle_data
from trade_engine.observability.logging import request_id
from trade_engine.sequencer import DuplicateReference
from trade_engine.storage import reads, schema
from trade_engine.storage.apikeys import ApiKey
from trade_engine.web.pages import page_plugins, static_files
from trade_engine.web.security import security_headers
from trade_engine.ws.endpoint import websocket_endpoint

log = logging.getLogger(__name__)

API = "/api/v1"
NS_PER_MS = 1_000_000
MAX_PAGE = 1000


# -- dependencies -----------------------------------------------------------------------


def _services(state: State) -> Services:
    services: Services = state.services
    return services


async def _principal(request: Request[Any, Any, Any], services: Services) -> Principal:
    principal = services.auth.authenticate(request.headers.get("authorization"))
    services.limiter.check_user(principal.user_id)
    return principal


async def _trader(principal: Principal) -> Principal:
    if TRADER not in principal.roles:
        raise ApiError("FORBIDDEN", "this action needs the trader role")
    return principal


async def _admin(principal: Principal) -> Principal:
    if not principal.is_admin:
        raise ApiError("FORBIDDEN", "this action needs the admin role")
    return principal


def _market(services: Services, symbol: str) -> Market:
    """A market's rules (for conversions and rendering; its status may be stale)."""
    market = services.rules(symbol)
    if market is None:
        raise ApiError(ErrorCode.UNKNOWN_MARKET.value, f"unknown market {symbol!r}")
    return market


def _current_market(services: Services, symbol: str) -> Market:
    """A market with its current status."""
    market = services.require_core().engine.market(symbol)
    if market is None:
        raise ApiError(ErrorCode.UNKNOWN_MARKET.value, f"unknown market {symbol!r}")
    return market


def _range(start_time: int | None, end_time: int | None) -> tuple[int | None, int | None]:
    if start_time is not None and end_time is not None and end_time < start_time:
        raise ApiError("VALIDATION_ERROR", "end_time must not be before start_time")
    return (
        None if start_time is None else start_time * NS_PER_MS,
        None if end_time is None else end_time * NS_PER_MS,
    )


Limit = Annotated[int, Parameter(ge=1, le=MAX_PAGE, description="page size (max 1000)")]
Offset = Annotated[int, Parameter(ge=0, le=10_000_000)]
# Times become nanoseconds in 64-bit columns: larger values could not be compared there.
TimeMs = Annotated[
    int | None, Parameter(ge=0, le=(2**63 - 1) // NS_PER_MS, description="Unix time in milliseconds")
]
OrderId = Annotated[int, Parameter(ge=1, le=2**63 - 1, description="an order id")]
ClientOrderIdParam = Annotated[
    str, Parameter(pattern=r"^[A-Za-z0-9_-]{1,36}$", description="a client order id")
]
UserIdFilter = Annotated[str | None, Parameter(pattern=r"^[A-Za-z0-9_.@:-]{1,64}$", description="a user id")]
ApiKeyParam = Annotated[str, Parameter(pattern=r"^[A-Za-z0-9]{1,128}$", description="an API key")]
MarketFilter = Annotated[
    str | None, Parameter(pattern=r"^[A-Z0-9]{1,12}-[A-Z0-9]{1,12}$", description="a market symbol")
]

# Every error answers with the envelope of api/errors.py; the OpenAPI document says so.
_ERROR_SPEC = ResponseSpec(data_container=ErrorEnvelope, generate_examples=False, description="An error")
_PUBLIC: dict[str, Any] = {"responses": dict.fromkeys((400, 404, 429, 503), _ERROR_SPEC)}
_PRIVATE: dict[str, Any] = {
    "responses": dict.fromkeys((400, 401, 403, 404, 409, 413, 422, 429, 503), _ERROR_SPEC),
    "security": [{"bearer": []}],
}


# -- orders -------------------------------------------------------------------------------


def _place_command(user_id: str, market: Market, body: PlaceOrderBody) -> PlaceOrder:
    if body.price is None and body.type in ("LIMIT", "STOP_LIMIT", "TAKE_PROFIT_LIMIT"):
        raise TradeEngineError(ErrorCode.INVALID_ORDER, f"a {body.type} order needs a price", field="price")
    if body.stop_price is None and body.type in CONDITIONAL_TYPES:
        raise TradeEngineError(
            ErrorCode.INVALID_ORDER, f"a {body.type} order needs a stop_price", field="stop_price"
        )
    return PlaceOrder(
        ts=0,
        user_id=user_id,
        market=market.symbol,
        side=body.side,
        order_type=body.type,
        time_in_force=body.time_in_force,
        quantity=market.quantity_lots(body.quantity) if body.quantity is not None else 0,
        quote_quantity=market.quote_units(body.quote_quantity) if body.quote_quantity is not None else 0,
        price=market.price_ticks(body.price) if body.price is not None else 0,
        stop_price=market.price_ticks(body.stop_price, "stop_price") if body.stop_price is not None else 0,
        client_order_id=body.client_order_id,
        stp_mode=body.stp_mode,
        post_only=body.post_only,
    )


@post(f"{API}/orders", status_code=HTTP_201_CREATED, tags=["orders"], **_PRIVATE)
async def place_order(data: PlaceOrderBody, trader: Principal, services: Services) -> Envelope[OrderView]:
    """Place an order. Answered once the order and everything it caused are committed."""
    return Envelope(data=await _place(services, trader, data))


async def _place(services: Services, principal: Principal, data: PlaceOrderBody) -> OrderView:
    """Placing, shared with the framework-free order path (api/fastpath.py)."""
    market = _market(services, data.market)
    events = await services.submit(_place_command(principal.user_id, market, data))
    return views.order_from_events(events, market)


async def _own_order_view(
    services: Services, user_id: str, order_id: int | None = None, client_order_id: str | None = None
) -> OrderView:
    core = services.require_core()
    row = await reads.order_row(core.database, user_id, order_id, client_order_id)
    if row is None:
        raise ApiError(ErrorCode.ORDER_NOT_FOUND.value, "no such order")
    return views.order_from_row(row, _market(services, row["market"]))


@get(f"{API}/orders/{{order_id:int}}", tags=["orders"], **_PRIVATE)
async def get_order(order_id: OrderId, principal: Principal, services: Services) -> Envelope[OrderView]:
    return Envelope(data=await _own_order_view(services, principal.user_id, order_id=order_id))


@get(f"{API}/orders/by-client-id/{{client_order_id:str}}", tags=["orders"], **_PRIVATE)
async def get_order_by_client_id(
    client_order_id: ClientOrderIdParam, principal: Principal, services: Services
) -> Envelope[OrderView]:
    """The newest of the user's orders with this client order id."""
    return Envelope(data=await _own_order_view(services, principal.user_id, client_order_id=client_order_id))


@get(f"{API}/orders", tags=["orders"], **_PRIVATE)
async def list_orders(
    principal: Principal,
    services: Services,
    market: MarketFilter = None,
    status: Literal["open", "closed", "all"] = "all",
    start_time: TimeMs = None,
    end_time: TimeMs = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Envelope[OrderPage]:
    """The user's orders, newest first."""
    core = services.require_core()
    start_ns, end_ns = _range(start_time, end_time)
    statuses = {
        "open": schema.OPEN_STATUSES,
        "closed": ("FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH"),
        "all": None,
    }[status]
    rows, total = await reads.order_rows(
        core.database,
        principal.user_id,
        market=market,
        statuses=statuses,
        start_ns=start_ns,
        end_ns=end_ns,
        limit=limit,
        offset=offset,
    )
    orders = [views.order_from_row(row, _market(services, row["market"])) for row in rows]
    return Envelope(
        data=OrderPage(
            orders=orders, total=total, limit=limit, offset=offset, has_more=offset + len(orders) < total
        )
    )


async def _not_open(
    services: Services, user_id: str, order_id: int | None, client_order_id: str | None
) -> ApiError:
    """Why a cancel or amend found nothing: unknown, or no longer open."""
    core = services.require_core()
    row = await reads.order_row(core.database, user_id, order_id, client_order_id)
    if row is None or row["status"] in schema.OPEN_STATUSES:
        return ApiError(ErrorCode.ORDER_NOT_FOUND.value, "no such open order")
    return ApiError("ORDER_NOT_OPEN", f"the order is {row['status']}", details={"status": row["status"]})


async def _cancel(
    services: Services, user_id: str, order_id: int | None, client_order_id: str | None
) -> OrderView:
    core = services.require_core()
    # Terms that never change (type, time in force, creation time...) come from the
    # open order; everything that can change comes with the cancellation event.
    order = core.engine.open_order(user_id, order_id, client_order_id)
    if order is None:
        raise await _not_open(services, user_id, order_id, client_order_id)
    command = CancelOrder(ts=0, user_id=user_id, order_id=order.id)
    try:
        events = await services.submit(command)
    except ApiError as error:
        if error.code == ErrorCode.ORDER_NOT_FOUND.value:
            raise await _not_open(services, user_id, order.id, None) from error
        raise
    cancelled = next(e for e in events if isinstance(e, OrderCancelled))
    return views.order_from_cancel(order, cancelled, _market(services, order.market))


@delete(f"{API}/orders/{{order_id:int}}", status_code=200, tags=["orders"], **_PRIVATE)
async def cancel_order(order_id: OrderId, trader: Principal, services: Services) -> Envelope[OrderView]:
    return Envelope(data=await _cancel(services, trader.user_id, order_id, None))


@delete(f"{API}/orders/by-client-id/{{client_order_id:str}}", status_code=200, tags=["orders"], **_PRIVATE)
async def cancel_order_by_client_id(
    client_order_id: ClientOrderIdParam, trader: Principal, services: Services
) -> Envelope[OrderView]:
    return Envelope(data=await _cancel(services, trader.user_id, None, client_order_id))


@delete(f"{API}/orders", status_code=200, tags=["orders"], **_PRIVATE)
async def cancel_all_orders(
    trader: Principal, services: Services, market: MarketFilter = None
) -> Envelope[CancelAllView]:
    """Cancel every open order and pending stop of the user (in one market if given)."""
    if market is not None:
        _market(services, market)
    events = await services.submit(CancelAllOrders(ts=0, user_id=trader.user_id, market=market))
    return Envelope(
        data=CancelAllView(cancelled=[e.order_id for e in events if isinstance(e, OrderCancelled)])
    )


async def _amend(
    services: Services, user_id: str, order_id: int | None, client_order_id: str | None, body: AmendOrderBody
) -> OrderView:
    core = services.require_core()
    order = core.engine.open_order(user_id, order_id, client_order_id)
    if order is None:
        raise await _not_open(services, user_id, order_id, client_order_id)
    market = _market(services, order.market)
    command = AmendOrder(
        ts=0,
        user_id=user_id,
        order_id=order_id,
        client_order_id=client_order_id,
        price=market.price_ticks(body.price) if body.price is not None else None,
        quantity=market.quantity_lots(body.quantity) if body.quantity is not None else None,
    )
    try:
        await services.submit(command)
    except ApiError as error:
        if error.code == ErrorCode.ORDER_NOT_FOUND.value:
            raise await _not_open(services, user_id, order_id, client_order_id) from error
        raise
    return await _own_order_view(services, user_id, order_id=order.id)


@patch(f"{API}/orders/{{order_id:int}}", tags=["orders"], **_PRIVATE)
async def amend_order(
    order_id: OrderId, data: AmendOrderBody, trader: Principal, services: Services
) -> Envelope[OrderView]:
    """Change price and/or total quantity. A smaller quantity keeps time priority."""
    return Envelope(data=await _amend(services, trader.user_id, order_id, None, data))


@patch(f"{API}/orders/by-client-id/{{client_order_id:str}}", tags=["orders"], **_PRIVATE)
async def amend_order_by_client_id(
    client_order_id: ClientOrderIdParam, data: AmendOrderBody, trader: Principal, services: Services
) -> Envelope[OrderView]:
    return Envelope(data=await _amend(services, trader.user_id, None, client_order_id, data))


# -- account ------------------------------------------------------------------------------


@get(f"{API}/fills", tags=["account"], **_PRIVATE)
async def list_fills(
    principal: Principal,
    services: Services,
    market: MarketFilter = None,
    start_time: TimeMs = None,
    end_time: TimeMs = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Envelope[FillPage]:
    """The user's own trades, newest first."""
    core = services.require_core()
    start_ns, end_ns = _range(start_time, end_time)
    rows, total = await reads.fill_rows(
        core.database,
        principal.user_id,
        market=market,
        start_ns=start_ns,
        end_ns=end_ns,
        limit=limit,
        offset=offset,
    )
    fills = [views.fill_from_row(row, principal.user_id, _market(services, row["market"])) for row in rows]
    return Envelope(
        data=FillPage(
            fills=fills, total=total, limit=limit, offset=offset, has_more=offset + len(fills) < total
        )
    )


def _decimals(services: Services) -> dict[str, int]:
    decimals: dict[str, int] = {}
    for market in services.require_core().engine.markets():
        decimals[market.base] = market.base_decimals
        decimals[market.quote] = market.quote_decimals
    return decimals


@get(f"{API}/balances", tags=["account"], **_PRIVATE)
async def list_balances(principal: Principal, services: Services) -> Envelope[list[BalanceView]]:
    """The user's committed balances per asset."""
    core = services.require_core()
    decimals = _decimals(services)
    balances = schema.balances
    query = (
        select(balances.c.asset, balances.c.available, balances.c.locked)
        .where(balances.c.user_id == principal.user_id)
        .order_by(balances.c.asset)
    )
    async with core.database.connect() as connection:
        rows = list(await connection.execute(query))
    return Envelope(
        data=[
            views.balance_view(asset, decimals.get(asset, 8), Balance(available, locked))
            for asset, available, locked in rows
            if available or locked
        ]
    )


# -- markets (public) -----------------------------------------------------------------------


@get(f"{API}/markets", tags=["markets"], **_PUBLIC)
async def list_markets(services: Services) -> Envelope[list[MarketView]]:
    core = services.require_core()
    return Envelope(data=[views.market_view(market) for market in core.engine.markets()])


@get(f"{API}/markets/{{symbol:str}}", tags=["markets"], **_PUBLIC)
async def get_market(symbol: str, services: Services) -> Envelope[MarketView]:
    return Envelope(data=views.market_view(_current_market(services, symbol)))


@get(f"{API}/markets/{{symbol:str}}/depth", tags=["markets"], **_PUBLIC)
async def get_depth(
    symbol: str, services: Services, limit: Annotated[int, Parameter(ge=1, le=5000)] = 100
) -> Envelope[DepthView]:
    """Aggregated committed depth, best first; `sequence` lines it up with WebSocket deltas."""
    market = _market(services, symbol)
    depth = services.depth.market(symbol)
    bids, asks = depth.levels(limit)
    return Envelope(
        data=DepthView(
            market=symbol,
            sequence=depth.sequence,
            bids=[(market.price_text(p), market.quantity_text(q)) for p, q in bids],
            asks=[(market.price_text(p), market.quantity_text(q)) for p, q in asks],
        )
    )


@get(f"{API}/markets/{{symbol:str}}/trades", tags=["markets"], **_PUBLIC)
async def list_trades(
    symbol: str,
    services: Services,
    start_time: TimeMs = None,
    end_time: TimeMs = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Envelope[TradePage]:
    """Public trades, newest first; `total` and `has_more` for paging."""
    market = _market(services, symbol)
    core = services.require_core()
    start_ns, end_ns = _range(start_time, end_time)
    rows, total = await reads.trade_rows(
        core.database, symbol, start_ns=start_ns, end_ns=end_ns, limit=limit, offset=offset
    )
    trades = [views.trade_from_row(row, market) for row in rows]
    return Envelope(
        data=TradePage(
            trades=trades, total=total, limit=limit, offset=offset, has_more=offset + len(trades) < total
        )
    )


@get(f"{API}/markets/{{symbol:str}}/candles", tags=["markets"], **_PUBLIC)
async def list_candles(
    symbol: str,
    services: Services,
    interval: Literal["1m", "5m", "15m", "1h", "4h", "1d"] = "1m",
    start_time: TimeMs = None,
    end_time: TimeMs = None,
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 500,
) -> Envelope[list[CandleView]]:
    """OHLCV candles, oldest first. Buckets without trades are included with no prices
    (null open/high/low/close) and zero volume, so the series has no holes."""
    market = _market(services, symbol)
    core = services.require_core()
    start_ns, end_ns = _range(start_time, end_time)
    candles = await candle_data.candles(
        core.database, symbol, interval, start_ns=start_ns, end_ns=end_ns, limit=limit, now_ns=time.time_ns()
    )
    return Envelope(data=[candle_data.candle_view(candle, market) for candle in candles])


@get(f"{API}/markets/{{symbol:str}}/ticker", tags=["markets"], **_PUBLIC)
async def get_ticker(symbol: str, services: Services) -> Envelope[TickerView]:
    """Rolling 24-hour statistics: the 1,440 one-minute buckets ending with the current
    one (`open_time` inclusive, `close_time` exclusive), served from memory."""
    market = _market(services, symbol)
    services.require_core()
    best_bid, best_ask = services.depth.market(symbol).best()
    ticker = services.live.ticker(symbol, time.time_ns())
    return Envelope(data=candle_data.ticker_view(ticker, market, best_bid, best_ask))


# -- admin --------------------------------------------------------------------------------------


async def _transfer(
    services: Services, body: TransferBody, kind: Literal["DEPOSIT", "WITHDRAWAL"]
) -> TransferView:
    core = services.require_core()
    decimals = _decimals(services).get(body.asset)
    if decimals is None:
        raise ApiError(ErrorCode.UNKNOWN_ASSET.value, f"unknown asset {body.asset!r}")
    amount = asset_units(body.amount, decimals)
    command_type = Deposit if kind == "DEPOSIT" else Withdraw
    command = command_type(
        ts=0, user_id=body.user_id, asset=body.asset, amount=amount, reference=body.reference
    )
    replayed = False
    try:
        events = await services.submit(command)
        transfer_event = next(e for e in events if isinstance(e, FundsDeposited | FundsWithdrawn))
        transfer_id = transfer_event.transfer_id
    except DuplicateReference as duplicate:
        if duplicate.transfer_id is None:
            raise ApiError(
                "DUPLICATE_REFERENCE", "a request with this reference is in progress"
            ) from duplicate
        transfer_id, replayed = duplicate.transfer_id, True
    transfers = schema.transfers
    async with core.database.connect() as connection:
        row = (
            (await connection.execute(select(transfers).where(transfers.c.id == transfer_id)))
            .mappings()
            .one()
        )
        balance_row = (
            await connection.execute(
                select(schema.balances.c.available, schema.balances.c.locked).where(
                    schema.balances.c.user_id == row["user_id"], schema.balances.c.asset == row["asset"]
                )
            )
        ).one()
    if replayed and (row["kind"] != kind or row["user_id"] != body.user_id or row["amount"] != amount):
        raise ApiError("DUPLICATE_REFERENCE", "this reference was used for a different transfer")
    return TransferView(
        transfer_id=transfer_id,
        user_id=row["user_id"],
        asset=row["asset"],
        amount=asset_text(row["amount"], decimals),
        kind=row["kind"],
        reference=body.reference,
        balance=views.balance_view(row["asset"], decimals, Balance(*balance_row)),
        replayed=replayed,
    )


@post(f"{API}/admin/deposits", status_code=HTTP_201_CREATED, tags=["admin"], **_PRIVATE)
async def deposit(data: TransferBody, admin: Principal, services: Services) -> Envelope[TransferView]:
    """Credit a user (the wallet system's integration point); idempotent by `reference`."""
    return Envelope(data=await _transfer(services, data, "DEPOSIT"))


@post(f"{API}/admin/withdrawals", status_code=HTTP_201_CREATED, tags=["admin"], **_PRIVATE)
async def withdraw(data: TransferBody, admin: Principal, services: Services) -> Envelope[TransferView]:
    """Debit a user's available balance; idempotent by `reference`."""
    return Envelope(data=await _transfer(services, data, "WITHDRAWAL"))


@post(f"{API}/admin/markets", status_code=HTTP_201_CREATED, tags=["admin"], **_PRIVATE)
async def add_market(data: MarketBody, admin: Principal, services: Services) -> Envelope[MarketView]:
    market = market_from_spec(data)
    await services.submit(AddMarket(ts=0, market=market))
    return Envelope(data=views.market_view(_current_market(services, market.symbol)))


async def _set_status(services: Services, symbol: str, status: str) -> MarketView:
    _market(services, symbol)
    await services.submit(SetMarketStatus(ts=0, market=symbol, status=status))
    return views.market_view(_current_market(services, symbol))


@post(f"{API}/admin/markets/{{symbol:str}}/halt", status_code=200, tags=["admin"], **_PRIVATE)
async def halt_market(symbol: str, admin: Principal, services: Services) -> Envelope[MarketView]:
    """Stop all activity in the market (new orders, amends and cancels)."""
    return Envelope(data=await _set_status(services, symbol, "HALT"))


@post(f"{API}/admin/markets/{{symbol:str}}/cancel-only", status_code=200, tags=["admin"], **_PRIVATE)
async def cancel_only_market(symbol: str, admin: Principal, services: Services) -> Envelope[MarketView]:
    """Allow cancels only."""
    return Envelope(data=await _set_status(services, symbol, "CANCEL_ONLY"))


@post(f"{API}/admin/markets/{{symbol:str}}/resume", status_code=200, tags=["admin"], **_PRIVATE)
async def resume_market(symbol: str, admin: Principal, services: Services) -> Envelope[MarketView]:
    return Envelope(data=await _set_status(services, symbol, "TRADING"))


@post(f"{API}/admin/api-keys", status_code=HTTP_201_CREATED, tags=["admin"], **_PRIVATE)
async def create_api_key(data: ApiKeyBody, admin: Principal, services: Services) -> Envelope[ApiKeyCreated]:
    """A new API key for a user; the secret is in this answer and nowhere else."""
    key, secret = await services.key_store().create(
        data.user_id, list(data.permissions), data.label, time.time_ns()
    )
    return Envelope(
        data=ApiKeyCreated(
            api_key=key.key,
            secret=secret,
            user_id=key.user_id,
            permissions=list(key.permissions),
            label=key.label,
        )
    )


def _key_view(key: ApiKey) -> ApiKeyView:
    return ApiKeyView(
        api_key=key.key,
        user_id=key.user_id,
        permissions=list(key.permissions),
        label=key.label,
        created_at=key.created_ts // NS_PER_MS,
        revoked_at=None if key.revoked_ts is None else key.revoked_ts // NS_PER_MS,
    )


@get(f"{API}/admin/api-keys", tags=["admin"], **_PRIVATE)
async def list_api_keys(
    admin: Principal, services: Services, user_id: UserIdFilter = None
) -> Envelope[list[ApiKeyView]]:
    return Envelope(data=[_key_view(key) for key in await services.key_store().list(user_id=user_id)])


@delete(f"{API}/admin/api-keys/{{api_key:str}}", status_code=200, tags=["admin"], **_PRIVATE)
async def revoke_api_key(api_key: ApiKeyParam, admin: Principal, services: Services) -> Envelope[ApiKeyView]:
    """Revoke a key at once: requests signed with it are refused from now on, and the
    Binance user-data subscriptions it signed end (`eventStreamTerminated`, then close)."""
    key = await services.key_store().revoke(api_key, time.time_ns())
    if key is None:
        raise ApiError("NOT_FOUND", "no such API key")
    return Envelope(data=_key_view(key))


# -- operations ------------------------------------------------------------------------------
# Probes and scrapes are not rate limited (see _NOT_RATE_LIMITED).


@get("/health", tags=["operations"])
async def health() -> dict[str, str]:
    """Alive (the process answers); says nothing about readiness."""
    return {"status": "ok"}


@get(
    "/ready",
    tags=["operations"],
    responses={503: ResponseSpec(dict[str, Any], description="Not ready")},
)
async def ready(services: Services) -> Response[dict[str, Any]]:
    """200 once recovered, verified and the database answers; 503 before and after."""
    core = services.core
    reachable = await services.database_reachable()
    is_ready = core is not None and core.sequencer.available and reachable
    body = {
        "ready": is_ready,
        "recovered": core is not None,
        "database": reachable,
        "accepting_orders": core is not None and core.sequencer.available,
    }
    return Response(body, status_code=200 if is_ready else 503)


@get("/metrics", tags=["operations"], media_type=CONTENT_TYPE_LATEST)
async def metrics(services: Services) -> Response[bytes]:
    core = services.core
    if core is not None:
        services.metrics.queue_depth.set(core.sequencer.queue_depth())
        services.metrics.open_orders.set(len(core.engine.all_open_orders()))
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)


# -- errors --------------------------------------------------------------------------------------


def _error_response(code: str, message: str, details: Any = None, headers: dict[str, str] | None = None,
                    status: int | None = None) -> Response[dict[str, Any]]:  # fmt: skip
    return Response(
        envelope(code, message, details), status_code=status or STATUS_OF.get(code, 400), headers=headers
    )


def _on_api_error(_: Request[Any, Any, Any], error: ApiError) -> Response[dict[str, Any]]:
    return _error_response(error.code, error.message, error.details, error.headers, error.status)


def _on_engine_error(_: Request[Any, Any, Any], error: TradeEngineError) -> Response[dict[str, Any]]:
    return _error_response(error.code.value, error.message, error.details or None)


def _on_validation(_: Request[Any, Any, Any], error: ValidationException) -> Response[dict[str, Any]]:
    return _error_response("VALIDATION_ERROR", "the request is not valid", error.extra)


def _on_http(_: Request[Any, Any, Any], error: HTTPException) -> Response[dict[str, Any]]:
    status = error.status_code
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "BODY_TOO_LARGE", 401: "UNAUTHENTICATED"}.get(
        status, "VALIDATION_ERROR" if status < 500 else "INTERNAL_ERROR"
    )
    return _error_response(code, error.detail, None, dict(error.headers or {}), status)


def _on_database_error(request: Request[Any, Any, Any], error: DBAPIError) -> Response[dict[str, Any]]:
    """The database cannot be reached (refused, lost, locked): 503, as when the sequencer
    stops for storage. Any other database error is a bug and answers 500."""
    unreachable = (
        error.connection_invalidated
        or error.statement is None  # failed to connect
        or isinstance(error, InterfaceError | OperationalError)
    )
    if not unreachable:
        return _on_unexpected(request, error)
    log.warning("database unavailable", extra={"error": f"{type(error.orig).__name__}: {error.orig}"})
    return _error_response(
        "UNAVAILABLE", "the database is unavailable; retry shortly", None, {"Retry-After": "1"}
    )


async def _enveloped_not_found(response: Response[Any]) -> Response[Any]:
    """The OpenAPI router, mounted at "/", answers unknown top-level paths (`GET /nope`)
    with an HTML page of its own; they get the error envelope like every other path."""
    if response.status_code == 404 and response.media_type == MediaType.HTML:
        return Response(envelope("NOT_FOUND", "Not Found"), status_code=404, media_type=MediaType.JSON)
    return response


def _on_unexpected(_: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    log.error("unhandled error", exc_info=error)
    return _error_response("INTERNAL_ERROR", "an internal error occurred", None, None, 500)


# -- middleware -------------------------------------------------------------------------------------


_ID_PREFIX = uuid.uuid4().hex[:12]  # unique per process; a counter within it
_ids = itertools.count(1)


def request_context(app: ASGIApp) -> ASGIApp:
    """Request id on every log line and response; API latency and status metrics."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        services: Services = scope["app"].state.services
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if 0 < len(incoming) <= 64 and incoming.isascii() else f"{_ID_PREFIX}-{next(_ids):x}"
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            if scope["path"] not in _NOT_RATE_LIMITED:
                client = scope.get("client")
                try:
                    services.limiter.check_ip(client[0] if client else "unknown")
                except ApiError as limited:
                    await _send_error(send_with_id, limited)
                    return
            await app(scope, receive, send_with_id)
        finally:
            route = scope.get("path_template") or "unmatched"
            method = scope.get("method", "GET")
            services.metrics.api_seconds.labels(route, method).observe(time.perf_counter() - started)
            services.metrics.api_responses.labels(str(status)).inc()
            request_id.reset(token)

    return middleware


# Probes and scrapes are not rate limited: behind a proxy they share an address with the
# traffic, and a limited probe would take a healthy instance out of service. (The limit
# is applied here rather than as a Litestar guard: guards copy the route handler on every
# request, measured at ~40 us.)
_NOT_RATE_LIMITED: Final = frozenset({"/health", "/ready", "/metrics"})


async def _send_error(send: Send, error: ApiError) -> None:
    body = msgspec.json.encode(envelope(error.code, error.message, error.details))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": error.status,
        "headers": headers,
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


# -- the app ---------------------------------------------------------------------------------------


def create_app(services: Services, *, on_startup: list[Callable[[], Awaitable[None]]] | None = None,
               on_shutdown: list[Callable[[], Awaitable[None]]] | None = None) -> Litestar:  # fmt: skip
    handlers = [
        place_order,
        get_order,
        get_order_by_client_id,
        list_orders,
        cancel_order,
        cancel_order_by_client_id,
        cancel_all_orders,
        amend_order,
        amend_order_by_client_id,
        list_fills,
        list_balances,
        list_markets,
        get_market,
        get_depth,
        list_trades,
        list_candles,
        get_ticker,
        deposit,
        withdraw,
        add_market,
        halt_market,
        cancel_only_market,
        resume_market,
        create_api_key,
        list_api_keys,
        revoke_api_key,
        health,
        ready,
        metrics,
        operator_router(),
        static_files(),
        *binance_handlers,
        websocket_endpoint,
    ]
    return Litestar(
        route_handlers=handlers,
        state=State({"services": services}),
        dependencies={
            "services": Provide(_services, sync_to_thread=False),
            "principal": Provide(_principal),
            "trader": Provide(_trader),
            "admin": Provide(_admin),
        },
        middleware=[request_context, security_headers, audit_trail, order_fast_path(_place, _cancel)],
        after_request=_enveloped_not_found,
        exception_handlers={
            ApiError: _on_api_error,
            TradeEngineError: _on_engine_error,
            ValidationException: _on_validation,
            NotFoundException: _on_http,
            HTTPException: _on_http,
            DBAPIError: _on_database_error,
            Exception: _on_unexpected,
        },
        request_max_body_size=services.config.http.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Trade Engine API",
            version="1",
            description="Native REST API. Amounts are decimal strings; times are Unix milliseconds.",
            path="/",
            # `/` is the web page, `/docs` the API docs (local assets), `/openapi.json` the document.
            render_plugins=page_plugins(),
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
            ),
        ),
        on_startup=on_startup or [],
        on_shutdown=on_shutdown or [],
        debug=False,
        logging_config=None,
    )

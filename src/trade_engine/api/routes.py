"""The native API's routes, in one table: method, path, handler, who may call it, and
the types of its parameters, body and answer (validated by the router, documented in
`/openapi.json` from the same declarations)."""

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, Final

from trade_engine.api import account, admin, markets, operations, orders
from trade_engine.api.audit import AuditTrail, audited
from trade_engine.api.native import NativeApi
from trade_engine.api.operator import AuditQuery, Operator, TransfersQuery
from trade_engine.api.operator_schemas import (
    AuditPage,
    LedgerVerificationStatus,
    LedgerVerificationView,
    OperatorMetrics,
    TransferPage,
)
from trade_engine.api.params import (
    ApiKeyPath,
    ApiKeysQuery,
    CandlesQuery,
    ClientOrderPath,
    DepthQuery,
    FillsQuery,
    MarketPath,
    MarketQuery,
    OrderPath,
    OrdersQuery,
    TradesQuery,
)
from trade_engine.api.schemas import (
    AmendOrderRequest,
    ApiKeyBody,
    ApiKeyCreated,
    ApiKeyView,
    BalanceView,
    CancelAllView,
    CandleView,
    DepthView,
    FillPage,
    HealthView,
    MarketBody,
    MarketView,
    OrderPage,
    OrderView,
    PlaceOrderBody,
    ReadyView,
    TickerView,
    TradePage,
    TransferBody,
    TransferView,
)
from trade_engine.domain.errors import ErrorCode
from trade_engine.edge.errors import status_of
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.routes import Access, Call, Route
from trade_engine.edge.routes import Handler as EdgeHandler

API: Final = "/api/v1"
# The failures a route can meet, named by their codes: the statuses its OpenAPI entry
# lists follow from the error table (edge/errors.py), so a status changed there changes
# here too.
# Any route: a malformed request, something not found, a limit, the service unavailable.
_ANY_ROUTE: Final = (
    ErrorCode.VALIDATION_ERROR,
    ErrorCode.NOT_FOUND,
    ErrorCode.RATE_LIMITED,
    ErrorCode.UNAVAILABLE,
)
# A private route: no or a bad token, a role that may not.
_PRIVATE: Final = (ErrorCode.UNAUTHENTICATED, ErrorCode.FORBIDDEN)
# A change: a client order id or reference already used, an order no longer open (409),
# or a state that refuses it (422).
_CHANGE: Final = (
    ErrorCode.DUPLICATE_CLIENT_ORDER_ID,
    ErrorCode.DUPLICATE_REFERENCE,
    ErrorCode.ORDER_NOT_OPEN,
    ErrorCode.INSUFFICIENT_BALANCE,
)


def statuses(*codes: ErrorCode) -> tuple[int, ...]:
    return tuple(sorted({status_of(code) for code in codes}))


PUBLIC_ERRORS: Final = statuses(*_ANY_ROUTE)


def private_errors(method: str, types: dict[str, Any]) -> tuple[int, ...]:
    """The error statuses a private route can answer (and its OpenAPI entry lists): a
    read's, a change's too unless it is a GET, and a body too large where it takes one."""
    codes = [*_ANY_ROUTE, *_PRIVATE]
    if method != "GET":
        codes += _CHANGE
    if types.get("body_type") is not None:
        codes.append(ErrorCode.BODY_TOO_LARGE)
    return statuses(*codes)


Handler = Callable[[Gateway, Call], Awaitable[Any]]


def bind(handler: Handler, gateway: Gateway) -> Callable[[Call], Awaitable[object]]:
    @wraps(handler)
    async def bound(call: Call) -> object:
        return await handler(gateway, call)

    return bound


def routes(gateway: Gateway, api: NativeApi, trail: AuditTrail) -> list[Route]:
    def public(method: str, path: str, handler: Handler, tag: str, **types: Any) -> Route:
        return Route(method, path, bind(handler, gateway), api, tags=(tag,), errors=PUBLIC_ERRORS, **types)

    def private(method: str, path: str, handler: Handler, tag: str, access: Access, **types: Any) -> Route:
        bound = bind(handler, gateway)
        if access is Access.ADMIN and method != "GET":
            bound = audited(bound, trail, method, path, types.get("status", 200))
        errors = private_errors(method, types)
        return Route(method, path, bound, api, access=access, tags=(tag,), errors=errors, **types)

    def operator(method: str, path: str, handler: EdgeHandler, **types: Any) -> Route:
        if method != "GET":
            handler = audited(handler, trail, method, path, 200)
        admin_only = Access.ADMIN
        errors = private_errors(method, types)
        return Route(method, path, handler, api, access=admin_only, tags=("admin",), errors=errors, **types)

    desk = Operator(gateway)

    def operation(path: str, handler: Handler, **types: Any) -> Route:
        return Route("GET", path, bind(handler, gateway), api, tags=("operations",), **types)

    user, trader, admin_role = Access.USER, Access.TRADER, Access.ADMIN
    by_id, by_client_id = f"{API}/orders/{{order_id:int}}", f"{API}/orders/by-client-id/{{client_order_id}}"
    market = f"{API}/markets/{{symbol}}"
    return [
        # -- orders --
        private(
            "POST",
            f"{API}/orders",
            orders.place_order,
            "orders",
            trader,
            status=201,
            body_type=PlaceOrderBody,
            data_type=OrderView,
        ),
        private(
            "GET",
            f"{API}/orders",
            orders.list_orders,
            "orders",
            user,
            query_type=OrdersQuery,
            data_type=OrderPage,
        ),
        private(
            "DELETE",
            f"{API}/orders",
            orders.cancel_all_orders,
            "orders",
            trader,
            query_type=MarketQuery,
            data_type=CancelAllView,
        ),
        private("GET", by_id, orders.get_order, "orders", user, path_type=OrderPath, data_type=OrderView),
        private(
            "DELETE", by_id, orders.cancel_order, "orders", trader, path_type=OrderPath, data_type=OrderView
        ),
        private(
            "PATCH",
            by_id,
            orders.amend_order,
            "orders",
            trader,
            path_type=OrderPath,
            body_type=AmendOrderRequest,
            data_type=OrderView,
        ),
        private(
            "GET",
            by_client_id,
            orders.get_order_by_client_id,
            "orders",
            user,
            path_type=ClientOrderPath,
            data_type=OrderView,
        ),
        private(
            "DELETE",
            by_client_id,
            orders.cancel_order_by_client_id,
            "orders",
            trader,
            path_type=ClientOrderPath,
            data_type=OrderView,
        ),
        private(
            "PATCH",
            by_client_id,
            orders.amend_order_by_client_id,
            "orders",
            trader,
            path_type=ClientOrderPath,
            body_type=AmendOrderRequest,
            data_type=OrderView,
        ),
        # -- account --
        private(
            "GET",
            f"{API}/fills",
            account.list_fills,
            "account",
            user,
            query_type=FillsQuery,
            data_type=FillPage,
        ),
        private(
            "GET", f"{API}/balances", account.list_balances, "account", user, data_type=list[BalanceView]
        ),
        # -- markets --
        public("GET", f"{API}/markets", markets.list_markets, "markets", data_type=list[MarketView]),
        public("GET", market, markets.get_market, "markets", path_type=MarketPath, data_type=MarketView),
        public(
            "GET",
            f"{market}/depth",
            markets.get_depth,
            "markets",
            path_type=MarketPath,
            query_type=DepthQuery,
            data_type=DepthView,
        ),
        public(
            "GET",
            f"{market}/trades",
            markets.list_trades,
            "markets",
            path_type=MarketPath,
            query_type=TradesQuery,
            data_type=TradePage,
        ),
        public(
            "GET",
            f"{market}/candles",
            markets.list_candles,
            "markets",
            path_type=MarketPath,
            query_type=CandlesQuery,
            data_type=list[CandleView],
        ),
        public(
            "GET",
            f"{market}/ticker",
            markets.get_ticker,
            "markets",
            path_type=MarketPath,
            data_type=TickerView,
        ),
        # -- admin --
        private(
            "POST",
            f"{API}/admin/deposits",
            admin.deposit,
            "admin",
            admin_role,
            status=201,
            body_type=TransferBody,
            data_type=TransferView,
        ),
        private(
            "POST",
            f"{API}/admin/withdrawals",
            admin.withdraw,
            "admin",
            admin_role,
            status=201,
            body_type=TransferBody,
            data_type=TransferView,
        ),
        private(
            "POST",
            f"{API}/admin/markets",
            admin.add_market,
            "admin",
            admin_role,
            status=201,
            body_type=MarketBody,
            data_type=MarketView,
        ),
        private(
            "POST",
            f"{API}/admin/markets/{{symbol}}/halt",
            admin.halt_market,
            "admin",
            admin_role,
            path_type=MarketPath,
            data_type=MarketView,
        ),
        private(
            "POST",
            f"{API}/admin/markets/{{symbol}}/cancel-only",
            admin.cancel_only_market,
            "admin",
            admin_role,
            path_type=MarketPath,
            data_type=MarketView,
        ),
        private(
            "POST",
            f"{API}/admin/markets/{{symbol}}/resume",
            admin.resume_market,
            "admin",
            admin_role,
            path_type=MarketPath,
            data_type=MarketView,
        ),
        private(
            "POST",
            f"{API}/admin/api-keys",
            admin.create_api_key,
            "admin",
            admin_role,
            status=201,
            body_type=ApiKeyBody,
            data_type=ApiKeyCreated,
        ),
        private(
            "GET",
            f"{API}/admin/api-keys",
            admin.list_api_keys,
            "admin",
            admin_role,
            query_type=ApiKeysQuery,
            data_type=list[ApiKeyView],
        ),
        private(
            "DELETE",
            f"{API}/admin/api-keys/{{api_key}}",
            admin.revoke_api_key,
            "admin",
            admin_role,
            path_type=ApiKeyPath,
            data_type=ApiKeyView,
        ),
        # -- what the operator view shows --
        operator(
            "GET",
            f"{API}/admin/transfers",
            desk.list_transfers,
            query_type=TransfersQuery,
            data_type=TransferPage,
        ),
        operator(
            "GET", f"{API}/admin/audit-log", desk.list_audit_log, query_type=AuditQuery, data_type=AuditPage
        ),
        operator("GET", f"{API}/admin/metrics", desk.metrics, data_type=OperatorMetrics),
        operator(
            "POST", f"{API}/admin/ledger/verifications", desk.verify_ledger, data_type=LedgerVerificationView
        ),
        operator(
            "GET",
            f"{API}/admin/ledger/verifications/latest",
            desk.latest_ledger_verification,
            data_type=LedgerVerificationStatus,
        ),
        # -- operations (their answers are not enveloped) --
        operation("/health", operations.health, raw=True, data_type=HealthView),
        operation("/ready", operations.ready, raw=True, data_type=ReadyView, also=(503,)),
        operation("/metrics", operations.metrics, media_type="text/plain"),
        operation("/openapi.json", operations.openapi, documented=False),
    ]

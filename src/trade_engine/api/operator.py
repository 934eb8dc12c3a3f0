"""Operator endpoints (admin role) under `/api/v1/admin/`: what the operator view shows
beyond the admin actions of api/app.py.

- `GET  transfers`: deposits and withdrawals, newest first, paged.
- `GET  audit-log`: the admin changes recorded by api/audit.py, newest first, paged.
- `GET  metrics`: the key figures at a glance, as JSON, computed here from what the
  process counts (observability/metrics.py, the sequencer): rates over the last
  seconds (observability/window.py), queue depth, commit latency, WebSocket clients,
  readiness. The browser never parses Prometheus text.
- `POST ledger/verifications`: verify the store now (api/verification.py);
  `GET ledger/verifications/latest`: whether one is running and the last result.
"""

import time
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import Router, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import ResponseSpec
from litestar.params import Parameter
from prometheus_client.metrics import MetricWrapperBase

from trade_engine.api.auth import Principal
from trade_engine.api.operator_schemas import (
    AuditEntryView,
    AuditPage,
    CommitLatency,
    LedgerVerificationStatus,
    LedgerVerificationView,
    OperatorMetrics,
    Readiness,
    TransferPage,
    TransferRecord,
)
from trade_engine.api.schemas import Envelope, ErrorEnvelope
from trade_engine.api.services import Services
from trade_engine.api.verification import LedgerVerifier, Verification
from trade_engine.domain.market import asset_text
from trade_engine.observability.window import CounterWindow
from trade_engine.storage import operations

ADMIN: Final = "/api/v1/admin"
NS_PER_MS: Final = 1_000_000
RATE_WINDOW_SECONDS: Final = 10.0
DEFAULT_DECIMALS: Final = 8  # an asset no market names any more (as GET /balances does)

_ERROR = ResponseSpec(data_container=ErrorEnvelope, generate_examples=False, description="An error")
_ADMIN_ONLY: dict[str, Any] = {
    "tags": ["admin"],
    "responses": dict.fromkeys((400, 401, 403, 404, 413, 429, 503), _ERROR),
    "security": [{"bearer": []}],
}

Limit = Annotated[int, Parameter(ge=1, le=1000, description="page size (max 1000)")]
Offset = Annotated[int, Parameter(ge=0, le=10_000_000)]
UserIdFilter = Annotated[str | None, Parameter(pattern=r"^[A-Za-z0-9_.@:-]{1,64}$", description="a user id")]
AssetFilter = Annotated[str | None, Parameter(pattern=r"^[A-Z0-9]{1,12}$", description="an asset")]


class OperatorState:
    """What the operator endpoints keep between requests, one per application."""

    def __init__(self, services: Services) -> None:
        self.window = CounterWindow(window=RATE_WINDOW_SECONDS)
        self.verifier = LedgerVerifier(services.config.database.url)


def _operator(state: State) -> OperatorState:
    operator = state.get("operator")
    if operator is None:
        operator = state["operator"] = OperatorState(state.services)
    assert isinstance(operator, OperatorState)
    return operator


# -- transfers and the audit log --------------------------------------------------------------


@get("/transfers", **_ADMIN_ONLY)
async def list_transfers(
    admin: Principal,
    services: Services,
    user_id: UserIdFilter = None,
    asset: AssetFilter = None,
    kind: Literal["DEPOSIT", "WITHDRAWAL"] | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Envelope[TransferPage]:
    """Deposits and withdrawals, newest first, with the reference each was made under."""
    core = services.require_core()
    decimals: dict[str, int] = {}
    for market in core.engine.markets():
        decimals[market.base] = market.base_decimals
        decimals[market.quote] = market.quote_decimals
    rows, total = await operations.transfer_rows(
        core.database, user_id=user_id, asset=asset, kind=kind, limit=limit, offset=offset
    )
    transfers = [
        TransferRecord(
            transfer_id=row["id"],
            user_id=row["user_id"],
            asset=row["asset"],
            kind=row["kind"],
            amount=asset_text(row["amount"], decimals.get(row["asset"], DEFAULT_DECIMALS)),
            reference=row["reference"],
            time=row["ts"] // NS_PER_MS,
        )
        for row in rows
    ]
    return Envelope(
        data=TransferPage(
            transfers=transfers,
            total=total,
            limit=limit,
            offset=offset,
            has_more=offset + len(transfers) < total,
        )
    )


@get("/audit-log", **_ADMIN_ONLY)
async def list_audit_log(
    admin: Principal, services: Services, limit: Limit = 100, offset: Offset = 0
) -> Envelope[AuditPage]:
    """Every successful admin change made through the API, newest first: who (`actor`),
    what (`action`, `target`, `summary` of the request without secrets), when."""
    core = services.require_core()
    rows, total = await operations.audit_rows(core.database, limit=limit, offset=offset)
    entries = [
        AuditEntryView(
            id=row["id"],
            time=row["ts"] // NS_PER_MS,
            actor=row["actor"],
            action=row["action"],
            target=row["target"],
            summary=msgspec.json.decode(row["summary"]),
            status=row["status"],
            request_id=row["request_id"],
        )
        for row in rows
    ]
    return Envelope(
        data=AuditPage(
            entries=entries, total=total, limit=limit, offset=offset, has_more=offset + len(entries) < total
        )
    )


# -- metrics ------------------------------------------------------------------------------------


def _total(metric: MetricWrapperBase, sample: str, **labels: str) -> float:
    """The sum of a metric's samples of that name, over every label set matching `labels`."""
    return sum(
        reading.value
        for family in metric.collect()
        for reading in family.samples
        if reading.name == sample and all(reading.labels.get(k) == v for k, v in labels.items())
    )


_ORDERS, _TRADES, _COMMIT_SUM, _COMMIT_COUNT = range(4)


@get("/metrics", **_ADMIN_ONLY)
async def operator_metrics(
    admin: Principal, services: Services, operator: OperatorState
) -> Envelope[OperatorMetrics]:
    """Key figures of this process: accepted orders and trades per second and the mean
    commit latency over the last 10 seconds (`window_seconds` says over how long
    exactly; null until two readings are a second apart), the last commit's latency,
    commands waiting in the sequencer, connected WebSocket clients, readiness."""
    metrics = services.metrics
    counters = (
        _total(metrics.orders, "trade_engine_orders_total", outcome="accepted"),
        _total(metrics.trades, "trade_engine_trades_total"),
        _total(metrics.commit_seconds, "trade_engine_commit_seconds_sum"),
        _total(metrics.commit_seconds, "trade_engine_commit_seconds_count"),
    )
    change = operator.window.change(time.monotonic(), counters)
    core = services.core
    reachable = await services.database_reachable()
    accepting = core is not None and core.sequencer.available
    mean = change.mean(_COMMIT_SUM, _COMMIT_COUNT) if change is not None else None
    return Envelope(
        data=OperatorMetrics(
            time=time.time_ns() // NS_PER_MS,
            window_seconds=round(change.seconds, 3) if change is not None else None,
            orders_per_second=round(change.rate(_ORDERS), 3) if change is not None else None,
            trades_per_second=round(change.rate(_TRADES), 3) if change is not None else None,
            orders_total=int(counters[_ORDERS]),
            trades_total=int(counters[_TRADES]),
            commit_latency=CommitLatency(
                last_ms=round(core.sequencer.stats.last_commit_seconds * 1000, 3) if core else None,
                mean_ms=round(mean * 1000, 3) if mean is not None else None,
            ),
            queue_depth=core.sequencer.queue_depth() if core is not None else None,
            websocket_clients=int(_total(metrics.ws_clients, "trade_engine_websocket_clients")),
            readiness=Readiness(
                ready=accepting and reachable,
                recovered=core is not None,
                database=reachable,
                accepting_orders=accepting,
            ),
        )
    )


# -- ledger verification ---------------------------------------------------------------------------


def _verification_view(result: Verification) -> LedgerVerificationView:
    return LedgerVerificationView(
        outcome=result.outcome,
        started_at=result.started_ns // NS_PER_MS,
        finished_at=result.finished_ns // NS_PER_MS,
        duration_ms=round(result.duration_seconds * 1000, 3),
        problems=result.problems,
        problem_count=result.problem_count,
        markets=result.markets,
        accounts=result.accounts,
        open_orders=result.open_orders,
        error=result.error,
    )


@post("/ledger/verifications", status_code=200, **_ADMIN_ONLY)
async def verify_ledger(admin: Principal, operator: OperatorState) -> Envelope[LedgerVerificationView]:
    """Verify the store now, as start-up does (conservation of every asset, holds equal
    to what open orders can spend, the ledger adding up to every balance), on one
    consistent snapshot, without stalling the service. Answered with the result; while
    a verification runs, a second request waits for it instead of starting another."""
    return Envelope(data=_verification_view(await operator.verifier.run()))


@get("/ledger/verifications/latest", **_ADMIN_ONLY)
async def latest_ledger_verification(
    admin: Principal, operator: OperatorState
) -> Envelope[LedgerVerificationStatus]:
    """Whether a verification is running, and the result of the last one (null if none
    ran since the service started)."""
    last = operator.verifier.last
    return Envelope(
        data=LedgerVerificationStatus(
            running=operator.verifier.running, last=_verification_view(last) if last is not None else None
        )
    )


def operator_router() -> Router:
    """The operator endpoints, for `create_app`'s route handlers (a new router per app)."""
    return Router(
        ADMIN,
        route_handlers=[
            list_transfers,
            list_audit_log,
            operator_metrics,
            verify_ledger,
            latest_ledger_verification,
        ],
        dependencies={"operator": Provide(_operator, sync_to_thread=False)},
    )

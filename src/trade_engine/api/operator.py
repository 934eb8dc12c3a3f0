"""Operator endpoints (admin role) under `/api/v1/admin/`: what the operator view shows
beyond the admin actions of api/admin.py.

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
from typing import Final, Literal

import msgspec
from msgspec import Struct
from prometheus_client.metrics import MetricWrapperBase

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
from trade_engine.api.params import Asset, Limit, Offset, UserId
from trade_engine.api.verification import LedgerVerifier, Verification
from trade_engine.domain.market import asset_text
from trade_engine.domain.timestamps import ms
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.routes import Call
from trade_engine.observability.window import CounterWindow

RATE_WINDOW_SECONDS: Final = 10.0
DEFAULT_DECIMALS: Final = 8  # an asset no market names any more (as GET /balances does)


class TransfersQuery(Struct, frozen=True, kw_only=True):
    user_id: UserId | None = None
    asset: Asset | None = None
    kind: Literal["DEPOSIT", "WITHDRAWAL"] | None = None
    limit: Limit = 100
    offset: Offset = 0


class AuditQuery(Struct, frozen=True, kw_only=True):
    limit: Limit = 100
    offset: Offset = 0


class Operator:
    """The operator endpoints, and what they keep between requests (one per service)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.window = CounterWindow(window=RATE_WINDOW_SECONDS)
        database = gateway.config.database
        self.verifier = LedgerVerifier(database.url, database.verification_timeout_seconds)

    # -- transfers and the audit log --

    async def list_transfers(self, call: Call) -> TransferPage:
        """Deposits and withdrawals, newest first, with the reference each was made under."""
        query = call.query_as(TransfersQuery)
        gateway = self.gateway
        history = await gateway.history()
        decimals = gateway.asset_decimals()
        rows, total = await history.transfer_rows(
            user_id=query.user_id,
            asset=query.asset,
            kind=query.kind,
            limit=query.limit,
            offset=query.offset,
        )
        transfers = [
            TransferRecord(
                transfer_id=row["id"],
                user_id=row["user_id"],
                asset=row["asset"],
                kind=row["kind"],
                amount=asset_text(row["amount"], decimals.get(row["asset"], DEFAULT_DECIMALS)),
                reference=row["reference"],
                time=ms(row["ts"]),
            )
            for row in rows
        ]
        has_more = query.offset + len(transfers) < total
        return TransferPage(
            transfers=transfers, total=total, limit=query.limit, offset=query.offset, has_more=has_more
        )

    async def list_audit_log(self, call: Call) -> AuditPage:
        """Every successful admin change made through the API, newest first: who (`actor`),
        what (`action`, `target`, `summary` of the request without secrets), when."""
        query = call.query_as(AuditQuery)
        rows, total = await self.gateway.records().audit_rows(limit=query.limit, offset=query.offset)
        entries = [
            AuditEntryView(
                id=row["id"],
                time=ms(row["ts"]),
                actor=row["actor"],
                action=row["action"],
                target=row["target"],
                summary=msgspec.json.decode(row["summary"]),
                status=row["status"],
                request_id=row["request_id"],
            )
            for row in rows
        ]
        has_more = query.offset + len(entries) < total
        return AuditPage(
            entries=entries, total=total, limit=query.limit, offset=query.offset, has_more=has_more
        )

    # -- metrics --

    async def metrics(self, call: Call) -> OperatorMetrics:
        """Key figures of this process: accepted orders and trades per second and the mean
        commit latency over the last 10 seconds (`window_seconds` says over how long
        exactly; null until two readings are a second apart), the last commit's latency,
        commands waiting in the sequencer, connected WebSocket clients, readiness."""
        gateway = self.gateway
        metrics = gateway.metrics
        counters = (
            _total(metrics.orders, "trade_engine_orders_total", outcome="accepted"),
            _total(metrics.trades, "trade_engine_trades_total"),
            _total(metrics.commit_seconds, "trade_engine_commit_seconds_sum"),
            _total(metrics.commit_seconds, "trade_engine_commit_seconds_count"),
        )
        change = self.window.change(time.monotonic(), counters)
        status = gateway.core_status()
        readiness = await gateway.readiness()
        mean = change.mean(_COMMIT_SUM, _COMMIT_COUNT) if change is not None else None
        return OperatorMetrics(
            time=ms(time.time_ns()),
            window_seconds=round(change.seconds, 3) if change is not None else None,
            orders_per_second=round(change.rate(_ORDERS), 3) if change is not None else None,
            trades_per_second=round(change.rate(_TRADES), 3) if change is not None else None,
            orders_total=int(counters[_ORDERS]),
            trades_total=int(counters[_TRADES]),
            commit_latency=CommitLatency(
                last_ms=round(status.last_commit_seconds * 1000, 3) if status is not None else None,
                mean_ms=round(mean * 1000, 3) if mean is not None else None,
            ),
            queue_depth=status.queue_depth if status is not None else None,
            websocket_clients=int(_total(metrics.ws_clients, "trade_engine_websocket_clients")),
            readiness=Readiness(
                ready=readiness.ready,
                recovered=readiness.recovered,
                database=readiness.database,
                accepting_orders=readiness.accepting,
            ),
        )

    # -- ledger verification --

    async def verify_ledger(self, call: Call) -> LedgerVerificationView:
        """Verify the store now, as start-up does (conservation of every asset, holds equal
        to what open orders can spend, the ledger adding up to every balance), on one
        consistent snapshot, without stalling the service. Answered with the result; while
        a verification runs, a second request waits for it instead of starting another."""
        return _verification_view(await self.verifier.run())

    async def latest_ledger_verification(self, call: Call) -> LedgerVerificationStatus:
        """Whether a verification is running, and the result of the last one (null if none
        ran since the service started)."""
        last = self.verifier.last
        view = _verification_view(last) if last is not None else None
        return LedgerVerificationStatus(running=self.verifier.running, last=view)


def _total(metric: MetricWrapperBase, sample: str, **labels: str) -> float:
    """The sum of a metric's samples of that name, over every label set matching `labels`."""
    return sum(
        reading.value
        for family in metric.collect()
        for reading in family.samples
        if reading.name == sample and all(reading.labels.get(k) == v for k, v in labels.items())
    )


_ORDERS, _TRADES, _COMMIT_SUM, _COMMIT_COUNT = range(4)


def _verification_view(result: Verification) -> LedgerVerificationView:
    return LedgerVerificationView(
        outcome=result.outcome,
        started_at=ms(result.started_ns),
        finished_at=ms(result.finished_ns),
        duration_ms=round(result.duration_seconds * 1000, 3),
        problems=result.problems,
        problem_count=result.problem_count,
        markets=result.markets,
        accounts=result.accounts,
        open_orders=result.open_orders,
        error=result.error,
    )

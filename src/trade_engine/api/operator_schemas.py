"""Response bodies of the operator endpoints (api/operator.py)."""

from typing import Any, Literal

from msgspec import Struct


class TransferRecord(Struct, kw_only=True):
    transfer_id: int
    user_id: str
    asset: str
    kind: Literal["DEPOSIT", "WITHDRAWAL"]
    amount: str
    reference: str | None
    time: int


class TransferPage(Struct, kw_only=True):
    transfers: list[TransferRecord]
    total: int
    limit: int
    offset: int
    has_more: bool


class AuditEntryView(Struct, kw_only=True):
    id: int
    time: int
    actor: str
    action: str
    target: str | None
    summary: dict[str, Any]
    status: int
    request_id: str | None


class AuditPage(Struct, kw_only=True):
    entries: list[AuditEntryView]
    total: int
    limit: int
    offset: int
    has_more: bool


class Readiness(Struct, kw_only=True):
    ready: bool
    recovered: bool
    database: bool
    accepting_orders: bool


class CommitLatency(Struct, kw_only=True):
    last_ms: float | None
    mean_ms: float | None


class OperatorMetrics(Struct, kw_only=True):
    """Rates and means are over the last `window_seconds` (null until two readings
    of the counters are at least a second apart)."""

    time: int
    window_seconds: float | None
    orders_per_second: float | None
    trades_per_second: float | None
    orders_total: int
    trades_total: int
    commit_latency: CommitLatency
    queue_depth: int | None
    websocket_clients: int
    readiness: Readiness


class LedgerVerificationView(Struct, kw_only=True):
    outcome: Literal["CONSISTENT", "INCONSISTENT", "FAILED"]
    started_at: int
    finished_at: int
    duration_ms: float
    problems: list[str]
    problem_count: int
    markets: int
    accounts: int
    open_orders: int
    error: str | None


class LedgerVerificationStatus(Struct, kw_only=True):
    running: bool
    last: LedgerVerificationView | None

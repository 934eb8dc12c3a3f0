"""What crosses the core port: submissions, outcomes, committed batches, the state a
reader starts from. Immutable msgspec values with a version field, so the same format
serves in-process callers, other processes (the cluster's gateways) and downstream
consumers; `codec.py` encodes them.

A submission carries an idempotency key chosen by its sender: a transport that may
deliver a submission twice (a bus after a reconnect) lets the core answer the second
delivery with the first's outcome instead of applying it again.

An outcome is one of four: `Committed` (durable; with the global sequence number of the
command and its events), `Rejected` (refused, nothing changed; with its error code,
and no sequence number: a refused command is not journaled and takes none),
`Unavailable` (not applied: safe to retry) or `Unknown` (it may have been applied: look
it up by the ids given once the service answers again). `CoreStatus`, what the core
reports of itself, crosses the port as a message too.
"""

from typing import Final

import msgspec

from trade_engine.domain.errors import ErrorCode
from trade_engine.domain.lifecycle import OrderStatus
from trade_engine.domain.market import Market
from trade_engine.domain.order_meta import OrderMeta
from trade_engine.engine import Balance
from trade_engine.sequencer.messages import AnyCommand, AnyEvent, BalanceState, CommittedBatch

VERSION: Final = 1

__all__ = [
    "VERSION",
    "AnyCommand",
    "AnyEvent",
    "BalanceState",
    "Committed",
    "CommittedBatch",
    "CoreState",
    "CoreStatus",
    "MarketState",
    "OrderModel",
    "Outcome",
    "Rejected",
    "Submission",
    "Unavailable",
    "Unknown",
]


class Submission(msgspec.Struct, frozen=True, kw_only=True):
    key: str  # the sender's idempotency key
    command: AnyCommand
    v: int = VERSION


class Committed(msgspec.Struct, frozen=True, kw_only=True, tag="committed"):
    seq: int  # the global sequence number of the command (0: it changed nothing)
    events: list[AnyEvent]
    v: int = VERSION


class Rejected(msgspec.Struct, frozen=True, kw_only=True, tag="rejected"):
    code: ErrorCode
    message: str
    # What a refused duplicate collides with (the transfer that took its reference).
    duplicate_of: int | None = None
    # A cancel-replace whose two parts were both refused: the cancel's refusal (`code`
    # and `message` are the new order's).
    cancel_code: ErrorCode | None = None
    cancel_message: str | None = None
    v: int = VERSION


class Unavailable(msgspec.Struct, frozen=True, kw_only=True, tag="unavailable"):
    code: ErrorCode  # BUSY, NOT_READY or UNAVAILABLE
    message: str
    v: int = VERSION


class Unknown(msgspec.Struct, frozen=True, kw_only=True, tag="unknown"):
    message: str
    ids: dict[str, str | int]  # what to look the command's effect up by
    v: int = VERSION


Outcome = Committed | Rejected | Unavailable | Unknown


class OrderModel(msgspec.Struct, gc=False):
    """An order as it stands: its terms (engine integers) and its totals so far. The
    read model keeps one per open order (readmodel/orders.py); a reader starts from
    these in `CoreState` and adopts them as they are.

    Not keyword-only: a restart builds a million of these by position, from the
    engine's `open_order_records` (whose tuples follow this field order up to `meta`),
    and msgspec matches keyword arguments to twenty fields several times slower than it
    takes them by position (measured). Anything else builds one by keyword."""

    order_id: int
    user_id: str
    market: str
    side: str
    order_type: str
    time_in_force: str
    price: int  # ticks (0: none)
    stop_price: int  # ticks (0: none)
    quantity: int  # lots (0: sized by quote amount)
    quote_quantity: int  # quote minor units (0: sized by quantity)
    client_order_id: str | None
    stp_mode: str
    post_only: bool
    created_ts: int
    updated_ts: int
    executed: int = 0  # lots
    filled_quote: int = 0  # quote minor units
    fee: int = 0  # quote minor units
    pending: bool = False  # a stop or take-profit still waiting for its price
    meta: OrderMeta | None = None  # the caller's labels
    status: OrderStatus = OrderStatus.NEW
    reason: str | None = None


class CoreStatus(msgspec.Struct, frozen=True, kw_only=True):
    """How the core is doing, for readiness, metrics and the operator page."""

    accepting: bool  # taking commands now
    failed: bool  # stopped for good (storage): must be rebuilt before serving again
    queue_depth: int
    commands: int  # committed (or refused) since start
    batches: int
    commit_retries: int
    last_batch_size: int
    last_apply_seconds: float
    last_commit_seconds: float
    last_settlement_lag_seconds: float
    last_queue_wait_seconds: float
    projection_lag: int  # acknowledged commands whose rows are not yet in the tables
    # Per stage between `submit` and the answer, seconds summed over the commands
    # answered (sequencer/ports.py, `STAGES`); empty where the core does not keep them.
    stage_seconds: dict[str, float] = msgspec.field(default_factory=dict)
    v: int = VERSION


class MarketState(msgspec.Struct, frozen=True, kw_only=True):
    """A market as committed: its rules and status, its book's levels (price, quantity)
    best first, and the sequence number of its last event."""

    market: Market
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]
    sequence: int


class CoreState(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a reader starts from, as of global sequence number `seq`; committed
    batches after it follow."""

    seq: int
    markets: list[MarketState]
    orders: list[OrderModel]
    balances: list[BalanceState]
    v: int = VERSION

    def balances_by_user(self) -> dict[str, dict[str, Balance]]:
        result: dict[str, dict[str, Balance]] = {}
        for state in self.balances:
            result.setdefault(state.user_id, {})[state.asset] = Balance(state.available, state.locked)
        return result

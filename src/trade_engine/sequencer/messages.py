"""What the sequencer publishes after each commit: one `CommittedBatch`.

It is the event format every consumer reads (read models, streams, other processes):
immutable msgspec values with a version, carrying the batch's global sequence number
(that of its last command), the commit time, every event in order, and the committed
value of each balance the batch changed (consumers need no engine to know them).
`AnyEvent` and `AnyCommand` name every concrete type, so that a decoder knows them all.

And what it journals before anything is acknowledged: one `JournalEntry` per batch.
"""

from typing import Any, Final

import msgspec

from trade_engine.engine import (
    AddMarket,
    AmendOrder,
    BookLevelChanged,
    CancelAllOrders,
    CancelOrder,
    CancelReplaceOrder,
    CommandRejected,
    Deposit,
    FundsDeposited,
    FundsWithdrawn,
    MarketAdded,
    MarketStatusChanged,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    PartRejected,
    PlaceOrder,
    ReplaceRejected,
    SetMarketStatus,
    StopTriggered,
    TradeExecuted,
    Withdraw,
)

VERSION: Final = 1

AnyEvent = (
    OrderAccepted
    | StopTriggered
    | TradeExecuted
    | OrderFilled
    | OrderCancelled
    | OrderExpired
    | OrderAmended
    | BookLevelChanged
    | MarketAdded
    | MarketStatusChanged
    | FundsDeposited
    | FundsWithdrawn
    | PartRejected
    | CommandRejected
    | ReplaceRejected
)
AnyCommand = (
    PlaceOrder
    | CancelOrder
    | CancelReplaceOrder
    | CancelAllOrders
    | AmendOrder
    | Deposit
    | Withdraw
    | AddMarket
    | SetMarketStatus
)


class BalanceState(msgspec.Struct, frozen=True, gc=False):
    """A balance as committed: available and locked, in the asset's minor units."""

    user_id: str
    asset: str
    available: int
    locked: int

    @classmethod
    def of_row(cls, row: tuple[Any, ...]) -> "BalanceState":
        """From a balance row of the projection: (user, asset, available, locked, ...)."""
        return cls(row[0], row[1], row[2], row[3])


class CommittedBatch(msgspec.Struct, frozen=True, kw_only=True):
    seq: int  # the global sequence number of the batch's last state-changing command
    commit_ns: int  # when the batch was committed (Unix nanoseconds)
    events: list[AnyEvent]
    balances: list[BalanceState]
    v: int = VERSION


class JournalEntry(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One batch as the journal keeps it: its state-changing commands, time-stamped, with
    global sequence numbers first_seq..last_seq (one each, in order)."""

    first_seq: int
    last_seq: int
    ts: int  # the time of the last command
    commands: bytes  # `encode_commands` of the commands
    # Where the batch's last command stands in its source (the cluster's command stream:
    # recorded with the epoch, so a takeover resumes after it); 0 for the service's own.
    position: int = 0


_command_encoder: Final = msgspec.msgpack.Encoder()
_command_decoder: Final = msgspec.msgpack.Decoder(list[AnyCommand])


def encode_commands(commands: list[Any]) -> bytes:
    return _command_encoder.encode(commands)


def journal_entry(first_seq: int, last_seq: int, ts: int, commands: list[Any], position: int) -> JournalEntry:
    """A batch's journal entry, its state-changing commands encoded."""
    return JournalEntry(
        first_seq=first_seq, last_seq=last_seq, ts=ts, commands=encode_commands(commands), position=position
    )


def decode_commands(data: bytes) -> list[AnyCommand]:
    return _command_decoder.decode(data)

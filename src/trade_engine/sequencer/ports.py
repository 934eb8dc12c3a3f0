"""What the sequencer needs from storage, and what it tells its callers.

The sequencer does not know the database: it is given a projector, which turns a
batch's events into the rows it writes, and a writer, which appends a batch's journal
entry (what makes it durable) and later writes its rows (storage/projection.py and
storage/writer.py implement both). A writer's
failure is a `CommitFailed` with what the sequencer must know to recover; callers
learn a command's fate from `Busy`, `Unavailable` and `OutcomeUnknown`.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from trade_engine.engine import Engine, Event
from trade_engine.sequencer.messages import JournalEntry


class CommitFailed(Exception):
    """A batch write failed.

    `maybe_committed`: the batch may have reached the database and committed (the
    connection was lost after it was sent): only `committed_seq` can tell, once the
    database answers again. Otherwise it certainly did not commit.
    `transient`: the failure may pass (connection lost, database restarting, disk
    full), so writing the batch again may succeed; a batch is idempotent, so that is
    safe. Otherwise writing it again would fail the same way (a bug).
    """

    def __init__(self, message: str, *, maybe_committed: bool, transient: bool = True) -> None:
        super().__init__(message)
        self.maybe_committed = maybe_committed
        self.transient = transient


class Busy(Exception):
    """The command queue is full; try again shortly."""


class Unavailable(Exception):
    """The command was not applied and is safe to retry: the sequencer is not taking
    commands (stopped, shutting down, storage failing or failed)."""


class OutcomeUnknown(Exception):
    """The command's batch was sent to the database, which then could not be reached to
    tell whether it committed. `events` are what the command caused if it did (the ids
    to look it up by)."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__("the database could not confirm whether the command was committed")
        self.events = events


class Rows(Protocol):
    """A batch's rows, as the projector made them."""

    @property
    def balances(self) -> Sequence[tuple[Any, ...]]:
        """(user, asset, available, locked, ...) of every balance the batch changed,
        as they stand after it."""
        ...

    def row_count(self) -> int: ...


class Prepared(Protocol):
    """A batch's rows, as a writer takes them (encoded, where the writer encodes, when
    its write is readied: `Writer.merge`)."""

    @property
    def rows(self) -> Rows: ...

    @property
    def last_seq(self) -> int:
        """The global sequence number the rows bring the tables to."""
        ...


class Projector(Protocol):
    def project(self, events: list[Event], engine: Engine, ts: int, seq: int) -> Any:
        """The rows `events` write (absolute values read from `engine`, which has just
        applied them); the batch's last command has global sequence number `seq`."""
        ...


@dataclass(frozen=True)
class AppendTiming:
    """Where a journal append's time went inside the store, as its writer saw it.

    `store_seconds`: from the start of the transaction to the end of its commit
    (SQLite: on the writer's thread; PostgreSQL: the statement's round trip, the
    server's WAL flush included). `sync_seconds`: of that, the commit that makes the
    entry durable (SQLite's COMMIT: the log's write and fsync); None where the store
    does not tell the two apart (PostgreSQL commits inside the one statement)."""

    store_seconds: float = 0.0
    sync_seconds: float | None = None


class Writer(Protocol):
    @property
    def ready_ahead(self) -> bool:
        """Whether the tables writer should ready the next write while one runs (when
        the tables fall behind): where the database does a write's work in a process of
        its own (PostgreSQL). Not where this process does much of it under the
        interpreter's lock (SQLite's thread binds the rows): readying ahead only delayed
        the sequencer there (measured in `make bench-durable`: the same throughput, an
        ack p99 12 to 23% higher)."""
        ...

    async def append(self, entry: JournalEntry) -> None:
        """Make a batch durable: its journal entry, committed and synced (or raise
        `CommitFailed`). Appending an entry that is there already changes nothing."""
        ...

    @property
    def last_append(self) -> AppendTiming:
        """Where the last `append` spent its time, if it succeeded (for the metrics:
        zero after a failed one, so a batch found committed after a lost answer counts
        no time in the store)."""
        ...

    def prepare(self, rows: Any) -> Prepared:
        """A projected batch, as this writer takes it to write (`merge` and `write`)."""
        ...

    def merge(self, batches: Sequence[Any]) -> Prepared:
        """Consecutive prepared batches (one or more) as one write, written in one
        transaction to the same end as writing them one by one (how the tables catch up
        when behind), and readied: whatever the writer does to rows before its statement
        (PostgreSQL: encoding them) is done here, so that the tables writer can ready the
        next write while the database runs one."""
        ...

    async def write(self, batch: Any) -> None:
        """Write a journaled batch's rows in one transaction (or raise `CommitFailed`);
        writing the same batch again gives the same tables."""
        ...

    async def committed_seq(self) -> int:
        """The global sequence number the store has made durable, up to."""
        ...

    async def close(self) -> None: ...


# The stages of a command between `submit` and its answer, in order: waiting in the
# queue (for a place in the pipeline too, and while the tables are too far behind); its
# batch being applied; its batch waiting for the batch before it to be committed and
# answered; its batch's journal append, as awaited (with any retries); of that, the
# time inside the store; of that, the store's sync (where the store tells it apart:
# `AppendTiming`). What follows the last, until the caller resumes, is not a stage.
STAGES: tuple[str, ...] = ("queue", "apply", "previous_commit", "commit", "store", "sync")


@dataclass
class SequencerStats:
    """Counters the metrics endpoint reads."""

    commands: int = 0
    batches: int = 0
    rejected: int = 0
    commit_retries: int = 0
    last_batch_size: int = 0
    # Engine time for the last batch (matching, holds, settlement of every command).
    last_apply_seconds: float = 0.0
    last_commit_seconds: float = 0.0
    # Seconds between applying a batch (matching, settlement in the engine) and its
    # commit: how far durable settlement trails matching.
    last_settlement_lag_seconds: float = 0.0
    # Mean time the last batch's commands waited in the queue before it was taken.
    last_queue_wait_seconds: float = 0.0
    # Where commands' time went between `submit` and their answer, summed over every
    # command answered, per stage (`STAGES`): the metrics' means of one command's time.
    stage_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

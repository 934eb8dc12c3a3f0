"""How a projected batch reaches the tables: which kind of row goes to which table and
how (`WRITES`), the statements that spell it for each database, and the prepared batch
the sequencer hands a writer (sqlite_writer.py, postgres_writer.py).

Rows go set-based, a few statements per table rather than one per row. Every write is
idempotent (absolute upserts, appends that ignore conflicts), so a batch whose commit
outcome is unknown can simply be written again. (PostgreSQL's first statement for a
write inserts some appends without a conflict clause; its writer falls back to the
statement with every clause when their rows are there because an earlier attempt of
the same write committed: postgres_writer.py.)
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from sqlalchemy.dialects import postgresql

from trade_engine.sequencer.messages import JournalEntry
from trade_engine.sequencer.ports import AppendTiming
from trade_engine.storage import schema
from trade_engine.storage.projection import (
    BALANCE_COLUMNS,
    IDEMPOTENCY_COLUMNS,
    LEDGER_COLUMNS,
    MARKET_COLUMNS,
    MARKET_UPDATE_COLUMNS,
    ORDER_COLUMNS,
    ORDER_UPDATE_COLUMNS,
    STATE_COLUMNS,
    TRADE_COLUMNS,
    TRANSFER_COLUMNS,
    USER_COLUMNS,
    BatchRows,
)


@dataclass(frozen=True)
class PreparedBatch:
    """A batch's rows, as the sequencer hands them to a writer once applied.

    Neither writer encodes a batch when it is applied. The rows reach the tables behind
    the journal, and the tables writer merges the batches waiting into one write
    (sequencer/tables.py), so a batch encoded then was encoded again with the others.
    PostgreSQL's array literals built per batch were 11% of the event loop's time in
    `make bench-durable`; without them its process used 9% less CPU for the same run
    (600,000 commands, its set-up included). Each write is encoded once, when the tables
    writer readies it (`Writer.merge`: `encoded`, PostgreSQL's statement parameters), or
    else when it is written (recovery's and the cluster's writes); SQLite's thread binds
    the rows itself. So a row the encoding refuses (a projection bug) shows when its
    write is readied or written, after its batch was acknowledged, on both databases:
    the tables writer stops the sequencer.
    """

    rows: BatchRows
    encoded: tuple[str, ...] | None = None

    @property
    def last_seq(self) -> int:
        """The global sequence number the batch's rows bring the tables to."""
        (state,) = self.rows.state
        last_seq = state[1]
        assert isinstance(last_seq, int)
        return last_seq


class BatchWriter(Protocol):
    async def append(self, entry: JournalEntry) -> None:
        """Make one batch durable: its journal row, committed and synced (or raise
        `CommitFailed`). Appending the same entry again changes nothing."""

    @property
    def last_append(self) -> AppendTiming:
        """Where the last `append` spent its time, if it succeeded (for the metrics)."""

    @property
    def ready_ahead(self) -> bool:
        """Whether to ready the next write while one runs (sequencer/ports.py)."""

    def prepare(self, rows: BatchRows) -> PreparedBatch: ...

    def merge(self, batches: Sequence[PreparedBatch]) -> PreparedBatch: ...

    async def write(self, batch: PreparedBatch) -> None:
        """Project a journaled batch into the tables, in one transaction that also
        deletes its journal row (not synced on its own: the journal is the durable
        record). Writing the same batch twice gives the same tables."""

    async def committed_seq(self) -> int:
        """The global sequence number of the last durable command, read from the
        database once no write of this writer can still be in progress there; raises
        `CommitFailed` if the database cannot be reached."""

    async def close(self) -> None: ...


@dataclass(frozen=True)
class TableWrite:
    """How one kind of row of a batch reaches its table.

    `append`: insert, ignoring rows already there (naturally keyed records).
    `upsert`: insert, or overwrite the non-key columns of the row already there.
    `update`: change existing rows found by `key`; a None in a `keep_if_none` column
    leaves the stored value as it is.
    Keys are unique within a batch (the projection folds each row's changes into one),
    which set-based statements need.
    """

    attribute: str  # of BatchRows
    table: str
    columns: tuple[str, ...]
    mode: Literal["append", "upsert", "update"]
    key: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()  # upsert: the columns an existing row takes
    keep_if_none: frozenset[str] = frozenset()


# In the order that satisfies foreign keys.
WRITES: Final = (
    TableWrite("users", "users", USER_COLUMNS, "append"),
    TableWrite("new_markets", "markets", MARKET_COLUMNS, "upsert", ("symbol",), MARKET_COLUMNS[2:]),
    TableWrite("market_updates", "markets", MARKET_UPDATE_COLUMNS, "update", ("symbol",)),
    # Updates first: they only close orders or change their terms, so a client order id
    # freed by a cancel in this batch is free before a new order takes it.
    TableWrite(
        "order_updates",
        "orders",
        ORDER_UPDATE_COLUMNS,
        "update",
        ("id",),
        keep_if_none=frozenset(("price", "quantity", "fee_residue", "pending", "priority")),
    ),
    TableWrite("new_orders", "orders", ORDER_COLUMNS, "upsert", ("id", "created_ts"), ORDER_COLUMNS[2:]),
    TableWrite("trades", "trades", TRADE_COLUMNS, "append"),
    TableWrite("balances", "balances", BALANCE_COLUMNS, "upsert", ("user_id", "asset"), BALANCE_COLUMNS[2:]),
    TableWrite("transfers", "transfers", TRANSFER_COLUMNS, "append"),
    TableWrite("idempotency", "idempotency_keys", IDEMPOTENCY_COLUMNS, "append"),
    TableWrite("ledger", "ledger_entries", LEDGER_COLUMNS, "append"),
    TableWrite("state", "sequencer_state", STATE_COLUMNS, "upsert", ("id",), STATE_COLUMNS[1:]),
)
# How far commands are durable: the journal's last batch, or, when every batch is
# projected (and its journal rows deleted), how far the tables are.
COMMITTED_SEQ: Final = (
    "SELECT MAX(s) FROM (SELECT MAX(last_seq) AS s FROM journal"
    " UNION ALL SELECT last_seq AS s FROM sequencer_state WHERE id = 1) AS positions"
)
# How far the tables are (the position each write moves them to).
TABLES_POSITION: Final = "SELECT last_seq FROM sequencer_state WHERE id = 1"
JOURNAL_COLUMNS: Final = ("last_seq", "first_seq", "ts", "commands")
# A projected batch's journal rows go in the projection's own transaction, except those
# after the latest engine snapshot, or after one being written (its parts, or the pin
# written before any: storage/snapshots.py): a restart replays them onto it
# (docs/adr/0002).
JOURNAL_PROJECTED: Final = (
    "DELETE FROM journal WHERE last_seq <= {0} AND last_seq <= COALESCE((SELECT MIN(floor) FROM"
    " (SELECT MAX(seq) AS floor FROM snapshots UNION ALL SELECT MIN(seq) AS floor FROM snapshot_parts)"
    " AS floors), {0})"
)


def _conflict_clause(write: TableWrite) -> str:
    if write.mode == "append":
        return "ON CONFLICT DO NOTHING"
    updates = ", ".join(f"{c} = excluded.{c}" for c in write.updated)
    return f"ON CONFLICT ({', '.join(write.key)}) DO UPDATE SET {updates}"


def _update_sets(write: TableWrite, source: Sequence[str]) -> tuple[str, str]:
    """(SET list, WHERE condition) of an UPDATE ... FROM, the new values in `source`."""
    value = dict(zip(write.columns, source, strict=True))
    sets = ", ".join(
        f"{c} = COALESCE({value[c]}, {write.table}.{c})" if c in write.keep_if_none else f"{c} = {value[c]}"
        for c in write.columns
        if c not in write.key
    )
    where = " AND ".join(f"{write.table}.{k} = {value[k]}" for k in write.key)
    return sets, where


def sqlite_statement(write: TableWrite, rows: int) -> str:
    """One statement writing `rows` rows, from a multi-row VALUES list."""
    group = "(" + ", ".join("?" * len(write.columns)) + ")"
    values = ", ".join([group] * rows)
    if write.mode == "update":
        sets, where = _update_sets(write, [f"u.column{n}" for n in range(1, len(write.columns) + 1)])
        return f"UPDATE {write.table} SET {sets} FROM (VALUES {values}) AS u WHERE {where}"
    return f"INSERT INTO {write.table} ({', '.join(write.columns)}) VALUES {values} {_conflict_clause(write)}"


def postgres_types(write: TableWrite) -> list[str]:
    """The PostgreSQL type of each column `write` writes."""
    table = schema.metadata.tables[write.table]
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return [table.c[column].type.compile(dialect=dialect) for column in write.columns]


def postgres_statement(write: TableWrite, first_parameter: int = 1, conflicts: bool = True) -> str:
    """One statement writing any number of rows, passed as one array literal per column.
    `conflicts=False`: an insert without a conflict clause (a row already there fails
    it)."""
    types = postgres_types(write)
    arrays = ", ".join(f"${n}::text::{kind}[]" for n, kind in enumerate(types, first_parameter))
    names = ", ".join(write.columns)
    source = f"unnest({arrays}) AS u({names})"
    if write.mode == "update":
        sets, where = _update_sets(write, [f"u.{c}" for c in write.columns])
        return f"UPDATE {write.table} SET {sets} FROM {source} WHERE {where}"
    clause = _conflict_clause(write) if conflicts else ""
    return f"INSERT INTO {write.table} ({names}) SELECT * FROM {source} {clause}".rstrip()


def postgres_batch_statement(
    unchecked: frozenset[str] = frozenset(), writes: Sequence[TableWrite] = WRITES
) -> str:
    """`writes` (every table's) as one statement: a batch is one round trip, and, run
    outside a transaction block, one atomic transaction of its own. The kinds of row
    named in `unchecked` (`TableWrite.attribute`) are inserted without a conflict clause.

    Data-modifying WITH clauses all run, against one snapshot, and foreign keys are
    checked at the end of the statement, when the users and markets inserted by the
    same statement exist. No two clauses touch the same row: new orders are inserted,
    existing ones updated. The last parameter is the batch's last sequence number: the
    journal rows up to it are deleted in the same transaction.
    """
    clauses, parameter = [], 1
    for number, write in enumerate(writes):
        statement = postgres_statement(write, parameter, conflicts=write.attribute not in unchecked)
        clauses.append(f"w{number} AS ({statement})")
        parameter += len(write.columns)
    clauses.append("projected AS (" + JOURNAL_PROJECTED.format(f"${parameter}::text::bigint") + ")")
    return "WITH " + ", ".join(clauses) + " SELECT 1"


def postgres_append_statement() -> str:
    columns = ", ".join(JOURNAL_COLUMNS)
    return f"INSERT INTO journal ({columns}) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"


def sqlite_append_statement() -> str:
    columns = ", ".join(JOURNAL_COLUMNS)
    return f"INSERT INTO journal ({columns}) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"


# SQLite allows 32,766 parameters per statement; chunks stay well below.
_MOST_PARAMETERS: Final = 8_192
_MOST_ROWS: Final = 256


def largest_chunk(columns: int) -> int:
    size = _MOST_ROWS
    while size * columns > _MOST_PARAMETERS:
        size //= 2
    return size

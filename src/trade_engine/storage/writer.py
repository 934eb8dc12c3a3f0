"""Batch writers: one transaction per group commit, on the raw database drivers.

The write path is the hot path of durability, so it bypasses SQLAlchemy's statement
building (measured at roughly half the throughput of the raw drivers) and writes on a
dedicated connection: the stdlib `sqlite3` in one worker thread, or `asyncpg`. Rows go
set-based, a few statements per table rather than one per row (`WRITES` says how each
kind of row is written; `sqlite_statement` and `postgres_statement` spell it for each
database). Every statement is idempotent (absolute upserts, appends that ignore
conflicts), so a batch whose commit outcome is unknown can simply be written again.
"""

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain
from typing import Any, Final, Literal, Protocol

import asyncpg
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from trade_engine.sequencer.ports import CommitFailed
from trade_engine.storage import schema
from trade_engine.storage.database import SQLITE_PRAGMAS
from trade_engine.storage.pgarrays import Texts, encoder_for
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
    Row,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedBatch:
    """A batch's rows and, for writers that have one, their encoding for the database.

    The sequencer prepares a batch as soon as it is applied, while the batch before it
    is still committing, so encoding does not keep the database waiting.
    """

    rows: BatchRows
    encoded: tuple[str, ...] = ()


class BatchWriter(Protocol):
    def prepare(self, rows: BatchRows) -> PreparedBatch: ...

    async def write(self, batch: PreparedBatch) -> None:
        """Commit the batch in one transaction, or raise `CommitFailed`."""

    async def committed_seq(self) -> int:
        """The global sequence number of the last committed command, read from the
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
_COMMITTED_SEQ: Final = "SELECT last_seq FROM sequencer_state WHERE id = 1"


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


def postgres_statement(write: TableWrite, first_parameter: int = 1) -> str:
    """One statement writing any number of rows, passed as one array literal per column."""
    types = postgres_types(write)
    arrays = ", ".join(f"${n}::text::{kind}[]" for n, kind in enumerate(types, first_parameter))
    names = ", ".join(write.columns)
    source = f"unnest({arrays}) AS u({names})"
    if write.mode == "update":
        sets, where = _update_sets(write, [f"u.{c}" for c in write.columns])
        return f"UPDATE {write.table} SET {sets} FROM {source} WHERE {where}"
    return f"INSERT INTO {write.table} ({names}) SELECT * FROM {source} {_conflict_clause(write)}"


def postgres_batch_statement() -> str:
    """Every table's write as one statement: a batch is one round trip, and, run outside
    a transaction block, one atomic transaction of its own.

    Data-modifying WITH clauses all run, against one snapshot, and foreign keys are
    checked at the end of the statement, when the users and markets inserted by the
    same statement exist. No two clauses touch the same row: new orders are inserted,
    existing ones updated.
    """
    clauses, parameter = [], 1
    for number, write in enumerate(WRITES):
        clauses.append(f"w{number} AS ({postgres_statement(write, parameter)})")
        parameter += len(write.columns)
    return "WITH " + ", ".join(clauses) + " SELECT 1"


# SQLite allows 32,766 parameters per statement; chunks stay well below.
_MOST_PARAMETERS: Final = 8_192
_MOST_ROWS: Final = 256


def _largest_chunk(columns: int) -> int:
    size = _MOST_ROWS
    while size * columns > _MOST_PARAMETERS:
        size //= 2
    return size


_SQLITE_NEEDED: Final = (3, 33, 0)
# Failures that may pass: another connection holds a lock, the disk is full (SQLITE_FULL:
# the transaction was rolled back, nothing is corrupted), the file cannot be reached.
_SQLITE_TRANSIENT: Final = ("locked", "busy", "disk i/o", "unable to open", "full")
# An I/O error may strike during COMMIT itself, after the log was written: look it up.
_SQLITE_MAYBE_COMMITTED: Final = ("disk i/o",)


def _sqlite_connect(path: str, *pragmas: str) -> sqlite3.Connection:
    """A connection set up as every other (`SQLITE_PRAGMAS`), plus `pragmas`."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in (*SQLITE_PRAGMAS, *(f"PRAGMA {pragma}" for pragma in pragmas)):
        connection.execute(pragma)
    return connection


class _Checkpointer:
    """Copies the write-ahead log into the database file away from the commit path.

    SQLite's automatic checkpoint runs inside the commit that crosses its threshold and
    made every such commit wait for the database file's writes and fsync (about half
    of all commit time, measured). Here a thread of its own runs a PASSIVE checkpoint,
    which never blocks the writer, at most every `interval` seconds after commits.

    A passive checkpoint copies only the frames present when it starts; the log
    rewinds only once every frame is copied, which continuous commits can postpone
    forever. So when the log passes `rewind_frames` the writer checkpoints once itself,
    between two batches: by then nearly every frame is copied, so that is short, and
    the log rewinds at the next commit instead of growing without bound. Should the
    thread fail to start, the writer falls back to SQLite's automatic checkpoints.
    """

    def __init__(self, path: str, *, interval: float = 0.25, rewind_frames: int = 20_000) -> None:
        self._path = path
        self._interval = interval
        self._rewind_frames = rewind_frames
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self.log_frames = 0
        self.failed = False
        self._thread = threading.Thread(target=self._loop, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def committed(self, connection: sqlite3.Connection) -> None:
        """Called by the writer after each commit, on its own connection. The batch is
        committed whatever happens here, so a failed checkpoint is logged, not raised."""
        try:
            if self.failed:
                # No checkpoint thread: back to SQLite's own checkpoints in commits.
                connection.execute("PRAGMA wal_autocheckpoint=1000")
            elif self.log_frames > self._rewind_frames:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.log_frames = 0
        except sqlite3.Error as error:
            log.warning("checkpoint failed", extra={"error": str(error)})
        self._wake.set()

    def _loop(self) -> None:
        try:
            connection = _sqlite_connect(self._path)
        except sqlite3.Error as error:
            # Without this thread SQLite's own checkpoints take over (`committed`).
            log.error("checkpoint thread cannot open the database", extra={"error": str(error)})
            self.failed = True
            return
        try:
            while True:
                self._wake.wait()
                if self._stopping.is_set():
                    return
                self._wake.clear()
                try:
                    row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.log_frames = row[1] if row is not None else 0
                except sqlite3.Error as error:  # the next commit asks again
                    log.warning("checkpoint failed", extra={"error": str(error)})
                self._stopping.wait(self._interval)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join()


class SqliteBatchWriter:
    """Writes batches through one sqlite3 connection owned by one worker thread."""

    def __init__(self, path: str) -> None:
        if sqlite3.sqlite_version_info < _SQLITE_NEEDED:
            needed = ".".join(map(str, _SQLITE_NEEDED))
            raise RuntimeError(
                f"SQLite {sqlite3.sqlite_version} is too old: the writer needs {needed} or later "
                "(UPDATE ... FROM, up to 8,192 parameters per statement)"
            )
        self._path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._statements: dict[tuple[str, int], str] = {}
        self._connection: sqlite3.Connection | None = None
        self._checkpointer: _Checkpointer | None = None

    def _connect(self) -> sqlite3.Connection:
        connection = _sqlite_connect(
            self._path,
            # 256 MiB of page cache: the indexes keyed by user take inserts at scattered
            # pages, and the default 2 MiB made inserts twice as slow as the file grew.
            "cache_size=-262144",
            # Checkpoints run in `_Checkpointer`, not inside commits.
            "wal_autocheckpoint=0",
        )
        if self._checkpointer is None:
            self._checkpointer = _Checkpointer(self._path)
        return connection

    def _write(self, rows: BatchRows) -> None:
        if self._connection is None:
            self._connection = self._connect()
        connection = self._connection
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                for write in WRITES:
                    batch = getattr(rows, write.attribute)
                    if batch:
                        self._write_rows(connection, write, batch)
                connection.execute("COMMIT")
            except BaseException:
                # SQLite rolls some failures back itself (SQLITE_FULL, for one): a
                # ROLLBACK then would fail and hide the error that matters.
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            text = str(error).lower()
            raise CommitFailed(
                str(error),
                maybe_committed=any(word in text for word in _SQLITE_MAYBE_COMMITTED),
                transient=isinstance(error, sqlite3.OperationalError)
                and any(word in text for word in _SQLITE_TRANSIENT),
            ) from error
        assert self._checkpointer is not None
        self._checkpointer.committed(connection)

    def _write_rows(self, connection: sqlite3.Connection, write: TableWrite, rows: list[Row]) -> None:
        """A few multi-row statements instead of one per row.

        Each statement executed gives the GIL up and takes it back; one per row made the
        writer thread queue for the GIL behind the event loop, which applies the next
        batch meanwhile, thousands of times per batch. Chunks have power-of-two sizes,
        so a handful of prepared statements per table serve every batch size.
        """
        most = _largest_chunk(len(write.columns))
        start, count = 0, len(rows)
        while start < count:
            left = count - start
            size = most if left >= most else 1 << (left.bit_length() - 1)
            sql = self._statements.get((write.attribute, size))
            if sql is None:
                sql = self._statements[(write.attribute, size)] = sqlite_statement(write, size)
            connection.execute(sql, list(chain.from_iterable(rows[start : start + size])))
            start += size

    def prepare(self, rows: BatchRows) -> PreparedBatch:
        # The worker thread binds the rows itself, overlapping the event loop already.
        return PreparedBatch(rows)

    async def write(self, batch: PreparedBatch) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._write, batch.rows)

    def _committed_seq(self) -> int:
        """On the writer's own thread, so no write of it runs meanwhile."""
        if self._connection is not None:
            # A connection that failed mid-write may be broken: start afresh.
            self._connection.close()
            self._connection = None
        try:
            self._connection = self._connect()
            row = self._connection.execute(_COMMITTED_SEQ).fetchone()
        except sqlite3.Error as error:
            raise CommitFailed(
                f"cannot read the committed position: {error}", maybe_committed=True
            ) from error
        return int(row[0]) if row is not None else 0

    async def committed_seq(self) -> int:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._committed_seq)

    async def close(self) -> None:
        def close() -> None:
            if self._checkpointer is not None:
                self._checkpointer.stop()
                self._checkpointer = None
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        await asyncio.get_running_loop().run_in_executor(self._thread, close)
        self._thread.shutdown(wait=True)


# The writer's statements join a batch's rows to existing rows by key. The planner,
# misjudging fresh tables, hash-joined order updates against a sequential scan of every
# order (measured: 20 ms for 456 rows, growing with the table); each row is one index
# probe, so the writer's own connection is told to probe. No statement here gains from
# JIT compilation either.
_POSTGRES_WRITER_SETTINGS: Final = {
    "enable_hashjoin": "off",
    "enable_mergejoin": "off",
    "enable_seqscan": "off",
    "jit": "off",
}


# Errors the server reports for a statement it did not complete (it rolled it back).
_SERVER_ABORTED: Final = (
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.QueryCanceledError,
    asyncpg.exceptions.DiskFullError,
    asyncpg.exceptions.InsufficientResourcesError,
)
_ALIVE: Final = "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)"
_ORPHAN_WAITS: Final = 100
_ORPHAN_WAIT_SECONDS: Final = 0.05


class PostgresBatchWriter:
    """Writes batches through one asyncpg connection, reconnecting after a loss."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._statement = postgres_batch_statement()
        self._connection: Any = None
        # The server process of a connection lost while a batch was on it: until it has
        # ended, that batch may still commit.
        self._orphan_pid: int | None = None
        texts = Texts()
        self._encoders = [[encoder_for(kind, texts) for kind in postgres_types(write)] for write in WRITES]

    async def _connected(self) -> Any:
        if self._connection is None or self._connection.is_closed():
            try:
                self._connection = await asyncpg.connect(
                    self._dsn, timeout=10, server_settings=_POSTGRES_WRITER_SETTINGS
                )
            except Exception as error:  # refused, timed out, or the server is starting or stopping
                raise CommitFailed(f"cannot connect: {error}", maybe_committed=False) from error
        return self._connection

    def prepare(self, rows: BatchRows) -> PreparedBatch:
        encoded: list[str] = []
        for write, encoders in zip(WRITES, self._encoders, strict=True):
            batch = getattr(rows, write.attribute)
            if batch:
                columns = zip(*batch, strict=True)
                encoded.extend(encode(column) for encode, column in zip(encoders, columns, strict=True))
            else:
                encoded.extend(["{}"] * len(encoders))
        return PreparedBatch(rows, tuple(encoded))

    async def write(self, batch: PreparedBatch) -> None:
        connection = await self._connected()
        try:
            await connection.execute(self._statement, *batch.encoded)
        except _SERVER_ABORTED as error:
            # The server answered with an error: the statement's transaction is undone.
            await self._drop()
            raise CommitFailed(str(error), maybe_committed=False) from error
        except asyncpg.PostgresConnectionError as error:
            raise await self._lost(connection, error) from error
        except asyncpg.PostgresError as error:  # refused by the database: a bug, not a fault
            raise CommitFailed(str(error), maybe_committed=False, transient=False) from error
        except Exception as error:
            # The connection broke on the way (reset, timed out, closed by a server
            # shutting down, the client's protocol state lost with it).
            raise await self._lost(connection, error) from error

    async def _lost(self, connection: Any, error: Exception) -> CommitFailed:
        """The statement may have committed, with the answer lost."""
        self._orphan_pid = connection.get_server_pid()
        await self._drop()
        return CommitFailed(f"{type(error).__name__}: {error}", maybe_committed=True)

    async def committed_seq(self) -> int:
        connection = await self._connected()
        try:
            orphan = self._orphan_pid
            if orphan is not None:
                # End the lost connection's server process (if a statement of it is
                # still running, it is rolled back) and wait until it is gone: only then
                # is the lost batch's outcome final.
                await connection.execute("SELECT pg_terminate_backend($1)", orphan)
                for _ in range(_ORPHAN_WAITS):
                    if not await connection.fetchval(_ALIVE, orphan):
                        break
                    await asyncio.sleep(_ORPHAN_WAIT_SECONDS)
                else:
                    raise CommitFailed(f"server process {orphan} does not end", maybe_committed=True)
                self._orphan_pid = None
            value = await connection.fetchval(_COMMITTED_SEQ)
        except (TimeoutError, OSError, asyncpg.InterfaceError, asyncpg.PostgresError) as error:
            await self._drop()
            raise CommitFailed(
                f"cannot read the committed position: {error}", maybe_committed=True
            ) from error
        return int(value) if value is not None else 0

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.terminate()

    async def close(self) -> None:
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()
        self._connection = None


def writer_for(url: str) -> BatchWriter:
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        assert parsed.database, "an embedded database needs a file path"
        return SqliteBatchWriter(parsed.database)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresBatchWriter(dsn)

"""The PostgreSQL batch writer on asyncpg: a journal append is one `INSERT`; a batch's
projection is one statement (a `WITH` over `unnest` of array literals, encoded once per
write when it is readied), outside a transaction block, so each is one round trip and
one atomic transaction.

New orders, trades and ledger entries, most of every write's rows and only ever
inserted, go without a conflict clause (`_UNCHECKED`). With one, PostgreSQL probed for
each row's conflict before inserting it: 23,000 ledger rows took 126 ms with
`ON CONFLICT DO NOTHING` and 88 ms without (a scratch table, 4 runs each). A write whose
rows are there already (repeated after its outcome was lost, say) fails on their key,
changing nothing, and goes again as the statement with every conflict clause
(`_repeated`): appends that ignore rows already there, absolute upserts, as every
write went before. Only when the tables have reached the write's position, though (an
earlier attempt of it committed): rows of another write repeated are a bug, refused.

Binary `COPY` for those three took 35 ms for the same rows, but it needs a transaction
block of several round trips, and under HTTP load, where writes are small and the event
loop is busy, that raised the mixed flow's p99 at 64 connections from 50 to 79 ms in
every run, `COPY` or not. So only recovery's writes of the rows the tables lack copy
them (`PostgresBulkWriter`): they run on a loop of their own, before the service takes
an order, and the restart waits for them.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import asyncpg

from trade_engine.sequencer.messages import JournalEntry
from trade_engine.sequencer.ports import AppendTiming, CommitFailed
from trade_engine.storage.merge import merge_rows
from trade_engine.storage.pgarrays import Texts, encoder_for
from trade_engine.storage.projection import BatchRows
from trade_engine.storage.writes import (
    COMMITTED_SEQ,
    TABLES_POSITION,
    WRITES,
    PreparedBatch,
    TableWrite,
    postgres_append_statement,
    postgres_batch_statement,
    postgres_types,
)

log = logging.getLogger(__name__)


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
# Inserted without a conflict clause (module docstring).
_UNCHECKED: Final = frozenset(("new_orders", "trades", "ledger"))
_ORPHAN_WAITS: Final = 100
_ORPHAN_WAIT_SECONDS: Final = 0.05


class _Session:
    """One connection with its settings, replaced after a loss. The server process of a
    lost connection is ended before the new one runs anything: a statement still running
    there could otherwise commit late, after statements sent since."""

    def __init__(self, dsn: str, settings: dict[str, str]) -> None:
        self._dsn = dsn
        self._settings = settings
        self._connection: Any = None
        self.orphan_pid: int | None = None
        self.last_seconds = 0.0  # the last statement's round trip (0: it failed)

    async def connected(self) -> Any:
        if self._connection is None or self._connection.is_closed():
            try:
                self._connection = await asyncpg.connect(
                    self._dsn, timeout=10, server_settings=self._settings
                )
            except Exception as error:  # refused, timed out, or the server is starting or stopping
                raise CommitFailed(f"cannot connect: {error}", maybe_committed=False) from error
        if self.orphan_pid is not None:
            await self._end_orphan(self._connection)
        return self._connection

    async def _end_orphan(self, connection: Any) -> None:
        orphan = self.orphan_pid
        try:
            await connection.execute("SELECT pg_terminate_backend($1)", orphan)
            for _ in range(_ORPHAN_WAITS):
                if not await connection.fetchval(_ALIVE, orphan):
                    self.orphan_pid = None
                    return
                await asyncio.sleep(_ORPHAN_WAIT_SECONDS)
        except (TimeoutError, OSError, asyncpg.InterfaceError, asyncpg.PostgresError) as error:
            await self.drop()
            raise CommitFailed(
                f"cannot end a lost connection's work: {error}", maybe_committed=True
            ) from error
        raise CommitFailed(f"server process {orphan} does not end", maybe_committed=True)

    async def run(self, statement: str, *arguments: object) -> None:
        """Execute one statement (one transaction); a failure becomes `CommitFailed`."""
        await self.perform(lambda connection: connection.execute(statement, *arguments))

    async def value(self, query: str, *arguments: object) -> object:
        """The first column of `query`'s first row; a failure becomes `CommitFailed`."""
        return await self.perform(lambda connection: connection.fetchval(query, *arguments))

    async def perform(self, call: Callable[[Any], Awaitable[object]]) -> object:
        """`call` on the connection (one transaction: a statement, or a transaction block
        of several), timed; a failure becomes `CommitFailed`."""
        self.last_seconds = 0.0  # none measured, unless this statement succeeds
        connection = await self.connected()
        began = time.perf_counter()
        try:
            result = await call(connection)
            self.last_seconds = time.perf_counter() - began
            return result
        except _SERVER_ABORTED as error:
            # The server answered with an error: the statement's transaction is undone.
            await self.drop()
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
        self.orphan_pid = connection.get_server_pid()
        await self.drop()
        return CommitFailed(f"{type(error).__name__}: {error}", maybe_committed=True)

    async def drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.terminate()

    async def close(self) -> None:
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()
        self._connection = None


class PostgresBatchWriter:
    """Journal appends on one connection (each commit waits for its WAL flush), the
    projection on another (`synchronous_commit=off`: rebuilt from the journal if lost),
    so a long projection statement never holds an acknowledgement up."""

    # The kinds of row a write's first statement writes (`PostgresBulkWriter`'s: all but
    # those it copies beside it).
    _in_statement: tuple[TableWrite, ...] = WRITES

    def __init__(self, dsn: str) -> None:
        self._journal = _Session(dsn, {"jit": "off"})
        self._projection = _Session(dsn, {**_POSTGRES_WRITER_SETTINGS, "synchronous_commit": "off"})
        self._append = postgres_append_statement()
        self._statement = postgres_batch_statement(_UNCHECKED, self._in_statement)
        self._repeated = postgres_batch_statement()
        texts = Texts()
        self._encoders = {
            write.attribute: [encoder_for(kind, texts) for kind in postgres_types(write)] for write in WRITES
        }
        self.repeated_writes = 0  # writes whose rows were there already (module docstring)

    # The statement runs in the server's process: the next write is readied meanwhile.
    ready_ahead = True

    def prepare(self, rows: BatchRows) -> PreparedBatch:
        # Not encoded here: the tables writer merges the batches waiting into one write,
        # encoded once (`merge`; storage/writes.py).
        return PreparedBatch(rows)

    def merge(self, batches: Sequence[PreparedBatch]) -> PreparedBatch:
        merged = PreparedBatch(merge_rows([batch.rows for batch in batches]))
        return PreparedBatch(merged.rows, self.encode(merged))

    def encode(self, batch: PreparedBatch) -> tuple[str, ...]:
        """The write statement's parameters: each column of each kind of row it writes as
        an array literal, then the position the write brings the tables to (those `merge`
        made, when it did)."""
        if batch.encoded is not None:
            return batch.encoded
        return self._literals(batch, self._in_statement)

    def _literals(self, batch: PreparedBatch, writes: Sequence[TableWrite]) -> tuple[str, ...]:
        rows = batch.rows
        encoded: list[str] = []
        for write in writes:
            encoders = self._encoders[write.attribute]
            table_rows = getattr(rows, write.attribute)
            if table_rows:
                columns = zip(*table_rows, strict=True)
                encoded.extend(encode(column) for encode, column in zip(encoders, columns, strict=True))
            else:
                encoded.extend(["{}"] * len(encoders))
        encoded.append(str(batch.last_seq))
        return tuple(encoded)

    @property
    def last_append(self) -> AppendTiming:
        """The append's one statement, commit and WAL flush included (not told apart)."""
        return AppendTiming(self._journal.last_seconds)

    async def append(self, entry: JournalEntry) -> None:
        await self._journal.run(self._append, entry.last_seq, entry.first_seq, entry.ts, entry.commands)

    async def write(self, batch: PreparedBatch) -> None:
        await self._write(batch, self.encode(batch))

    def _sql(self, statement: str, parameters: int) -> str:
        """The statement as sent, given its number of parameters: the fenced writer adds
        its epoch check; a plain writer sends it as it is."""
        return statement

    def _before_statement(self) -> None:
        """Called right before each write's statement goes: the fenced writer checks its
        lease there; a plain writer has nothing to check."""
        return

    async def _write(
        self, batch: PreparedBatch, parameters: tuple[str, ...], extra: tuple[str, ...] = ()
    ) -> None:
        """Write `batch` with `parameters` (`encode`'s) and `extra` after them; with every
        conflict clause if its rows are there already (module docstring)."""
        arguments = (*parameters, *extra)
        self._before_statement()
        try:
            await self._first_attempt(batch, self._sql(self._statement, len(arguments)), arguments)
        except CommitFailed as failure:
            if not isinstance(failure.__cause__, asyncpg.UniqueViolationError):
                raise
            # Rows are there already only if an earlier attempt of this write committed,
            # and so moved the tables to its position: anything else is a write that
            # repeats rows of another (a bug), refused rather than ignored.
            position = await self._projection.value(TABLES_POSITION)
            if not isinstance(position, int) or position < batch.last_seq:
                raise CommitFailed(
                    f"rows of a write up to {batch.last_seq} are there already, but the tables are"
                    f" at {position}: {failure}",
                    maybe_committed=False,
                    transient=False,
                ) from failure.__cause__
            self.repeated_writes += 1
            log.info(
                "tables write repeated with conflicts ignored: its rows are there already",
                extra={"last_seq": batch.last_seq, "error": str(failure)},
            )
            if self._in_statement is not WRITES:
                arguments = (*self._literals(batch, WRITES), *extra)
            self._before_statement()
            await self._projection.run(self._sql(self._repeated, len(arguments)), *arguments)

    async def _first_attempt(self, batch: PreparedBatch, statement: str, arguments: tuple[str, ...]) -> None:
        """The write's first attempt: its one statement."""
        await self._projection.run(statement, *arguments)

    async def committed_seq(self) -> int:
        # On the journal's connection: a lost append's server process is ended first.
        connection = await self._journal.connected()
        try:
            value = await connection.fetchval(COMMITTED_SEQ)
        except (TimeoutError, OSError, asyncpg.InterfaceError, asyncpg.PostgresError) as error:
            await self._journal.drop()
            raise CommitFailed(
                f"cannot read the committed position: {error}", maybe_committed=True
            ) from error
        return int(value) if value is not None else 0

    async def close(self) -> None:
        await self._journal.close()
        await self._projection.close()


class PostgresBulkWriter(PostgresBatchWriter):
    """Recovery's writer of the rows the tables lack (core/catch_up.py): new orders,
    trades and ledger entries by binary `COPY`, in one transaction with the statement
    for the other tables (module docstring). A write whose rows are there already
    fails on their key, as the insert does, and goes again as the one statement with
    every conflict clause."""

    _in_statement = tuple(write for write in WRITES if write.attribute not in _UNCHECKED)
    _copied = tuple(write for write in WRITES if write.attribute in _UNCHECKED)

    async def _first_attempt(self, batch: PreparedBatch, statement: str, arguments: tuple[str, ...]) -> None:
        copies = [(write, rows) for write in self._copied if (rows := getattr(batch.rows, write.attribute))]

        async def statement_and_copies(connection: Any) -> object:
            async with connection.transaction():
                await connection.execute(statement, *arguments)
                for write, rows in copies:
                    await connection.copy_records_to_table(write.table, records=rows, columns=write.columns)
            return None

        await self._projection.perform(statement_and_copies)

"""The PostgreSQL batch writer: one asyncpg connection, one statement per batch (a
`WITH` over `unnest` of array literals, encoded ahead of the commit slot), outside a
transaction block, so each batch is one round trip and one atomic transaction."""

import asyncio
import logging
from typing import Any, Final

import asyncpg

from trade_engine.sequencer.ports import CommitFailed
from trade_engine.storage.pgarrays import Texts, encoder_for
from trade_engine.storage.projection import BatchRows
from trade_engine.storage.writes import (
    COMMITTED_SEQ,
    WRITES,
    PreparedBatch,
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
            value = await connection.fetchval(COMMITTED_SEQ)
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

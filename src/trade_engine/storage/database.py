"""Opening the database: SQLite (embedded default) or PostgreSQL, through SQLAlchemy.

SQLite runs in WAL mode with `synchronous=FULL`, so a committed transaction survives a
crash of the process and of the machine; foreign keys are switched on. PostgreSQL uses
asyncpg.
"""

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import Select, event, exc, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import Executable

from trade_engine.domain.errors import ErrorCode, TradeEngineError

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
)


class StorageUnavailable(TradeEngineError):
    """The database cannot be reached or cannot do the work now (stopped, restarting,
    connection lost, locked, disk full): a fault that may pass, answered with 503."""

    def __init__(self, reason: str) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, "the database is unavailable; retry shortly")
        self.reason = reason


# What a database that is down, restarting or out of resources raises, through
# SQLAlchemy or straight from the driver (asyncpg's connect raises OSError unwrapped).
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable; TimeoutError is one too
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,  # its protocol state lost with the connection
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InsufficientResourcesError,
    exc.OperationalError,
    exc.InterfaceError,
    exc.TimeoutError,  # no pooled connection came free in time
    sqlite3.OperationalError,
)


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database is down or cannot take work now. SQLAlchemy wraps
    driver errors (sometimes in a generic class), so the whole chain of causes counts."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNAVAILABLE):
            return True
        if isinstance(current, exc.DBAPIError) and (
            current.connection_invalidated or current.statement is None  # lost, or never made
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


@asynccontextmanager
async def connected(database: AsyncEngine, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
    """A connection for reads (or, with `write`, one transaction), through which a
    database that is down surfaces as `StorageUnavailable`, never as a driver error.
    Every read of the service goes through here."""
    try:
        if write:
            async with database.begin() as connection:
                yield connection
        else:
            async with database.connect() as connection:
                yield connection
    except Exception as error:
        if is_unavailable(error):
            raise StorageUnavailable(
                f"the database is unavailable: {type(error).__name__}: {error}"
            ) from error
        raise


def normalise_url(url: str) -> str:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick the async drivers."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+aiosqlite"):
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if parsed.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}: use sqlite or postgresql")


def is_sqlite(url: str) -> bool:
    return make_url(url).drivername.startswith("sqlite")


def open_database(url: str, *, pool_size: int = 5) -> AsyncEngine:
    url = normalise_url(url)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)


async def driver_batches(
    connection: AsyncConnection, statement: Executable, size: int
) -> AsyncIterator[Sequence[Sequence[Any]]]:
    """The rows of `statement` (which takes no parameters) in lists of up to `size`,
    straight from the driver rather than through SQLAlchemy's result rows: for the
    million open orders of a restart that is about a second less (measured). The values
    are the driver's own, untyped: SQLite gives a boolean as 0 or 1.

    SQLite's next batch is read in its thread while the caller works on this one."""
    compiled = statement.compile(dialect=connection.dialect)  # type: ignore[attr-defined]
    if compiled.params:
        raise ValueError("driver_batches takes a statement without parameters")
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    if connection.dialect.name == "sqlite":
        async with driver.execute(str(compiled)) as cursor:
            ahead = asyncio.ensure_future(cursor.fetchmany(size))
            try:
                while batch := await ahead:
                    ahead = asyncio.ensure_future(cursor.fetchmany(size))
                    yield batch
            finally:
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)
        return
    # asyncpg reads with a server-side cursor, which needs a transaction.
    async with contextlib.nullcontext() if driver.is_in_transaction() else driver.transaction():
        cursor = await driver.cursor(str(compiled))
        while batch := await cursor.fetch(size):
            yield batch


async def rows_in_one_value(connection: AsyncConnection, query: Select[Any]) -> list[list[Any]]:
    """The rows of `query` (numbers and text only), which the database hands back as
    one JSON value: an array of rows, each an array of its columns' values.

    Fetching row by row, a reader in a thread takes the GIL back after every row; beside
    a busy thread each takeover waits up to the switch interval. Measured on a 1M-order
    store, the ledger's fold (4,000 rows) took 8 s beside a busy thread instead of 0.6 s
    (2.1 s at a 0.1 ms interval); as one value it takes 0.7 s either way. Integers keep
    every digit: the stdlib's JSON decoder reads them as Python integers."""
    inner = query.subquery()
    if connection.dialect.name == "sqlite":
        aggregate = func.json_group_array(func.json_array(*inner.c))
    else:
        aggregate = func.json_agg(func.json_build_array(*inner.c))
    value = (await connection.execute(select(aggregate))).scalar()
    if value is None:  # PostgreSQL's aggregate of no rows
        return []
    rows: list[list[Any]] = json.loads(value) if isinstance(value, str | bytes) else value
    return rows

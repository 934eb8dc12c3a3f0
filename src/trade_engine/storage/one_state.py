"""Several reads of the store as of one committed state, while others write.

Checks that compare tables (the ledger with the balances, the transfers with both) must
read them at one moment: read at different moments, a batch committed in between would
look like an inconsistency. `one_committed_state` gives a stand-in for an `AsyncEngine`
whose every `connect()` yields the same connection inside one read transaction:
REPEATABLE READ on PostgreSQL (a snapshot per transaction), and on SQLite an explicit
BEGIN (WAL mode keeps the snapshot of the transaction's first read until it ends). The
state is the one of the transaction's first read.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from trade_engine.storage.database import is_sqlite, normalise_url, open_database


class _OneConnection:
    """Stands in for an `AsyncEngine`: every `connect()` yields the same connection,
    inside the one read transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        yield self._connection


def _engine(url: str) -> AsyncEngine:
    database = open_database(url, pool_size=1)
    if is_sqlite(url):
        # pysqlite begins transactions only before writes; reads would each see the
        # latest commit. Take over: BEGIN at the start of every transaction.
        @event.listens_for(database.sync_engine, "connect")
        def _manual_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(database.sync_engine, "begin")
        def _begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN")

    return database


@asynccontextmanager
async def one_committed_state(url: str) -> AsyncIterator[AsyncEngine]:
    """Reads of the store at `url` as of one committed state (a database engine and a
    connection of their own, released on leaving)."""
    url = normalise_url(url)
    database = _engine(url)
    try:
        async with database.connect() as connection:
            if not is_sqlite(url):
                await connection.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            await connection.begin()
            yield cast(AsyncEngine, _OneConnection(connection))
    finally:
        await database.dispose()

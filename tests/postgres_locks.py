"""Locks held from a test, so that a server process has to wait for them."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg


@contextmanager
def held(url: str, statement: str) -> Iterator[None]:
    """Run `statement` (one that takes locks) in a PostgreSQL transaction of its own,
    kept open until the block ends, then rolled back."""
    loop = asyncio.new_event_loop()
    connection = loop.run_until_complete(asyncpg.connect(url))
    transaction = connection.transaction()
    loop.run_until_complete(transaction.start())
    try:
        loop.run_until_complete(connection.execute(statement))
        yield
    finally:
        loop.run_until_complete(transaction.rollback())
        loop.run_until_complete(connection.close())
        loop.close()

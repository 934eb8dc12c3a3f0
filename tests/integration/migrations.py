"""A migration's round trip, for the tests of each revision: upgraded, the schema has
what schema.py declares of the revision's objects; downgraded past it, its tables are
gone; upgraded again, it matches once more."""

from dataclasses import dataclass

from alembic import command as alembic
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from trade_engine.storage import schema
from trade_engine.storage.database import open_database
from trade_engine.storage.migrate import alembic_config, upgrade


@dataclass(frozen=True)
class RoundTrip:
    after_upgrade: list[str]  # differences from schema.py once upgraded
    tables_below: set[str]  # the tables after downgrading to the revision before
    again: list[str]  # differences once upgraded again


async def round_trip(database_url: str, below: str, objects: set[str]) -> RoundTrip:
    """Upgrade, downgrade to revision `below`, upgrade again; differences concern only
    `objects` (the names of the revision's tables and indexes)."""

    def differences(connection: Connection) -> list[str]:
        found = compare_metadata(MigrationContext.configure(connection), schema.metadata)
        return [str(diff) for diff in found if any(name in str(diff) for name in objects)]

    database = open_database(database_url)
    await upgrade(database)
    async with database.connect() as connection:
        after_upgrade = await connection.run_sync(differences)
    async with database.begin() as connection:
        await connection.run_sync(lambda c: alembic.downgrade(alembic_config(c), below))
    async with database.connect() as connection:
        tables = await connection.run_sync(lambda c: set(c.dialect.get_table_names(c)))
    await upgrade(database)
    async with database.connect() as connection:
        again = await connection.run_sync(differences)
    await database.dispose()
    return RoundTrip(after_upgrade, tables, again)

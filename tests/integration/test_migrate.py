"""Migrating at start-up on SQLite and PostgreSQL: a database at the newest revision is
left as it is without loading Alembic (a start's imports are a restart's time); one
behind it, or a new one, is migrated."""

import asyncio
import subprocess
import sys

from alembic import command as alembic
from sqlalchemy import text

from trade_engine.storage.database import normalise_url, open_database
from trade_engine.storage.migrate import alembic_config, head_revision, upgrade

# In a fresh interpreter: upgrade the database at argv[1], then say whether Alembic
# was imported along the way.
_UPGRADE_AND_TELL = """
import asyncio, sys
from trade_engine.storage.database import open_database
from trade_engine.storage.migrate import upgrade

async def main() -> None:
    database = open_database(sys.argv[1])
    try:
        await upgrade(database)
    finally:
        await database.dispose()

asyncio.run(main())
print("alembic" in sys.modules)
"""


def _upgrade_in_a_fresh_process(url: str) -> bool:
    """Whether the upgrade there imported Alembic."""
    command = [sys.executable, "-c", _UPGRADE_AND_TELL, url]
    done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)
    return done.stdout.strip() == "True"


def _revisions(url: str) -> list[str]:
    async def read() -> list[str]:
        database = open_database(url)
        try:
            async with database.connect() as connection:
                rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
                return list(rows.scalars())
        finally:
            await database.dispose()

    return asyncio.run(read())


def _downgrade(url: str, revision: str) -> None:
    async def down() -> None:
        database = open_database(url)
        try:
            async with database.begin() as connection:
                await connection.run_sync(lambda c: alembic.downgrade(alembic_config(c), revision))
        finally:
            await database.dispose()

    asyncio.run(down())


def test_a_new_database_is_migrated_and_one_at_the_head_is_left_without_alembic(database_url: str) -> None:
    url = normalise_url(database_url)
    assert _upgrade_in_a_fresh_process(url)  # a new database: Alembic migrates it
    assert _revisions(url) == [head_revision()]
    assert not _upgrade_in_a_fresh_process(url)
    assert _revisions(url) == [head_revision()]


def test_a_database_behind_the_head_is_migrated_to_it(database_url: str) -> None:
    url = normalise_url(database_url)

    async def migrate() -> None:
        database = open_database(url)
        try:
            await upgrade(database)
        finally:
            await database.dispose()

    asyncio.run(migrate())
    below = f"{int(head_revision()) - 1:04d}"
    _downgrade(url, below)
    assert _revisions(url) == [below]
    assert _upgrade_in_a_fresh_process(url)
    assert _revisions(url) == [head_revision()]

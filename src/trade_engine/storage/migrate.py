"""Applying the Alembic migrations, from the service's start and `trade-engine migrate`.

Every start asks for the newest schema, and nearly always the database has it already.
Alembic is loaded only when there is something to migrate: importing it (with Mako and
Pygments) and reading its scripts took about 0.1 s of each start, a restart's included,
to learn that nothing was to be done.
"""

from importlib.resources import files
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps


def _versions() -> list[str]:
    """The migration scripts' file names, oldest first: each begins with its revision
    (`0012_journal_epoch.py` is revision "0012", tests/unit/test_migrate.py checks it)."""
    folder = files("trade_engine.storage") / "migrations" / "versions"
    names = (entry.name for entry in folder.iterdir())
    return sorted(name for name in names if name[:1].isdigit() and name.endswith(".py"))


def head_revision() -> str:
    """The newest revision, read from the scripts' names without loading Alembic."""
    return _versions()[-1].split("_", 1)[0]


def alembic_config(connection: Connection | None = None) -> "Config":
    from alembic.config import Config  # noqa: PLC0415 (only when migrating: see the module)

    config = Config()
    config.set_main_option("script_location", str(files("trade_engine.storage") / "migrations"))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database schema to `revision` (all migrations by default)."""
    if revision == "head" and await _revisions(engine) == [head_revision()]:
        return

    def run(connection: Connection) -> None:
        from alembic import command  # noqa: PLC0415 (only when migrating: see the module)

        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def _revisions(engine: AsyncEngine) -> list[str]:
    """The revisions the database says it is at (none: a database not yet migrated)."""

    def read(connection: Connection) -> list[str]:
        if not inspect(connection).has_table(VERSION_TABLE):
            return []
        return list(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())

    async with engine.connect() as connection:
        return await connection.run_sync(read)

"""Suite-wide checks and fixtures.

`make unit-compiled` runs the engine tests a second time against the mypyc-compiled
core; TRADE_ENGINE_EXPECT_COMPILED makes sure that run really imports every compiled
module (each one the Makefile's CORE_MODULES lists) instead of silently testing the
interpreted source twice.
"""

import asyncio
import importlib
import os
import time
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

import trade_engine.engine.engine as engine_module

from .compiled import compiled_core_modules

PG_ADMIN_URL = os.environ.get(
    "TRADE_ENGINE_TEST_PG", "postgresql://trade_engine:trade_engine@127.0.0.1:5432/postgres"
)


def pytest_report_header() -> str:
    compiled = not engine_module.__file__.endswith(".py")
    return f"trade_engine core: {'compiled (mypyc)' if compiled else 'interpreted'}"


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("TRADE_ENGINE_EXPECT_COMPILED") != "1":
        return
    for name in compiled_core_modules():
        path = importlib.import_module(name).__file__ or ""
        if path.endswith(".py"):
            raise pytest.UsageError(f"expected the compiled core, imported {path}")


# -- real databases: a SQLite file, and a throwaway PostgreSQL database per test --


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def sessions_left(name: str, wait: float = 5.0) -> int:
    """Client sessions still connected to database `name`, once those closing are gone (a
    server process ends a moment after its client closes, or after its process dies)."""
    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        deadline = time.monotonic() + wait
        while True:
            left: int = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
                name,
            )
            if left == 0 or time.monotonic() > deadline:
                return left
            await asyncio.sleep(0.05)
    finally:
        await connection.close()


def postgres_database() -> Iterator[str]:
    """A throwaway database for one test. The test must leave no session open on it: a
    pool left open is a leak the process's frozen heap would hide (nothing collects it)."""
    name = f"te_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        left = asyncio.run(sessions_left(name))
        assert left == 0, f"the test left {left} session(s) open on its database"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/trade-engine.db"
    else:
        yield from postgres_database()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from postgres_database()

"""End-to-end fixtures: a real server process over real HTTP, on each database.

`server` is a server of its own per test (tests that restart or kill it). `api` is one
server per database shared by the whole session: each test that uses it works on its
own users and markets (tests/e2e/client.py), so tests cannot see each other, and the
suite pays for two start-ups instead of one per test. `running_server` starts a server
with special settings for a module (auth and rate-limit configurations).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import postgres_database
from tests.e2e.client import Api
from tests.e2e.server import Server

DATABASES = ["sqlite", "postgresql"]
# Small enough to test with modest bodies, large enough for any valid request.
SHARED_MAX_BODY_BYTES = 2048


@contextmanager
def database(kind: str, directory: Path) -> Iterator[str]:
    """A fresh database of `kind`: a SQLite file in `directory`, or a PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite:///{directory}/trade-engine.db"
    else:
        yield from postgres_database()


@contextmanager
def running_server(kind: str, directory: Path, **settings: str) -> Iterator[Server]:
    with database(kind, directory) as url:
        running = Server(url, directory, **settings)
        running.start()
        try:
            yield running
        finally:
            running.kill()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    running = Server(database_url, tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.kill()


@pytest.fixture(scope="session", params=DATABASES)
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp(f"shared-{request.param}")
    settings = {"TRADE_ENGINE_HTTP_MAX_BODY_BYTES": str(SHARED_MAX_BODY_BYTES)}
    with running_server(request.param, directory, **settings) as running:
        yield running


@pytest.fixture(scope="session")
def api(shared_server: Server) -> Iterator[Api]:
    client = Api(shared_server)
    try:
        yield client
    finally:
        client.close()

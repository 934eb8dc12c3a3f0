"""End-to-end fixtures: a real server process over real HTTP, on each database."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import Server


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    running = Server(database_url, tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.kill()

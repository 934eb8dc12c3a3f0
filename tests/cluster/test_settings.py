"""A cluster setting that cannot work is a clear error at start, naming the setting,
and the process exits with status 2 (a supervisor then shows why it does not run),
never a process that waits for ever."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.harness import Nats
from tests.conftest import postgres_database
from tests.e2e.server import free_port


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    yield from postgres_database()


def start_failing(role: str, database: str, nats_urls: str, directory: Path) -> str:
    """Run `trade-engine <role>` with these settings (cluster.replicas at its default) to
    its end, which must come by itself with status 2; what it printed."""
    env = {
        **os.environ,
        "TRADE_ENGINE_DATABASE_URL": database,
        "TRADE_ENGINE_CLUSTER_NATS_URLS": nats_urls,
        "TRADE_ENGINE_HTTP_PORT": str(free_port()),
    }
    env.pop("TRADE_ENGINE_CLUSTER_REPLICAS", None)
    run = subprocess.run(
        [sys.executable, "-m", "trade_engine.cli", role],
        env=env,
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 2, output[-3000:]
    return output


@pytest.mark.parametrize("role", ["core", "gateway"])
def test_an_unreachable_nats_is_an_error_naming_the_setting(role: str, database: str, tmp_path: Path) -> None:
    # Before: the first connection was retried for ever (and SIGTERM was not heard).
    nowhere = f"nats://127.0.0.1:{free_port()}"  # nothing listens there
    output = start_failing(role, database, nowhere, tmp_path)
    assert "cluster.nats_urls" in output
    assert nowhere in output


def test_three_replicas_on_a_single_nats_server_is_an_error_naming_the_setting(
    database: str, tmp_path: Path
) -> None:
    # Three replicas is the default (a three-node NATS cluster): one server cannot hold them.
    nats = Nats(tmp_path / "nats", 1)
    nats.start()
    try:
        output = start_failing("core", database, nats.urls, tmp_path)
    finally:
        nats.stop()
    assert "cluster.replicas=3" in output

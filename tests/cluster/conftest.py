"""Cluster fixtures: NATS (one node, or three for the replication tests), PostgreSQL,
cores and gateways as separate processes (harness.py)."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cluster.harness import Cluster, Nats
from tests.conftest import postgres_database


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """Start a cluster: `nodes` NATS servers, `cores` cores (the first leads), `gateways`
    gateways; everything is killed at the end."""
    made: list[tuple[Cluster, Iterator[str]]] = []

    def make(*, nodes: int = 1, cores: int = 2, gateways: int = 2, **settings: str) -> Cluster:
        databases = postgres_database()
        url = next(databases)
        nats = Nats(tmp_path / f"run{len(made)}", nodes)
        nats.start()
        cluster = Cluster(url, nats, tmp_path / f"run{len(made)}", **settings)
        made.append((cluster, databases))
        cluster.start(cores=cores, gateways=gateways)
        return cluster

    yield make
    for cluster, databases in made:
        cluster.stop()
        for _ in databases:  # drops the database
            pass

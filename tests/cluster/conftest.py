"""Cluster fixtures: NATS (one node, or three for the replication tests), PostgreSQL,
cores and gateways as separate processes (harness.py)."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cluster.harness import Cluster, Nats
from tests.conftest import postgres_database
from tests.e2e.client import Api


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


@pytest.fixture(scope="session")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster for the tests that only trade through it: three NATS nodes (R3
    streams), two cores, two gateways."""
    directory = tmp_path_factory.mktemp("shared-cluster")
    databases = postgres_database()
    nats = Nats(directory, 3)
    nats.start()
    cluster = Cluster(next(databases), nats, directory, TRADE_ENGINE_WEBSOCKET_FLUSH_INTERVAL_MS="0")
    try:
        cluster.start(cores=2, gateways=2)
        yield cluster
    finally:
        cluster.stop()
        for _ in databases:
            pass


@pytest.fixture(scope="session")
def gateway_apis(shared_cluster: Cluster) -> Iterator[tuple[Api, Api]]:
    """A client of each gateway of the shared cluster."""
    first, second = Api(shared_cluster.gateways[0]), Api(shared_cluster.gateways[1])
    try:
        yield first, second
    finally:
        first.close()
        second.close()

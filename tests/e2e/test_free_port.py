"""The test harness's ports: each server of a test session gets a port of its own."""

from tests.e2e.server import free_port


def test_no_port_is_handed_out_twice() -> None:
    ports = [free_port() for _ in range(1_000)]
    assert len(set(ports)) == len(ports)

"""The command stream is synced always (issue 13): every NATS server the tests start,
and the deployment's configuration, have JetStream fsync each write before it counts
as stored (`sync_interval: always`, nats-server 2.10 and later; scripts/nats-up.sh)."""

import subprocess
from pathlib import Path

import httpx

from tests.cluster.harness import NATS_SERVER, Nats

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nats-server.conf"


def test_the_servers_of_the_tests_sync_every_write(tmp_path: Path) -> None:
    nats = Nats(tmp_path)
    nats.start()
    try:
        (node,) = nats.nodes
        varz = httpx.get(f"http://127.0.0.1:{node.monitor_port}/varz", timeout=10).json()
    finally:
        nats.stop()
    assert varz["version"].startswith("2.10."), varz["version"]
    assert varz["jetstream"]["config"]["sync_always"] is True


def test_the_deployment_configuration_syncs_every_write_and_is_valid() -> None:
    settings = [line.split("#")[0].strip() for line in DEPLOY.read_text().splitlines()]
    assert "sync_interval: always" in settings
    checked = subprocess.run(
        [NATS_SERVER, "-c", str(DEPLOY), "-t"], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

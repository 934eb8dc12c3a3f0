"""Setting the streams up on a NATS cluster that has just started: until its nodes know
each other, JetStream answers a replicated stream with "no suitable peers for
placement" (a bad request), which waiting cures. A core started with the cluster must
wait for it, not exit as misconfigured (seen in CI: exit 2 at the first core)."""

import asyncio
import time
from pathlib import Path

from tests.cluster.harness import Nats, _listening
from trade_engine.cluster import bus
from trade_engine.cluster.names import Names
from trade_engine.config import ClusterConfig


def test_the_streams_are_set_up_on_a_three_node_cluster_still_forming(tmp_path: Path) -> None:
    nats = Nats(tmp_path, 3)
    for node in nats.nodes:  # started, but not waited for as Nats.start does
        node.start()
    try:
        deadline = time.monotonic() + 20
        while not all(_listening(node.port) for node in nats.nodes):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        streams = asyncio.run(_ensure(nats.nodes[0].url))
    finally:
        nats.stop()
    names = Names.of(ClusterConfig())
    wanted = {names.commands_stream, names.events_stream, names.journal_stream, f"KV_{names.lease_bucket}"}
    assert wanted <= set(streams)


async def _ensure(url: str) -> list[str]:
    config = ClusterConfig(nats_urls=url, replicas=3)
    client = await bus.connect(config, "setup-test", "core")
    try:
        js, _ = await bus.ensure(client, config)
        return [info.config.name or "" for info in await js.streams_info()]
    finally:
        await client.close()

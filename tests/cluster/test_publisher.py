"""A core that takes over publishes again what its predecessor may have published: every
message it puts on the events stream (the batch, the per-market and the per-user
messages) carries a de-duplication id, so the stream keeps each once."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from nats.aio.client import Client
from nats.js import JetStreamContext

from tests.cluster.harness import Nats, on_one_node
from tests.flows import MARKETS
from trade_engine.cluster import bus
from trade_engine.cluster.names import Names
from trade_engine.cluster.publisher import Publisher
from trade_engine.config import ClusterConfig
from trade_engine.core.bootstrap import start_core
from trade_engine.engine import Deposit, PlaceOrder
from trade_engine.sequencer.messages import CommittedBatch, journal_entry


def test_a_batch_published_twice_is_kept_once(postgres_url: str, tmp_path: Path) -> None:
    counts = on_one_node(tmp_path, lambda nats: _publish_twice(postgres_url, nats))
    assert {"te.batch", "te.market.BTC-USDT", "te.user.buyer", "te.user.seller"} <= set(counts)
    assert set(counts.values()) == {1}, counts  # (the fee account's subject too)


async def _publish_twice(url: str, nats: Nats) -> dict[str, int]:
    core = await start_core(url, markets=MARKETS)
    batches: list[CommittedBatch] = []
    core.sequencer.subscribe(batches.append)
    market = MARKETS[0].symbol
    for user, asset in (("buyer", "USDT"), ("seller", "BTC")):
        await core.sequencer.submit(Deposit(ts=0, user_id=user, asset=asset, amount=10**12))
    for user, side in (("seller", "SELL"), ("buyer", "BUY")):
        order = PlaceOrder(ts=0, user_id=user, market=market, side=side, price=100, quantity=1000)
        await core.sequencer.submit(order)
    await core.close()
    trade = batches[-1]  # the buyer's order, which traded
    async with _connected(nats) as (client, js, names):
        publisher = Publisher(client, js, names, 1, leading=lambda: True)
        entry = journal_entry(first_seq=trade.seq, last_seq=trade.seq, ts=1, commands=[], position=0)
        for _ in range(2):  # the second time, as a core that took over does
            await publisher.publish(entry, trade)
        await client.flush()
        info = await js.stream_info(names.events_stream, subjects_filter=">")
        return dict(info.state.subjects or {})


def test_a_publication_waits_while_the_lease_is_not_trusted_and_goes_on_once_renewed(
    postgres_url: str, tmp_path: Path
) -> None:
    """A renewal that comes late (a stalled loop, a slow quorum write) made the publisher
    give up for good; at a stop nobody noticed, and the stop waited for it forever."""
    asked, published = on_one_node(tmp_path, _publish_while_untrusted)
    assert asked >= 4  # it waited, publishing nothing, while the lease was not trusted
    assert published == 1


async def _publish_while_untrusted(nats: Nats) -> tuple[int, int]:
    config = ClusterConfig(nats_urls=nats.urls, replicas=1)
    client = await bus.connect(config, "publisher-test", "core")
    asked = 0

    def leading() -> bool:
        nonlocal asked
        asked += 1
        return asked > 3  # trusted again from the fourth look on

    try:
        js, _ = await bus.ensure(client, config)
        names = Names.of(config)
        publisher = Publisher(client, js, names, 1, leading=leading)
        batch = CommittedBatch(seq=1, commit_ns=1, events=[], balances=[])
        entry = journal_entry(first_seq=1, last_seq=1, ts=1, commands=[], position=0)
        await asyncio.wait_for(publisher.publish(entry, batch), 10)
        info = await js.stream_info(names.journal_stream)
        return asked, int(info.state.messages)
    finally:
        await client.close()


def test_a_core_taking_over_reads_how_far_the_batches_are_on_the_streams(tmp_path: Path) -> None:
    """What a new leader needs not publish again (cluster/node.py `_write_tail`): every
    batch before the last one the batch subject holds. Read by another core's publisher,
    as a core taking over reads its predecessor's."""
    before, after, notified = on_one_node(tmp_path, _read_back)
    assert before == 0  # nothing published yet
    assert after == 7
    assert notified == [6]  # the writer may write the batches up to the one before it


async def _read_back(nats: Nats) -> tuple[int, int, list[int]]:
    async with _connected(nats) as (client, js, names):
        predecessor = Publisher(client, js, names, 1, leading=lambda: True)
        successor = Publisher(client, js, names, 2, leading=lambda: True)
        before = await successor.last_on_streams()
        for first, last in ((1, 3), (4, 4), (5, 7)):
            batch = CommittedBatch(seq=last, commit_ns=1, events=[], balances=[])
            entry = journal_entry(first_seq=first, last_seq=last, ts=1, commands=[], position=0)
            await predecessor.publish(entry, batch)
        after = await successor.last_on_streams()
        notified: list[int] = []
        successor.notify(notified.append)
        successor.on_streams(after - 1)
        successor.on_streams(after - 2)  # never backwards
        return before, after, notified


@asynccontextmanager
async def _connected(nats: Nats) -> AsyncIterator[tuple[Client, JetStreamContext, Names]]:
    """A core's connection to `nats` (replicas 1), its streams set up."""
    config = ClusterConfig(nats_urls=nats.urls, replicas=1)
    client = await bus.connect(config, "publisher-test", "core")
    try:
        js, _ = await bus.ensure(client, config)
        yield client, js, Names.of(config)
    finally:
        await client.close()

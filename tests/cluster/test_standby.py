"""The standby core against a real NATS and PostgreSQL: a standby that missed journal
entries (its subscription lost them while NATS was away) notices within seconds and
loads again, and if it takes over before that, it still takes over at exactly the
committed position, even once the tables hold those entries and their journal rows
are gone."""

import asyncio
from pathlib import Path

from tests.cluster.harness import Nats, on_one_node
from tests.flows import MARKETS
from trade_engine.cluster import bus
from trade_engine.cluster.names import Names
from trade_engine.cluster.node import dsn_of
from trade_engine.cluster.standby import TRIM_SECONDS, Standby, _committed_seq
from trade_engine.config import ClusterConfig
from trade_engine.core.bootstrap import start_core
from trade_engine.engine import Deposit, PlaceOrder
from trade_engine.storage.database import normalise_url, open_database


def test_a_standby_that_missed_entries_takes_over_at_the_committed_position(
    postgres_url: str, tmp_path: Path
) -> None:
    on_one_node(tmp_path, lambda nats: _missed_entries(postgres_url, nats, wait=0.0))


def test_a_standby_that_missed_entries_loads_again_by_itself(postgres_url: str, tmp_path: Path) -> None:
    on_one_node(tmp_path, lambda nats: _missed_entries(postgres_url, nats, wait=3.0 * TRIM_SECONDS + 2.0))


async def _missed_entries(url: str, nats: Nats, wait: float) -> None:
    """Ten orders the standby never receives, then (after `wait` seconds) a takeover."""
    core = await start_core(url, markets=MARKETS)  # a leader that publishes nothing
    await core.sequencer.submit(Deposit(ts=0, user_id="u1", asset="USDT", amount=10**12))
    config = ClusterConfig(nats_urls=nats.urls, replicas=1)
    client = await bus.connect(config, "standby-test", "core")
    database = open_database(normalise_url(url))
    try:
        js, _ = await bus.ensure(client, config)
        standby = Standby(js, Names.of(config), database)
        await standby.start()
        loaded = standby.seq
        for price in range(100, 110):
            order = PlaceOrder(ts=0, user_id="u1", market="BTC-USDT", side="BUY", price=price, quantity=1000)
            await core.sequencer.submit(order)
        await core.settled()  # the tables hold them: their journal rows are deleted
        await core.sequencer.stop()
        committed = await _committed_seq(database)
        assert committed > loaded
        if wait:  # noticed at the second look at the tables, loaded at the third
            deadline = asyncio.get_running_loop().time() + wait
            while standby.seq != committed and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            assert standby.seq == committed, "loaded again"
        follower, epoch, _ = await standby.take_over(dsn_of(url), "standby-test")
        assert (follower.seq, epoch) == (committed, 1)
        assert len(follower.engine.open_orders("u1")) == 10
    finally:
        await core.close()  # its sequencer stopped above: its writer and pool are left
        await client.close()
        await database.dispose()

"""A gateway's reads see what it acknowledged, even with no core to ask.

Before a read, a gateway asks the active core how far it has published and waits
(bounded) until its read model holds that much (cluster/remote.py `caught_up`). Between
leaders no core answers that question. The gateway must then still wait for the batches
of the commands it acknowledged itself: it answers a command once its wait for the
command's batch ends, reached or not (a consumer of the batches re-made after a NATS
node failed, say), so without that wait a client could read its own acknowledged order
as unknown.

Here the test plays the core, over a real NATS server: it answers an order committed,
holds the order's batch back, and answers no question about the position.

A starting gateway, too, waits before it reads: until the tables hold the state it
loaded, and no longer once it is asked to stop.
"""

import asyncio
import json
from pathlib import Path

from nats.aio.msg import Msg

from tests.cluster.harness import Nats, on_one_node, until_subscribed
from tests.flows import MARKETS
from trade_engine.app.gateway_role import SETTLE_POLL_SECONDS, RemoteCore
from trade_engine.cluster import bus
from trade_engine.cluster.gateway import connect_gateway
from trade_engine.cluster.lease import KEY as LEASE_KEY
from trade_engine.cluster.names import KEY, REPLY, Names
from trade_engine.cluster.publisher import Publisher
from trade_engine.config import ClusterConfig
from trade_engine.core import codec
from trade_engine.core.bootstrap import start_core
from trade_engine.core.messages import Committed, CommittedBatch
from trade_engine.engine import PlaceOrder
from trade_engine.sequencer.messages import journal_entry
from trade_engine.storage.database import normalise_url, open_database

READ_WAIT = 0.5


def test_with_no_core_to_ask_a_gateway_still_waits_for_what_it_acknowledged(
    postgres_url: str, tmp_path: Path
) -> None:
    before, without_batch, with_batch, gaps = on_one_node(
        tmp_path, lambda nats: _acknowledged_with_no_core(postgres_url, nats)
    )
    assert before is True  # nothing acknowledged here yet: nothing to wait for
    assert without_batch is False  # the order's batch has not come: "catching up" (503)
    assert with_batch is True
    assert gaps == []


async def _acknowledged_with_no_core(url: str, nats: Nats) -> tuple[bool, bool, bool, list[str]]:
    core = await start_core(url, markets=MARKETS)  # a store with its markets, as a core leaves it
    await core.close()
    config = ClusterConfig(nats_urls=nats.urls, replicas=1, read_wait_seconds=READ_WAIT)
    names = Names.of(config)
    core_client = await bus.connect(config, "core-test", "core")
    gaps: list[str] = []
    database = open_database(normalise_url(url))
    try:
        js, bucket = await bus.ensure(core_client, config)
        gateway = await connect_gateway(config, database, lambda: None, gaps.append)
        try:
            state = gateway.attach(lambda batch: None)
            gateway.deliver()  # the readers are in place
            await bucket.put(LEASE_KEY, json.dumps({"node": "core-test", "epoch": 1}).encode())
            while not gateway.leader_present:
                await asyncio.sleep(0.05)
            before = await gateway.caught_up(READ_WAIT)
            seq = state.seq + 1

            answered: list[str] = []  # what the stand-in core got, for a failure's message

            async def answer(message: Msg) -> None:  # committed, its batch held back
                headers = message.headers or {}
                answered.append(f"{headers.get(KEY)} -> {headers.get(REPLY)}")
                outcome = codec.encode(Committed(seq=seq, events=[]))
                await core_client.publish(headers[REPLY], outcome, headers={KEY: headers[KEY]})

            await core_client.subscribe(names.commands, cb=answer)
            await until_subscribed(core_client)  # not flush(): see there
            market = MARKETS[0].symbol
            order = PlaceOrder(ts=0, user_id="reader", market=market, side="BUY", price=100, quantity=1)
            outcome = await gateway.submit(order)
            assert isinstance(outcome, Committed), (outcome, answered)
            assert outcome.seq == seq
            without_batch = await gateway.caught_up(READ_WAIT)
            publisher = Publisher(core_client, js, names, 1, leading=lambda: True)
            entry = journal_entry(first_seq=seq, last_seq=seq, ts=1, commands=[], position=0)
            await publisher.publish(entry, CommittedBatch(seq=seq, commit_ns=1, events=[], balances=[]))
            with_batch = await gateway.caught_up(5.0)
        finally:
            await gateway.close()  # its database too
        return before, without_batch, with_batch, gaps
    finally:
        await core_client.close()
        await database.dispose()


def test_a_starting_gateway_waits_for_the_tables_to_hold_its_state_and_stops_when_asked(
    postgres_url: str, tmp_path: Path
) -> None:
    # The tables lag the journal the state was loaded from when a leader died between
    # the two: the gateway's market data must wait for them (app/gateway_role.py), and
    # a SIGTERM meanwhile must still end the process.
    waited, stopped, reached = on_one_node(tmp_path, lambda nats: _settling(postgres_url, nats))
    assert waited is False  # not done while the tables lack the state
    assert stopped is False  # gave up once asked to stop
    assert reached is True  # a state the tables hold: at once


async def _settling(url: str, nats: Nats) -> tuple[bool, bool, bool]:
    core = await start_core(url, markets=MARKETS)
    await core.close()
    config = ClusterConfig(nats_urls=nats.urls, replicas=1)
    core_client = await bus.connect(config, "core-test", "core")
    await bus.ensure(core_client, config)  # the streams, as a core sets them up
    await core_client.close()
    database = open_database(normalise_url(url))
    role = RemoteCore()
    role._port = gateway = await connect_gateway(config, database, lambda: None, lambda _: None)
    try:
        stopping = asyncio.Event()
        waiting = asyncio.create_task(role.settled(gateway.seq + 1, stopping))  # not in the tables
        await asyncio.sleep(SETTLE_POLL_SECONDS * 3)
        waited = waiting.done()
        stopping.set()
        # Bounds against a hang only: it stops at its next poll, and a state the tables
        # hold takes one query.
        stopped = await asyncio.wait_for(waiting, 10)
        reached = await asyncio.wait_for(role.settled(gateway.seq, stopping), 10)
        return waited, stopped, reached
    finally:
        await gateway.close()  # its database too

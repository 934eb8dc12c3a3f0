"""`trade-engine core`: one core process, standby first, active once it holds the lease.

Start: connect to NATS (set the streams up), migrate the database, load the store and
follow the journal stream as the standby (standby.py). Meanwhile try to take the lease
every `lease_seconds / 6`. Once held: take over (standby.py), write the rows the tables
lack, publish again what the former leader may not have, start the sequencer on the
follower's engine with the fenced writer (fencing.py) and lead (leader.py) until told
to stop, or until leadership ends.
"""

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Final, cast

from nats.aio.client import Client
from nats.js import JetStreamContext
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.cluster import bus
from trade_engine.cluster.fencing import FencedWriter
from trade_engine.cluster.follower import Follower, projected_seq
from trade_engine.cluster.leader import Leader, die, keep_lease, restart
from trade_engine.cluster.lease import Lease
from trade_engine.cluster.names import Names
from trade_engine.cluster.publisher import Publisher
from trade_engine.cluster.standby import Standby
from trade_engine.config import Config, ConfigError
from trade_engine.core.bootstrap import Core, add_configured_markets, build_sequencer
from trade_engine.core.local import LocalCore
from trade_engine.core.messages import AnyEvent, BalanceState, CommittedBatch
from trade_engine.sequencer.tables import write_together
from trade_engine.storage.database import is_sqlite, normalise_url, open_database
from trade_engine.storage.migrate import upgrade
from trade_engine.storage.partitions import ensure_partitions
from trade_engine.storage.recovery import RecoveryReport
from trade_engine.storage.writes import PreparedBatch

log = logging.getLogger(__name__)
RETRY_SECONDS: Final = 1.0


@dataclass
class CoreNodeState:
    """What the core's metrics and probes read."""

    node: str
    role: str = "starting"  # starting, standby, leader
    epoch: int = 0
    standby: Standby | None = None
    leader: Leader | None = None
    took_over_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)


def dsn_of(url: str) -> str:
    if is_sqlite(url):
        raise ConfigError("database.url: a cluster's core needs PostgreSQL (several processes share it)")
    return make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


async def run_core(
    config: Config, state: CoreNodeState, stop: asyncio.Event, *, restarted: bool = False
) -> int:
    """Follow as a standby, take the lease when it is free, lead. `restarted`: this core
    restarted itself (it lost the lease while NATS had no quorum, say): it waits for
    JetStream as long as it takes rather than giving up as misconfigured."""
    cluster = config.cluster
    dsn = dsn_of(config.database.url)
    names = Names.of(cluster)
    client = await bus.connect(cluster, state.node, "core")
    try:
        js, bucket = await bus.ensure(client, cluster, patience=None if restarted else bus.SETUP_SECONDS)
        database = open_database(normalise_url(config.database.url))
        await upgrade(database)
        await ensure_partitions(database, time.time_ns())
        standby = state.standby = Standby(js, names, database)
        if not await _following(standby, stop):
            return 0
        state.role = "standby"
        lease = Lease(js, bucket, names.lease_bucket, state.node, cluster.lease_seconds)
        while not await _acquired(lease):
            if stop.is_set():
                await standby.stop()
                return 0
            await asyncio.sleep(cluster.lease_seconds / 6)
        began = time.monotonic()
        keeping = asyncio.create_task(keep_lease(lease), name="lease")
        follower, epoch, position = await standby.take_over(dsn, state.node)
        lease.epoch = state.epoch = epoch
        leader = state.leader = await _lead(
            config, names, client, js, lease, follower, epoch, position, database
        )
        if keeping.done():  # lost during the takeover
            restart(f"the lease was lost while taking over: {keeping.exception()!r}", stopping=stop.is_set())
        state.took_over_seconds = time.monotonic() - began
        state.role, state.standby = "leader", None
        log.info("leading", extra={"epoch": epoch, "seconds": round(state.took_over_seconds, 3)})
        return await leader.run(stop, keeping)
    finally:
        await client.close()


async def _following(standby: Standby, stop: asyncio.Event) -> bool:
    """Start following the journal, trying again while NATS cannot set the subscription
    up (a core restarted during a loss of quorum must wait for it, not exit); False if
    asked to stop meanwhile."""
    while True:
        try:
            await standby.start()
            return True
        except Exception as error:
            log.warning("cannot follow the journal yet: trying again", extra={"error": repr(error)})
        await standby.stop()
        if stop.is_set():
            return False
        await asyncio.sleep(RETRY_SECONDS)


async def _acquired(lease: Lease) -> bool:
    try:
        return await lease.acquire()
    except Exception as error:  # NATS away: keep following, try again
        log.warning("cannot reach the lease", extra={"error": repr(error)})
        return False


async def _write_tail(follower: Follower, publisher: Publisher, writer: FencedWriter) -> None:
    """The batches the tables lack: those the former leader may not have published,
    published again, then all written in order, those that fit together in one write
    (`write_together`): the former leader's tables may have trailed its journal by many
    small batches, and the new leader takes no order until they are written."""
    began = time.perf_counter()
    on_streams = await publisher.last_on_streams()
    if on_streams > follower.seq:  # a store restored behind its streams, say
        log.warning(
            "the streams hold batches past the committed position",
            extra={"last_on_streams": on_streams, "committed": follower.seq},
        )
    publisher.on_streams(min(on_streams - 1, follower.seq))  # the last one's messages may be missing
    waiting: deque[PreparedBatch] = deque()
    again = 0
    for applied in follower.tail:
        if applied.entry.last_seq >= on_streams:
            balances = [BalanceState.of_row(row) for row in applied.rows.balances]
            events = cast(list[AnyEvent], list(applied.events))
            batch = CommittedBatch(
                seq=applied.entry.last_seq, commit_ns=time.time_ns(), events=events, balances=balances
            )
            await publisher.publish(applied.entry, batch)
            again += 1
        waiting.append(writer.prepare(applied.rows))
    published = time.perf_counter()
    batches, writes = len(waiting), 0
    while waiting:
        await write_together(writer, waiting)
        writes += 1
    follower.tail.clear()
    if batches:
        done = time.perf_counter()
        seconds = {"publish_seconds": round(published - began, 3), "seconds": round(done - began, 3)}
        counts = {"batches": batches, "published_again": again, "writes": writes}
        log.info("the tables' tail written", extra={**counts, **seconds})


async def _lead(
    config: Config,
    names: Names,
    client: Client,
    js: JetStreamContext,
    lease: Lease,
    follower: Follower,
    epoch: int,
    position: int,
    database: AsyncEngine,
) -> Leader:
    publisher = Publisher(client, js, names, epoch, leading=lease.valid)
    writer = FencedWriter(
        dsn_of(config.database.url),
        epoch,
        on_fenced=die,
        lease_valid=lease.valid,
        on_appended=publisher.appended,
    )
    writer.position = position
    publisher.notify(writer.published)
    follower.projected(await projected_seq(database))
    await _write_tail(follower, publisher, writer)
    settings = config.sequencer
    sequencer = build_sequencer(
        follower.engine,
        writer,
        follower.projection,
        settings,
        last_seq=follower.seq,
        last_ts=follower.last_ts,
    )
    sequencer.start()
    report = RecoveryReport(markets=len(follower.engine.markets()), accounts=0, open_orders=0)
    port = LocalCore(Core(database, follower.engine, sequencer, writer, report, 0.0))
    sequencer.subscribe(publisher.on_batch)  # not port.attach: no state to build
    await add_configured_markets(sequencer, follower.engine, config.validated_markets())
    return Leader(
        client,
        js,
        names,
        port,
        publisher,
        lease,
        position=position,
        journaled_position=lambda: writer.position,
        max_in_flight=max(1, settings.max_queue // 2),
        replicas=config.cluster.replicas,
    )

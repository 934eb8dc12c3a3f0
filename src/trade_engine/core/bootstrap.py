"""The core, built: storage, recovery, the engine and the sequencer, wired.

`start_core` is the one start-up path, used alike by the service, the CLI, the tests
and the benchmarks: open the database, apply migrations, create partitions, rebuild
the engine (`recover_core`), then verify it against the store, start the sequencer, and
add configured markets the database does not know yet, through the sequencer, so that
they are durable like any command (`Core.start`). The service calls the two halves
itself, building its read model in between.
"""

import asyncio
import dataclasses
import gc
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypedDict, Unpack

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.config import ConfigError, SequencerConfig
from trade_engine.core.catch_up import CatchUp
from trade_engine.core.snapshotter import Snapshotter
from trade_engine.domain.market import Market
from trade_engine.engine import AddMarket, CommandRejected, Engine
from trade_engine.engine.image import ImageError
from trade_engine.sequencer import Sequencer
from trade_engine.sequencer.ports import Projector, Writer
from trade_engine.storage import schema, snapshots
from trade_engine.storage.database import normalise_url, open_database
from trade_engine.storage.migrate import upgrade
from trade_engine.storage.one_state import one_committed_state
from trade_engine.storage.own_loop import OwnLoop
from trade_engine.storage.partitions import ensure_partitions
from trade_engine.storage.projection import Projection
from trade_engine.storage.recovery import (
    EngineTotals,
    InconsistentStore,
    RecoveryReport,
    StoreTotals,
    check,
    last_committed_ts,
    load_engine,
    projected_seq,
    store_totals,
)
from trade_engine.storage.replay import replay
from trade_engine.storage.snapshots import SnapshotInfo
from trade_engine.storage.writer import BatchWriter, writer_for

SWITCH_INTERVAL_SECONDS = 0.0001
DEFAULT_SETTINGS = SequencerConfig()
log = logging.getLogger(__name__)


@dataclass
class Core:
    database: AsyncEngine
    engine: Engine
    sequencer: Sequencer
    writer: BatchWriter
    recovery: RecoveryReport
    recovery_seconds: float
    # Takes engine snapshots behind the order path (None: snapshots are off).
    snapshotter: Snapshotter | None = None
    # The snapshot recovery started from (None: it loaded the tables).
    recovered_from: SnapshotInfo | None = None
    # The engine's totals at the tables' position, and the store's folding as of that
    # position (recover_core); `start` checks them against each other.
    _verification: "tuple[EngineTotals, OwnLoop[StoreTotals]] | None" = None
    # Writing the rows the tables lack (recover_core); None once they are written.
    _catch_up: "OwnLoop[None] | None" = None
    _markets: Sequence[Market] = ()
    _began: float = 0.0

    async def start(self) -> None:
        """Verify the store against the recovered engine (conservation, ledger, holds),
        then take commands, and add the configured markets the store does not know
        (through the sequencer: durable like any command). Refuses an inconsistent
        store (`InconsistentStore`) before taking a single command."""
        verification, self._verification = self._verification, None
        if verification is not None:
            ours, folding = verification
            problems = check(ours, await folding)  # folded while the reader started
            if problems:
                raise InconsistentStore(problems)
        await self._caught_up()
        self.sequencer.start()
        await add_configured_markets(self.sequencer, self.engine, self._markets)
        self.recovery_seconds = time.perf_counter() - self._began

    async def abandon(self) -> None:
        """Give up a core whose start was refused: its store, or a configured market
        after the sequencer had started (what it queued is committed first, as by
        `close`). Everything it opened is closed, its database connections included,
        each step whatever the others do: the refusal is what the caller sees."""
        await _release(*self._closing_steps())

    def _closing_steps(self) -> tuple[Callable[[], Awaitable[object]], ...]:
        """What `close` and `abandon` release, in order: the fold and the catch-up
        (stopped before they end: the next recovery folds and writes again), snapshots,
        the sequencer (draining what is queued), the writer, the database."""
        return (
            self._stop_folding,
            self._stop_catching_up,
            self._stop_snapshots,
            self.sequencer.stop,
            self.writer.close,
            self.database.dispose,
        )

    async def _stop_snapshots(self) -> None:
        if self.snapshotter is not None:
            await self.snapshotter.close()

    async def _stop_folding(self) -> None:
        verification, self._verification = self._verification, None
        if verification is not None:
            await verification[1].stop()

    async def _caught_up(self) -> None:
        """Return once the rows recovery replayed are in the tables (raises if they
        could not be written)."""
        if self._catch_up is not None:
            await self._catch_up
            self._catch_up = None

    async def _stop_catching_up(self) -> None:
        catch_up, self._catch_up = self._catch_up, None
        if catch_up is not None:
            await catch_up.stop()

    async def settled(self) -> None:
        """Return once the history tables hold every command committed so far (they
        are written behind the journal, docs/adr/0001): for reading them directly."""
        await self._caught_up()
        await self.sequencer.tables.drained()

    async def close(self) -> None:
        """Drain and commit what is queued, then release the database."""
        for step in self._closing_steps():
            await step()


async def add_configured_markets(sequencer: Sequencer, engine: Engine, markets: Sequence[Market]) -> None:
    """Add the configured markets the engine does not know, through the sequencer (durable
    like any command): every core does this once it takes commands, in this process or
    as a cluster's new leader. One the engine refuses (an asset the store already has
    with other decimals, say) is a setting that cannot work: `ConfigError`."""
    for market in markets:
        if engine.market(market.symbol) is None:
            (event,) = await sequencer.submit(AddMarket(ts=0, market=market))
            if isinstance(event, CommandRejected):
                raise ConfigError(f"markets: {market.symbol}: {event.message}")


def build_sequencer(
    engine: Engine,
    writer: Writer,
    projection: Projector,
    settings: SequencerConfig,
    *,
    last_seq: int,
    last_ts: int = 0,
    clock_ns: Callable[[], int] = time.time_ns,
) -> Sequencer:
    """A core's sequencer, however its engine came: recovered from the store
    (`recover_core`) or followed from the journal stream by a cluster's standby taking
    over (cluster/node.py). The one place a core's settings are applied."""
    return Sequencer(
        engine,
        writer,
        projection,
        max_queue=settings.max_queue,
        max_batch=settings.max_batch,
        retry_total_seconds=settings.retry_total_seconds,
        max_projection_lag=settings.max_projection_lag,
        last_seq=last_seq,
        last_ts=last_ts,
        clock_ns=clock_ns,
    )


async def _from_snapshot(
    database: AsyncEngine, snapshot: SnapshotInfo
) -> tuple[Engine, RecoveryReport] | None:
    """The engine from `snapshot`, or None if this build cannot read its image (another
    image version, a part missing): the tables then."""
    try:
        return await snapshots.load(database, snapshot)
    except ImageError as error:
        extra = {"seq": snapshot.seq, "error": str(error)}
        log.warning("snapshot not readable; loading the tables", extra=extra)
        return None


class CoreOptions(TypedDict, total=False):
    """`recover_core`'s keyword arguments, which `start_core` passes on."""

    markets: Sequence[Market]
    settings: SequencerConfig
    snapshot_every: int
    clock_ns: Callable[[], int]


async def start_core(url: str, **options: Unpack[CoreOptions]) -> Core:
    """`recover_core`, then `Core.start`: a core verified and taking commands."""
    core = await recover_core(url, **options)
    try:
        await core.start()
    except BaseException:
        await core.abandon()
        raise
    return core


async def recover_core(
    url: str,
    *,
    markets: Sequence[Market] = (),
    settings: SequencerConfig = DEFAULT_SETTINGS,
    snapshot_every: int = 0,
    clock_ns: Callable[[], int] = time.time_ns,
) -> Core:
    """The engine recovered and its sequencer built, not yet started: `Core.start`
    verifies the store and starts it. In between, a reader may start from the engine's
    state (the service builds its read model there). The totals `Core.start` compares
    are both taken here, at the tables' position: the store's folded while the engine
    loads, the engine's once the replay has brought it there.

    `settings`: the sequencer's (`build_sequencer`; its `snapshot_every_commands` is not
    read here). `clock_ns` stamps commands (tests pass a clock of their own to place
    trades at chosen instants). `snapshot_every`: take an engine snapshot every so many
    commands (0: never, and any in the store is dropped once recovery has used it;
    docs/adr/0002)."""
    url = normalise_url(url)
    started = time.perf_counter()
    database = open_database(url)
    try:
        await upgrade(database)
        await ensure_partitions(database, time.time_ns())
    except BaseException:  # an outage here is retried by the caller: no pool left behind
        await _release(database.dispose)
        raise
    writer = writer_for(url)
    # The store's totals are folded on another connection, loop and thread while the
    # book loads and the reader starts (the database does that work: measured, a third
    # of a 1M-order restart when in turn), as of the state of its first read: the
    # tables' position, since nothing writes before the replay has reached it
    # (`at_tables`).
    loop = asyncio.get_running_loop()
    position: asyncio.Future[int] = loop.create_future()

    def fixed(seq: int) -> None:
        loop.call_soon_threadsafe(position.set_result, seq)

    folding = OwnLoop(lambda: _fold(url, fixed), "store-totals")
    verification: list[EngineTotals] = []
    # The rows the tables lack, written on a loop of their own as the replay makes them;
    # readers of the tables wait for them (`settled`), and so does `start`.
    catch_up = CatchUp(url)
    try:
        # A million restored orders would make the collector rescan the growing heap over
        # and over (measured: half of a 1M-order restart); it runs once, after.
        gc.disable()
        try:
            # The engine from the latest snapshot if there is one the journal reaches back
            # to (docs/adr/0002), else from the tables.
            projected = await projected_seq(database)
            last_ts = await last_committed_ts(database)
            snapshot = await snapshots.usable(database, projected)
            loaded = None if snapshot is None else await _from_snapshot(database, snapshot)
            if loaded is None:
                snapshot = None
                engine, report = await load_engine(database)
            else:
                engine, report = loaded[0], dataclasses.replace(loaded[1], last_seq=projected)
            async with database.connect() as connection:
                known_users = [user for (user,) in await connection.execute(select(schema.users.c.id))]
            projection = Projection(known_users)
            # What was acknowledged but not yet written into the tables: replayed from the
            # journal (docs/adr/0001) with the batches since the snapshot.
            engine_seq = None if snapshot is None else snapshot.seq

            async def at_tables() -> None:
                # The engine holds what the tables hold: verification compares the two at
                # this position. The rows the tables lack are written once the fold's state
                # is fixed (before, they were written first, the fold ran again after
                # them, and a 1M-order restart waited up to 0.65 s for it).
                verification.append(EngineTotals.of(engine))
                await asyncio.wait((position, folding.done), return_when=asyncio.FIRST_COMPLETED)
                if not position.done():
                    folding.done.result()  # it failed before its first read: raised here
                if position.result() != report.last_seq:
                    raise InconsistentStore(
                        [f"the tables moved from {report.last_seq} to {position.result()} during recovery"]
                    )

            last_seq = await replay(
                database, engine, projection, writer, report.last_seq, catch_up.add, engine_seq, at_tables
            )
            catch_up.end()
            # The loaders count what they loaded; the journal's batches count too.
            report = dataclasses.replace(
                report, accounts=engine.account_count(), open_orders=engine.open_order_count()
            )
        finally:
            gc.enable()
        # The recovered book is long-lived: keep it out of the collector's scans. No
        # collection first: recovery's garbage went by reference counting, and a full pass
        # over a million restored orders costs a quarter of a second (measured) for nothing.
        gc.freeze()
        # The database writer (and readers) run in threads that need the GIL back quickly,
        # while the event loop applies the next batch: with the default 5 ms switch interval
        # a group commit waits for the busy loop several times over (measured: ~10 ms per
        # SQLite commit instead of ~1 ms). Process-wide, so set where the core is recovered.
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        sequencer = build_sequencer(
            engine, writer, projection, settings, last_seq=last_seq, last_ts=last_ts, clock_ns=clock_ns
        )
        snapshotter = None
        if snapshot_every == 0:
            await snapshots.drop_all(database)  # or the journal would keep growing after it
        else:
            snapshotter = Snapshotter(
                database,
                sequencer,
                engine,
                every=snapshot_every,
                last_seq=report.last_seq if snapshot is None else snapshot.seq,
            )
            sequencer.subscribe(snapshotter.on_commit)
    except BaseException:  # the fold, the catch-up, the writer and the database are this function's
        await _release(catch_up.stop, folding.stop, writer.close, database.dispose)
        raise
    elapsed = time.perf_counter() - started
    (ours,) = verification  # `replay` reached the tables' position once
    checks = (ours, folding)
    return Core(
        database,
        engine,
        sequencer,
        writer,
        report,
        elapsed,
        snapshotter,
        snapshot,
        checks,
        catch_up.work,
        markets,
        started,
    )


async def _release(*steps: Callable[[], Awaitable[object]]) -> None:
    """Run each clean-up step of a core given up, whatever the others do; a step that
    fails is logged, so that the error which gave the core up is the one raised."""
    for step in steps:
        try:
            await step()
        except Exception:
            log.exception("a step releasing a core given up failed", extra={"step": step.__qualname__})


async def _fold(url: str, fixed: Callable[[int], None]) -> StoreTotals:
    """The store's totals as of one committed state, whose position (the tables') is
    given to `fixed` as soon as the first read has fixed it."""
    async with one_committed_state(url) as state:
        fixed(await projected_seq(state))
        return await store_totals(state)

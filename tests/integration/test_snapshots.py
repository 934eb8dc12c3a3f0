"""Engine snapshots on SQLite and PostgreSQL (docs/adr/0002): taken behind the order path
by a forked child, completed once the tables hold their commands, and loaded by a
restart, which replays the journal since them. The engine a restart builds so equals the
one the tables alone give and the live one, and it trades on alike."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgspec
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.flows import MARKETS, USERS
from tests.integration.test_storage import fund, random_flow
from trade_engine.core.bootstrap import Core, start_core
from trade_engine.core.messages import OrderModel
from trade_engine.engine.image import ImageError
from trade_engine.readmodel.orders import OpenOrders
from trade_engine.storage import schema, snapshots
from trade_engine.storage.recovery import load_engine
from trade_engine.storage.snapshots import SnapshotInfo


def run(coroutine):
    return asyncio.run(coroutine)


async def counts(database) -> tuple[int, int, int]:
    """(snapshots, parts, journal rows) in the store."""
    async with database.connect() as connection:
        found = []
        for table in (schema.snapshots, schema.snapshot_parts, schema.journal):
            found.append((await connection.execute(select(func.count()).select_from(table))).scalar())
    return found[0], found[1], found[2]


@contextlib.asynccontextmanager
async def store_of(core: Core) -> AsyncIterator[AsyncEngine]:
    """The store of a closed core, to read or change it: its `database` opens a new pool
    at first use, closed here (nothing else would close it)."""
    try:
        yield core.database
    finally:
        await core.database.dispose()


NEVER = 10**9  # no snapshot by the interval: only those asked for


async def snapshotted(
    database_url: str, seed: int, count: int, after: int = 0
) -> tuple[Core, SnapshotInfo, bytes]:
    """A store with a snapshot asked for after `count` random commands, and `after` more
    since it; closed. (the core it was, the snapshot, the engine's state at the end)"""
    core = await start_core(database_url, markets=MARKETS, snapshot_every=NEVER)
    await fund(core)
    await random_flow(core, seed=seed, count=count)
    assert core.snapshotter is not None
    taken = await core.snapshotter.take()
    if after:
        await random_flow(core, seed=seed + 1, count=after)
    live = core.engine.snapshot()
    await core.close()
    return core, taken, live


async def restarted(database_url: str, every: int = NEVER) -> tuple[SnapshotInfo | None, bytes]:
    """Start again and stop: (the snapshot recovery used, the engine's state)."""
    core = await start_core(database_url, snapshot_every=every)
    used, restored = core.recovered_from, core.engine.snapshot()
    await core.close()
    return used, restored


def test_a_restart_loads_the_latest_snapshot_and_replays_the_journal_since(database_url):
    async def scenario():
        core = await start_core(database_url, markets=MARKETS, snapshot_every=400)
        assert core.recovered_from is None
        assert core.snapshotter is not None
        await fund(core)
        await random_flow(core, seed=3, count=1_500)
        taken = await core.snapshotter.take()  # the latest, whatever the interval left
        await random_flow(core, seed=4, count=250)  # journaled after it
        live = core.engine.snapshot()
        stats = core.snapshotter.stats
        await core.close()
        async with store_of(core) as database:
            in_store = await counts(database)
            latest = await snapshots.latest(database)

        restarted = await start_core(database_url, markets=MARKETS, snapshot_every=400)
        restored = restarted.engine.snapshot()
        # What the service reports having recovered counts the journal's batches too.
        assert restarted.recovery.open_orders == len(restarted.engine.all_open_orders())
        # The tables alone (the path without a snapshot) give the same engine.
        from_tables, _ = await load_engine(restarted.database)
        # Readers starting from either list each user's open orders oldest first, as
        # before the restart (both restore book by book).
        for engine in (restarted.engine, from_tables):
            listed = OpenOrders(engine.open_orders_as(OrderModel))
            for user in USERS:
                ids = [order.order_id for order in listed.of_user(user)]
                assert ids == sorted(ids) == [order.id for order in core.engine.open_orders(user)]
        more = await random_flow(restarted, seed=5, count=300)
        await restarted.close()
        return taken, stats, in_store, latest, restarted, live, restored, from_tables.snapshot(), more

    taken, stats, in_store, latest, restarted, live, restored, from_tables, more = run(scenario())
    assert stats.taken >= 2  # one by the interval at least, and the one asked for
    assert latest == taken
    assert taken.orders > 0
    assert taken.parts >= 2
    # Only the latest snapshot is kept, and the journal holds the batches after it.
    assert in_store[0] == 1
    assert in_store[1] == taken.parts + 1  # and its pin
    assert in_store[2] > 0
    assert restarted.recovered_from == taken
    assert restored == live == from_tables
    assert more


def test_the_first_snapshot_keeps_the_batches_committed_while_it_is_written(database_url):
    """Tables are written while a snapshot is (it waits for them, for one), and a table
    write deletes the journal rows it covers: from the fork on, those after the
    snapshot's sequence number must stay, or the restart could not replay onto it."""

    async def scenario():
        core = await start_core(database_url, markets=MARKETS, snapshot_every=NEVER)
        await fund(core)
        await random_flow(core, seed=11, count=300)
        assert core.snapshotter is not None
        taken, _ = await asyncio.gather(core.snapshotter.take(), random_flow(core, seed=12, count=600))
        await random_flow(core, seed=13, count=100)
        live = core.engine.snapshot()
        await core.close()
        restarted = await start_core(database_url, snapshot_every=NEVER)
        used, restored = restarted.recovered_from, restarted.engine.snapshot()
        await restarted.close()
        return taken, used, live, restored

    taken, used, live, restored = run(scenario())
    assert used == taken
    assert restored == live


def test_a_snapshot_the_journal_does_not_reach_back_to_is_not_used(database_url):
    """A store whose journal lost batches after the snapshot (one written by the cluster's
    core, whose commands are in its stream) restarts from the tables."""

    async def scenario():
        core, _, live = await snapshotted(database_url, seed=6, count=400, after=200)
        async with store_of(core) as database, database.begin() as connection:
            await connection.execute(schema.journal.delete())
        used, restored = await restarted(database_url)
        return live, restored, used

    live, restored, used = run(scenario())
    assert used is None
    assert restored == live


def test_turning_snapshots_off_drops_them_so_the_journal_does_not_grow(database_url):
    async def scenario():
        _, taken, live = await snapshotted(database_url, seed=8, count=300, after=100)
        off = await start_core(database_url)  # snapshots off: this one recovers from it, then drops it
        used, restored = off.recovered_from, off.engine.snapshot()
        await random_flow(off, seed=10, count=50)
        await off.close()
        async with store_of(off) as database:
            return taken, used, live, restored, await counts(database)

    taken, used, live, restored, (kept, parts, journal) = run(scenario())
    assert used == taken
    assert restored == live
    assert (kept, parts, journal) == (0, 0, 0)


def test_a_snapshot_of_another_image_version_is_passed_over_for_the_tables(database_url):
    async def scenario():
        core, taken, live = await snapshotted(database_url, seed=14, count=300)
        parts = schema.snapshot_parts
        first = (parts.c.seq == taken.seq) & (parts.c.part == 0)
        async with store_of(core) as database, database.begin() as connection:
            data = (await connection.execute(select(parts.c.data).where(first))).scalar_one()
            header = msgspec.msgpack.decode(data)
            header["v"] += 1
            await connection.execute(parts.update().where(first).values(data=msgspec.msgpack.encode(header)))
        used, restored = await restarted(database_url)
        return used, live, restored

    used, live, restored = run(scenario())
    assert used is None
    assert restored == live


def test_snapshots_asked_for_and_due_by_the_interval_never_overlap(database_url):
    """Two snapshots written at once would each drop the other's parts: one is taken at
    a time, whoever asks, and the latest is whole."""

    async def scenario():
        core = await start_core(database_url, markets=MARKETS, snapshot_every=25)
        await fund(core)
        assert core.snapshotter is not None
        asked = await asyncio.gather(
            core.snapshotter.take(), random_flow(core, seed=15, count=400), core.snapshotter.take()
        )
        await random_flow(core, seed=16, count=50)
        live = core.engine.snapshot()
        await core.close()
        used, restored = await restarted(database_url, every=25)
        return asked, used, live, restored

    asked, used, live, restored = run(scenario())
    assert used is not None
    assert used.seq >= asked[2].seq
    assert restored == live


def test_a_snapshot_missing_a_part_is_passed_over_for_the_tables(database_url):
    async def scenario():
        core, taken, live = await snapshotted(database_url, seed=17, count=300)
        parts = schema.snapshot_parts
        async with store_of(core) as database, database.begin() as connection:
            await connection.execute(parts.delete().where((parts.c.seq == taken.seq) & (parts.c.part == 1)))
        used, restored = await restarted(database_url)
        return used, live, restored

    used, live, restored = run(scenario())
    assert used is None
    assert restored == live


def test_completing_a_snapshot_drops_the_journal_before_the_parts_before_it(database_url):
    """The journal rows between the previous snapshot and the new one go first, a few
    thousand commands a transaction; the previous snapshot's parts after. The other way
    round, the first table write after its last part went would drop every one of those
    rows in one statement of a batch's transaction (a stall of the order path)."""

    async def scenario():
        core = await start_core(database_url, markets=MARKETS, snapshot_every=NEVER)
        await fund(core)
        await random_flow(core, seed=8, count=400)
        assert core.snapshotter is not None
        await core.snapshotter.take()
        await random_flow(core, seed=9, count=400)  # kept in the journal for the first
        deletes: list[str] = []

        def record(connection, cursor, statement, parameters, context, executemany) -> None:
            words = statement.split()
            if words[:2] == ["DELETE", "FROM"]:
                deletes.append(words[2])

        event.listen(core.database.sync_engine, "before_cursor_execute", record)
        try:
            second = await core.snapshotter.take()
        finally:
            event.remove(core.database.sync_engine, "before_cursor_execute", record)
        journal = schema.journal
        async with core.database.connect() as connection:
            query = select(func.count()).select_from(journal).where(journal.c.last_seq <= second.seq)
            left = (await connection.execute(query)).scalar()
        in_store = await counts(core.database)
        await core.close()
        return deletes, left, in_store, second

    deletes, left, in_store, second = run(scenario())
    completing = deletes[deletes.index("snapshots") :]  # the parts written before it aside
    assert "journal" in completing
    assert "snapshot_parts" in completing
    last_journal = len(completing) - 1 - completing[::-1].index("journal")
    assert last_journal < completing.index("snapshot_parts"), completing
    assert left == 0
    assert in_store[:2] == (1, second.parts + 1)  # the second snapshot and its pin only


def test_a_snapshot_missing_a_part_in_the_middle_is_passed_over_for_the_tables(database_url):
    """The parts come in one stream, numbered: one missing between two others is found
    by its number, not only by the count at the end."""

    async def scenario():
        core, taken, live = await snapshotted(database_url, seed=18, count=300)
        parts, kept = schema.snapshot_parts, schema.snapshots
        last = taken.parts - 1  # its orders move one part on: the one before is missing
        async with store_of(core) as database:
            async with database.begin() as connection:
                moved = (parts.c.seq == taken.seq) & (parts.c.part == last)
                await connection.execute(parts.update().where(moved).values(part=last + 1))
                await connection.execute(kept.update().where(kept.c.seq == taken.seq).values(parts=last + 2))
            info = await snapshots.latest(database)
            assert info is not None
            try:
                await snapshots.load(database, info)
                error = None
            except ImageError as refused:
                error = str(refused)
        used, restored = await restarted(database_url)
        return error, taken, used, live, restored

    error, taken, used, live, restored = run(scenario())
    assert error == f"snapshot {taken.seq}: part {taken.parts - 1} is missing"
    assert used is None
    assert restored == live

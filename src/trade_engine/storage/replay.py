"""Replaying the journal: what was acknowledged but not yet written into the tables.

The tables hold every command up to `sequencer_state.last_seq`; the journal holds each
later batch's time-stamped commands, and, when there is an engine snapshot, every batch
after it too (docs/adr/0002): a snapshot's engine replays those, making rows only for
the batches the tables lack. The engine is deterministic, so applying those commands to
the engine loaded from the tables gives exactly the events they gave the first time.
Their rows are handed over, prepared, batch by batch as they are made: recovery writes
them as the sequencer would have (which also deletes their journal rows) while the
replay and the rest go on (core/catch_up.py), rather than waiting for them here. A
replay that does not reproduce a batch (a command refused that was committed, or a
different count of state-changing commands) means the store contradicts itself, and the
service refuses to start on it (the batches before it may have been written by then:
their rows are what they produced the first time).
"""

from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.engine import CommandRejected, Engine, Event
from trade_engine.sequencer.messages import JournalEntry, decode_commands
from trade_engine.storage import schema
from trade_engine.storage.database import connected
from trade_engine.storage.projection import Projection
from trade_engine.storage.recovery import InconsistentStore
from trade_engine.storage.writes import BatchWriter, PreparedBatch


async def journal_after(database: AsyncEngine, seq: int) -> list[JournalEntry]:
    """The journal's batches after global sequence number `seq`, in order."""
    journal = schema.journal
    query = select(journal.c.first_seq, journal.c.last_seq, journal.c.ts, journal.c.commands)
    async with connected(database) as connection:
        rows = await connection.execute(query.where(journal.c.last_seq > seq).order_by(journal.c.last_seq))
        return [
            JournalEntry(first_seq=int(first), last_seq=int(last), ts=int(ts), commands=bytes(commands))
            for first, last, ts, commands in rows
        ]


async def replay(
    database: AsyncEngine,
    engine: Engine,
    projection: Projection,
    writer: BatchWriter,
    projected_seq: int,
    lacking: Callable[[PreparedBatch], None],
    engine_seq: int | None = None,
    at_tables: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """Apply the journal's tail to `engine`; the global sequence number the store is at
    afterwards. The rows the tables lack go to `lacking`, batch by batch in order
    (prepared by `writer`, not written), each as soon as it is made: after `at_tables`.

    `engine` holds the state as of `engine_seq` (loaded from a snapshot) or, by default,
    of `projected_seq` (loaded from the tables, which hold every command up to it). The
    batches between the two are applied only: their rows are written already.
    `at_tables` is awaited once, when the engine holds exactly what the tables hold."""
    seq = projected_seq if engine_seq is None else engine_seq
    reached = False
    for entry in await journal_after(database, seq):
        if seq == projected_seq and not reached:
            reached = True
            if at_tables is not None:
                await at_tables()
        if entry.first_seq != seq + 1:
            raise InconsistentStore(
                [f"journal batch {entry.first_seq}..{entry.last_seq} does not follow {seq}"]
            )
        events: list[Event] = []
        for command in decode_commands(entry.commands):
            caused = engine.apply(command)
            if not caused or isinstance(caused[0], CommandRejected):
                raise InconsistentStore(
                    [f"journal batch {entry.last_seq}: a committed command does not replay"]
                )
            events.extend(caused)
            seq += 1
        if seq != entry.last_seq:
            raise InconsistentStore([f"journal batch {entry.last_seq} replays to {seq}"])
        if entry.last_seq > projected_seq:
            if not reached:  # written batch by batch: the tables end where one does
                raise InconsistentStore([f"journal batch {entry.last_seq} spans the tables' position"])
            lacking(writer.prepare(projection.project(events, engine, entry.ts, entry.last_seq)))
    if seq < projected_seq:
        raise InconsistentStore([f"the journal ends at {seq}, before the tables' position {projected_seq}"])
    if not reached and at_tables is not None:  # the journal ends at the tables' position
        await at_tables()
    return seq

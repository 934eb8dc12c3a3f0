"""An engine kept level with the committed journal, without writing anything.

The standby core follows the active core's journal entries as they are published
(the engine is deterministic: the time-stamped commands give the same events again),
so that a takeover replays only the tail. Each entry applied is projected into the
rows the tables will need and kept until the tables are known to hold it
(`projected`): after a takeover the new leader writes exactly those rows. A gateway
uses the same loading to start its read model from a consistent state.

`load` reads a consistent state from the database (the tables as of one snapshot and
the journal's batches after them), retrying while the tables move under it.
"""

import gc
import logging
from collections import deque
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.engine import CommandRejected, Engine, Event
from trade_engine.sequencer.messages import JournalEntry, decode_commands
from trade_engine.storage import schema
from trade_engine.storage.projection import BatchRows, Projection
from trade_engine.storage.recovery import RecoveryReport, last_committed_ts, load_engine
from trade_engine.storage.replay import journal_after

log = logging.getLogger(__name__)
_LOAD_ATTEMPTS: Final = 50


class Diverged(Exception):
    """An entry does not apply as it did on the core that committed it, or does not
    follow what was applied: the follower must be loaded again."""


@dataclass(frozen=True)
class Applied:
    entry: JournalEntry
    events: list[Event]
    rows: BatchRows


class Follower:
    def __init__(self, engine: Engine, projection: Projection, seq: int, last_ts: int) -> None:
        self.engine = engine
        self.projection = projection
        self.seq = seq  # the global sequence number of the last command applied
        self.last_ts = last_ts  # its time stamp
        self.tail: deque[Applied] = deque()  # applied, not known to be in the tables

    def apply(self, entry: JournalEntry) -> Applied | None:
        """Apply a committed batch; None if it was applied already."""
        if entry.last_seq <= self.seq:
            return None
        if entry.first_seq != self.seq + 1:
            raise Diverged(f"journal entry {entry.first_seq}..{entry.last_seq} does not follow {self.seq}")
        events: list[Event] = []
        for command in decode_commands(entry.commands):
            caused = self.engine.apply(command)
            if not caused or isinstance(caused[0], CommandRejected):
                raise Diverged(f"journal entry {entry.last_seq}: a committed command does not apply")
            events.extend(caused)
        rows = self.projection.project(events, self.engine, entry.ts, entry.last_seq)
        applied = Applied(entry, events, rows)
        self.tail.append(applied)
        self.seq, self.last_ts = entry.last_seq, max(self.last_ts, entry.ts)
        return applied

    def projected(self, seq: int) -> None:
        """The tables hold every command up to `seq`: forget what they hold."""
        while self.tail and self.tail[0].entry.last_seq <= seq:
            self.tail.popleft()


async def projected_seq(database: AsyncEngine) -> int:
    """How far the tables are (`sequencer_state.last_seq`)."""
    async with database.connect() as connection:
        state = schema.sequencer_state
        value = (await connection.execute(select(state.c.last_seq).where(state.c.id == 1))).scalar()
    return int(value or 0)


async def load(database: AsyncEngine) -> tuple[Follower, RecoveryReport]:
    """A follower at the committed position: the tables (one snapshot), then the
    journal's batches after them, read again until no batch was projected in between."""
    # As at start-up (core/bootstrap.py): no collection while a million orders load.
    gc.disable()
    try:
        return await _load(database)
    finally:
        gc.enable()
        gc.collect()
        gc.freeze()


async def _load(database: AsyncEngine) -> tuple[Follower, RecoveryReport]:
    snapshot = database.execution_options(isolation_level="REPEATABLE READ")
    for _ in range(_LOAD_ATTEMPTS):
        engine, report = await load_engine(snapshot)
        async with database.connect() as connection:
            users = [user for (user,) in await connection.execute(select(schema.users.c.id))]
        entries = await journal_after(database, report.last_seq)
        if entries and entries[0].first_seq != report.last_seq + 1:
            continue  # the tables moved on between the two reads
        if not entries and await projected_seq(database) != report.last_seq:
            continue
        follower = Follower(engine, Projection(users), report.last_seq, await last_committed_ts(database))
        for entry in entries:
            follower.apply(entry)
        return follower, report
    raise Diverged("the store kept moving while loading it")

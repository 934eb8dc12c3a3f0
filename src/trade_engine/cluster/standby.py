"""The standby core: follows the active core's journal, and takes over from it.

It subscribes to the journal stream (new entries only) before loading the store, so
that every entry committed after its load reaches it; entries arriving meanwhile wait
in a buffer. Every second it learns how far the tables are and forgets the rows they
hold. A follower that falls out of step (an entry that does not follow, or short of
where the tables were a second before) loads again.

`take_over`, once this core holds the lease: take the epoch (from then on the former
leader can commit nothing), catch up with what the former leader committed (from the
journal stream, then the database's journal, which is authoritative; loading again
when the follower missed entries the tables already hold), and hand back the follower
with the rows of every batch the tables do not hold yet.
"""

import asyncio
import logging
import time
from typing import Final

from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.cluster.fencing import take_epoch
from trade_engine.cluster.follower import Diverged, Follower, load, projected_seq
from trade_engine.cluster.names import Names
from trade_engine.cluster.publisher import decode_entry
from trade_engine.sequencer.messages import JournalEntry
from trade_engine.storage.replay import journal_after
from trade_engine.storage.writes import COMMITTED_SEQ

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS: Final = 1.0
TRIM_SECONDS: Final = 1.0
CATCH_UP_SECONDS: Final = 2.0


class Standby:
    def __init__(self, js: JetStreamContext, names: Names, database: AsyncEngine) -> None:
        self._js, self._names, self._database = js, names, database
        self.follower: Follower | None = None
        self._buffer: list[JournalEntry] = []
        self._stale = False
        self._tables_before = 0  # how far the tables were at the last look
        self._subscription: JetStreamContext.PushSubscription | None = None
        self._trimming: asyncio.Task[None] | None = None
        self.received = 0

    async def start(self) -> None:
        self._subscription = await self._js.subscribe(
            self._names.journal,
            stream=self._names.journal_stream,
            cb=self._on_message,
            ordered_consumer=True,
            deliver_policy=api.DeliverPolicy.NEW,
            idle_heartbeat=HEARTBEAT_SECONDS,  # a consumer lost with its node is made again soon
        )
        await self._load()
        self._trimming = asyncio.create_task(self._trim(), name="standby-trim")

    async def _load(self) -> None:
        self.follower = None
        follower, report = await load(self._database)
        log.info("standby loaded", extra={"seq": follower.seq, "open_orders": report.open_orders})
        buffered, self._buffer = self._buffer, []
        self.follower, self._stale, self._tables_before = follower, False, 0
        for entry in buffered:
            self._apply(entry)

    async def _on_message(self, message: Msg) -> None:
        self.received += 1
        entry = decode_entry(message.data)
        if self.follower is None:
            self._buffer.append(entry)
        else:
            self._apply(entry)

    def _apply(self, entry: JournalEntry) -> None:
        if self._stale or self.follower is None:
            self._buffer.append(entry)
            return
        try:
            self.follower.apply(entry)
        except Diverged as error:
            log.warning("standby out of step: loading again", extra={"error": str(error)})
            self._stale = True
            self._buffer.append(entry)

    async def _trim(self) -> None:
        while True:
            await asyncio.sleep(TRIM_SECONDS)
            try:
                if self._stale:
                    await self._load()
                elif self.follower is not None:
                    # Still short of where the tables were a second ago: entries were
                    # lost on the way (NATS away), and no later one will show it.
                    if self.follower.seq < self._tables_before:
                        log.warning("standby missed journal entries: loading again")
                        self._stale = True
                    self._tables_before = await projected_seq(self._database)
                    self.follower.projected(self._tables_before)
            except Exception as error:
                log.warning("standby cannot read the store", extra={"error": repr(error)})

    @property
    def seq(self) -> int:
        return self.follower.seq if self.follower is not None else 0

    async def stop(self) -> None:
        if self._trimming is not None:
            self._trimming.cancel()
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    async def take_over(self, dsn: str, node: str) -> tuple[Follower, int, int]:
        """(the follower at the committed position, the new epoch, the command stream
        position to resume after)."""
        began = time.monotonic()
        epoch, position = await take_epoch(dsn, node)
        committed = await _committed_seq(self._database)
        # What the former leader published reaches the subscription shortly; what it
        # committed and did not publish is still in the database's journal, unless the
        # tables hold it already (its journal rows are deleted then): a follower that
        # cannot reach the committed position through the journal loads again.
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while not await self._joins_journal(committed) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await self.stop()
        follower = await self._caught_up()
        if follower.seq != committed:
            await self._load()
            follower = await self._caught_up()
        if follower.seq != committed:
            raise Diverged(f"caught up to {follower.seq}, but the store has committed {committed}")
        log.info(
            "took over",
            extra={"epoch": epoch, "seq": follower.seq, "seconds": round(time.monotonic() - began, 3)},
        )
        return follower, epoch, position

    async def _joins_journal(self, committed: int) -> bool:
        """Whether the follower is at `committed`, or the journal's batches follow it."""
        follower = self.follower
        if follower is None or self._stale:
            return False
        if follower.seq >= committed:
            return True
        entries = await journal_after(self._database, follower.seq)
        return bool(entries) and entries[0].first_seq == follower.seq + 1

    async def _caught_up(self) -> Follower:
        """The follower, with the journal's batches after it applied (loaded again if
        it is out of step with them)."""
        if self.follower is None or self._stale:
            await self._load()
        follower = self.follower
        assert follower is not None
        try:
            for entry in await journal_after(self._database, follower.seq):
                follower.apply(entry)
        except Diverged:
            await self._load()
            follower = self.follower
            assert follower is not None
        return follower


async def _committed_seq(database: AsyncEngine) -> int:
    async with database.connect() as connection:
        value = (await connection.execute(text(COMMITTED_SEQ))).scalar()
    return int(value or 0)

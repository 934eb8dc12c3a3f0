"""What the active core publishes after each commit, in commit order.

For every committed batch: its journal entry on the journal stream (what the standby
applies), the batch on the batch subject (what the gateways' read models follow), then
its per-market and per-user messages (downstream.py). Each carries the core's epoch;
the two stream messages carry an id that JetStream de-duplicates, so a core that takes
over may publish again what its predecessor may not have.

Only then are the batch's outcomes sent (`reached`), and may its journal rows be
deleted by the write of its rows (`FencedWriter.published`): a standby that missed
the entry finds it on the stream instead. Publishing retries while NATS is away, and
waits while this core's lease is not trusted; a core that lost it publishes nothing.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Final

import msgspec
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from trade_engine.cluster import downstream, failpoints
from trade_engine.cluster.names import EPOCH, FIRST_SEQ, LAST_SEQ, MSG_ID, Names
from trade_engine.core import codec
from trade_engine.core.messages import CommittedBatch
from trade_engine.sequencer.messages import JournalEntry

log = logging.getLogger(__name__)
_RETRY_SECONDS: Final = 0.1
_entries: Final = msgspec.msgpack.Encoder()
_entry_decoder: Final = msgspec.msgpack.Decoder(JournalEntry)


def encode_entry(entry: JournalEntry) -> bytes:
    return _entries.encode(entry)


def decode_entry(data: bytes) -> JournalEntry:
    return _entry_decoder.decode(data)


class Publisher:
    def __init__(
        self,
        client: Client,
        js: JetStreamContext,
        names: Names,
        epoch: int,
        *,
        leading: Callable[[], bool],
    ) -> None:
        self._client, self._js, self._names = client, js, names
        self._epoch = epoch
        self._leading = leading
        self._on_published: list[Callable[[int], None]] = []
        self._entries: dict[int, JournalEntry] = {}
        self._batches: asyncio.Queue[CommittedBatch] = asyncio.Queue()
        self.published_seq = 0
        self._progress = asyncio.Event()

    # -- fed by the core --

    def notify(self, on_published: Callable[[int], None]) -> None:
        """Call `on_published(seq)` once every batch up to `seq` is published."""
        self._on_published.append(on_published)

    def appended(self, entry: JournalEntry) -> None:
        """A batch's journal entry has committed (its batch follows)."""
        self._entries[entry.last_seq] = entry

    def on_batch(self, batch: CommittedBatch) -> None:
        """The sequencer's subscriber: a committed batch, in order."""
        self._batches.put_nowait(batch)

    def pending(self) -> int:
        return self._batches.qsize()

    async def reached(self, seq: int) -> None:
        """Return once every batch up to `seq` is published."""
        while self.published_seq < seq:
            self._progress.clear()
            await self._progress.wait()

    # -- publishing --

    async def run(self) -> None:
        while True:
            batch = await self._batches.get()
            entry = self._entries.pop(batch.seq)
            await self.publish(entry, batch)

    async def publish(self, entry: JournalEntry, batch: CommittedBatch) -> None:
        headers = {EPOCH: str(self._epoch), FIRST_SEQ: str(entry.first_seq), LAST_SEQ: str(entry.last_seq)}
        names = self._names
        await self._stored(names.journal, encode_entry(entry), {**headers, MSG_ID: f"j{entry.last_seq}"})
        await self._stored(names.batches, codec.encode(batch), {**headers, MSG_ID: f"b{batch.seq}"})
        markets, users = downstream.split(batch)
        # With de-duplication ids too: a core that takes over publishes again what its
        # predecessor may have published, and the events stream keeps each once.
        for market in markets:
            market_id = {**headers, MSG_ID: f"m{market.market}.{market.last_seq}"}
            await self._client.publish(
                names.market(market.market), downstream.encode(market), headers=market_id
            )
        for user in users:
            user_id = {**headers, MSG_ID: f"u{user.user_id}.{user.seq}"}
            await self._client.publish(names.user(user.user_id), downstream.encode(user), headers=user_id)
        failpoints.hit("after-publish")
        self.on_streams(batch.seq)

    def on_streams(self, seq: int) -> None:
        """Every batch up to `seq` is on the streams, whole (published by this core, or
        by a former leader: `last_on_streams`)."""
        if seq > self.published_seq:
            self.published_seq = seq
            for notify in self._on_published:
                notify(seq)
            self._progress.set()

    async def last_on_streams(self) -> int:
        """The last batch the batch subject holds (0: none, or it cannot be read). Every
        batch before it is on the streams whole: a core publishes a batch's journal entry,
        the batch, then its per-market and per-user messages, in that order on one
        connection, and the next batch only once the journal entry and the batch are
        stored. So a core taking over need not publish those again (messages published
        again after the de-duplication window would be stored twice)."""
        try:
            names = self._names
            message = await self._js.get_last_msg(names.events_stream, names.batches, direct=False)
        except NotFoundError:
            return 0
        except Exception as error:  # publish the whole tail again, as the safe side
            log.warning("cannot read the last batch published", extra={"error": repr(error)})
            return 0
        return int((message.headers or {}).get(LAST_SEQ, "0"))

    async def _stored(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        """Publish to a stream until it acknowledges (de-duplicated by the id). While
        the lease is not trusted, nothing is published: this waits, and the task that
        keeps the lease decides (renewed: publishing goes on; lost: leadership ends,
        and the process with it). A renewal that comes late is no reason to stop."""
        while True:
            if not self._leading():
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            try:
                await self._js.publish(subject, payload, headers=headers)
                return
            except Exception as error:
                log.warning("publishing failed, retrying", extra={"subject": subject, "error": repr(error)})
                await asyncio.sleep(_RETRY_SECONDS)

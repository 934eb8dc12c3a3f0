"""The leader's lease: one key in a JetStream key-value bucket whose entries live
`lease_seconds` (the bucket's time to live).

A core becomes the candidate leader by writing the key over its latest entry (which
only succeeds when no one wrote it meanwhile) and keeps it by updating it with the
revision it last wrote (which fails once someone else has written it). The key is free
when it has no entry, when its latest entry is a deletion (a step-down), or when a
candidate has seen the same entry, unrenewed, for a whole `lease_seconds` by its own
clock. That last rule does not rely on the server expiring the entry in time: after
nodes of a NATS cluster restart, a replica may keep an expired entry for a long while
and another answer that the key has none, and a core that trusted either would never
lead again.

The lease only decides who should lead; what keeps a former leader from doing harm is
the epoch in the database (fencing.py). Still, a core checks its lease before every
commit and publication (`valid`): its own clock says whether it renewed recently enough,
so a core that was paused (SIGSTOP, a long pause) notices at once on waking and stops
without waiting for the database to refuse it.
"""

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KV_DEL, KV_OP, KV_PURGE, KeyValue

log = logging.getLogger(__name__)
KEY: Final = "core"
# A lease is trusted locally for this part of its time to live after the renewal that
# was sent last (its server-side time is later than the sending).
TRUSTED_PART: Final = 0.8
# JetStream's error codes for a write whose expected last sequence is not the latest.
WRONG_LAST_SEQUENCE: Final = (10071, 10164)


@dataclass(frozen=True)
class Entry:
    """The key's latest entry, as the bucket stream's leader holds it."""

    revision: int
    held: bool  # False: a deletion (the holder stepped down)


class Lease:
    def __init__(self, js: JetStreamContext, bucket: KeyValue, name: str, node: str, ttl: float) -> None:
        self._js = js
        self._bucket = bucket
        self._stream = f"KV_{name}"
        self._subject = f"$KV.{name}.{KEY}"
        self.node = node
        self.ttl = ttl
        self._revision = 0
        self._valid_until = 0.0
        self.epoch = 0
        # The held entry seen last, and since when (this core's clock).
        self._seen: tuple[int, float] = (0, 0.0)

    def _value(self) -> bytes:
        return json.dumps({"node": self.node, "epoch": self.epoch}).encode()

    async def latest(self) -> Entry | None:
        """The key's latest entry (None: none), read from the stream's leader: a direct
        read may be answered by a replica that is behind."""
        try:
            message = await self._js.get_last_msg(self._stream, self._subject, direct=False)
        except NotFoundError:
            return None
        operation = (message.headers or {}).get(KV_OP)
        return Entry(message.seq or 0, held=operation not in (KV_DEL, KV_PURGE))

    async def acquire(self) -> bool:
        """Take the lease if it is free (see the module's docstring)."""
        sent = time.monotonic()
        entry = await self.latest()
        if entry is not None and entry.held:
            if entry.revision != self._seen[0]:
                self._seen = (entry.revision, sent)
                return False
            if sent - self._seen[1] < self.ttl:
                return False
            log.warning(
                "taking over a lease nobody renewed for its time to live",
                extra={"revision": entry.revision, "seconds": round(sent - self._seen[1], 3)},
            )
        try:
            last = 0 if entry is None else entry.revision
            self._revision = await self._bucket.update(KEY, self._value(), last=last)
        except KeyWrongLastSequenceError:
            return False
        self._valid_until = sent + self.ttl * TRUSTED_PART
        return True

    async def renew(self) -> bool:
        """Keep the lease: False once another core has taken it (or it expired and
        someone else wrote it). Transport errors propagate: the caller retries while
        `valid` holds."""
        sent = 0.0

        async def update() -> int:
            nonlocal sent
            sent = time.monotonic()
            return await self._bucket.update(KEY, self._value(), last=self._revision)

        if await self._own_write(update):
            self._valid_until = sent + self.ttl * TRUSTED_PART
            return True
        self._valid_until = 0.0
        return False

    async def _own_write(self, write: Callable[[], Awaitable[int | None]]) -> bool:
        """Run `write`, which names the revision this core wrote last; once more after
        adopting an entry of this core's own it never learnt the revision of
        (`_adopted`). False: the entry is another core's, or changed again. The revision
        `write` returns, if any, is this core's from then on."""
        for attempt in range(2):
            try:
                revision = await write()
            except BadRequestError as error:
                # The bucket's `update` raises KeyWrongLastSequenceError for a failed
                # check; its `delete` a plain BadRequestError with the error's code.
                if not isinstance(error, KeyWrongLastSequenceError) and (
                    error.err_code not in WRONG_LAST_SEQUENCE
                ):
                    raise
                if attempt or not await self._adopted():
                    return False
                continue
            if revision is not None:
                self._revision = revision
            return True
        return False

    async def _adopted(self) -> bool:
        """Whether the entry that made a renewal fail is this core's own: a renewal that
        timed out (a NATS node lost, an election) may still have been written, at a
        revision this core never learnt. Its revision is adopted; no trust is taken from
        that write (its time is unknown): the renewal that follows counts from its own
        sending. Node names are unique per process; the epoch in the database, not the
        lease, fences a former leader (fencing.py)."""
        try:
            message = await self._js.get_last_msg(self._stream, self._subject, direct=False)
        except NotFoundError:
            return False
        if (message.headers or {}).get(KV_OP) in (KV_DEL, KV_PURGE) or not message.data:
            return False
        try:
            holder = json.loads(message.data).get("node")
        except ValueError:
            return False
        if holder != self.node or (message.seq or 0) <= self._revision:
            return False
        log.warning(
            "adopting a renewal whose answer was lost",
            extra={"revision": message.seq, "was": self._revision},
        )
        self._revision = message.seq or 0
        return True

    def valid(self) -> bool:
        """Whether this core may still act as the leader, by its own clock."""
        return time.monotonic() < self._valid_until

    async def release(self) -> None:
        """Give the lease up (a step-down): the standby need not wait for it to expire.

        The renewing task is cancelled just before, and a renewal cancelled in flight
        may still have been written, at a revision this core never learnt: the deletion
        naming the revision before it then fails its check. The entry is this core's
        own, so it is adopted and deleted. Another core's entry is left alone."""
        self._valid_until = 0.0

        async def delete() -> None:
            await self._bucket.delete(KEY, last=self._revision)

        if await self._own_write(delete):
            return
        log.warning(
            "the lease was not given up (its entry is another core's, or changed meanwhile): "
            "it expires instead",
            extra={"revision": self._revision},
        )


class LeadershipLost(Exception):
    """This core no longer leads: it must stop without publishing or answering more."""

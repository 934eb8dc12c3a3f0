"""The leader's lease: one key in a JetStream key-value bucket whose entries live
`lease_seconds` (the bucket's time to live).

A core becomes the candidate leader by creating the key (which only succeeds when no
one holds it) and keeps it by updating it with the revision it last wrote (which fails
once someone else has written it). The lease only decides who should lead; what keeps a
former leader from doing harm is the epoch in the database (fencing.py). Still, a core
checks its lease before every commit and publication (`valid`): its own clock says
whether it renewed recently enough, so a core that was paused (SIGSTOP, a long pause)
notices at once on waking and stops without waiting for the database to refuse it.
"""

import contextlib
import json
import logging
import time
from typing import Final

from nats.js.errors import KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)
KEY: Final = "core"
# A lease is trusted locally for this part of its time to live after the renewal that
# was sent last (its server-side time is later than the sending).
TRUSTED_PART: Final = 0.8


class Lease:
    def __init__(self, bucket: KeyValue, node: str, ttl: float) -> None:
        self._bucket = bucket
        self.node = node
        self.ttl = ttl
        self._revision = 0
        self._valid_until = 0.0
        self.epoch = 0

    def _value(self) -> bytes:
        return json.dumps({"node": self.node, "epoch": self.epoch}).encode()

    async def acquire(self) -> bool:
        """Take the lease if no one holds it."""
        sent = time.monotonic()
        try:
            self._revision = await self._bucket.create(KEY, self._value())
        except KeyWrongLastSequenceError:
            return False
        self._valid_until = sent + self.ttl * TRUSTED_PART
        return True

    async def renew(self) -> bool:
        """Keep the lease: False once another core has taken it (or it expired and
        someone else wrote it). Transport errors propagate: the caller retries while
        `valid` holds."""
        sent = time.monotonic()
        try:
            self._revision = await self._bucket.update(KEY, self._value(), last=self._revision)
        except KeyWrongLastSequenceError:
            self._valid_until = 0.0
            return False
        self._valid_until = sent + self.ttl * TRUSTED_PART
        return True

    def valid(self) -> bool:
        """Whether this core may still act as the leader, by its own clock."""
        return time.monotonic() < self._valid_until

    async def release(self) -> None:
        """Give the lease up (a step-down): the standby need not wait for it to expire."""
        self._valid_until = 0.0
        with contextlib.suppress(KeyWrongLastSequenceError, NotFoundError):
            await self._bucket.delete(KEY, last=self._revision)

    async def holder(self) -> dict[str, object] | None:
        """Who holds the lease now (None: no one)."""
        try:
            entry = await self._bucket.get(KEY)
        except NotFoundError:  # never written, expired or deleted
            return None
        if not entry.value:
            return None
        value: dict[str, object] = json.loads(entry.value)
        return value

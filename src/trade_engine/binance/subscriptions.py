"""Who receives user data in this process: the WebSocket API's subscriptions, by the API
key that signed each one, and the streams of listen keys.

A key is checked when a subscription is made, and the subscription then lives as long
as its connection. Revoking a key must also end what the key opened, or a revoked key
would keep streaming the account's orders and balances. The composition root registers
`UserDataSubscriptions.revoked` with the API-key store, which calls it after each
revocation has been committed; every subscription signed with that key, and every
stream of a listen key it opened, is then terminated (binance/ws.py).

A listen key's stream lasts while the key is alive. The key is kept alive, closed or
left to expire through any process (storage/listen_keys.py), so the database says when
it ends. The watcher holds each streamed key's deadline as last read there and sleeps
until the earliest one: then it asks the database again, as of that deadline, and a key
kept alive meanwhile (through any process) gets its new deadline, while one that was
not expires at its deadline exactly, not at the next poll. A key closed or revoked in
another process has no deadline to wait for, so the watcher also asks at least every
`listen_key_check_seconds`. Each stream of a key that is gone is told
(`listenKeyExpired`) and stops. `keys_of` tells the user-data publisher (userdata.py)
which of a user's keys to deliver to.

Only the event loop touches this registry, so it needs no lock.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from trade_engine.storage.database import StorageUnavailable
from trade_engine.storage.listen_keys import ListenKey

log = logging.getLogger(__name__)


class Subscription(Protocol):
    def terminate(self) -> None:
        """Stop delivering events, tell the client (and close its connection, if that
        is the protocol's way)."""


class ListenKeyStream(Subscription, Protocol):
    def expire(self, listen_key: str) -> None:
        """The key is no longer alive: tell the client, deliver nothing more of it."""


class ListenKeys(Protocol):
    async def alive(self, keys: list[str], now_ns: int) -> dict[str, ListenKey]:
        """Those of `keys` that are alive at `now_ns` (storage/listen_keys.py)."""


class UserDataSubscriptions:
    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self._by_key: dict[str, dict[Subscription, None]] = {}
        self._streams: dict[str, dict[ListenKeyStream, None]] = {}  # by listen key
        self._owners: dict[str, str] = {}  # listen key -> user id
        self._by_user: dict[str, set[str]] = {}  # user id -> listen keys streamed
        self._deadlines: dict[str, int] = {}  # listen key -> when it expires (ns), as last read
        self._clock = clock
        self._changed = asyncio.Event()  # a deadline was added: the watcher sleeps anew
        self._watcher: asyncio.Task[None] | None = None

    # -- by API key --

    def add(self, key: str, subscription: Subscription) -> None:
        self._by_key.setdefault(key, {})[subscription] = None

    def discard(self, key: str, subscription: Subscription) -> None:
        subscriptions = self._by_key.get(key)
        if subscriptions is not None:
            subscriptions.pop(subscription, None)
            if not subscriptions:
                del self._by_key[key]

    def revoked(self, key: str) -> None:
        """End every subscription that `key` signed or opened."""
        for subscription in list(self._by_key.pop(key, {})):
            subscription.terminate()

    # -- by listen key --

    def listen(
        self,
        found: ListenKey,
        stream: ListenKeyStream,
        store: ListenKeys,
        check_seconds: float,
    ) -> None:
        """`stream` delivers the events of `found` (read alive by the caller)."""
        listen_key = found.key
        self._streams.setdefault(listen_key, {})[stream] = None
        self._owners[listen_key] = found.user_id
        self._by_user.setdefault(found.user_id, set()).add(listen_key)
        self._deadlines[listen_key] = found.expires_ns
        self._changed.set()
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch(store, check_seconds), name="listen-keys")

    def unlisten(self, listen_key: str, stream: ListenKeyStream) -> None:
        streams = self._streams.get(listen_key)
        if streams is None:
            return
        streams.pop(stream, None)
        if not streams:
            self._forget(listen_key)

    def keys_of(self, user_id: str) -> set[str]:
        """The user's listen keys that some stream of this process delivers."""
        return self._by_user.get(user_id) or set()

    def _forget(self, listen_key: str) -> None:
        self._streams.pop(listen_key, None)
        self._deadlines.pop(listen_key, None)
        user_id = self._owners.pop(listen_key, None)
        keys = self._by_user.get(user_id or "")
        if keys is not None and user_id is not None:
            keys.discard(listen_key)
            if not keys:
                del self._by_user[user_id]

    def expired(self, listen_key: str) -> None:
        """Tell every stream of `listen_key` that it is gone, and forget it."""
        for stream in list(self._streams.get(listen_key, {})):
            stream.expire(listen_key)
        self._forget(listen_key)

    async def close(self) -> None:
        """Stop watching listen keys (the service is stopping)."""
        watcher = self._watcher
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _watch(self, store: ListenKeys, check_seconds: float) -> None:
        try:
            while self._streams:
                deadline = min(self._deadlines.values(), default=None)
                wait = check_seconds
                if deadline is not None and (deadline - self._clock()) / 1e9 < check_seconds:
                    wait = max(0.0, (deadline - self._clock()) / 1e9)
                else:
                    deadline = None  # a periodic check, as of when it runs
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._changed.wait()
                if self._changed.is_set():
                    continue  # a new deadline: sleep until the earliest again
                if not await self._check(store, deadline):
                    await asyncio.sleep(check_seconds)  # the database is down: not at once
        finally:
            self._watcher = None

    async def _check(self, store: ListenKeys, deadline: int | None) -> bool:
        """Ask the database which keys are alive, as of now or of the deadline slept
        to (a timer may wake a little early): each gets its deadline as stored now.
        False if the database could not tell."""
        keys = list(self._streams)
        now = self._clock()
        if deadline is not None:
            now = max(now, deadline)
        try:
            alive = await store.alive(keys, now)
        except StorageUnavailable as error:
            log.warning("cannot check listen keys now", extra={"error": error.message})
            return False
        for listen_key in keys:
            found = alive.get(listen_key)
            if found is None:
                self.expired(listen_key)
            elif listen_key in self._deadlines:
                self._deadlines[listen_key] = found.expires_ns
        return True

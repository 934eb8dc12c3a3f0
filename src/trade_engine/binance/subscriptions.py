"""Who receives user data in this process: the WebSocket API's subscriptions, by the API
key that signed each one, and the streams of listen keys.

A key is checked when a subscription is made, and the subscription then lives as long
as its connection. Revoking a key must also end what the key opened, or a revoked key
would keep streaming the account's orders and balances. The composition root registers
`UserDataSubscriptions.revoked` with the API-key store, which calls it after each
revocation has been committed; every subscription signed with that key, and every
stream of a listen key it opened, is then terminated (binance/ws.py).

A listen key's stream lasts while the key is alive. The key is kept alive, closed or
left to expire through any process (storage/listen_keys.py), so while this process
streams any key, a watcher asks the database every `listen_key_check_seconds` which of
them are still alive; each stream of a key that is not is told (`listenKeyExpired`)
and stops. `keys_of` tells the user-data publisher (userdata.py) which of a user's
keys to deliver to.

Only the event loop touches this registry, so it needs no lock.
"""

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from trade_engine.storage.database import StorageUnavailable
from trade_engine.storage.listen_keys import ListenKeyStore

log = logging.getLogger(__name__)


class Subscription(Protocol):
    def terminate(self) -> None:
        """Stop delivering events, tell the client (and close its connection, if that
        is the protocol's way)."""


class ListenKeyStream(Subscription, Protocol):
    def expire(self, listen_key: str) -> None:
        """The key is no longer alive: tell the client, deliver nothing more of it."""


class UserDataSubscriptions:
    def __init__(self) -> None:
        self._by_key: dict[str, dict[Subscription, None]] = {}
        self._streams: dict[str, dict[ListenKeyStream, None]] = {}  # by listen key
        self._owners: dict[str, str] = {}  # listen key -> user id
        self._by_user: dict[str, set[str]] = {}  # user id -> listen keys streamed
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
        listen_key: str,
        user_id: str,
        stream: ListenKeyStream,
        store: ListenKeyStore,
        check_seconds: float,
    ) -> None:
        """`stream` delivers `listen_key`'s events (checked alive by the caller)."""
        self._streams.setdefault(listen_key, {})[stream] = None
        self._owners[listen_key] = user_id
        self._by_user.setdefault(user_id, set()).add(listen_key)
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

    async def _watch(self, store: ListenKeyStore, check_seconds: float) -> None:
        try:
            while self._streams:
                await asyncio.sleep(check_seconds)
                keys = list(self._streams)
                try:
                    alive = await store.alive(keys, time.time_ns())
                except StorageUnavailable as error:
                    log.warning("cannot check listen keys now", extra={"error": error.message})
                    continue
                for listen_key in keys:
                    if listen_key not in alive:
                        self.expired(listen_key)
        finally:
            self._watcher = None

"""The WebSocket API's user-data subscriptions, by the API key that signed each one.

A key is checked when a subscription is made, and the subscription then lives as long
as its connection. Revoking a key must also end what the key opened, or a revoked key
would keep streaming the account's orders and balances. The composition root registers
`UserDataSubscriptions.revoked` with the API-key store, which calls it after each
revocation has been committed; every subscription signed with that key is then
terminated (binance/ws.py: its events stop at once, the client is told with
`eventStreamTerminated` and the connection is closed).

Only the event loop touches this registry, so it needs no lock.
"""

from typing import Protocol


class Subscription(Protocol):
    def terminate(self) -> None:
        """Stop delivering events, tell the client, close its connection."""


class UserDataSubscriptions:
    def __init__(self) -> None:
        self._by_key: dict[str, dict[Subscription, None]] = {}

    def add(self, key: str, subscription: Subscription) -> None:
        self._by_key.setdefault(key, {})[subscription] = None

    def discard(self, key: str, subscription: Subscription) -> None:
        subscriptions = self._by_key.get(key)
        if subscriptions is not None:
            subscriptions.pop(subscription, None)
            if not subscriptions:
                del self._by_key[key]

    def revoked(self, key: str) -> None:
        """End every subscription that `key` signed."""
        for subscription in list(self._by_key.pop(key, {})):
            subscription.terminate()

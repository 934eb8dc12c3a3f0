"""API keys: created and revoked by an admin, secrets encrypted at rest.

HMAC-signed requests (the Binance-compatible API) need the secret itself to verify a
signature, so it cannot be stored as a hash. It is encrypted with AES-256-GCM under a
key derived from `auth.api_key_encryption_key`, with the key id as associated data (a
ciphertext copied to another key's row does not decrypt). The secret is shown once, at
creation. Lookups are cached in memory; revoking through this process drops the entry
and tells the revocation listeners (the Binance WebSocket API ends the user-data
subscriptions the key signed), so a revoked key stops working at once, including for
what it opened before. In a cluster, the other gateways are told (`revoked_elsewhere`).
"""

import hashlib
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Row, Select, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.storage import schema
from trade_engine.storage.database import connected

PERMISSIONS: Final = ("read", "trade")
_NONCE: Final = 12
_NEW_USER: Final = text("INSERT INTO users (id, created_ts) VALUES (:id, :created_ts) ON CONFLICT DO NOTHING")


@dataclass(frozen=True)
class ApiKey:
    key: str
    user_id: str
    permissions: tuple[str, ...]
    label: str
    created_ts: int
    revoked_ts: int | None


@dataclass(frozen=True)
class ActiveKey:
    user_id: str
    permissions: frozenset[str]
    secret: bytes


class ApiKeyStore:
    def __init__(self, database: AsyncEngine, encryption_key: str) -> None:
        self._database = database
        self._aead = AESGCM(hashlib.sha256(encryption_key.encode()).digest())
        self._cache: dict[str, ActiveKey | None] = {}
        # Bumped by every revocation: a lookup that overlapped one may have read the key
        # as it was before, so its answer is not cached (it would outlive the revocation).
        self._revocations = 0
        self._on_revoke: list[Callable[[str], None]] = []
        self._announce: list[Callable[[str], None]] = []

    def on_revoke(self, listener: Callable[[str], None]) -> None:
        """Call `listener(key)` after each revocation has been committed."""
        self._on_revoke.append(listener)

    def announce_revocations(self, announce: Callable[[str], None]) -> None:
        """Call `announce(key)` after each revocation made through this store (a cluster
        tells its other gateways, which call `revoked_elsewhere`)."""
        self._announce.append(announce)

    def revoked_elsewhere(self, key: str) -> None:
        """Another process revoked `key`: forget it and tell the listeners."""
        self._revocations += 1
        self._cache.pop(key, None)
        for listener in self._on_revoke:
            listener(key)

    def forget_all(self) -> None:
        """Drop every cached key (revocations may have been missed meanwhile)."""
        self._revocations += 1
        self._cache.clear()

    def _seal(self, key: str, secret: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, secret.encode(), key.encode())

    def _open(self, key: str, sealed: bytes) -> bytes:
        return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], key.encode())

    async def create(
        self, user_id: str, permissions: list[str], label: str, now_ns: int
    ) -> tuple[ApiKey, str]:
        """A new key and its secret (the only time the secret leaves the store)."""
        unknown = set(permissions) - set(PERMISSIONS)
        if unknown or not permissions:
            raise ValueError(f"permissions must be among {PERMISSIONS}")
        key = secrets.token_hex(32)
        secret = secrets.token_hex(32)
        granted = tuple(sorted(set(permissions)))
        async with connected(self._database, write=True) as connection:
            # The tables' writer adds users too (a first deposit): a look-then-insert
            # raced it and failed on the key (500). One statement, on either database.
            await connection.execute(_NEW_USER, {"id": user_id, "created_ts": now_ns})
            await connection.execute(
                insert(schema.api_keys).values(
                    id=key,
                    user_id=user_id,
                    label=label,
                    permissions=",".join(granted),
                    secret_ciphertext=self._seal(key, secret),
                    created_ts=now_ns,
                )
            )
        self._cache.pop(key, None)
        return ApiKey(key, user_id, granted, label, now_ns, None), secret

    async def revoke(self, key: str, now_ns: int) -> ApiKey | None:
        """Revoke `key` (again: no change), and tell the listeners once it is committed.
        The key is read back in the same transaction: a read after it could fail with
        the revocation committed and the listeners (the other gateways) never told."""
        keys = schema.api_keys
        self._revocations += 1
        async with connected(self._database, write=True) as connection:
            await connection.execute(
                update(keys).where(keys.c.id == key, keys.c.revoked_ts.is_(None)).values(revoked_ts=now_ns)
            )
            found = _api_keys((await connection.execute(_listing(key=key))).all())
        self._cache.pop(key, None)
        if found:
            for listener in (*self._on_revoke, *self._announce):
                listener(key)
        return found[0] if found else None

    async def list(self, *, user_id: str | None = None, key: str | None = None) -> list[ApiKey]:
        async with connected(self._database) as connection:
            return _api_keys((await connection.execute(_listing(user_id=user_id, key=key))).all())

    async def active(self, key: str) -> ActiveKey | None:
        """The user, permissions and secret of a key that is not revoked."""
        if key in self._cache:
            return self._cache[key]
        keys = schema.api_keys
        query = select(keys.c.user_id, keys.c.permissions, keys.c.secret_ciphertext).where(
            keys.c.id == key, keys.c.revoked_ts.is_(None)
        )
        revocations = self._revocations
        async with connected(self._database) as connection:
            row = (await connection.execute(query)).first()
        found = None
        if row is not None:
            user_id, permissions, sealed = row
            found = ActiveKey(user_id, frozenset(permissions.split(",")), self._open(key, bytes(sealed)))
        if revocations != self._revocations:
            return found
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[key] = found
        return found


def _listing(*, user_id: str | None = None, key: str | None = None) -> Select[Any]:
    """The keys (of a user, or one), oldest first, without their secrets."""
    keys = schema.api_keys
    query = select(
        keys.c.id, keys.c.user_id, keys.c.permissions, keys.c.label, keys.c.created_ts, keys.c.revoked_ts
    ).order_by(keys.c.created_ts)
    if user_id is not None:
        query = query.where(keys.c.user_id == user_id)
    if key is not None:
        query = query.where(keys.c.id == key)
    return query


def _api_keys(rows: Sequence[Row[Any]]) -> list[ApiKey]:
    return [
        ApiKey(k, user, tuple(p.split(",")) if p else (), label, created, revoked)
        for k, user, p, label, created, revoked in (tuple(row) for row in rows)
    ]

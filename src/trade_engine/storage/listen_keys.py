"""Listen keys of Binance's user-data stream, as rows of `listen_keys`.

A key is opened by an API key for its user and lives `validity_ns` from its last
keep-alive. Opening again while the user has a live key returns that key, kept alive,
as Binance does. A key is alive while it has not expired, has not been closed, and the
API key that opened it has not been revoked; every process asks the database, so a
keep-alive or a close through one gateway counts in all of them. Expired rows of a user
are deleted when the user opens a key again.
"""

import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.storage import schema
from trade_engine.storage.database import connected

_ALPHABET: Final = string.ascii_letters + string.digits
KEY_LENGTH: Final = 60  # Binance's length
_FORM: Final = re.compile(f"[{_ALPHABET}]{{{KEY_LENGTH}}}")


@dataclass(frozen=True)
class ListenKey:
    key: str
    user_id: str
    api_key: str
    expires_ns: int


def is_listen_key(text: str) -> bool:
    """Whether `text` has a listen key's form: anything else names no key, and is not
    sent to the database (PostgreSQL refuses text with a NUL character, for one)."""
    return _FORM.fullmatch(text) is not None


def _new_key() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(KEY_LENGTH))


class ListenKeyStore:
    def __init__(self, database: AsyncEngine, validity_ns: int) -> None:
        self._database = database
        self._validity = validity_ns
        self._on_close: list[Callable[[str], None]] = []

    def on_close(self, listener: Callable[[str], None]) -> None:
        """Call `listener(key)` after each close through this store has been committed
        (this process's streams of the key end at once; other processes' at their next
        check of the keys they stream)."""
        self._on_close.append(listener)

    async def open(self, user_id: str, api_key: str, now_ns: int) -> str:
        """The user's live listen key, kept alive, or a new one."""
        table = schema.listen_keys
        expires = now_ns + self._validity
        async with connected(self._database, write=True) as connection:
            live = (
                await connection.execute(
                    select(table.c.id)
                    .where(table.c.user_id == user_id, table.c.expires_ts > now_ns)
                    .order_by(table.c.created_ts.desc())
                    .limit(1)
                )
            ).first()
            if live is not None:
                key = str(live[0])
                await connection.execute(update(table).where(table.c.id == key).values(expires_ts=expires))
                return key
            await connection.execute(
                delete(table).where(table.c.user_id == user_id, table.c.expires_ts <= now_ns)
            )
            key = _new_key()
            await connection.execute(
                insert(table).values(
                    id=key, user_id=user_id, api_key=api_key, created_ts=now_ns, expires_ts=expires
                )
            )
        return key

    async def keep_alive(self, key: str, user_id: str, now_ns: int) -> bool:
        """Another `validity_ns` for the user's live key; False if it has none such."""
        if not is_listen_key(key):
            return False
        table = schema.listen_keys
        async with connected(self._database, write=True) as connection:
            result = await connection.execute(
                update(table)
                .where(table.c.id == key, table.c.user_id == user_id, table.c.expires_ts > now_ns)
                .values(expires_ts=now_ns + self._validity)
            )
        return bool(result.rowcount)

    async def close(self, key: str, user_id: str) -> bool:
        """Delete the user's key; False if the user has no such key."""
        if not is_listen_key(key):
            return False
        table = schema.listen_keys
        async with connected(self._database, write=True) as connection:
            result = await connection.execute(
                delete(table).where(table.c.id == key, table.c.user_id == user_id)
            )
        if not result.rowcount:
            return False
        for listener in self._on_close:
            listener(key)
        return True

    async def alive(self, keys: list[str], now_ns: int) -> dict[str, ListenKey]:
        """Those of `keys` that are alive now."""
        keys = [key for key in keys if is_listen_key(key)]
        if not keys:
            return {}
        table, api_keys = schema.listen_keys, schema.api_keys
        query = (
            select(table.c.id, table.c.user_id, table.c.api_key, table.c.expires_ts)
            .join(api_keys, api_keys.c.id == table.c.api_key)
            .where(table.c.id.in_(keys), table.c.expires_ts > now_ns, api_keys.c.revoked_ts.is_(None))
        )
        async with connected(self._database) as connection:
            rows = (await connection.execute(query)).all()
        found = (ListenKey(str(k), str(user), str(api), int(expires)) for k, user, api, expires in rows)
        return {listen_key.key: listen_key for listen_key in found}

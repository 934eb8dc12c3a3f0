"""Reads of committed state, for the APIs and the sequencer's idempotency checks."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.storage import schema
from trade_engine.storage.projection import TRANSFER_SCOPE


async def transfer_for_reference(database: AsyncEngine, reference: str) -> int | None:
    """The transfer an idempotency key already produced, if any."""
    keys = schema.idempotency_keys
    query = select(keys.c.ref_id).where(keys.c.scope == TRANSFER_SCOPE, keys.c.key == reference)
    async with database.connect() as connection:
        found = (await connection.execute(query)).scalar()
    return None if found is None else int(found)

"""The operators' records: the audit log (written and read) and the transfer history.

Nothing here touches trading state: the audit log is written outside the sequencer (it
records requests, not engine events) and transfers are only read.
"""

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.storage import schema
from trade_engine.storage.database import connected
from trade_engine.storage.projection import TRANSFER_SCOPE
from trade_engine.storage.reads import Page, Reads


@dataclass(frozen=True)
class AuditEntry:
    ts: int  # Unix nanoseconds
    actor: str
    action: str
    target: str | None
    summary: str  # JSON text
    status: int
    request_id: str | None


async def record_audit(database: AsyncEngine, entry: AuditEntry) -> None:
    statement = insert(schema.audit_log).values(
        ts=entry.ts,
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        summary=entry.summary,
        status=entry.status,
        request_id=entry.request_id,
    )
    async with database.begin() as connection:  # its failures are the audit trail's (api/audit.py)
        await connection.execute(statement)


class OperatorHistory(Reads):
    """The operators' reads: the audit log and the transfer history."""

    async def audit_rows(self, *, limit: int, offset: int) -> Page:
        """A page of the audit log, newest first, and how many entries there are."""
        log = schema.audit_log
        page = select(log).order_by(log.c.id.desc()).limit(limit).offset(offset)
        async with connected(self._database) as connection:
            rows = [dict(row) for row in (await connection.execute(page)).mappings()]
            total = (await connection.execute(select(func.count()).select_from(log))).scalar() or 0
        return rows, int(total)

    async def transfer_rows(
        self,
        *,
        user_id: str | None,
        asset: str | None,
        kind: str | None,
        limit: int,
        offset: int,
    ) -> Page:
        """A page of deposits and withdrawals, newest first, each with its `reference` (None
        when it was made without one), and how many match in all."""
        transfers, keys = schema.transfers, schema.idempotency_keys
        conditions: list[ColumnElement[bool]] = []
        if user_id is not None:
            conditions.append(transfers.c.user_id == user_id)
        if asset is not None:
            conditions.append(transfers.c.asset == asset)
        if kind is not None:
            conditions.append(transfers.c.kind == kind)
        newest = select(transfers).where(*conditions).order_by(transfers.c.id.desc())
        page = newest.limit(limit).offset(offset)
        count = select(func.count()).select_from(transfers).where(*conditions)
        async with connected(self._database) as connection:
            rows = [dict(row) for row in (await connection.execute(page)).mappings()]
            total = (await connection.execute(count)).scalar() or 0
            ids = [row["id"] for row in rows]
            references: dict[int, str] = {}
            if ids:
                query = select(keys.c.ref_id, keys.c.key).where(
                    keys.c.scope == TRANSFER_SCOPE, keys.c.ref_id.in_(ids)
                )
                references = {int(ref_id): key for ref_id, key in await connection.execute(query)}
        for row in rows:
            row["reference"] = references.get(row["id"])
        return rows, int(total)

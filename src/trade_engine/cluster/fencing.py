"""Fencing: only the core holding the current epoch commits anything.

The epoch lives in the database the core writes (`cluster_fence`, migration 0009): a
lease alone cannot stop a core that was paused and wakes up believing it still leads
(a stopped process, a long GC pause), so the store itself refuses it. A core that takes
over increments the epoch (`take_epoch`), which waits for any statement of its
predecessor still running; from then on:

- every journal append (what acknowledges a batch) checks the epoch and records the
  command stream's position of the batch's last command, in the same statement, and
  its journal row carries the epoch (migration 0012);
- every write of the tables behind the journal checks it too, so a stale core cannot
  write old absolute values over newer ones.

A stale statement fails with SQLSTATE TE409 (`te_fence`); the writer then calls
`on_fenced`, which ends the process before it publishes or answers anything.

`FencedWriter` is the PostgreSQL batch writer with those checks: the same durability
port (sequencer/ports.py `Writer`), one more adapter of it (docs/adr/0001).
"""

import asyncio
import time
from collections.abc import Callable
from typing import Final

import asyncpg

from trade_engine.cluster import failpoints
from trade_engine.sequencer.messages import JournalEntry
from trade_engine.sequencer.ports import CommitFailed
from trade_engine.storage.postgres_writer import PostgresBatchWriter
from trade_engine.storage.writes import PreparedBatch

FENCED_SQLSTATE: Final = "TE409"
_APPEND: Final = (
    "WITH fence AS (UPDATE cluster_fence SET position = GREATEST(position, $5), updated_ts = $3"
    " WHERE name = 'journal' AND te_fence(epoch, $6) RETURNING 1)"
    " INSERT INTO journal (last_seq, first_seq, ts, commands, epoch) VALUES ($1, $2, $3, $4, $6)"
    " ON CONFLICT DO NOTHING"
)
_TAKE: Final = (
    "UPDATE cluster_fence SET epoch = epoch + 1, leader = $1, updated_ts = $2 RETURNING name, epoch, position"
)
_READ: Final = "SELECT epoch, position FROM cluster_fence WHERE name = 'journal'"


class Fenced(Exception):
    """This core's epoch is stale: another core has taken over."""


def _fenced_statement(statement: str, parameter: int) -> str:
    """The projection statement (`WITH ... SELECT 1`) checking the `tables` epoch: a
    row lock that a takeover waits for, or an error once it has happened."""
    assert statement.startswith("WITH ")
    assert statement.endswith(" SELECT 1")
    fence = (
        f"fence AS (SELECT 1 FROM cluster_fence WHERE name = 'tables'"
        f" AND te_fence(epoch, ${parameter}::text::bigint) FOR SHARE)"
    )
    return (
        "WITH " + fence + ", " + statement[len("WITH ") : -len(" SELECT 1")] + " SELECT count(*) FROM fence"
    )


class FencedWriter(PostgresBatchWriter):
    def __init__(
        self,
        dsn: str,
        epoch: int,
        *,
        on_fenced: Callable[[str], None],
        lease_valid: Callable[[], bool],
        on_appended: Callable[[JournalEntry], None],
    ) -> None:
        super().__init__(dsn)
        self.epoch = epoch
        self._on_fenced = on_fenced
        self._lease_valid = lease_valid
        self._on_appended = on_appended
        self.position = 0  # the command stream position of the last journaled batch
        self._fenced_sql: dict[str, str] = {}  # statement -> with the epoch check
        self.published_seq = 0  # how far the journal entries are on the journal stream
        self._published = asyncio.Event()

    def published(self, seq: int) -> None:
        """Journal entries up to `seq` are on the journal stream (the standby can get
        them from there once their journal rows are gone)."""
        if seq > self.published_seq:
            self.published_seq = seq
            self._published.set()

    def _check_lease(self) -> None:
        """Commit nothing once the lease may have passed to another core (the epoch
        would refuse it too, if that core has taken over already)."""
        if not self._lease_valid():
            raise CommitFailed("the lease was not renewed in time", maybe_committed=False, transient=False)

    def _fenced(self, failure: CommitFailed) -> bool:
        cause = failure.__cause__
        return isinstance(cause, asyncpg.PostgresError) and cause.sqlstate == FENCED_SQLSTATE

    async def append(self, entry: JournalEntry) -> None:
        self._check_lease()
        try:
            await self._journal.run(
                _APPEND, entry.last_seq, entry.first_seq, entry.ts, entry.commands, entry.position, self.epoch
            )
        except CommitFailed as failure:
            if self._fenced(failure):
                self._on_fenced(str(failure))
            raise
        self.position = max(self.position, entry.position)
        self._on_appended(entry)
        failpoints.hit("after-commit")

    def _sql(self, statement: str, parameters: int) -> str:
        fenced = self._fenced_sql.get(statement)
        if fenced is None:
            fenced = self._fenced_sql[statement] = _fenced_statement(statement, parameters)
        return fenced

    def _before_statement(self) -> None:
        self._check_lease()

    async def write(self, batch: PreparedBatch) -> None:
        # The batch's journal row goes with this write: the standby must be able to
        # find the entry on the journal stream instead.
        while self.published_seq < batch.last_seq:
            self._published.clear()
            await self._published.wait()
        # Encoded first, so that the lease is checked right before the statement goes
        # (`_before_statement`); the epoch is the statement's last parameter (`_sql`).
        parameters = self.encode(batch)
        try:
            await self._write(batch, parameters, (str(self.epoch),))
        except CommitFailed as failure:
            if self._fenced(failure):
                self._on_fenced(str(failure))
            raise


async def take_epoch(dsn: str, node: str) -> tuple[int, int]:
    """Become the epoch's holder: (the new epoch, the command stream position of the
    last journaled batch). Waits for any statement of a predecessor still running."""
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        rows = await connection.fetch(_TAKE, node, time.time_ns())
    finally:
        await connection.close()
    by_name = {row["name"]: (int(row["epoch"]), int(row["position"])) for row in rows}
    epochs = {epoch for epoch, _ in by_name.values()}
    if len(epochs) != 1 or "journal" not in by_name:
        raise Fenced(f"the fence rows disagree: {by_name}")
    return by_name["journal"]


async def read_fence(dsn: str) -> tuple[int, int]:
    """(epoch, position) as the store has them now."""
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        row = await connection.fetchrow(_READ)
    finally:
        await connection.close()
    return (int(row["epoch"]), int(row["position"])) if row is not None else (0, 0)

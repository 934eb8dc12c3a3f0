"""The SQLite batch writer: the stdlib `sqlite3` on one worker thread, a dedicated
connection, checkpoints on a thread of their own (away from the commit path).

Journal appends commit with `synchronous=FULL` (the write-ahead log is synced: the
acknowledgement is durable). Projections commit with `synchronous=OFF`: they are
rebuilt from the journal if lost, and the next journal commit syncs the log they are in.
Both run on the one thread in the order they were asked, so a projection never delays
an append by more than its own (bounded) size.
"""

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from typing import Final

from trade_engine.sequencer.messages import JournalEntry
from trade_engine.sequencer.ports import AppendTiming, CommitFailed
from trade_engine.storage.database import SQLITE_PRAGMAS
from trade_engine.storage.merge import merge_rows
from trade_engine.storage.projection import BatchRows, Row
from trade_engine.storage.writes import (
    COMMITTED_SEQ,
    JOURNAL_PROJECTED,
    WRITES,
    PreparedBatch,
    TableWrite,
    largest_chunk,
    sqlite_append_statement,
    sqlite_statement,
)

log = logging.getLogger(__name__)


_SQLITE_NEEDED: Final = (3, 33, 0)
# Failures that may pass: another connection holds a lock, the disk is full (SQLITE_FULL:
# the transaction was rolled back, nothing is corrupted), the file cannot be reached.
_SQLITE_TRANSIENT: Final = ("locked", "busy", "disk i/o", "unable to open", "full")
# An I/O error may strike during COMMIT itself, after the log was written: look it up.
_SQLITE_MAYBE_COMMITTED: Final = ("disk i/o",)


def _sqlite_connect(path: str, *pragmas: str) -> sqlite3.Connection:
    """A connection set up as every other (`SQLITE_PRAGMAS`), plus `pragmas`."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in (*SQLITE_PRAGMAS, *(f"PRAGMA {pragma}" for pragma in pragmas)):
        connection.execute(pragma)
    return connection


class _Checkpointer:
    """Copies the write-ahead log into the database file away from the commit path.

    SQLite's automatic checkpoint runs inside the commit that crosses its threshold and
    made every such commit wait for the database file's writes and fsync (about half
    of all commit time, measured). Here a thread of its own runs a PASSIVE checkpoint,
    which never blocks the writer, at most every `interval` seconds after commits.

    A passive checkpoint copies only the frames present when it starts; the log
    rewinds only once every frame is copied, which continuous commits can postpone
    forever. So when the log passes `rewind_frames` the writer checkpoints once itself,
    between two batches: by then nearly every frame is copied, so that is short, and
    the log rewinds at the next commit instead of growing without bound. Should the
    thread fail to start, the writer falls back to SQLite's automatic checkpoints.
    """

    def __init__(self, path: str, *, interval: float = 0.25, rewind_frames: int = 20_000) -> None:
        self._path = path
        self._interval = interval
        self._rewind_frames = rewind_frames
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self.log_frames = 0
        self.failed = False
        self._thread = threading.Thread(target=self._loop, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def committed(self, connection: sqlite3.Connection) -> None:
        """Called by the writer after each commit, on its own connection. The batch is
        committed whatever happens here, so a failed checkpoint is logged, not raised."""
        try:
            if self.failed:
                # No checkpoint thread: back to SQLite's own checkpoints in commits.
                connection.execute("PRAGMA wal_autocheckpoint=1000")
            elif self.log_frames > self._rewind_frames:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.log_frames = 0
        except sqlite3.Error as error:
            log.warning("checkpoint failed", extra={"error": str(error)})
        self._wake.set()

    def _loop(self) -> None:
        try:
            connection = _sqlite_connect(self._path)
        except sqlite3.Error as error:
            # Without this thread SQLite's own checkpoints take over (`committed`).
            log.error("checkpoint thread cannot open the database", extra={"error": str(error)})
            self.failed = True
            return
        try:
            while True:
                self._wake.wait()
                if self._stopping.is_set():
                    return
                self._wake.clear()
                try:
                    row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.log_frames = row[1] if row is not None else 0
                except sqlite3.Error as error:  # the next commit asks again
                    log.warning("checkpoint failed", extra={"error": str(error)})
                self._stopping.wait(self._interval)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join()


class SqliteBatchWriter:
    """Writes batches through one sqlite3 connection owned by one worker thread."""

    def __init__(self, path: str) -> None:
        if sqlite3.sqlite_version_info < _SQLITE_NEEDED:
            needed = ".".join(map(str, _SQLITE_NEEDED))
            raise RuntimeError(
                f"SQLite {sqlite3.sqlite_version} is too old: the writer needs {needed} or later "
                "(UPDATE ... FROM, up to 8,192 parameters per statement)"
            )
        self._path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._statements: dict[tuple[str, int], str] = {}
        self._connection: sqlite3.Connection | None = None
        self._checkpointer: _Checkpointer | None = None
        self._synced = True  # the connection's `synchronous` setting: FULL (True) or OFF
        # Set on the writer's thread, read on the loop once the append is awaited.
        self.last_append = AppendTiming()
        self._append_sql = sqlite_append_statement()

    def _connect(self) -> sqlite3.Connection:
        connection = _sqlite_connect(
            self._path,
            # 256 MiB of page cache: the indexes keyed by user take inserts at scattered
            # pages, and the default 2 MiB made inserts twice as slow as the file grew.
            "cache_size=-262144",
            # Checkpoints run in `_Checkpointer`, not inside commits.
            "wal_autocheckpoint=0",
        )
        if self._checkpointer is None:
            self._checkpointer = _Checkpointer(self._path)
        self._synced = True  # SQLITE_PRAGMAS set FULL
        return connection

    def _append(self, entry: JournalEntry) -> None:
        values = (entry.last_seq, entry.first_seq, entry.ts, entry.commands)
        self.last_append = self._transaction(
            lambda connection: connection.execute(self._append_sql, values), synced=True
        )

    def _write(self, rows: BatchRows) -> None:
        def write(connection: sqlite3.Connection) -> None:
            for table in WRITES:
                batch = getattr(rows, table.attribute)
                if batch:
                    self._write_rows(connection, table, batch)
            (state,) = rows.state
            connection.execute(JOURNAL_PROJECTED.format("?1"), (state[1],))

        self._transaction(write, synced=False)

    def _transaction(self, work: Callable[[sqlite3.Connection], object], *, synced: bool) -> AppendTiming:
        """Run `work` in one transaction; how long it took, and its COMMIT of that."""
        try:
            # Opened here, inside the error translation: a file that cannot be opened
            # (yet) is a transient `CommitFailed` like any other, not an error of its own.
            if self._connection is None:
                self._connection = self._connect()
            connection = self._connection
            if synced != self._synced:
                connection.execute("PRAGMA synchronous=" + ("FULL" if synced else "OFF"))
                self._synced = synced
            began = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            try:
                work(connection)
                committing = time.perf_counter()
                connection.execute("COMMIT")
                ended = time.perf_counter()
            except BaseException:
                # SQLite rolls some failures back itself (SQLITE_FULL, for one): a
                # ROLLBACK then would fail and hide the error that matters.
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            text = str(error).lower()
            raise CommitFailed(
                str(error),
                maybe_committed=any(word in text for word in _SQLITE_MAYBE_COMMITTED),
                transient=isinstance(error, sqlite3.OperationalError)
                and any(word in text for word in _SQLITE_TRANSIENT),
            ) from error
        assert self._checkpointer is not None
        self._checkpointer.committed(connection)
        return AppendTiming(ended - began, ended - committing)

    def _write_rows(self, connection: sqlite3.Connection, write: TableWrite, rows: list[Row]) -> None:
        """A few multi-row statements instead of one per row.

        Each statement executed gives the GIL up and takes it back; one per row made the
        writer thread queue for the GIL behind the event loop, which applies the next
        batch meanwhile, thousands of times per batch. Chunks have power-of-two sizes,
        so a handful of prepared statements per table serve every batch size.
        """
        most = largest_chunk(len(write.columns))
        start, count = 0, len(rows)
        while start < count:
            left = count - start
            size = most if left >= most else 1 << (left.bit_length() - 1)
            sql = self._statements.get((write.attribute, size))
            if sql is None:
                sql = self._statements[(write.attribute, size)] = sqlite_statement(write, size)
            connection.execute(sql, list(chain.from_iterable(rows[start : start + size])))
            start += size

    # This process's thread binds a write's rows, under the interpreter's lock: readying
    # the next write meanwhile only delays the sequencer (sequencer/ports.py).
    ready_ahead = False

    def prepare(self, rows: BatchRows) -> PreparedBatch:
        # The worker thread binds the rows itself, overlapping the event loop already.
        return PreparedBatch(rows)

    def merge(self, batches: Sequence[PreparedBatch]) -> PreparedBatch:
        return self.prepare(merge_rows([batch.rows for batch in batches]))

    async def append(self, entry: JournalEntry) -> None:
        self.last_append = AppendTiming()  # none measured, unless this append succeeds
        await asyncio.get_running_loop().run_in_executor(self._thread, self._append, entry)

    async def write(self, batch: PreparedBatch) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._write, batch.rows)

    def _committed_seq(self) -> int:
        """On the writer's own thread, so no write of it runs meanwhile."""
        if self._connection is not None:
            # A connection that failed mid-write may be broken: start afresh.
            self._connection.close()
            self._connection = None
        try:
            self._connection = self._connect()
            row = self._connection.execute(COMMITTED_SEQ).fetchone()
        except sqlite3.Error as error:
            raise CommitFailed(
                f"cannot read the committed position: {error}", maybe_committed=True
            ) from error
        return int(row[0]) if row is not None else 0

    async def committed_seq(self) -> int:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._committed_seq)

    async def close(self) -> None:
        def close() -> None:
            if self._checkpointer is not None:
                self._checkpointer.stop()
                self._checkpointer = None
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        await asyncio.get_running_loop().run_in_executor(self._thread, close)
        self._thread.shutdown(wait=True)

"""Writing the rows the tables lack after a restart, while recovery goes on.

After a crash the tables trail the journal (docs/adr/0001): the replay makes the rows of
each batch they lack. Those rows are written by a writer of their own, on a loop and a
thread of their own (storage/own_loop.py), from the first such batch on, while the replay
makes the next and the reader starts: the database writes while this process computes.
They begin only once the engine has reached the tables' position, when the store's
totals have been fixed as of it (core/bootstrap.py). The batches the replay makes while
a write runs go together in the next (`write_together`, the tables writer's limits): one
transaction each cost a statement and a commit each, and the replay makes batches
faster than the tables take them. On PostgreSQL the writer copies the new orders, trades
and ledger entries (`writer_for(bulk=True)`: storage/postgres_writer.py).

(Measured before, when these writes began once the replay had ended: on PostgreSQL, a
1M-order store killed 40,000 commands ahead of its tables, they began 0.36 s after the
replay and the service then waited 0.34 s more for them, after building its read model.)
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from typing import Final

from trade_engine.sequencer.tables import write_together
from trade_engine.storage.own_loop import OwnLoop
from trade_engine.storage.writer import writer_for
from trade_engine.storage.writes import PreparedBatch

_STARTING_POLL_SECONDS: Final = 0.05
log = logging.getLogger(__name__)


class CatchUp:
    """The batches handed over (`add`), written in order, those waiting together, as
    the sequencer's tables writer writes them (each write also deletes its journal
    rows). `end` says no more will come; the work, awaited, ends once all are written
    (or raises why not)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[PreparedBatch | None] | None = None
        self._opened = threading.Event()
        self.work: OwnLoop[None] | None = None  # started with the first batch
        self.batches = 0  # batches written so far...
        self.writes = 0  # ...in so many transactions

    def add(self, batch: PreparedBatch) -> None:
        if self.work is None:
            work = self.work = OwnLoop(self._write_all, "tables-catch-up")
            # Its loop is up at once (nothing before it does I/O), unless the thread
            # failed to start one: then the work holds why, and nothing is handed over.
            while not self._opened.wait(_STARTING_POLL_SECONDS):
                if work.ended.is_set():
                    break
        self._hand_over(batch)

    def end(self) -> None:
        """No batch follows."""
        if self.work is not None:
            self._hand_over(None)

    async def stop(self) -> None:
        """Cancel the writes (recovery failed) and return once they have ended."""
        if self.work is not None:
            await self.work.stop()

    def _hand_over(self, batch: PreparedBatch | None) -> None:
        loop, queue = self._loop, self._queue
        if loop is None or queue is None:
            return  # no loop was started: awaiting the work raises why
        # A closed loop: the writes ended early, failed; awaiting the work raises why.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, batch)

    async def _write_all(self) -> None:
        # Opened first, before anything that could fail: `add` waits for it.
        queue: asyncio.Queue[PreparedBatch | None] = asyncio.Queue()
        self._loop, self._queue = asyncio.get_running_loop(), queue
        self._opened.set()
        began = time.perf_counter()
        writer = writer_for(self._url, bulk=True)
        waiting: deque[PreparedBatch] = deque()
        ended = False
        try:
            while waiting or not ended:
                if not waiting:  # nothing to write: wait for a batch, or the end
                    ended = not self._take(await queue.get(), waiting)
                while not ended and not queue.empty():  # those made meanwhile: in this write
                    ended = not self._take(queue.get_nowait(), waiting)
                if waiting:
                    self.batches += await write_together(writer, waiting)
                    self.writes += 1
            seconds = round(time.perf_counter() - began, 3)
            log.info(
                "tables caught up", extra={"batches": self.batches, "writes": self.writes, "seconds": seconds}
            )
        finally:
            await writer.close()

    @staticmethod
    def _take(batch: PreparedBatch | None, waiting: deque[PreparedBatch]) -> bool:
        """Queue `batch` to be written; False if it is the end (None)."""
        if batch is None:
            return False
        waiting.append(batch)
        return True

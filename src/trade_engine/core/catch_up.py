"""Writing the rows the tables lack after a restart, while recovery goes on.

After a crash the tables trail the journal (docs/adr/0001): the replay makes the rows of
each batch they lack. Those rows are written by a writer of their own, on a loop and a
thread of their own (storage/own_loop.py), from the first such batch on, while the replay
makes the next and the reader starts: the database writes while this process computes.
They begin only once the engine has reached the tables' position, when the store's
totals have been fixed as of it (core/bootstrap.py).

(Measured before, when these writes began once the replay had ended: on PostgreSQL, a
1M-order store killed 40,000 commands ahead of its tables, they began 0.36 s after the
replay and the service then waited 0.34 s more for them, after building its read model.)
"""

import asyncio
import contextlib
import threading
from typing import Final

from trade_engine.storage.own_loop import OwnLoop
from trade_engine.storage.writer import writer_for
from trade_engine.storage.writes import PreparedBatch

_STARTING_POLL_SECONDS: Final = 0.05


class CatchUp:
    """The batches handed over (`add`), written in order in one transaction each, as
    the sequencer writes them (each write also deletes its journal rows). `end` says no
    more will come; the work, awaited, ends once all are written (or raises why not)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[PreparedBatch | None] | None = None
        self._opened = threading.Event()
        self.work: OwnLoop[None] | None = None  # started with the first batch

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
        self._loop, self._queue = asyncio.get_running_loop(), asyncio.Queue()
        self._opened.set()
        writer = writer_for(self._url)
        try:
            while (batch := await self._queue.get()) is not None:
                await writer.write(batch)
        finally:
            await writer.close()

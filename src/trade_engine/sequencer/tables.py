"""The tables, written behind the journal.

A batch is durable, acknowledged and published once its journal entry commits. Its rows
(orders, trades, balances, ledger, transfers) are written afterwards, in order, by this
task: reads of history wait until the tables have reached what they need (`reached`),
and the sequencer takes no new batch while the tables trail the journal by more than
`max_lag` commands, so they never fall behind without bound.

Batches are written together, in one transaction (`Writer.merge`), every `interval`
seconds, or at once when someone waits for them (a read of history, the lag limit, a
stop) or many rows wait: one transaction per batch costs a statement and a commit each
and, on SQLite, holds the one write lock that the next journal append needs, so
writing batch by batch behind a fast journal only slows the acknowledgements down.

A failed write is retried until it succeeds: the rows of a batch are absolute values,
so writing one again changes nothing, and while the store is down the journal cannot be
appended to either, so the lag cannot grow. A write the store refuses outright (a bug,
not a fault) stops the sequencer: recovery replays the journal from where the tables are.
"""

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from trade_engine.sequencer.ports import CommitFailed, Prepared, Writer

log = logging.getLogger(__name__)

_RETRY_INITIAL: Final = 0.01
_RETRY_MAX: Final = 1.0
# Most batches and rows written in one transaction when catching up.
_MOST_BATCHES: Final = 256
_MOST_ROWS: Final = 50_000


class TableWriter:
    def __init__(
        self,
        writer: Writer,
        projected_seq: int,
        *,
        max_lag: int,
        on_failure: Callable[[BaseException], None],
        interval: float = 0.05,
    ) -> None:
        """`projected_seq`: how far the tables are at start (recovery brings them level
        with the journal)."""
        self._writer = writer
        self.projected_seq = projected_seq
        self._max_lag = max_lag
        self._on_failure = on_failure
        self._pending: deque[Prepared] = deque()
        self._wake = asyncio.Event()  # a batch was added
        self._urgent = asyncio.Event()  # someone waits for the tables: write now
        self._interval = interval
        # Held while a table write runs. `paused()` hands it out, to keep table writes
        # (and the journal rows they delete) away for a moment: core/snapshotter.py.
        self._writing = asyncio.Lock()
        self._pending_rows = 0
        self._progress = asyncio.Event()  # set at each write, then cleared for the next
        self.failure: BaseException | None = None
        self.retries = 0
        self.writes = 0  # transactions written (fewer than batches when catching up)
        self.last_write_seconds = 0.0

    def add(self, batch: Prepared) -> None:
        """A journaled batch, in journal order."""
        self._pending.append(batch)
        self._pending_rows += batch.rows.row_count()
        if self._pending_rows >= _MOST_ROWS:
            self._urgent.set()
        self._wake.set()

    def _hurry(self) -> None:
        self._urgent.set()
        self._wake.set()

    def lag(self, committed_seq: int) -> int:
        """Commands durable in the journal but not yet in the tables."""
        return committed_seq - self.projected_seq

    async def within_lag(self, committed_seq: int) -> None:
        """Return once the tables trail `committed_seq` by no more than `max_lag`."""
        while self.lag(committed_seq) > self._max_lag and self.failure is None:
            self._hurry()
            await self._progress.wait()

    async def reached(self, seq: int, timeout: float) -> bool:
        """Whether the tables hold every command up to `seq`, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        while self.projected_seq < seq:
            left = deadline - time.monotonic()
            if left <= 0 or self.failure is not None:
                return False
            self._hurry()
            try:
                await asyncio.wait_for(self._progress.wait(), left)
            except TimeoutError:
                return False
        return True

    async def drained(self) -> None:
        """Return once every batch added so far is written (or writing failed for good)."""
        while self._pending and self.failure is None:
            self._hurry()
            await self._progress.wait()

    async def run(self) -> None:
        """Write batches as they come, until cancelled (after `drained`)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), self._interval)
            self._urgent.clear()
            while self._pending:
                taken = self._take()
                try:
                    await self._write(taken[0] if len(taken) == 1 else self._writer.merge(taken))
                except Exception as error:
                    self.failure = error
                    log.error("writing the tables failed for good", extra={"error": repr(error)})
                    self._signal()
                    self._on_failure(error)
                    return
                for _ in taken:
                    self._pending_rows -= self._pending.popleft().rows.row_count()
                self.projected_seq = taken[-1].last_seq
                self.writes += 1
                self._signal()
                if not self._urgent.is_set() and self._pending_rows < _MOST_ROWS:
                    break  # batches added meanwhile wait for the next interval

    def _take(self) -> list[Prepared]:
        """The batches to write next: every one waiting, within the limits."""
        taken = [self._pending[0]]
        rows = taken[0].rows.row_count()
        for batch in itertools.islice(self._pending, 1, _MOST_BATCHES):
            rows += batch.rows.row_count()
            if rows > _MOST_ROWS:
                break
            taken.append(batch)
        return taken

    def _signal(self) -> None:
        progress = self._progress
        self._progress = asyncio.Event()
        progress.set()

    def paused(self) -> asyncio.Lock:
        """Hold this (`async with`) and no table write runs meanwhile; one in progress
        finishes first."""
        return self._writing

    async def _write(self, batch: Prepared) -> None:
        delay = _RETRY_INITIAL
        while True:
            began = time.perf_counter()
            try:
                async with self._writing:
                    await self._writer.write(batch)
            except CommitFailed as failure:
                if not failure.transient:
                    raise
                self.retries += 1
                log.warning("writing the tables failed, retrying", extra={"error": str(failure)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
                continue
            self.last_write_seconds = time.perf_counter() - began
            return

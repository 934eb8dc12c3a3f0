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
from collections.abc import Callable, Iterable
from typing import Final, NamedTuple, TypeVar

from trade_engine.observability.logging import errors_logged
from trade_engine.sequencer.ports import CommitFailed, Prepared, Writer

log = logging.getLogger(__name__)

_RETRY_INITIAL: Final = 0.01
_RETRY_MAX: Final = 1.0
# Most batches and rows written in one transaction when catching up (`one_write`).
_MOST_BATCHES: Final = 256
_MOST_ROWS: Final = 50_000
P = TypeVar("P", bound=Prepared)


def one_write(batches: Iterable[P]) -> tuple[list[P], int]:
    """The first of `batches` that go in one write, and their rows: at most
    `_MOST_BATCHES`, with at most `_MOST_ROWS` rows (a larger first batch goes alone)."""
    taken: list[P] = []
    rows = 0
    for batch in itertools.islice(batches, _MOST_BATCHES):
        count = batch.rows.row_count()
        if taken and rows + count > _MOST_ROWS:
            break
        taken.append(batch)
        rows += count
    return taken, rows


async def write_together(writer: Writer, waiting: deque[P]) -> int:
    """Write the first of `waiting` that go in one write (`one_write`) as one, and take
    them off; how many went. For a writer catching the tables up with batches made
    already (recovery's catch-up, a new cluster leader): one transaction per batch costs
    a statement and a commit each."""
    taken, _ = one_write(waiting)
    await writer.write(taken[0] if len(taken) == 1 else writer.merge(taken))
    for _ in taken:
        waiting.popleft()
    return len(taken)


class _Ready(NamedTuple):
    """A write readied: the first `batches` of those waiting (after the write before
    it, if any), their `rows`, as one `batch`."""

    batches: int
    rows: int
    batch: Prepared


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
        """Write batches as they come, until cancelled (after `drained`).

        When a whole write's worth of rows waits beyond the write under way (`_behind`:
        the tables are the bound), the next write is readied meanwhile on this thread
        (`Writer.merge`: merged, and encoded on PostgreSQL), so the database goes from
        one statement to the next without waiting for it. Readied after the write before
        it, a write left the database idle while this thread merged and encoded it:
        `make bench-durable` on PostgreSQL went from 24,100 to 27,300 commands/s when
        that moved beside the statement (medians of 3, side by side)."""
        ready: _Ready | None = None
        try:
            while True:
                if ready is None:
                    await self._wake.wait()
                    self._wake.clear()
                    if not self._urgent.is_set():
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._urgent.wait(), self._interval)
                    self._urgent.clear()
                    ready = self._ready_next()
                    if ready is None:
                        continue
                writing = asyncio.ensure_future(self._write(ready.batch))
                try:
                    await asyncio.sleep(0)  # the write's statement goes first
                    following = self._ready_next(ready) if self._behind(ready) else None
                except asyncio.CancelledError:
                    writing.cancel()
                    with (
                        contextlib.suppress(asyncio.CancelledError),
                        errors_logged(log, "the table write under way failed as the tables stopped"),
                    ):
                        await writing
                    raise
                except Exception:
                    # The next batches cannot be readied (a bug): the write under way,
                    # of good batches, ends first; then the tables stop, on that error.
                    with errors_logged(log, "the table write under way failed too"):
                        await writing
                    raise
                await writing
                for _ in range(ready.batches):
                    self._pending_rows -= self._pending.popleft().rows.row_count()
                self.projected_seq = ready.batch.last_seq
                self.writes += 1
                self._signal()
                if following is None and self._due():
                    following = self._ready_next()
                ready = following  # None: batches added meanwhile wait for the next interval
        except Exception as error:
            self.failure = error
            log.error("writing the tables failed for good", extra={"error": repr(error)})
            self._signal()
            self._on_failure(error)

    def _due(self) -> bool:
        """Whether a write should follow at once: someone waits, or many rows do."""
        return bool(self._pending) and (self._urgent.is_set() or self._pending_rows >= _MOST_ROWS)

    def _behind(self, writing: _Ready) -> bool:
        """Whether a whole write's worth of rows waits beyond the one `writing`, with a
        writer worth readying ahead for (`Writer.ready_ahead`): the tables are the bound,
        so the next write is readied now. Not when a write is merely due (a reader
        waits): the time readying takes this thread is taken from the sequencer."""
        return self._writer.ready_ahead and self._pending_rows - writing.rows >= _MOST_ROWS

    def _ready_next(self, after: "_Ready | None" = None) -> "_Ready | None":
        """The next write, readied: the batches waiting after those `after` writes,
        within the limits (None: no batch)."""
        skip = after.batches if after is not None else 0
        if len(self._pending) <= skip:
            return None
        taken, rows = one_write(itertools.islice(self._pending, skip, None))
        return _Ready(len(taken), rows, self._writer.merge(taken))

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

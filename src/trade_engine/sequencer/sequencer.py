"""The sequencer: the single writer between callers, the engine and the database.

Callers `submit` commands; one task takes them from a bounded queue in batches, stamps
each with the time, applies them to the engine and projects the rows they write; a
second task appends each batch's journal entry (its stamped commands: group commit),
then answers the callers and hands the events to subscribers; a third writes the rows
behind the journal (tables.py; recovery replays the journal from where the tables are,
docs/adr/0001). Batches grow with load (up to `max_batch`), so a busy system commits
many commands per fsync and an idle one commits each at once.

Applying and committing form a pipeline: the engine applies the next batch while the
database commits the previous one (at most `pipeline_depth` batches applied and not yet
committed). Batches commit, and are answered, in the order they were applied. Nothing
reports a batch's effects before its commit: callers wait, and subscribers get a
`CommittedBatch` (the events and the committed value of every balance they changed).

Failure rules:
- A full queue answers `Busy` at once rather than growing without bound.
- Each state-changing command gets the next global sequence number; the journal entry
  names them (and the `position` its source gave the batch's last command).
- A failed commit degrades the sequencer: until a commit succeeds again, new commands and
  commands still queued are refused with `Unavailable` at once (never applied, safe to
  retry), while the batch in hand is retried (journal.py: a lost answer is looked up,
  never written blindly again).
- If the database stays unavailable for `retry_total_seconds`, the sequencer stops: the batch in
  hand is answered `Unavailable` when it certainly did not commit and `OutcomeUnknown` when it
  may have; any batch behind it and every later command get `Unavailable`. The engine then
  holds state the database may lack, so it must not serve again: the service starts afresh
  from the database, where nothing acknowledged is missing and nothing half-written
  (app/root.py learns of it from `stopped_for_good`; a cluster core, cluster/leader.py, from
  its status).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import cast

import msgspec

from trade_engine.engine import Command, CommandRejected, Engine, Event
from trade_engine.sequencer.batches import STOP, Applied, Pending
from trade_engine.sequencer.journal import COMMITTED, UNKNOWN, append_durably
from trade_engine.sequencer.messages import (
    AnyEvent,
    BalanceState,
    CommittedBatch,
    journal_entry,
)
from trade_engine.sequencer.ports import (
    AppendTiming,
    Busy,
    CommitFailed,
    OutcomeUnknown,
    Projector,
    SequencerStats,
    Unavailable,
    Writer,
)
from trade_engine.sequencer.tables import TableWriter

log = logging.getLogger(__name__)

Subscriber = Callable[[CommittedBatch], None]


class Sequencer:
    def __init__(
        self,
        engine: Engine,
        writer: Writer,
        projection: Projector,
        *,
        max_queue: int = 10_000,
        max_batch: int = 1_000,
        pipeline_depth: int = 2,
        retry_initial_seconds: float = 0.01,
        retry_max_seconds: float = 2.0,
        retry_total_seconds: float = 30.0,
        clock_ns: Callable[[], int] = time.time_ns,
        last_seq: int = 0,
        max_projection_lag: int = 50_000,
        last_ts: int = 0,
    ) -> None:
        """`last_seq`, `last_ts`: the global sequence number and time of the last committed
        command (the tables hold it too: recovery replays the journal into them); numbering
        and time continue after them. `max_projection_lag`: how many commands the tables
        may trail the journal by before no new batch is taken."""
        self.engine = engine
        self._writer = writer
        self._projection = projection
        self._queue: asyncio.Queue[Pending | object] = asyncio.Queue(max_queue)
        self._max_batch = max_batch
        # Batches applied but not yet committed: with two, the engine applies one batch
        # while the database commits the previous one.
        self._slots = asyncio.Semaphore(pipeline_depth)
        self._applied: asyncio.Queue[Applied | object] = asyncio.Queue()
        self._retry_initial = retry_initial_seconds
        self._retry_max = retry_max_seconds
        self._retry_total = retry_total_seconds
        self._clock_ns = clock_ns
        self._last_ts = last_ts
        self._seq = last_seq
        # Since a commit failed and until one succeeds: commands are refused at once.
        self._degraded = False
        self._subscribers: list[Subscriber] = []
        self._task: asyncio.Task[None] | None = None
        self._accepting = False
        self.failure: BaseException | None = None
        self._stopped_for_good = asyncio.Event()  # set with `failure`
        self.stats = SequencerStats()
        self.tables = TableWriter(
            writer, last_seq, max_lag=max_projection_lag, on_failure=self._tables_failed
        )
        self._tables_task: asyncio.Task[None] | None = None

    # -- lifecycle --

    def start(self) -> None:
        self._accepting = True
        self._task = asyncio.create_task(self._run(), name="sequencer")
        self._tables_task = asyncio.create_task(self.tables.run(), name="sequencer-tables")

    async def stop(self) -> None:
        """Stop taking commands, commit everything queued and write its rows, then end."""
        if self._task is None:
            return
        self._accepting = False
        if not self._task.done():
            await self._queue.put(STOP)
            await self._task
        self._task = None
        if self._tables_task is not None:
            await self.tables.drained()
            self._tables_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tables_task
            self._tables_task = None

    def _tables_failed(self, error: BaseException) -> None:
        """The tables cannot be written: stop (recovery replays the journal)."""
        if self.failure is None:
            log.error("sequencer stopped: the tables cannot be written", extra={"error": repr(error)})
            self.failure = error
            self._stopped_for_good.set()

    async def stopped_for_good(self) -> BaseException:
        """Wait until the sequencer has stopped for good; returns why. Its engine then
        holds state the database may lack: the service must start afresh from the
        database (app/root.py restarts it)."""
        await self._stopped_for_good.wait()
        assert self.failure is not None
        return self.failure

    @property
    def available(self) -> bool:
        return self._accepting and self.failure is None and not self._degraded

    @property
    def last_seq(self) -> int:
        """The global sequence number of the last state-changing command applied."""
        return self._seq

    def queue_depth(self) -> int:
        return self._queue.qsize()

    def subscribe(self, subscriber: Subscriber) -> None:
        """Receive every committed batch (its events and balances), in order, after the commit."""
        self._subscribers.append(subscriber)

    # -- submitting --

    async def submit(self, command: Command) -> list[Event]:
        """Apply `command` durably; returns its events once they are committed.

        A refused command returns `[CommandRejected]` (nothing was written).
        """
        return (await self.submit_numbered(command))[1]

    async def submit_numbered(self, command: Command, position: int = 0) -> tuple[int, list[Event]]:
        """As `submit`, with the command's global sequence number (0: changed nothing).
        `position`: where the command stands in its source, journaled (ascending)."""
        if self.failure is not None:
            raise Unavailable("storage is unavailable; the service must be restarted") from self.failure
        if not self._accepting:
            raise Unavailable("the sequencer is not accepting commands")
        if self._degraded:
            raise Unavailable("storage is unavailable; retry shortly")
        future: asyncio.Future[tuple[int, list[Event]]] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(Pending(command, future, time.perf_counter(), position))
        except asyncio.QueueFull:
            raise Busy("too many commands in flight") from None
        return await future

    # -- the writer: an applying task and a committing task --

    async def _run(self) -> None:
        committer = asyncio.create_task(self._commit_loop(), name="sequencer-commit")
        stopping = False
        while not stopping:
            first = await self._queue.get()
            # A free place in the pipeline first, and tables not too far behind the
            # journal: commands keep queueing meanwhile, so the batch taken next is as
            # large as the load makes it.
            await self.tables.within_lag(self._seq)
            await self._slots.acquire()
            batch: list[Pending] = []
            if first is STOP:
                stopping = True
            else:
                assert isinstance(first, Pending)
                batch.append(first)
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is STOP:
                    stopping = True
                    continue
                assert isinstance(item, Pending)
                batch.append(item)
            if not batch or self.failure is not None or self._degraded:
                self._fail(batch)
                self._slots.release()
                continue
            try:
                applied = self._apply(batch)
            except Exception as error:  # the engine's state is in doubt: stop for good
                self._stop_for_good(error, batch)
                self._slots.release()
                continue
            self._applied.put_nowait(applied)
        self._applied.put_nowait(STOP)
        await committer
        # Whatever is still queued after a stop request was not taken.
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, Pending):
                self._fail([item])

    def _stop_for_good(
        self, error: BaseException, batch: list[Pending], unknown: list[list[Event]] | None = None
    ) -> None:
        log.error("sequencer stopped", extra={"error": repr(error), "batch_size": len(batch)})
        self.failure = error
        self._stopped_for_good.set()
        self._fail(batch, unknown)

    def _fail(self, batch: list[Pending], unknown: list[list[Event]] | None = None) -> None:
        """Answer a batch that did not commit (`unknown`: whose outcome is not known,
        with each command's events)."""
        for index, pending in enumerate(batch):
            if not pending.future.done():
                if unknown is not None:
                    pending.future.set_exception(OutcomeUnknown(unknown[index]))
                else:
                    pending.future.set_exception(Unavailable("storage is unavailable; retry shortly"))

    def _degrade(self, failure: CommitFailed) -> None:
        """A commit failed: refuse commands until one succeeds (those still queued were
        never applied, so they are answered now rather than kept waiting)."""
        if not self._degraded:
            self._degraded = True
            log.warning(
                "commit failed: refusing commands until storage answers", extra={"error": str(failure)}
            )
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, Pending):
                self._fail([item])
            else:
                self._queue.put_nowait(item)  # a stop request stays (the queue was full up to it)
                break

    def _restored(self) -> None:
        if self._degraded:
            self._degraded = False
            log.info("storage answers again: taking commands")

    def _stamp(self) -> int:
        now = self._clock_ns()
        if now <= self._last_ts:
            now = self._last_ts + 1
        self._last_ts = now
        return now

    def _apply(self, batch: list[Pending]) -> Applied:
        """Stamp and apply a batch, and project what it wrote, before any other batch."""
        apply = self.engine.apply
        began = time.perf_counter()
        waited = sum(began - pending.queued for pending in batch)
        self.stats.last_queue_wait_seconds = waited / len(batch)
        results: list[tuple[int, list[Event]]] = []
        committed: list[Event] = []
        journaled: list[Command] = []
        first_seq = self._seq + 1
        for pending in batch:
            command = msgspec.structs.replace(pending.command, ts=self._stamp())
            events = apply(command)
            if len(events) == 1 and isinstance(events[0], CommandRejected):
                self.stats.rejected += 1
                results.append((0, events))
            elif events:
                self._seq += 1
                committed.extend(events)
                journaled.append(command)
                results.append((self._seq, events))
            else:
                results.append((0, events))
        prepared = entry = None
        if committed:
            rows = self._projection.project(committed, self.engine, self._last_ts, self._seq)
            prepared = self._writer.prepare(rows)
            entry = journal_entry(first_seq, self._seq, self._last_ts, journaled, batch[-1].position)
        applied = time.perf_counter()
        return Applied(batch, results, committed, prepared, entry, self._seq, began, applied, waited)

    async def _commit_loop(self) -> None:
        """Commits applied batches in the order they were applied, then answers them.

        A batch is answered (and its events published) only after its own commit and
        every earlier one, so even a refusal, which may depend on an earlier batch's
        effects, is never reported before those effects are durable.
        """
        while True:
            item = await self._applied.get()
            if item is STOP:
                return
            assert isinstance(item, Applied)
            try:
                if self.failure is not None:
                    self._fail(item.batch)
                elif item.prepared is None:  # nothing to commit: answered when its turn comes
                    now = time.perf_counter()
                    self._answer(item, now, now, AppendTiming())
                else:
                    began = time.perf_counter()
                    outcome = await self._commit(item)
                    if outcome == COMMITTED:
                        self._answer(item, began, time.perf_counter(), self._writer.last_append)
                    else:
                        error = RuntimeError(f"storage unavailable; batch outcome: {outcome}")
                        unknown = [events for _, events in item.results] if outcome == UNKNOWN else None
                        self._stop_for_good(error, item.batch, unknown)
            except Exception as error:  # a bug in answering or publishing: stop for good
                self._stop_for_good(error, item.batch)
            finally:
                self._slots.release()

    def _answer(self, item: Applied, began: float, committed: float, timing: AppendTiming) -> None:
        """Answer `item`'s commands (its commit ran from `began` to `committed`)."""
        done = time.perf_counter()
        stats = self.stats
        size = len(item.batch)
        stats.commands += size
        stats.batches += 1
        stats.last_batch_size = size
        stats.last_apply_seconds = item.applied - item.began
        stats.last_commit_seconds = committed - began
        stats.last_settlement_lag_seconds = done - item.began  # first match of the batch to commit
        stages = stats.stage_seconds
        stages["queue"] += item.waited
        stages["apply"] += size * (item.applied - item.began)
        stages["previous_commit"] += size * (began - item.applied)
        stages["commit"] += size * (committed - began)
        stages["store"] += size * timing.store_seconds
        stages["sync"] += size * (timing.sync_seconds or 0.0)
        for pending, result in zip(item.batch, item.results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)
        if item.committed and item.prepared is not None:
            balances = [BalanceState.of_row(row) for row in item.prepared.rows.balances]
            batch = CommittedBatch(
                seq=item.last_seq,
                commit_ns=self._clock_ns(),
                events=cast(list[AnyEvent], item.committed),
                balances=balances,
            )
            for subscriber in self._subscribers:
                try:
                    subscriber(batch)
                except Exception:
                    log.exception("committed-batch subscriber failed", extra={"seq": item.last_seq})
            self.tables.add(item.prepared)

    async def _commit(self, item: Applied) -> str:
        """Append `item`'s journal entry; whether it committed, certainly did not, or may have."""
        assert item.entry is not None
        return await append_durably(
            self._writer,
            item.entry,
            retry_initial=self._retry_initial,
            retry_max=self._retry_max,
            retry_total=self._retry_total,
            on_failed=self._degrade,
            on_committed=self._restored,
            stats=self.stats,
        )

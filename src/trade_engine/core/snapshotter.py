"""Engine snapshots, taken behind the order path (docs/adr/0002).

Every `every` commands committed, the process forks. The child holds the engine exactly
as it stood between two batches (its memory is the parent's, copied on write), encodes
the engine's image (engine/image.py) into a file and exits; the parent goes on applying
batches at once, having paused only for the fork itself. The parent then stores the
parts (storage/snapshots.py), waits until the tables hold every command up to the
image's sequence number, and completes the snapshot. One snapshot at a time; one that
fails is logged and tried again after the next `every` commands.

The child runs nothing of the parent's but the encoding: no event loop, no collector,
no logging, and it leaves by `os._exit`, so no finalizer of the parent's objects (a
connection, a socket) runs in it.
"""

import asyncio
import contextlib
import gc
import logging
import os
import signal
import tempfile
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.engine import Engine
from trade_engine.engine.image import header_orders
from trade_engine.sequencer import Sequencer
from trade_engine.sequencer.messages import CommittedBatch
from trade_engine.storage import snapshots
from trade_engine.storage.snapshots import SnapshotInfo

log = logging.getLogger(__name__)

# How long a snapshot waits for the tables to hold its commands before it gives up.
TABLES_WAIT_SECONDS = 60.0
_LENGTH_BYTES = 8
CHILD_NICENESS = 10
# How fast a snapshot is written away (measured on SQLite with a 1M-order snapshot of
# 20 MB: at full speed the journal's syncs queued behind the part writes and the
# checkpoints copying them, order p99 42 ms while one was written; at this pace 14 ms).
WRITE_BYTES_PER_SECOND = 10_000_000


@dataclass
class SnapshotStats:
    taken: int = 0
    failed: int = 0
    last_seq: int = 0  # of the latest snapshot completed (or loaded at start)
    last_orders: int = 0
    last_size: int = 0
    last_encode_seconds: float = 0.0  # the child's, fork to exit
    last_total_seconds: float = 0.0  # fork to completion
    last_fork_seconds: float = 0.0  # how long the order path paused


class Snapshotter:
    """Takes a snapshot every `every` committed commands (a subscriber of the sequencer)."""

    def __init__(
        self, database: AsyncEngine, sequencer: Sequencer, engine: Engine, *, every: int, last_seq: int
    ) -> None:
        if every <= 0:
            raise ValueError("a snapshot interval is a positive number of commands")
        self._database = database
        self._sequencer = sequencer
        self._engine = engine
        self._every = every
        self._task: asyncio.Task[SnapshotInfo | None] | None = None
        self.stats = SnapshotStats(last_seq=last_seq)

    def on_commit(self, batch: CommittedBatch) -> None:
        if self._task is None and batch.seq - self.stats.last_seq >= self._every:
            self._run(self._take_logged())

    def _run(self, taking: Coroutine[Any, Any, SnapshotInfo | None]) -> "asyncio.Task[SnapshotInfo | None]":
        """The one snapshot in progress: two at once would each drop the other's parts."""
        task = self._task = asyncio.create_task(taking, name="snapshot")
        task.add_done_callback(self._done)
        return task

    def _done(self, task: "asyncio.Task[SnapshotInfo | None]") -> None:
        if self._task is task:
            self._task = None

    async def take(self) -> SnapshotInfo:
        """Take one now (after any in progress) and return it once complete."""
        while self._task is not None:
            await asyncio.wait({self._task})
        info = await self._run(self._take())
        assert info is not None
        return info

    async def close(self) -> None:
        """Abandon a snapshot in progress (its parts are dropped by the next one)."""
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _take_logged(self) -> SnapshotInfo | None:
        try:
            return await self._take()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats.failed += 1
            log.exception("snapshot failed; the next is tried after another interval")
            self.stats.last_seq = self._sequencer.last_seq  # not at once again
            return None

    async def _take(self) -> SnapshotInfo:
        began = time.perf_counter()
        handle, path = tempfile.mkstemp(prefix="trade-engine-image-")
        os.close(handle)
        try:
            # No table write (which deletes journal rows) runs from before the fork until
            # the pin keeps the batches after `seq`: a restart replays those onto it.
            async with self._sequencer.tables.paused():
                # Between two batches: the engine holds exactly the commands up to `seq`.
                seq = self._sequencer.last_seq
                pid = _fork_image(self._engine, path)
                forked = time.perf_counter()
                try:
                    await snapshots.pin(self._database, seq)
                except BaseException:
                    _end_child(pid)
                    raise
            try:
                _, status = await asyncio.to_thread(os.waitpid, pid, 0)
            except BaseException:  # cancelled: the child is not needed any more
                _end_child(pid)
                raise
            encoded = time.perf_counter()
            try:
                if os.waitstatus_to_exitcode(status) != 0:
                    raise RuntimeError(f"the snapshot child exited with status {status}")
                count = size = orders = 0
                for number, part in enumerate(_read_parts(path)):
                    await snapshots.write_part(self._database, seq, number, part)
                    # Spread the parts' disk writes (and the checkpoints copying them)
                    # so that the journal's syncs never queue behind a burst; the same
                    # for dropping the parts of the snapshot before.
                    await asyncio.sleep(len(part) / WRITE_BYTES_PER_SECOND)
                    count, size = count + 1, size + len(part)
                    if number == 0:
                        orders = header_orders(part)
                if not await self._sequencer.tables.reached(seq, TABLES_WAIT_SECONDS):
                    raise RuntimeError(f"the tables did not reach {seq} within {TABLES_WAIT_SECONDS} s")
                info = SnapshotInfo(seq=seq, ts=time.time_ns(), parts=count, orders=orders, size=size)
                pause = size / count / WRITE_BYTES_PER_SECOND
                await snapshots.complete(self._database, info, pause=pause)
            except Exception:
                # Its pin must not keep the journal growing; the parts go with it.
                await snapshots.unpin(self._database, seq)
                raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        stats = self.stats
        stats.taken += 1
        stats.last_seq, stats.last_orders, stats.last_size = seq, orders, size
        stats.last_fork_seconds = forked - began
        stats.last_encode_seconds = encoded - forked
        stats.last_total_seconds = time.perf_counter() - began
        log.info(
            "snapshot written",
            extra={
                "seq": seq,
                "orders": orders,
                "bytes": size,
                "parts": count,
                "fork_ms": round(stats.last_fork_seconds * 1000, 1),
                "encode_seconds": round(stats.last_encode_seconds, 3),
                "total_seconds": round(stats.last_total_seconds, 3),
            },
        )
        return info


def _fork_image(engine: Engine, path: str) -> int:
    """Fork; the child writes the engine's image to `path` (length-prefixed parts)."""
    pid = os.fork()
    if pid != 0:
        return pid
    status = 1
    try:
        gc.disable()
        # Below the server's threads: on a machine of few cores the order path keeps
        # its CPU, and the snapshot takes what is left.
        os.nice(CHILD_NICENESS)
        with open(path, "wb") as out:
            for part in engine.image_parts():
                out.write(len(part).to_bytes(_LENGTH_BYTES, "big"))
                out.write(part)
        status = 0
    finally:
        os._exit(status)


def _end_child(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _read_parts(path: str) -> Iterator[bytes]:
    with open(path, "rb") as source:
        while header := source.read(_LENGTH_BYTES):
            yield source.read(int.from_bytes(header, "big"))

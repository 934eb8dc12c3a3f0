"""Appending a batch's journal entry durably, through faults.

A failed append is retried with exponential backoff until `retry_total` seconds have
passed (an append is idempotent, so a retry cannot double anything). When an attempt
may have reached the database before the connection dropped, the committed position is
looked up first: a batch that did commit is reported committed and never written again.
The outcome is one of `COMMITTED`, `NOT_APPLIED` (certainly not durable) or `UNKNOWN`
(it may be: the caller must say so, never guess).
"""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Final

from trade_engine.sequencer.messages import JournalEntry
from trade_engine.sequencer.ports import CommitFailed, SequencerStats, Writer

log = logging.getLogger(__name__)

COMMITTED: Final = "committed"
NOT_APPLIED: Final = "not applied"
UNKNOWN: Final = "unknown"


async def append_durably(
    writer: Writer,
    entry: JournalEntry,
    *,
    retry_initial: float,
    retry_max: float,
    retry_total: float,
    on_failed: Callable[[CommitFailed], None],
    on_committed: Callable[[], None],
    stats: SequencerStats,
) -> str:
    """Append `entry`; `on_failed` is told of each failure, `on_committed` of success."""
    deadline = time.monotonic() + retry_total
    delay = retry_initial
    while True:
        try:
            await writer.append(entry)
            on_committed()
            return COMMITTED
        except CommitFailed as failure:
            on_failed(failure)
            maybe_committed, transient = failure.maybe_committed, failure.transient
            log.warning(
                "commit failed, retrying", extra={"error": str(failure), "maybe_committed": maybe_committed}
            )
        while True:  # until the batch is known not to have committed, or to have
            if maybe_committed:
                # Its answer may have been lost: ask, never write it blindly again.
                try:
                    if await writer.committed_seq() >= entry.last_seq:
                        log.info(
                            "a commit whose answer was lost had committed", extra={"seq": entry.last_seq}
                        )
                        on_committed()
                        return COMMITTED
                    maybe_committed = False
                except CommitFailed as failure:
                    log.warning("cannot read the committed position yet", extra={"error": str(failure)})
            if not maybe_committed and not transient:
                return NOT_APPLIED  # writing it again would fail the same way
            if time.monotonic() + delay > deadline:
                return UNKNOWN if maybe_committed else NOT_APPLIED
            await asyncio.sleep(delay)
            delay = min(delay * 2, retry_max)
            if not maybe_committed:
                break
        stats.commit_retries += 1

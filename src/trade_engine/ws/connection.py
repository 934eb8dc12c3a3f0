"""One WebSocket client: a bounded queue of frames and the one task that writes them.

Publishing never waits for a client: `offer` appends to the client's queue and returns,
so a slow client can never hold up the sequencer or other clients. A client whose
queue is full has fallen behind: its queue is dropped, it is sent a notice (when the
protocol has one) and a close frame, and nothing else, so it cannot miss a message
without being told. A client that does not even read those is cut off after
`CLOSE_GRACE_SECONDS`.

Protocol-agnostic: the native protocol (`session.py`) and other gateways build their
connections from this class and their own encoders.
"""

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any, Final, cast

from litestar.exceptions import WebSocketDisconnect
from litestar.types import Message, Send
from prometheus_client import Histogram

log = logging.getLogger(__name__)

CLOSE_GRACE_SECONDS: Final = 5.0
# One connection in this many records its delivery latency (a histogram observation
# per message would cost more than the message).
LATENCY_SAMPLE: Final = 8
_ids = itertools.count(1)


class Frame:
    """One encoded message, ready to be sent to any number of clients as it is."""

    __slots__ = ("commit_ns", "event")

    def __init__(self, data: bytes, commit_ns: int = 0, *, binary: bool = False) -> None:
        # Built once per message: every subscriber gets this same ASGI event.
        self.event: dict[str, Any] = (
            {"type": "websocket.send", "bytes": data}
            if binary
            else {"type": "websocket.send", "text": data.decode()}
        )
        self.commit_ns = commit_ns


def _close_frame(code: int, reason: str) -> Frame:
    frame = Frame(b"")
    frame.event = {"type": "websocket.close", "code": code, "reason": reason}
    return frame


class Connection:
    """A client's outgoing side. `keys` are its hub subscriptions (kept by the hub);
    `batching`: it takes the messages of one flush in one frame (`Hub.publish_batch`)."""

    def __init__(
        self,
        send: Send,
        *,
        queue_size: int,
        slow_consumer_notice: bytes | None = None,
        slow_consumer_code: int = 4001,
        latency: Histogram | None = None,
        batching: bool = False,
    ) -> None:
        self.id = next(_ids)
        self.keys: set[Hashable] = set()
        self.batching = batching
        self.closing = False
        self.close_code: int | None = None
        # Called when the connection is cut off (the reader should stop).
        self.on_abort: Callable[[], None] | None = None
        self._send = send
        self._queue: deque[Frame] = deque()
        self._limit = max(1, queue_size)
        self._notice = slow_consumer_notice
        self._slow_code = slow_consumer_code
        self._latency = latency if self.id % LATENCY_SAMPLE == 0 else None
        self._waiter: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._cutoff: asyncio.TimerHandle | None = None

    # -- lifecycle --

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write(), name=f"ws-writer-{self.id}")

    def close(self, code: int, reason: str) -> None:
        """Send what is queued, then a close frame; cut off if that takes too long."""
        if self.closing:
            return
        self._end(code, reason, [])

    def overflowed(self) -> None:
        """The client fell behind: drop its queue, tell it, close."""
        log.info("websocket client too slow: disconnected", extra={"connection": self.id})
        self._queue.clear()
        self._end(self._slow_code, "slow consumer", [Frame(self._notice)] if self._notice else [])

    def disconnected(self) -> None:
        """The client is gone: nothing more can be sent."""
        self.closing = True
        self._queue.clear()
        if self._writer is not None:
            self._writer.cancel()

    def abort(self) -> None:
        """Stop writing at once and tell the reader to stop."""
        self.disconnected()
        if self.on_abort is not None:
            self.on_abort()

    async def finish(self) -> None:
        """Wait for the writer to end (a queued close frame gets its grace period)."""
        writer = self._writer
        if writer is not None and not writer.done():
            if not self.closing:
                writer.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(writer), CLOSE_GRACE_SECONDS)
            except (TimeoutError, asyncio.CancelledError):
                writer.cancel()
        if self._cutoff is not None:
            self._cutoff.cancel()

    @property
    def queued(self) -> int:
        """Frames waiting to be written."""
        return len(self._queue)

    @property
    def done(self) -> bool:
        return self._writer is not None and self._writer.done()

    # -- sending --

    def offer(self, frame: Frame) -> bool:
        """Queue a frame; False if the client is closing or has just overflowed."""
        if self.closing:
            return False
        queue = self._queue
        if len(queue) >= self._limit:
            self.overflowed()
            return False
        queue.append(frame)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        return True

    def _end(self, code: int, reason: str, last: list[Frame]) -> None:
        self.closing = True
        self.close_code = code
        queue = self._queue
        queue.extend(last)
        queue.append(_close_frame(code, reason))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._waiter = None
        self._cutoff = asyncio.get_running_loop().call_later(CLOSE_GRACE_SECONDS, self.abort)

    async def _write(self) -> None:
        queue = self._queue
        send = self._send
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not queue:
                    self._waiter = loop.create_future()
                    await self._waiter
                    continue
                frame = queue.popleft()
                event = frame.event
                await send(cast(Message, event))
                if event["type"] == "websocket.close":
                    return
                latency = self._latency
                if latency is not None and frame.commit_ns:
                    latency.observe((time.time_ns() - frame.commit_ns) / 1e9)
        except (OSError, WebSocketDisconnect, RuntimeError) as error:
            # The client went away (or the server closed it) while a frame was on its way.
            log.debug("websocket write ended", extra={"connection": self.id, "error": repr(error)})
        finally:
            self.closing = True
            queue.clear()
            if self._cutoff is not None:
                self._cutoff.cancel()
                self._cutoff = None
            if self.on_abort is not None:
                self.on_abort()

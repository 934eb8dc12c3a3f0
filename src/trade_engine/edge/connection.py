"""One WebSocket client: a bounded queue of frames and the one task that writes them.

Publishing never waits for a client: `offer` appends to the client's queue and returns,
so a slow client can never hold up the sequencer or other clients. A client has fallen
behind when its unsent data — its queue plus what the server's transport and kernel
still hold for it — passes `max_unsent_bytes`, or when the oldest frame of its queue has
waited `max_unsent_seconds` (`check_backlog`, run every second, sees to the time and to
the transport's part; `offer` to the queue's own bytes and frames). Then its queue is
dropped, it is sent a notice (when the protocol has one) and a close frame (4001), and
nothing else, so it cannot miss a message without being told. A client that does not
even read those is cut off after `CLOSE_GRACE_SECONDS`.

The queue alone is not enough to notice a client that stopped reading: the kernel's
socket buffers take megabytes first, and frames (a flush of many messages) vary in size,
so a bound in frames let one such client pile up 18 MB before anything happened.

Protocol-agnostic: the native protocol (`session.py`) and other gateways build their
connections from this class and their own encoders.
"""

import asyncio
import contextlib
import fcntl
import itertools
import logging
import termios
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any, Final, cast

from prometheus_client import Histogram

from trade_engine.edge.asgi import Message, Send

log = logging.getLogger(__name__)

CLOSE_GRACE_SECONDS: Final = 5.0
# One connection in this many records its delivery latency (a histogram observation
# per message would cost more than the message).
LATENCY_SAMPLE: Final = 8
_ids = itertools.count(1)


class Frame:
    """One encoded message, ready to be sent to any number of clients as it is."""

    __slots__ = ("commit_ns", "event", "size")

    def __init__(self, data: bytes, commit_ns: int = 0, *, binary: bool = False) -> None:
        self.size = len(data)
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
        max_unsent_bytes: int = 4 * 1024 * 1024,
        max_unsent_seconds: float = 10.0,
        slow_consumer_notice: bytes | None = None,
        slow_consumer_code: int = 4001,
        latency: Histogram | None = None,
        on_slow: Callable[[], None] | None = None,
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
        self._queued_at: deque[float] = deque()  # when each frame of the queue was offered
        self._queued_bytes = 0
        self._limit = max(1, queue_size)
        self._max_bytes = max_unsent_bytes
        self._max_seconds = max_unsent_seconds
        self._on_slow = on_slow
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

    def overflowed(self, reason: str = "queue") -> None:
        """The client fell behind: drop its queue, tell it, close."""
        oldest = time.monotonic() - self._queued_at[0] if self._queued_at else 0.0
        log.info(
            "websocket client too slow: disconnected",
            extra={
                "connection": self.id,
                "reason": reason,
                "unsent_bytes": self._queued_bytes + self.transport_backlog(),
                "oldest_seconds": round(oldest, 3),
            },
        )
        if self._on_slow is not None:
            self._on_slow()
        self._clear()
        self._end(self._slow_code, "slow consumer", [Frame(self._notice)] if self._notice else [])

    def check_backlog(self, now: float) -> None:
        """Close a client whose oldest queued frame is too old, or whose unsent data,
        the transport's and the kernel's part included, is too large (run every second)."""
        if self.closing:
            return
        if self._queued_at and now - self._queued_at[0] > self._max_seconds:
            self.overflowed("age")
        elif self._queued_bytes + self.transport_backlog() > self._max_bytes:
            self.overflowed("bytes")

    def transport_backlog(self) -> int:
        """Bytes written for this client that the server's transport and kernel still
        hold (0 where the server does not expose its transport)."""
        transport = getattr(getattr(self._send, "__self__", None), "transport", None)
        if transport is None or transport.is_closing():
            return 0
        held = int(transport.get_write_buffer_size())
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Not a kernel socket that can be asked: the transport's part still counts.
            with contextlib.suppress(OSError):
                held += int.from_bytes(fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"), "little")
        return held

    def _clear(self) -> None:
        self._queue.clear()
        self._queued_at.clear()
        self._queued_bytes = 0

    def disconnected(self) -> None:
        """The client is gone: nothing more can be sent."""
        self.closing = True
        self._clear()
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
        if len(queue) >= self._limit or self._queued_bytes + frame.size > self._max_bytes:
            self.overflowed("queue")
            return False
        queue.append(frame)
        self._queued_at.append(time.monotonic())
        self._queued_bytes += frame.size
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        return True

    def _end(self, code: int, reason: str, last: list[Frame]) -> None:
        self.closing = True
        self.close_code = code
        for frame in (*last, _close_frame(code, reason)):
            self._queue.append(frame)
            self._queued_at.append(time.monotonic())
            self._queued_bytes += frame.size
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
                self._queued_at.popleft()
                self._queued_bytes -= frame.size
                event = frame.event
                await send(cast(Message, event))
                if event["type"] == "websocket.close":
                    return
                latency = self._latency
                if latency is not None and frame.commit_ns:
                    latency.observe((time.time_ns() - frame.commit_ns) / 1e9)
        except (OSError, RuntimeError) as error:
            # The client went away (or the server closed it) while a frame was on its way.
            log.debug("websocket write ended", extra={"connection": self.id, "error": repr(error)})
        finally:
            self.closing = True
            self._clear()
            if self._cutoff is not None:
                self._cutoff.cancel()
                self._cutoff = None
            if self.on_abort is not None:
                self.on_abort()

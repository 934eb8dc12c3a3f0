"""One WebSocket client: a bounded queue of frames, and who writes them.

Data frames are written straight to the server's transport by the event loop's drainer,
many clients per loop turn (`edge/wire.py`); close frames, and everything while the
transport is paused or where it cannot be reached, by the connection's writer task
through ASGI. Either way in queue order: the drainer takes only frames at the head and
stays away while the writer task is in a send.

Publishing never waits for a client: `offer` appends to the client's queue and returns,
so a slow client can never hold up the sequencer or other clients. A client has fallen
behind when its unsent data — its queue plus what the server's transport and kernel
still hold for it — passes `max_unsent_bytes`, or when the oldest of that data has waited
`max_unsent_seconds` since it was offered, whether it still waits in the queue or in the
transport and kernel (`check_backlog`, run every second, sees to the time and to the
transport's part; `offer` to the queue's own bytes and frames). Then its queue is
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
from trade_engine.edge.wire import DirectWriter, Drainer, drainer, frame_bytes, frame_size

log = logging.getLogger(__name__)

CLOSE_GRACE_SECONDS: Final = 5.0
# One connection in this many records its delivery latency (a histogram observation
# per message would cost more than the message).
LATENCY_SAMPLE: Final = 8
_ids = itertools.count(1)


class Frame:
    """One encoded message, ready to be sent to any number of clients as it is: as an
    ASGI event, or as the WebSocket frame's own bytes (`edge/wire.py`), each built once."""

    __slots__ = ("_binary", "_data", "_event", "_wire", "closes", "commit_ns", "size")

    def __init__(self, data: bytes, commit_ns: int = 0, *, binary: bool = False) -> None:
        self.size = len(data)
        self._data = data
        self._binary = binary
        self._event: dict[str, Any] | None = None
        self._wire: bytes | None = None
        self.commit_ns = commit_ns
        self.closes = False

    @classmethod
    def close(cls, code: int, reason: str) -> "Frame":
        """The close frame: only the server sends it (it must know a close was sent)."""
        frame = cls(b"")
        frame._event = {"type": "websocket.close", "code": code, "reason": reason}
        frame.closes = True
        return frame

    @property
    def event(self) -> dict[str, Any]:
        """The ASGI event every subscriber gets (the same object for all of them)."""
        event = self._event
        if event is None:
            data = self._data
            event = self._event = (
                {"type": "websocket.send", "bytes": data}
                if self._binary
                else {"type": "websocket.send", "text": data.decode()}
            )
        return event

    @property
    def wire(self) -> bytes:
        """The data frame as written to a socket."""
        wire = self._wire
        if wire is None:
            wire = self._wire = frame_bytes(self._data, binary=self._binary)
        return wire


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
        # What left the queue for the transport: bytes handed over in all, and for each
        # write, where its bytes end and when its oldest frame was offered. The part the
        # transport and kernel still hold is the newest `transport_backlog()` bytes, so
        # the age of unsent data is known after the queue too (`check_backlog`).
        self._handed_over = 0
        self._in_transport: deque[tuple[int, float]] = deque()
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
        # Data frames go straight to the server's transport where it can be reached
        # (`edge/wire.py`), written by the loop's drainer; the writer task sends the
        # rest (close frames, and everything while the transport is paused) through ASGI.
        self._direct: DirectWriter | None = None
        self._drainer: Drainer | None = None
        self._drain_scheduled = False
        self._sending = False  # the writer task is in an ASGI send: it owns the queue

    # -- lifecycle --

    def start(self) -> None:
        """Once the handshake is done (what was negotiated decides how frames are written)."""
        self._direct = DirectWriter.of(self._send)
        if self._direct is not None:
            self._drainer = drainer()
        self._writer = asyncio.get_running_loop().create_task(self._write(), name=f"ws-writer-{self.id}")

    def close(self, code: int, reason: str) -> None:
        """Send what is queued, then a close frame; cut off if that takes too long."""
        if self.closing:
            return
        self._end(code, reason, [])

    def overflowed(self, reason: str = "queue") -> None:
        """The client fell behind: drop its queue, tell it, close."""
        backlog = self.transport_backlog()
        offered_at = self._oldest_unsent(backlog)
        oldest = 0.0 if offered_at is None else time.monotonic() - offered_at
        log.info(
            "websocket client too slow: disconnected",
            extra={
                "connection": self.id,
                "reason": reason,
                "unsent_bytes": self._queued_bytes + backlog,
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
        backlog = self.transport_backlog()
        oldest = self._oldest_unsent(backlog)
        if oldest is not None and now - oldest > self._max_seconds:
            self.overflowed("age")
        elif self._queued_bytes + backlog > self._max_bytes:
            self.overflowed("bytes")

    def _oldest_unsent(self, backlog: int) -> float | None:
        """When the oldest data not yet taken by the client was offered: the oldest write
        the transport still holds bytes of, else the head of the queue (None: nothing)."""
        in_transport = self._in_transport
        delivered = self._handed_over - backlog
        while in_transport and in_transport[0][0] <= delivered:
            in_transport.popleft()
        if in_transport:
            return in_transport[0][1]
        return self._queued_at[0] if self._queued_at else None

    def _handing_over(self, size: int, offered_at: float) -> None:
        """`size` bytes leave the queue for the transport; the oldest was offered then."""
        self._handed_over += size
        self._in_transport.append((self._handed_over, offered_at))

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
        self._in_transport.clear()

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
    def writes_directly(self) -> bool:
        """Whether data frames go straight to the server's transport (`edge/wire.py`)."""
        return self._direct is not None

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
        self._wake()
        return True

    def _wake(self) -> None:
        """Have the queue written: by the drainer when it can write directly, else (or
        while it is in a send) by the writer task."""
        if self._drainer is not None and not self._sending:
            if not self._drain_scheduled:
                self._drain_scheduled = True
                self._drainer.add(self)
            return
        self._wake_writer()

    def _wake_writer(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def drain(self) -> None:
        """Write the data frames at the head of the queue in one write, if the transport
        takes them now; leave the rest (a close frame, or all of it while the transport
        is paused) to the writer task."""
        self._drain_scheduled = False
        queue = self._queue
        direct = self._direct
        if self._sending or not queue or direct is None:
            return
        if direct.ready():
            parts: list[bytes] = []
            latency = self._latency
            now_ns = time.time_ns() if latency is not None else 0
            offered_at = self._queued_at[0]
            while queue and not queue[0].closes:
                frame = queue.popleft()
                self._queued_at.popleft()
                self._queued_bytes -= frame.size
                parts.append(frame.wire)
                if latency is not None and frame.commit_ns:
                    latency.observe((now_ns - frame.commit_ns) / 1e9)
            if parts:
                data = parts[0] if len(parts) == 1 else b"".join(parts)
                self._handing_over(len(data), offered_at)
                try:
                    direct.write(data)
                except (OSError, RuntimeError) as error:
                    # The client went away (or the server closed it) meanwhile.
                    log.debug("websocket write ended", extra={"connection": self.id, "error": repr(error)})
                    self.abort()
                    return
                except Exception:
                    # A bug: this client has lost frames, so it is cut off, never left
                    # running with a silent gap.
                    log.exception("websocket write failed", extra={"connection": self.id})
                    self.abort()
                    return
        if queue:
            self._wake_writer()

    def _end(self, code: int, reason: str, last: list[Frame]) -> None:
        self.closing = True
        self.close_code = code
        for frame in (*last, Frame.close(code, reason)):
            self._queue.append(frame)
            self._queued_at.append(time.monotonic())
            self._queued_bytes += frame.size
        self._wake()
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
                direct = self._direct
                if direct is not None and not queue[0].closes and direct.ready():
                    self.drain()
                    continue
                frame = queue.popleft()
                self._handing_over(frame_size(frame.size), self._queued_at.popleft())
                self._queued_bytes -= frame.size
                self._sending = True
                try:
                    await send(cast(Message, frame.event))
                finally:
                    self._sending = False
                if frame.closes:
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

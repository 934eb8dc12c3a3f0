"""WebSocket data frames written straight to the server's transport, many clients per turn.

Through ASGI, each message to each client costs a task wake-up, a coroutine, the
server's framing of the text (encoded again per client) and a write. With a thousand
clients that is most of the event loop, and the loop is also the one that answers
orders (measured with `make bench-ws`: the writes were half of the main thread, and a
flush's thousand writer tasks ran ahead of every order waiting behind them).

So a frame is framed once (`frame_bytes`) and the same bytes are written to every
client's transport (`DirectWriter`), and the writes are made by one callback per event
loop (`Drainer`) a chunk of clients at a time, so the loop reads requests between
chunks. Only for a server whose transport can be reached safely: uvicorn's sans-I/O
WebSocket protocol without extensions (no compression, so a frame is the same bytes for
every client). Anything else, and every close frame, keeps going through ASGI.
"""

import asyncio
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Protocol

OPCODE_TEXT: Final = 0x1
OPCODE_BINARY: Final = 0x2
# Clients written per loop turn: a few milliseconds of writes on loopback. Measured with
# `make bench-ws` (1,000 clients, median of 3): 64 per turn cost deliveries 20-30 ms and
# bought orders nothing measurable over 256; 1,024 (a flush to 1,000 clients in one
# turn) against 256: delivery p50 33.1 against 35.7 ms and p99 44.8 against 53.1, order
# p99 22.7 against 22.2 (side by side, `benchmarks/revisions.py --only ws`); with no
# bound, a flush to 10,000 clients would hold the loop for about 200 ms.
CHUNK: Final = 1024


def frame_size(size: int) -> int:
    """How many bytes the frame of a `size`-byte payload takes on the wire (`frame_bytes`)."""
    return size + (2 if size < 126 else 4 if size < 1 << 16 else 10)


def frame_bytes(data: bytes, *, binary: bool = False) -> bytes:
    """One unfragmented, unmasked (server to client) WebSocket frame of `data` (RFC 6455 5.2)."""
    first = 0x80 | (OPCODE_BINARY if binary else OPCODE_TEXT)
    size = len(data)
    if size < 126:
        header = bytes((first, size))
    elif size < 1 << 16:
        header = bytes((first, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((first, 127)) + size.to_bytes(8, "big")
    return header + data


class DirectWriter:
    """The transport of one accepted WebSocket connection of the server, for data frames."""

    __slots__ = ("_connection", "_protocol", "_transport", "_writable")

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self._connection = protocol.conn
        self._transport: asyncio.WriteTransport = protocol.transport
        self._writable: asyncio.Event = protocol.writable

    @classmethod
    def of(cls, send: Callable[..., Any]) -> "DirectWriter | None":
        """A writer for the connection `send` belongs to, or None where the server's
        protocol is not one whose frames can be written beside it (see the module)."""
        protocol = getattr(send, "__self__", None)
        if protocol is None or type(protocol).__name__ != "WebSocketsSansIOProtocol":
            return None
        extensions = getattr(getattr(protocol, "conn", None), "extensions", None)
        if (
            not isinstance(extensions, list)
            or extensions
            or not isinstance(getattr(protocol, "writable", None), asyncio.Event)
            or not hasattr(protocol, "close_sent")
            or getattr(protocol, "transport", None) is None
        ):
            return None
        return cls(protocol)

    def ready(self) -> bool:
        """Open, handshake done, no extension negotiated, no close frame sent, and the
        transport not paused."""
        protocol = self._protocol
        return (
            self._writable.is_set()
            and protocol.handshake_complete
            and not self._connection.extensions
            and not protocol.close_sent
            and not protocol.disconnected
            and not self._transport.is_closing()
        )

    def write(self, data: bytes) -> None:
        self._transport.write(data)


class Drained(Protocol):
    def drain(self) -> None:
        """Write what can be written now (called by the drainer, once per `add`)."""


class Drainer:
    """Writes the clients that have frames waiting, `CHUNK` per loop turn, in the order
    they became ready."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._ready: deque[Drained] = deque()
        self._scheduled = False

    def add(self, connection: Drained) -> None:
        self._ready.append(connection)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._run)

    def _run(self) -> None:
        ready = self._ready
        for _ in range(min(CHUNK, len(ready))):
            try:
                ready.popleft().drain()
            except Exception as error:  # a bug: reported, and the others still written
                self._loop.call_exception_handler({"message": "websocket drain failed", "exception": error})
        if ready:
            self._loop.call_soon(self._run)
        else:
            self._scheduled = False


_drainers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Drainer]" = weakref.WeakKeyDictionary()


def drainer() -> Drainer:
    """The running loop's drainer (one per loop: it is the one writer of its sockets)."""
    loop = asyncio.get_running_loop()
    found = _drainers.get(loop)
    if found is None:
        found = _drainers[loop] = Drainer(loop)
    return found

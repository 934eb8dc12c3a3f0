"""uvicorn's httptools protocol, sending each response's head and body in one write.

uvicorn writes a response's status line and headers as soon as the application sends
`http.response.start`, and the body at `http.response.body`: two `send(2)` calls and
two TCP segments per response, and the reader woken twice. On the order path at 64
connections the head's write alone was 12% of the event loop's time (py-spy, the GIL
held). Here a response's first write (its head) is held for its next one (the first
part of its body), and the two go out in one.

Held for one turn of the event loop at most: an application that sends its head and
then waits (a stream) has the head sent at the next turn, as it would have been before.
`100 Continue` goes out at once (it is not a response's head), a `HEAD` request's
response (a head and no body) is not held, and a held head goes out before the cycle
closes the connection. WebSocket connections, upgraded on the protocol's own
transport, are not touched.
"""

import asyncio
import logging
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

log = logging.getLogger(__name__)

CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"


class JoinedWrites:
    """The transport of one request's response, holding the response's head for its
    first body write. uvicorn's cycle calls `write`, `close` and `is_closing`; anything
    else is the transport's own."""

    __slots__ = ("_head", "_headed", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None
        self._headed = False  # the head was seen (held or written)

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            # One writev: no copy of a large body into the head's buffer.
            self._transport.writelines((head, data))
        elif self._headed or data == CONTINUE:
            self._transport.write(data)
        else:
            self._head = data
            self._headed = True
            # Sent at the next turn if no body write joins it meanwhile (a stream).
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write a held head (a response whose body did not follow at once)."""
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` whose requests answer through `JoinedWrites`."""

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if cycle.scope["method"] != "HEAD":
            # The cycle's own transport only: the protocol's (reads, flow control,
            # uvicorn's own error answers, WebSocket upgrades) stays as it is.
            cycle.transport = JoinedWrites(cycle.transport)  # type: ignore[assignment]
        super()._start_asgi_task(cycle, app)


def http_protocol() -> type[asyncio.Protocol]:
    """`HttpProtocol` where this uvicorn starts each request through `_start_asgi_task`
    (the hook it overrides), else uvicorn's own protocol, with a warning."""
    if callable(getattr(HttpToolsProtocol, "_start_asgi_task", None)):
        return HttpProtocol
    log.warning("this uvicorn has no _start_asgi_task: responses are written in two parts")
    return HttpToolsProtocol

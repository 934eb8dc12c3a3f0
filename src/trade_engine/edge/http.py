"""HTTP requests and responses straight on ASGI: what a route handler reads and returns.

No framework sits between the server and the handlers: a request is the ASGI scope plus
its body, read once with a size limit; a response is a status, headers and bytes, sent
in two ASGI messages. Header names are compared in lower case, as ASGI gives them.
"""

from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qsl

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.edge.asgi import Message, Receive, Scope, Send

JSON: Final = b"application/json"


class Request:
    """One HTTP request: method, path, headers, query and (once read) body."""

    __slots__ = ("_body", "_headers", "_query", "method", "path", "path_params", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.path_params: dict[str, str] = {}
        self._headers: dict[bytes, bytes] | None = None
        self._query: dict[str, str] | None = None
        self._body: bytes | None = None

    def header(self, name: bytes) -> str | None:
        """A header's value (`name` in lower case); the last one if it is repeated."""
        headers = self._headers
        if headers is None:
            headers = self._headers = dict(self.scope["headers"])
        value = headers.get(name)
        return None if value is None else value.decode("latin-1")

    @property
    def query_string(self) -> bytes:
        raw: bytes = self.scope.get("query_string", b"")
        return raw

    @property
    def query(self) -> dict[str, str]:
        """Query parameters by name; the last one wins if a name is repeated."""
        if self._query is None:
            try:
                text = self.query_string.decode("utf-8")
            except UnicodeDecodeError as error:
                raise TradeEngineError(ErrorCode.VALIDATION_ERROR, "the query string is not UTF-8") from error
            self._query = dict(parse_qsl(text, keep_blank_values=True))
        return self._query

    @property
    def raw_body(self) -> bytes:
        """The body as read (empty if no handler read one)."""
        return self._body or b""

    @property
    def client_host(self) -> str:
        client = self.scope.get("client")
        return str(client[0]) if client else "unknown"

    async def body(self, limit: int) -> bytes:
        """The whole body, refused (413) as soon as it passes `limit` bytes."""
        if self._body is None:
            declared = self.header(b"content-length")
            if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
                raise TradeEngineError(ErrorCode.BODY_TOO_LARGE, f"the request body exceeds {limit} bytes")
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await self.receive()
                if message["type"] != "http.request":
                    raise TradeEngineError(ErrorCode.VALIDATION_ERROR, "the client went away")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise TradeEngineError(
                        ErrorCode.BODY_TOO_LARGE, f"the request body exceeds {limit} bytes"
                    )
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            self._body = b"".join(chunks)
        return self._body


class Response:
    """A status, extra headers and a body of `content_type`."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        *,
        headers: Iterable[tuple[str, str]] = (),
        content_type: bytes = JSON,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = list(headers)
        self.content_type = content_type


async def send_response(send: Send, response: Response, extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
    headers = [(b"content-length", str(len(response.body)).encode())]
    if response.body or response.status != 204:
        headers.append((b"content-type", response.content_type))
    headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.headers]
    headers += extra
    start: Message = {
        "type": "http.response.start",
        "status": response.status,
        "headers": headers,
    }
    await send(start)
    body: Message = {"type": "http.response.body", "body": response.body, "more_body": False}
    await send(body)

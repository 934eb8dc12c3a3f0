"""WebSocket connections straight on ASGI, without the web framework.

The framework wrapped the server's `send` in a function of its own, and with it hid
the server's transport, whose buffers (and the kernel's behind them) are where a client
that stopped reading piles up data first (connection.py). Here the endpoints get the
server's own callables. The handshake rules are ASGI's: the first message received is
`websocket.connect`; closing before accepting refuses the handshake (HTTP 403).
"""

from typing import Final, NamedTuple
from urllib.parse import parse_qsl

from trade_engine.edge.asgi import Message, Receive, Scope, Send
from trade_engine.edge.ratelimit import RateLimiter

# Close codes of RFC 6455 (7.4.1) that every protocol here uses.
CLOSE_GOING_AWAY: Final = 1001  # the server is shutting down
CLOSE_POLICY_VIOLATION: Final = 1008
CLOSE_TRY_AGAIN_LATER: Final = 1013  # too many clients, not ready, or rate limited


class Client(NamedTuple):
    host: str
    port: int


class AsgiWebSocket:
    """One WebSocket connection: its request, and the server's receive and send."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        # The server's own send (its transport is reachable from it: connection.py).
        self.send = send
        self.path: str = scope["path"]
        self.headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
        }
        query = scope.get("query_string", b"").decode("latin-1")
        self.query_params = dict(parse_qsl(query, keep_blank_values=True))
        client = scope.get("client")
        self.client = Client(client[0], client[1]) if client else None
        self._connected = False
        self._counted = False
        self.accepted = False

    def count_against(self, limiter: RateLimiter) -> None:
        """Count this connection attempt against its address's rate limit (raises
        RATE_LIMITED): once, whichever endpoint asks first. `/ws` asks before it knows
        which protocol the client speaks, and that protocol's endpoint asks again."""
        if not self._counted:
            limiter.check_ip(self.client.host if self.client else "unknown")
            self._counted = True

    async def _connect(self) -> None:
        if not self._connected:
            message = await self.receive()
            if message["type"] != "websocket.connect":
                raise ConnectionError(f"expected websocket.connect, got {message['type']}")
            self._connected = True

    async def accept(self) -> None:
        """Complete the handshake (once: accepting again does nothing)."""
        if self.accepted:
            return
        await self._connect()
        accept: Message = {"type": "websocket.accept", "subprotocol": None, "headers": []}
        await self.send(accept)
        self.accepted = True

    async def first_message(self) -> Message:
        """Accept, and read the client's first message without taking it: the next
        `receive` returns it again. For an endpoint whose first message says which
        protocol the client speaks."""
        await self.accept()
        message = await self.receive()
        following = self.receive
        replayed = False

        async def receive() -> Message:
            nonlocal replayed
            if replayed:
                return await following()
            replayed = True
            return message

        self.receive = receive
        return message

    async def send_data(self, text: str) -> None:
        await self.send({"type": "websocket.send", "text": text, "bytes": None})

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close (or, before `accept`, refuse the handshake)."""
        await self._connect()
        event: Message = {"type": "websocket.close", "code": code, "reason": reason}
        await self.send(event)

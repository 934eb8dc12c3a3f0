"""One client of the native protocol: its requests, its identity, its life.

The reader (`serve`) answers requests by queueing answers on the connection, in order
with the data the channels publish; the connection's writer task sends them. Nothing
here awaits a client's writes. A client that sends nothing for
`websocket.idle_timeout_seconds` is closed (4000); a `ping` keeps it alive.
"""

import asyncio
import logging
import time
from typing import Any, Final, Protocol

import jwt
import msgspec

from trade_engine.config import WebSocketConfig
from trade_engine.domain.errors import TradeEngineError
from trade_engine.domain.timestamps import ms
from trade_engine.edge.asgi import Send
from trade_engine.edge.auth import Authenticator, Principal
from trade_engine.edge.client_json import decode
from trade_engine.edge.connection import Connection, Frame
from trade_engine.edge.hub import Hub
from trade_engine.edge.websocket import AsgiWebSocket
from trade_engine.ws import protocol
from trade_engine.ws.channels import Channels
from trade_engine.ws.protocol import (
    CLOSE_IDLE,
    Authenticate,
    Authenticated,
    Channel,
    Ping,
    Pong,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    parse_channel,
)
from trade_engine.ws.snapshots import Snapshots

log = logging.getLogger(__name__)


class Session(Connection):
    """A native-protocol connection: who it is (once authenticated) and until when."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.principal: Principal | None = None
        self.expires_at: float | None = None

    def answer(self, data: bytes) -> None:
        self.offer(Frame(data))

    def fail(self, request_id: protocol.RequestId, code: str, message: str, details: Any = None) -> None:
        self.offer(Frame(protocol.error(request_id, code, message, details)))


class Streams(Protocol):
    """What a session needs of the streams it belongs to (ws/streams.py builds them):
    declared here so that the streams depend on the sessions, not both ways."""

    config: WebSocketConfig
    auth: Authenticator
    hub: Hub

    @property
    def channels(self) -> Channels:
        """The native channels: which markets exist, each channel's hub key."""

    @property
    def snapshots(self) -> Snapshots:
        """Where a new subscriber's snapshot comes from."""

    @property
    def storage_failed(self) -> bool:
        """Whether the core stopped on a storage failure (no new subscriber is served)."""

    def refusal(self, socket: AsgiWebSocket) -> tuple[int, str, str] | None:
        """Why this connection is refused before it opens (close code, error, reason)."""

    def too_many_clients(self) -> tuple[int, str, str]:
        """The refusal when the client limit is reached."""

    def open_session(self, send: Send, *, batching: bool = False) -> "Session | None":
        """A registered session, or None when the client limit is reached."""

    def close_session(self, session: "Session") -> None:
        """Forget a session that ended."""


class _RequestId(msgspec.Struct):
    id: protocol.RequestId = None


_request_id: Final = msgspec.json.Decoder(_RequestId)


async def serve(socket: AsgiWebSocket, streams: Streams) -> None:
    """Run one connection from accept to close."""
    await socket.accept()
    refusal = streams.refusal(socket)
    if refusal is not None:
        await refuse(socket, *refusal)
        return
    batching = socket.query_params.get("batch", "").lower() in ("1", "true")
    session = streams.open_session(socket.send, batching=batching)
    if session is None:
        await refuse(socket, *streams.too_many_clients())
        return
    try:
        header = socket.headers.get("authorization")
        if header:
            authenticate(streams, session, None, header)
        await _read(socket, streams, session)
    finally:
        streams.close_session(session)
        await session.finish()


async def _read(socket: AsgiWebSocket, streams: Streams, session: Session) -> None:
    loop = asyncio.get_running_loop()
    idle = streams.config.idle_timeout_seconds
    try:
        async with asyncio.timeout(idle) as deadline:
            inside = True

            def stop_reading() -> None:
                if inside:
                    deadline.reschedule(loop.time())

            session.on_abort = stop_reading
            try:
                while True:
                    message = await socket.receive()
                    if message["type"] == "websocket.disconnect":
                        session.disconnected()
                        return
                    deadline.reschedule(loop.time() + idle)
                    if not session.closing:
                        text, raw = message.get("text"), message.get("bytes")
                        data = text if isinstance(text, str) else raw if isinstance(raw, bytes) else b""
                        try:
                            handle(streams, session, data)
                        except Exception:  # a bug: answer it like REST answers a 500
                            log.exception("websocket request failed")
                            session.fail(None, "INTERNAL_ERROR", "an internal error occurred")
            finally:
                inside = False
                session.on_abort = None
    except TimeoutError:
        if not session.closing:
            session.close(CLOSE_IDLE, "idle timeout")


async def refuse(socket: AsgiWebSocket, close_code: int, code: str, message: str) -> None:
    """Turn a client away as the native protocol does: its error, then the close."""
    try:
        await socket.accept()  # once: a socket accepted already is not accepted again
        await socket.send_data(protocol.error(None, code, message).decode())
        await socket.close(close_code, message)
    except (OSError, RuntimeError):
        pass


def handle(streams: Streams, session: Session, data: str | bytes) -> None:
    """Answer one client message."""
    try:
        request = decode(protocol.client_decoder, data)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        try:
            request_id = decode(_request_id, data).id
        except (msgspec.DecodeError, msgspec.ValidationError):
            request_id = None
        session.fail(request_id, "INVALID_MESSAGE", f"not a valid request: {error}")
        return
    if isinstance(request, Ping):
        session.answer(protocol.encode(Pong(request.id, ms(time.time_ns()))))
    elif isinstance(request, Authenticate):
        authenticate(streams, session, request.id, f"Bearer {request.token}")
    elif isinstance(request, Subscribe):
        _subscribe(streams, session, request)
    else:
        _unsubscribe(streams, session, request)


def authenticate(streams: Streams, session: Session, request_id: protocol.RequestId, header: str) -> None:
    try:
        principal = streams.auth.authenticate(header)
    except TradeEngineError as error:
        session.fail(request_id, error.code, error.message)
        return
    if session.principal is not None and session.principal.user_id != principal.user_id:
        session.fail(request_id, "FORBIDDEN", "this connection is authenticated as another user")
        return
    # Verified just now; only the expiry is read again.
    token = header.partition(" ")[2].strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    session.principal = principal
    session.expires_at = float(claims["exp"])
    session.answer(protocol.encode(Authenticated(request_id, principal.user_id)))


def _channels(streams: Streams, session: Session, request: Subscribe | Unsubscribe) -> list[Channel] | None:
    """The request's channels, validated; None (and an error sent) if any is not valid."""
    channels: dict[str, Channel] = {}
    for name in request.channels:
        channel = parse_channel(name)
        if channel is None:
            session.fail(request.id, "UNKNOWN_CHANNEL", f"no channel {name!r}", {"channel": name})
            return None
        if channel.market is not None and streams.channels.market(channel.market) is None:
            message = f"unknown market {channel.market!r}"
            session.fail(request.id, "UNKNOWN_MARKET", message, {"channel": name})
            return None
        if channel.private and session.principal is None:
            message = f"authenticate before subscribing to {name!r}"
            session.fail(request.id, "UNAUTHENTICATED", message, {"channel": name})
            return None
        channels[name] = channel
    return list(channels.values())


def _subscribe(streams: Streams, session: Session, request: Subscribe) -> None:
    if streams.storage_failed:
        message = "storage is unavailable; the service must be restarted"
        session.fail(request.id, "UNAVAILABLE", message)
        return
    streams.channels.settle()  # the snapshots are of every batch committed so far
    channels = _channels(streams, session, request)
    if channels is None:
        return
    user_id = session.principal.user_id if session.principal is not None else None
    keys = [(channel, streams.channels.key(channel, user_id)) for channel in channels]
    added = sum(1 for _, key in keys if key not in session.keys)
    limit = streams.config.max_subscriptions
    if len(session.keys) + added > limit:
        message = f"at most {limit} subscriptions per connection"
        session.fail(request.id, "TOO_MANY_SUBSCRIPTIONS", message, {"limit": limit})
        return
    session.answer(protocol.encode(Subscribed(request.id, [channel.name for channel in channels])))
    # Subscribing and queueing the snapshot happen with no await in between, so the
    # next published message of the channel follows the snapshot.
    for channel, key in keys:
        streams.hub.subscribe(key, session)
        streams.snapshots.offer(session, channel, user_id)


def _unsubscribe(streams: Streams, session: Session, request: Unsubscribe) -> None:
    channels: list[Channel] = []
    for name in request.channels:
        channel = parse_channel(name)
        if channel is None:
            session.fail(request.id, "UNKNOWN_CHANNEL", f"no channel {name!r}", {"channel": name})
            return
        channels.append(channel)
    user_id = session.principal.user_id if session.principal is not None else None
    for channel in channels:
        if channel.private and user_id is None:
            continue
        streams.hub.unsubscribe(streams.channels.key(channel, user_id), session)
    session.answer(protocol.encode(Unsubscribed(request.id, [channel.name for channel in channels])))

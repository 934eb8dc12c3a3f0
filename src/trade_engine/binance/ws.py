"""Binance's WebSocket streams: market streams and the user-data streams of listen keys,
on `/ws/<stream>[/...]`, `/stream?streams=a/b/c` (payloads wrapped as `{"stream": name,
"data": payload}`) and `/ws` when its first frame is Binance's (`{"method": ...}`; the
native protocol's frames have `op`). The WebSocket API is ws_api.py.

A stream name is a market stream (`btcusdt@depth@100ms`, ...) or a listen key
(userstream.py), in the path or in a SUBSCRIBE: the key's user's `executionReport`,
`outboundAccountPosition` and `balanceUpdate` events follow while the key is alive; when
it expires or is closed, `listenKeyExpired` says so and its events stop
(subscriptions.py watches).

Connections are the shared hub's (`trade_engine.edge.hub`): one bounded queue and one
writer task each, counted against `websocket.max_clients` with the native clients. A
client too slow to keep up is closed with code 1008, so that it resynchronises rather
than silently missing data. Binance clients send nothing between requests, so there is
no idle timeout here; the server's WebSocket pings keep dead peers from lingering.
"""

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec

from trade_engine.binance.outlet import ALL_MINI_TICKERS, stream_key
from trade_engine.binance.subscriptions import UserDataSubscriptions
from trade_engine.binance.userdata import in_stream, listen_key_stream
from trade_engine.domain.errors import TradeEngineError
from trade_engine.domain.timestamps import ms
from trade_engine.edge.asgi import Message
from trade_engine.edge.client_json import decode
from trade_engine.edge.connection import Connection, Frame
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.hub import Hub
from trade_engine.edge.websocket import CLOSE_POLICY_VIOLATION, CLOSE_TRY_AGAIN_LATER, AsgiWebSocket
from trade_engine.marketdata.intervals import KLINE_INTERVALS
from trade_engine.storage.listen_keys import is_listen_key

CLOSE_SLOW_CONSUMER: Final = CLOSE_POLICY_VIOLATION
_STREAM: Final = re.compile(
    r"([a-z0-9]{1,30})@(trade|aggTrade|bookTicker|ticker|miniTicker|"
    r"depth(?:5|10|20)?(?:@100ms|@1000ms)?|kline_(" + "|".join(KLINE_INTERVALS) + r"))"
)
_MAX_STREAMS: Final = 1024
_decoder: Final = msgspec.json.Decoder()
_encode = msgspec.json.Encoder().encode


def stream_name(raw: str) -> str | None:
    """The canonical name of a stream (`BTCUSDT@depth@1000ms` -> `btcusdt@depth`), or None."""
    if raw.removesuffix("@1000ms") == ALL_MINI_TICKERS:
        return ALL_MINI_TICKERS
    symbol, _, rest = raw.partition("@")
    name = f"{symbol.lower()}@{rest}"
    if _STREAM.fullmatch(name) is None:
        return None
    return name.removesuffix("@1000ms")


def _named(raw: str) -> bool:
    """Whether `raw` can name a stream: a market stream's name or a listen key's."""
    return stream_name(raw) is not None or is_listen_key(raw)


def speaks_binance(first: Message) -> bool:
    """Whether a client's first frame on `/ws` is a Binance request (`method`) rather
    than one of the native protocol (`op`, or anything else: the native protocol then
    answers what is wrong with it)."""
    data = first.get("text") or first.get("bytes")
    if not isinstance(data, str | bytes):
        return False
    try:
        request = decode(_decoder, data)
    except msgspec.DecodeError:
        return False
    return isinstance(request, dict) and "method" in request and "op" not in request


async def open_connection(socket: AsgiWebSocket, gateway: Gateway) -> tuple[Hub, Connection] | None:
    """A registered connection for this socket, or None (and the socket closed) if the
    service is not ready, the client address is over its rate limit, or the server
    already has its maximum of clients."""
    if not gateway.is_ready:
        await socket.close(code=CLOSE_TRY_AGAIN_LATER, reason="the service is starting; retry shortly")
        return None
    try:
        socket.count_against(gateway.limiter)
    except TradeEngineError as error:
        await socket.close(code=CLOSE_TRY_AGAIN_LATER, reason=error.message)
        return None
    hub = gateway.hub
    connection = Connection(
        socket.send, **gateway.connection_limits(), slow_consumer_code=CLOSE_SLOW_CONSUMER
    )
    if not hub.register(connection):
        await socket.close(code=CLOSE_TRY_AGAIN_LATER, reason="too many connections; retry later")
        return None
    return hub, connection


async def serve(
    socket: AsgiWebSocket,
    hub: Hub,
    connection: Connection,
    handle: Callable[[str], Awaitable[None]],
) -> None:
    """Accept, then pass each text frame to `handle` until the client leaves."""
    try:
        await socket.accept()
        connection.start()
        while not connection.closing:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                connection.disconnected()
                break
            text, raw = message.get("text"), message.get("bytes")
            if isinstance(text, str):
                await handle(text)
            elif isinstance(raw, bytes):
                await handle(raw.decode(errors="replace"))
    except OSError:  # the client went away mid-handshake
        connection.disconnected()
    finally:
        hub.unregister(connection)
        await connection.finish()


def reply(connection: Connection, body: dict[str, Any]) -> None:
    connection.offer(Frame(_encode(body)))


class _StreamSession:
    def __init__(
        self,
        gateway: Gateway,
        user_data: UserDataSubscriptions,
        hub: Hub,
        connection: Connection,
        combined: bool,
    ) -> None:
        self.gateway = gateway
        self.user_data = user_data
        self.hub = hub
        self.connection = connection
        self.combined = combined
        self.names: list[str] = []
        self.listening: dict[str, str] = {}  # listen key -> the API key that opened it

    # -- subscriptions --

    def subscribe(self, name: str) -> None:
        if name not in self.names:
            self.names.append(name)
            self.hub.subscribe(stream_key(name, self.combined), self.connection)

    def unsubscribe(self, name: str) -> None:
        if name in self.names:
            self.names.remove(name)
            self.hub.unsubscribe(stream_key(name, self.combined), self.connection)

    async def listen(self, listen_key: str) -> bool:
        """Deliver a listen key's events; False if the key is not alive."""
        if listen_key in self.listening:
            return True
        store = self.gateway.listen_key_store()
        found = (await store.alive([listen_key], time.time_ns())).get(listen_key)
        if found is None:
            return False
        self.listening[listen_key] = found.api_key
        self.hub.subscribe(listen_key_stream(listen_key, self.combined), self.connection)
        check = self.gateway.config.binance.listen_key_check_seconds
        self.user_data.listen(found, self, store, check)
        self.user_data.add(found.api_key, self)
        return True

    def unlisten(self, listen_key: str) -> None:
        api_key = self.listening.pop(listen_key, None)
        if api_key is None:
            return
        self.hub.unsubscribe(listen_key_stream(listen_key, self.combined), self.connection)
        self.user_data.unlisten(listen_key, self)
        if api_key not in self.listening.values():
            self.user_data.discard(api_key, self)

    async def add(self, raw: str) -> bool:
        """Subscribe to a stream or listen key by name; False if it is neither."""
        name = stream_name(raw)
        if name is not None:
            self.subscribe(name)
            return True
        return is_listen_key(raw) and await self.listen(raw)

    def set_combined(self, combined: bool) -> None:
        for name in self.names:
            self.hub.unsubscribe(stream_key(name, self.combined), self.connection)
            self.hub.subscribe(stream_key(name, combined), self.connection)
        for listen_key in self.listening:
            self.hub.unsubscribe(listen_key_stream(listen_key, self.combined), self.connection)
            self.hub.subscribe(listen_key_stream(listen_key, combined), self.connection)
        self.combined = combined

    # -- listen keys that end --

    def expire(self, listen_key: str) -> None:
        """The key expired or was closed (subscriptions.py): say so, deliver no more."""
        if listen_key not in self.listening:
            return
        combined = self.combined
        self.unlisten(listen_key)
        event = {"e": "listenKeyExpired", "E": ms(time.time_ns()), "listenKey": listen_key}
        self.connection.offer(Frame(in_stream(listen_key, _encode(event), combined)))

    def terminate(self) -> None:
        """The API key that opened this stream's listen keys was revoked."""
        for listen_key in list(self.listening):
            self.expire(listen_key)

    def close(self) -> None:
        for listen_key in list(self.listening):
            self.unlisten(listen_key)

    # -- requests --

    def error(self, message: str, request_id: Any) -> None:
        reply(self.connection, {"error": {"code": 2, "msg": f"Invalid request: {message}"}, "id": request_id})

    async def handle(self, text: str) -> None:
        try:
            request = decode(_decoder, text)
        except msgspec.DecodeError:
            reply(self.connection, {"error": {"code": 3, "msg": "Invalid JSON: not a JSON document"}})
            return
        if not isinstance(request, dict):
            self.error("request must be an object", None)
            return
        request_id = request.get("id")
        method = request.get("method")
        params = request.get("params", [])
        if not isinstance(params, list):
            self.error("params must be a list", request_id)
        elif method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            await self.change(method == "SUBSCRIBE", params, request_id)
        elif method == "LIST_SUBSCRIPTIONS":
            reply(self.connection, {"result": [*self.names, *self.listening], "id": request_id})
        elif method == "SET_PROPERTY" and len(params) == 2 and params[0] == "combined":
            if not isinstance(params[1], bool):
                self.error("property value must be a boolean", request_id)
                return
            self.set_combined(params[1])
            reply(self.connection, {"result": None, "id": request_id})
        elif method == "GET_PROPERTY" and params == ["combined"]:
            reply(self.connection, {"result": self.combined, "id": request_id})
        else:
            self.error(f"unknown method {method!r}", request_id)

    async def change(self, subscribe: bool, params: list[Any], request_id: Any) -> None:
        names = [p for p in params if isinstance(p, str)]
        bad = [p for p in params if not isinstance(p, str) or not _named(p)]
        if bad:
            self.error(f"invalid stream name {bad[0]!r}", request_id)
            return
        wanted = {stream_name(raw) or raw for raw in names}
        if subscribe and len(wanted | set(self.names) | set(self.listening)) > _MAX_STREAMS:
            self.error(f"at most {_MAX_STREAMS} streams per connection", request_id)
            return
        for raw in names:
            if not subscribe:
                name = stream_name(raw)
                if name is None:
                    self.unlisten(raw)
                else:
                    self.unsubscribe(name)
                continue
            try:
                added = await self.add(raw)
            except TradeEngineError as error:  # the database cannot tell now
                self.error(error.message, request_id)
                return
            if not added:
                self.error(f"invalid stream name {raw!r}", request_id)
                return
        reply(self.connection, {"result": None, "id": request_id})


async def _serve_streams(
    socket: AsgiWebSocket,
    gateway: Gateway,
    user_data: UserDataSubscriptions,
    names: list[str],
    combined: bool,
) -> None:
    opened = await open_connection(socket, gateway)
    if opened is None:
        return
    hub, connection = opened
    session = _StreamSession(gateway, user_data, hub, connection, combined)
    try:
        # Subscribed before the handshake completes: nothing after it can be missed.
        # A name that is neither a stream nor a live listen key is left out.
        for raw in names:
            try:
                await session.add(raw)
            except TradeEngineError:  # the database cannot tell now: as if unknown
                continue
        await serve(socket, hub, connection, session.handle)
    finally:
        session.close()


async def raw_streams(
    socket: AsgiWebSocket, path: str, gateway: Gateway, user_data: UserDataSubscriptions
) -> None:
    """`/ws/<stream>[/<stream>...]` and `/ws` itself; any other path (ccxt uses `/ws/0`)
    starts with none."""
    names = [n for n in path.split("/") if n]
    await _serve_streams(socket, gateway, user_data, names, combined=False)


async def combined_streams(socket: AsgiWebSocket, gateway: Gateway, user_data: UserDataSubscriptions) -> None:
    """`/stream?streams=a/b/c`: payloads wrapped as `{"stream": name, "data": payload}`."""
    streams = socket.query_params.get("streams") or ""
    names = [n for n in streams.split("/") if n]
    await _serve_streams(socket, gateway, user_data, names, combined=True)

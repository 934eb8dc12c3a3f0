"""WebSocket endpoints: market streams (`/ws/...`, `/stream?streams=`) and the WebSocket
API (`/ws-api/v3`) with the signed user-data stream subscription.

Connections are the shared hub's (`trade_engine.ws`): one bounded queue and one writer
task each, counted against `websocket.max_clients` with the native clients. A client
too slow to keep up is closed with code 1008, so that it resynchronises rather than
silently missing data. A user-data subscription whose API key is revoked is terminated
(`eventStreamTerminated`, then close code 1008 "API key revoked"; see
binance/subscriptions.py). Binance clients send nothing between requests, so there is no
idle timeout here; the server's WebSocket pings keep dead peers from lingering.
"""

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec

from trade_engine.binance import signing
from trade_engine.binance.auth import READ, api_key, check_time
from trade_engine.binance.errors import INVALID_SIGNATURE, BinanceError, mandatory, unauthorized
from trade_engine.binance.params import Params
from trade_engine.binance.streams import stream_key
from trade_engine.binance.subscriptions import UserDataSubscriptions
from trade_engine.binance.userdata import user_event, user_key
from trade_engine.domain.errors import TradeEngineError
from trade_engine.edge.connection import Connection, Frame
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.hub import Hub
from trade_engine.edge.websocket import AsgiWebSocket
from trade_engine.marketdata.intervals import KLINE_INTERVALS

CLOSE_TRY_AGAIN_LATER: Final = 1013
CLOSE_SLOW_CONSUMER: Final = 1008
CLOSE_KEY_REVOKED: Final = 1008  # policy violation: the key that signed the subscription
_STREAM: Final = re.compile(
    r"([a-z0-9]{1,30})@(trade|aggTrade|bookTicker|ticker|miniTicker|"
    r"depth(?:5|10|20)?(?:@100ms|@1000ms)?|kline_(" + "|".join(KLINE_INTERVALS) + r"))"
)
_MAX_STREAMS: Final = 1024
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def stream_name(raw: str) -> str | None:
    """The canonical name of a stream (`BTCUSDT@depth@1000ms` -> `btcusdt@depth`), or None."""
    symbol, _, rest = raw.partition("@")
    name = f"{symbol.lower()}@{rest}"
    if _STREAM.fullmatch(name) is None:
        return None
    return name.removesuffix("@1000ms")


async def _open(socket: AsgiWebSocket, gateway: Gateway) -> tuple[Hub, Connection] | None:
    """A registered connection for this socket, or None (and the socket closed) if the
    service is not ready, the client address is over its rate limit, or the server
    already has its maximum of clients."""
    if not gateway.is_ready:
        await socket.close(code=CLOSE_TRY_AGAIN_LATER, reason="the service is starting; retry shortly")
        return None
    client = socket.client
    try:
        gateway.limiter.check_ip(client.host if client else "unknown")
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


async def _serve(
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


def _reply(connection: Connection, body: dict[str, Any]) -> None:
    connection.offer(Frame(_encode(body)))


# -- market streams ------------------------------------------------------------------------


class _StreamSession:
    def __init__(self, hub: Hub, connection: Connection, combined: bool) -> None:
        self.hub = hub
        self.connection = connection
        self.combined = combined
        self.names: list[str] = []

    def subscribe(self, name: str) -> None:
        if name not in self.names:
            self.names.append(name)
            self.hub.subscribe(stream_key(name, self.combined), self.connection)

    def unsubscribe(self, name: str) -> None:
        if name in self.names:
            self.names.remove(name)
            self.hub.unsubscribe(stream_key(name, self.combined), self.connection)

    def set_combined(self, combined: bool) -> None:
        names = list(self.names)
        for name in names:
            self.unsubscribe(name)
        self.combined = combined
        for name in names:
            self.subscribe(name)

    def error(self, message: str, request_id: Any) -> None:
        _reply(
            self.connection, {"error": {"code": 2, "msg": f"Invalid request: {message}"}, "id": request_id}
        )

    async def handle(self, text: str) -> None:
        try:
            request = _decode(text)
        except msgspec.DecodeError:
            _reply(
                self.connection,
                {"error": {"code": 3, "msg": "Invalid JSON: not a JSON document"}},
            )
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
            self.change(method == "SUBSCRIBE", params, request_id)
        elif method == "LIST_SUBSCRIPTIONS":
            _reply(self.connection, {"result": list(self.names), "id": request_id})
        elif method == "SET_PROPERTY" and len(params) == 2 and params[0] == "combined":
            if not isinstance(params[1], bool):
                self.error("property value must be a boolean", request_id)
                return
            self.set_combined(params[1])
            _reply(self.connection, {"result": None, "id": request_id})
        elif method == "GET_PROPERTY" and params == ["combined"]:
            _reply(self.connection, {"result": self.combined, "id": request_id})
        else:
            self.error(f"unknown method {method!r}", request_id)

    def change(self, subscribe: bool, params: list[Any], request_id: Any) -> None:
        found = [stream_name(p) if isinstance(p, str) else None for p in params]
        bad = [p for p, n in zip(params, found, strict=True) if n is None]
        if bad:
            self.error(f"invalid stream name {bad[0]!r}", request_id)
            return
        names = [n for n in found if n is not None]
        if subscribe and len(set(self.names) | set(names)) > _MAX_STREAMS:
            self.error(f"at most {_MAX_STREAMS} streams per connection", request_id)
            return
        for name in names:
            if subscribe:
                self.subscribe(name)
            else:
                self.unsubscribe(name)
        _reply(self.connection, {"result": None, "id": request_id})


async def _serve_streams(socket: AsgiWebSocket, gateway: Gateway, names: list[str], combined: bool) -> None:
    opened = await _open(socket, gateway)
    if opened is None:
        return
    hub, connection = opened
    session = _StreamSession(hub, connection, combined)
    # Subscribed before the handshake completes: nothing after it can be missed.
    for raw in names:
        name = stream_name(raw)
        if name is not None:
            session.subscribe(name)
    await _serve(socket, hub, connection, session.handle)


async def raw_streams(socket: AsgiWebSocket, path: str, gateway: Gateway) -> None:
    """`/ws/<stream>[/<stream>...]`; any other path (ccxt uses `/ws/0`) starts with none."""
    await _serve_streams(socket, gateway, [n for n in path.split("/") if n], combined=False)


async def combined_streams(socket: AsgiWebSocket, gateway: Gateway) -> None:
    """`/stream?streams=a/b/c`: payloads wrapped as `{"stream": name, "data": payload}`."""
    streams = socket.query_params.get("streams") or ""
    await _serve_streams(socket, gateway, [n for n in streams.split("/") if n], combined=True)


# -- the WebSocket API --------------------------------------------------------------------


class _ApiSession:
    def __init__(
        self, gateway: Gateway, user_data: UserDataSubscriptions, hub: Hub, connection: Connection
    ) -> None:
        self.gateway = gateway
        self.user_data = user_data
        self.hub = hub
        self.connection = connection
        self.user: str | None = None
        self.key: str | None = None  # the API key that signed the user-data subscription

    def answer(self, request_id: Any, result: Any = None, error: BinanceError | None = None) -> None:
        if error is not None:
            _reply(self.connection, {"id": request_id, "status": error.status, "error": error.body()})
        else:
            _reply(self.connection, {"id": request_id, "status": 200, "result": result})

    async def handle(self, text: str) -> None:
        try:
            request = _decode(text)
        except msgspec.DecodeError:
            self.answer(None, error=BinanceError(-1100, "Malformed request: not JSON."))
            return
        if not isinstance(request, dict):
            self.answer(None, error=BinanceError(-1100, "Malformed request: not an object."))
            return
        request_id = request.get("id")
        params = request.get("params") or {}
        try:
            if not isinstance(params, dict):
                raise BinanceError(-1100, "Malformed request: params must be an object.")
            result = await self.call(str(request.get("method")), params)
        except BinanceError as error:
            self.answer(request_id, error=error)
            return
        self.answer(request_id, result)

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": time.time_ns() // 1_000_000}
        if method == "userDataStream.subscribe.signature":
            return await self.subscribe(params)
        if method == "userDataStream.unsubscribe":
            self.unsubscribe()
            return {}
        raise BinanceError(-1000, f"Unknown method '{method}'.")

    async def subscribe(self, params: dict[str, Any]) -> dict[str, Any]:
        key = params.get("apiKey")
        active = await api_key(self.gateway, key if isinstance(key, str) else None, READ)
        check_time(Params({name: str(value) for name, value in params.items()}))
        signature = params.get("signature")
        if not isinstance(signature, str) or not signature:
            raise mandatory("signature")
        if not signing.verify(active.secret, signing.ws_payload(params), signature):
            raise BinanceError(-1022, INVALID_SIGNATURE)
        if self.user is None:
            assert isinstance(key, str)
            self.user, self.key = active.user_id, key
            self.hub.subscribe(user_key(active.user_id), self.connection)
            self.user_data.add(key, self)
            # A revocation committed while this request was being checked could not see
            # this subscription: ask again now that a revocation would find it.
            if await self.gateway.key_store().active(key) is None:
                self.unsubscribe()
                raise unauthorized()
        # One subscription per connection: its id is 0 (streams.user_event relies on it).
        return {"subscriptionId": 0}

    def unsubscribe(self) -> None:
        if self.user is not None:
            self.hub.unsubscribe(user_key(self.user), self.connection)
            self.user = None
        if self.key is not None:
            self.user_data.discard(self.key, self)
            self.key = None

    def terminate(self) -> None:
        """The subscription's API key was revoked: no event after this one, then close."""
        if self.user is None:
            return
        self.unsubscribe()
        event = {"e": "eventStreamTerminated", "E": time.time_ns() // 1_000_000}
        self.connection.offer(Frame(user_event(_encode(event))))
        self.connection.close(CLOSE_KEY_REVOKED, "API key revoked")


async def websocket_api(socket: AsgiWebSocket, gateway: Gateway, user_data: UserDataSubscriptions) -> None:
    opened = await _open(socket, gateway)
    if opened is None:
        return
    hub, connection = opened
    session = _ApiSession(gateway, user_data, hub, connection)
    try:
        await _serve(socket, hub, connection, session.handle)
    finally:
        session.unsubscribe()

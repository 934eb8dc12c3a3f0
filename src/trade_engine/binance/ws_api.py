"""Binance's WebSocket API (`/ws-api/v3`): requests `{"id", "method", "params"}` answered
`{"id", "status", "result"}` or `{"id", "status", "error": {"code", "msg"}}`.

Methods: `ping`, `time`; the user-data stream on this connection
(`userDataStream.subscribe.signature`, `userDataStream.unsubscribe`: events arrive as
`{"subscriptionId": 0, "event": ...}`; one account per connection, where Binance allows
several: a second subscription, of the same account or another, is refused with
Binance's -2035 rather than answered with an id whose events never come, and
unsubscribing with none active is -2036; unsubscribing ends the stream with an
`eventStreamTerminated` event, as Binance's does, unless `subscriptionId` names
another subscription, which does not exist; `session.subscriptions` lists it); listen
keys (`userDataStream.start`, `.ping`, `.stop`, as the REST endpoints: userstream.py);
`account.status` (signed, as `GET /api/v3/account`). Any other method is -1000
"Unknown method".

A user-data subscription whose API key is revoked is terminated (`eventStreamTerminated`,
then close code 1008 "API key revoked"; see subscriptions.py).

Request weight: the connection costs 2 and each request its method's weight (`WEIGHTS`,
Binance's), on the per-address count REST requests are charged to (limits.py). Every
answer carries `rateLimits` (the address's REQUEST_WEIGHT), unless `returnRateLimits`
is false in the request's params or, as the default of every request, in the
connection's query string. Over the limit a request is answered 429 with -1003 (its
`data` saying when to retry), and an address that keeps on is banned: 418, then the
connection is closed, as Binance disconnects a banned address; while banned, new
connections are refused.
"""

import time
from typing import Any, Final

import msgspec

from trade_engine.binance import signing, userstream, views
from trade_engine.binance.auth import READ, api_key, check_time
from trade_engine.binance.errors import (
    INVALID_SIGNATURE,
    MALFORMED,
    SUBSCRIPTION_ACTIVE,
    SUBSCRIPTION_INACTIVE,
    UNKNOWN_METHOD,
    BinanceError,
    from_engine,
    mandatory,
    refusal,
    unauthorized,
)
from trade_engine.binance.limits import BinanceLimits, Budget
from trade_engine.binance.params import Params
from trade_engine.binance.subscriptions import UserDataSubscriptions
from trade_engine.binance.userdata import SUBSCRIPTION_ID, user_event, user_key
from trade_engine.binance.ws import open_connection, reply, serve
from trade_engine.domain.errors import TradeEngineError
from trade_engine.domain.timestamps import ms
from trade_engine.edge.client_json import decode
from trade_engine.edge.connection import Connection, Frame
from trade_engine.edge.gateway import Gateway
from trade_engine.edge.hub import Hub
from trade_engine.edge.websocket import CLOSE_POLICY_VIOLATION, CLOSE_TRY_AGAIN_LATER, AsgiWebSocket
from trade_engine.storage.apikeys import ActiveKey

CLOSE_KEY_REVOKED: Final = CLOSE_POLICY_VIOLATION  # the key that signed the subscription
CLOSE_BANNED: Final = CLOSE_POLICY_VIOLATION  # the address was banned for its request weight
CONNECTION_WEIGHT: Final = 2
# Binance's weight of each method (web-socket-api.md); a method it does not know costs 1.
WEIGHTS: Final = {
    "ping": 1,
    "time": 1,
    "account.status": 20,
    "userDataStream.subscribe.signature": 2,
    "userDataStream.unsubscribe": 2,
    "session.subscriptions": 2,
    "userDataStream.start": 2,
    "userDataStream.ping": 2,
    "userDataStream.stop": 2,
}
_decoder: Final = msgspec.json.Decoder()
_encode = msgspec.json.Encoder().encode


def _text(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise mandatory(name)
    return value


class _ApiSession:
    def __init__(
        self,
        gateway: Gateway,
        user_data: UserDataSubscriptions,
        hub: Hub,
        connection: Connection,
        charge: "_Charge",
    ) -> None:
        self.gateway = gateway
        self.user_data = user_data
        self.hub = hub
        self.connection = connection
        self.charge = charge
        self.user: str | None = None
        self.key: str | None = None  # the API key that signed the user-data subscription

    def answer(
        self,
        request_id: Any,
        result: Any = None,
        error: BinanceError | None = None,
        rate_limits: list[dict[str, Any]] | None = None,
    ) -> None:
        body: dict[str, Any] = {"id": request_id}
        if error is not None:
            body.update(status=error.status, error=error.body())
        else:
            body.update(status=200, result=result)
        if rate_limits is not None:
            body["rateLimits"] = rate_limits
        reply(self.connection, body)

    async def handle(self, text: str) -> None:
        try:
            request = decode(_decoder, text)
        except msgspec.DecodeError:
            self.answer(None, error=refusal(MALFORMED, reason="not JSON"))
            return
        if not isinstance(request, dict):
            self.answer(None, error=refusal(MALFORMED, reason="not an object"))
            return
        request_id = request.get("id")
        params = request.get("params") or {}
        method = str(request.get("method"))
        budget = self.charge.admit(WEIGHTS.get(method, 1))
        limits = budget.rate_limits() if self.charge.shown(params) else None
        if budget.refusal is not None:
            self.refuse(request_id, budget, limits)
            return
        try:
            if not isinstance(params, dict):
                raise refusal(MALFORMED, reason="params must be an object")
            # Every method here takes plain values; a nested one (a thousand levels deep,
            # just under what the decoder refuses) would overflow the stack where the
            # values are read as text.
            for name, value in params.items():
                if isinstance(value, dict | list):
                    raise refusal(MALFORMED, reason=f"parameter '{name}' must be a plain value")
            result = await self.call(method, params)
        except TradeEngineError as error:
            self.answer(request_id, error=from_engine(error), rate_limits=limits)
            return
        except BinanceError as error:
            self.answer(request_id, error=error, rate_limits=limits)
            return
        self.answer(request_id, result, rate_limits=limits)

    def refuse(self, request_id: Any, budget: Budget, limits: list[dict[str, Any]] | None) -> None:
        """Over the weight limit (429) or banned (418, and the connection closed)."""
        refusal = budget.refusal
        assert refusal is not None
        error = from_engine(refusal)
        retry_at = refusal.detail("retry_at_ms")
        error.data = {"serverTime": ms(time.time_ns()), "retryAfter": retry_at}
        self.answer(request_id, error=error, rate_limits=limits)
        if error.status == 418:
            self.unsubscribe()
            self.connection.close(CLOSE_BANNED, "IP banned")

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        gateway = self.gateway
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": ms(time.time_ns())}
        if method == "userDataStream.subscribe.signature":
            return await self.subscribe(params)
        if method == "userDataStream.unsubscribe":
            return self.stop_subscription(params)
        if method == "session.subscriptions":
            return [] if self.user is None else [{"subscriptionId": SUBSCRIPTION_ID}]
        if method == "userDataStream.start":
            return await userstream.start(gateway, _text(params, "apiKey"))
        if method == "userDataStream.ping":
            return await userstream.ping(gateway, _text(params, "apiKey"), _text(params, "listenKey"))
        if method == "userDataStream.stop":
            return await userstream.stop(gateway, _text(params, "apiKey"), _text(params, "listenKey"))
        if method == "account.status":
            return await self.account(params)
        raise refusal(UNKNOWN_METHOD, method=method)

    async def signed(self, params: dict[str, Any]) -> tuple[str, ActiveKey]:
        """A signed request's API key, checked as Binance checks it: key, time, signature."""
        key = params.get("apiKey")
        active = await api_key(self.gateway, key if isinstance(key, str) else None, READ)
        check_time(Params({name: str(value) for name, value in params.items()}))
        signature = _text(params, "signature")
        if not signing.verify(active.secret, signing.ws_payload(params), signature):
            raise refusal(INVALID_SIGNATURE)
        assert isinstance(key, str)
        return key, active

    async def account(self, params: dict[str, Any]) -> dict[str, Any]:
        _, active = await self.signed(params)
        markets = self.gateway.read_model().markets
        history = await self.gateway.history()
        rows = await history.balance_rows(active.user_id)
        omit = _true(params.get("omitZeroBalances", False))
        return views.account(active.user_id, active.permissions, markets.assets(), rows, markets.all(), omit)

    async def subscribe(self, params: dict[str, Any]) -> dict[str, Any]:
        key, active = await self.signed(params)
        if self.user is not None:  # one subscription per connection (the module's docstring)
            raise refusal(SUBSCRIPTION_ACTIVE)
        self.user, self.key = active.user_id, key
        self.hub.subscribe(user_key(active.user_id), self.connection)
        self.user_data.add(key, self)
        # A revocation committed while this request was being checked could not see
        # this subscription: ask again now that a revocation would find it.
        if await self.gateway.key_store().active(key) is None:
            self.unsubscribe()
            raise unauthorized()
        return {"subscriptionId": SUBSCRIPTION_ID}

    def unsubscribe(self) -> None:
        if self.user is not None:
            self.hub.unsubscribe(user_key(self.user), self.connection)
            self.user = None
        if self.key is not None:
            self.user_data.discard(self.key, self)
            self.key = None

    def stop_subscription(self, params: dict[str, Any]) -> dict[str, Any]:
        """`userDataStream.unsubscribe`: all subscriptions, or the one `subscriptionId`
        names "if it exists" (Binance's words): another id closes nothing."""
        if self.user is None:
            raise refusal(SUBSCRIPTION_INACTIVE)
        named = params.get("subscriptionId")
        if (
            named is not None
            and Params({"subscriptionId": str(named)}).integer("subscriptionId") != SUBSCRIPTION_ID
        ):
            return {}
        self.end_stream()
        return {}

    def end_stream(self) -> None:
        """Unsubscribe; the stream's last event says it ended (`eventStreamTerminated`)."""
        if self.user is None:
            return
        self.unsubscribe()
        event = {"e": "eventStreamTerminated", "E": ms(time.time_ns())}
        self.connection.offer(Frame(user_event(_encode(event))))

    def terminate(self) -> None:
        """The subscription's API key was revoked: no event after the stream's end, then
        close."""
        if self.user is None:
            return
        self.end_stream()
        self.connection.close(CLOSE_KEY_REVOKED, "API key revoked")


class _Charge:
    """What one connection's requests cost: its client address's weight, and whether
    its answers show `rateLimits` unless a request says otherwise."""

    def __init__(self, limits: BinanceLimits, address: str, shown: bool) -> None:
        self.limits = limits
        self.address = address
        self.default_shown = shown

    def admit(self, weight: int) -> Budget:
        return self.limits.admit(self.address, weight)

    def shown(self, params: Any) -> bool:
        asked = params.get("returnRateLimits") if isinstance(params, dict) else None
        return self.default_shown if asked is None else _true(asked)


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


async def websocket_api(
    socket: AsgiWebSocket, gateway: Gateway, user_data: UserDataSubscriptions, limits: BinanceLimits
) -> None:
    client = socket.client
    shown = socket.query_params.get("returnRateLimits")
    charge = _Charge(limits, client.host if client else "unknown", shown is None or _true(shown))
    refusal = charge.admit(CONNECTION_WEIGHT).refusal
    if refusal is not None:
        await socket.close(code=CLOSE_TRY_AGAIN_LATER, reason=refusal.message[:120])
        return
    opened = await open_connection(socket, gateway)
    if opened is None:
        return
    hub, connection = opened
    session = _ApiSession(gateway, user_data, hub, connection, charge)
    try:
        await serve(socket, hub, connection, session.handle)
    finally:
        session.unsubscribe()

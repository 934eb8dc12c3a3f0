"""Signed requests (TRADE and USER_DATA): API key, permission, timestamp, signature.

Checks run in Binance's order: the key (-2014 malformed, -2015 unknown, revoked or
lacking the permission), then `timestamp`/`recvWindow` (-1021), then the HMAC over the
raw query string and raw body (-1022).
"""

import re
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from trade_engine.binance import signing
from trade_engine.binance.errors import (
    AHEAD_OF_SERVER_TIME,
    INVALID_SIGNATURE,
    KEY_FORMAT,
    OUTSIDE_RECV_WINDOW,
    RECV_WINDOW_TOO_LARGE,
    illegal,
    mandatory,
    refusal,
    unauthorized,
)
from trade_engine.binance.params import Params
from trade_engine.domain import identifiers
from trade_engine.domain.timestamps import NS_PER_MS
from trade_engine.edge.gateway import Gateway
from trade_engine.storage.apikeys import ActiveKey

READ: Final = "read"
TRADE: Final = "trade"
DEFAULT_RECV_WINDOW: Final = Decimal(5000)
MAX_RECV_WINDOW: Final = Decimal(60000)
_KEY: Final = re.compile(identifiers.API_KEY)  # fullmatch
_TIMESTAMP: Final = re.compile(r"[0-9]{1,16}")
_RECV_WINDOW: Final = re.compile(r"[0-9]{1,5}(?:\.[0-9]{1,3})?")


@dataclass(frozen=True)
class Caller:
    user_id: str
    permissions: frozenset[str]


async def api_key(gateway: Gateway, key: str | None, permission: str) -> ActiveKey:
    if not key or _KEY.fullmatch(key) is None:
        raise refusal(KEY_FORMAT)
    active = await gateway.key_store().active(key)
    if active is None or permission not in active.permissions:
        raise unauthorized()
    return active


def check_time(params: Params, now_ms: float | None = None) -> None:
    """`timestamp < now + 1000` and `now - timestamp <= recvWindow` (at most 60000)."""
    raw = params.text("timestamp")
    if raw is None:
        raise mandatory("timestamp")
    if _TIMESTAMP.fullmatch(raw) is None:
        raise illegal("timestamp", "^[0-9]{1,20}$")
    window = DEFAULT_RECV_WINDOW
    raw_window = params.text("recvWindow")
    if raw_window is not None:
        if _RECV_WINDOW.fullmatch(raw_window) is None:
            raise illegal("recvWindow", "^[0-9]{1,5}(\\.[0-9]{1,3})?$")
        try:
            window = Decimal(raw_window)
        except InvalidOperation as error:  # pragma: no cover - the pattern admits only decimals
            raise illegal("recvWindow", "^[0-9]{1,5}$") from error
        if window > MAX_RECV_WINDOW:
            raise refusal(RECV_WINDOW_TOO_LARGE)
    now = Decimal(time.time_ns()) / NS_PER_MS if now_ms is None else Decimal(now_ms)
    timestamp = Decimal(raw)
    if timestamp >= now + 1000:
        raise refusal(AHEAD_OF_SERVER_TIME)
    if now - timestamp > window:
        raise refusal(OUTSIDE_RECV_WINDOW)


async def verify_request(
    gateway: Gateway,
    *,
    key: str | None,
    permission: str,
    params: Params,
    query: bytes,
    body: bytes,
) -> Caller:
    active = await api_key(gateway, key, permission)
    check_time(params)
    payload, signature = signing.signed_payload(query, body)
    if signature is None:
        if "signature" not in params:
            raise mandatory("signature")
        raise refusal(INVALID_SIGNATURE)
    if not signing.verify(active.secret, payload, signature):
        raise refusal(INVALID_SIGNATURE)
    return Caller(active.user_id, active.permissions)

"""The native WebSocket protocol (`/ws`): every message, channel name and close code.

Messages are JSON text frames, one message per frame. Client messages carry `op`;
server messages carry `type`. docs/websocket.md is the reference for clients; this
module is the same thing as code. Amounts are decimal strings and times Unix
milliseconds, as in the REST API; `commit_time_us` (Unix microseconds) is when the
oldest change a message carries was committed.
"""

from dataclasses import dataclass
from typing import Annotated, Any, Final

import msgspec
from msgspec import Meta, Struct

from trade_engine.api.schemas import BalanceView, CandleView, FillView, OrderUpdateView, TickerView, TradeView
from trade_engine.marketdata.candles import INTERVALS

# -- close codes -----------------------------------------------------------------------------

# The protocol's own; RFC 6455's (going away, try again later) are in edge/websocket.py.
CLOSE_IDLE: Final = 4000  # nothing received for websocket.idle_timeout_seconds
CLOSE_SLOW_CONSUMER: Final = 4001  # the client's queue overflowed
CLOSE_TOKEN_EXPIRED: Final = 4002  # the authenticated token expired

# -- channels ---------------------------------------------------------------------------------

TRADES: Final = "trades"
BOOK: Final = "book"
TICKER: Final = "ticker"
CANDLES: Final = "candles"
ORDERS: Final = "orders"
FILLS: Final = "fills"
BALANCES: Final = "balances"
PUBLIC: Final = frozenset({TRADES, BOOK, TICKER})
PRIVATE: Final = frozenset({ORDERS, FILLS, BALANCES})


@dataclass(frozen=True)
class Channel:
    """A parsed channel name: `trades:BTC-USDT`, `book:BTC-USDT`, `ticker:BTC-USDT`,
    `candles:BTC-USDT:1m`, or one of the private `orders`, `fills`, `balances`."""

    name: str
    kind: str
    market: str | None = None
    interval: str | None = None

    @property
    def private(self) -> bool:
        return self.kind in PRIVATE


def parse_channel(name: str) -> Channel | None:
    """The channel a name denotes, or None if it is not a channel name at all."""
    parts = name.split(":")
    kind = parts[0]
    if len(parts) == 1 and kind in PRIVATE:
        return Channel(name, kind)
    if len(parts) == 2 and kind in PUBLIC and parts[1]:
        return Channel(name, kind, parts[1])
    if len(parts) == 3 and kind == CANDLES and parts[1] and parts[2] in INTERVALS:
        return Channel(name, kind, parts[1], parts[2])
    return None


# -- client -> server ----------------------------------------------------------------------------

RequestId = Annotated[int | str | None, Meta(description="echoed in the answer")]
ChannelName = Annotated[str, Meta(max_length=64)]


class Subscribe(Struct, tag="subscribe", tag_field="op", forbid_unknown_fields=True):
    channels: Annotated[list[ChannelName], Meta(min_length=1, max_length=100)]
    id: RequestId = None


class Unsubscribe(Struct, tag="unsubscribe", tag_field="op", forbid_unknown_fields=True):
    channels: Annotated[list[ChannelName], Meta(min_length=1, max_length=100)]
    id: RequestId = None


class Ping(Struct, tag="ping", tag_field="op", forbid_unknown_fields=True):
    id: RequestId = None


class Authenticate(Struct, tag="authenticate", tag_field="op", forbid_unknown_fields=True):
    token: Annotated[str, Meta(max_length=8192)]
    id: RequestId = None


ClientMessage = Subscribe | Unsubscribe | Ping | Authenticate
client_decoder: Final = msgspec.json.Decoder(ClientMessage)

# -- server -> client: answers and notices ---------------------------------------------------------


class ErrorBody(Struct):
    code: str
    message: str
    details: Any = None


class Error(Struct, tag="error", tag_field="type"):
    """A request failed (it changed nothing), or a notice before the server closes."""

    id: RequestId
    error: ErrorBody


class Subscribed(Struct, tag="subscribed", tag_field="type"):
    id: RequestId
    channels: list[str]


class Unsubscribed(Struct, tag="unsubscribed", tag_field="type"):
    id: RequestId
    channels: list[str]


class Authenticated(Struct, tag="authenticated", tag_field="type"):
    id: RequestId
    user_id: str


class Pong(Struct, tag="pong", tag_field="type"):
    id: RequestId
    time: int


class Heartbeat(Struct, tag="heartbeat", tag_field="type"):
    time: int


# -- server -> client: channel data -------------------------------------------------------------

Level = tuple[str, str]


class BookSnapshot(Struct, tag="book_snapshot", tag_field="type"):
    """Every level of the committed book; `seq` is the channel sequence the next delta
    continues (it will carry seq + 1); `market_seq` lines it up with REST depth."""

    channel: str
    market: str
    seq: int
    market_seq: int
    bids: list[Level]
    asks: list[Level]


class BookDelta(Struct, tag="book_delta", tag_field="type"):
    """Levels changed since the previous delta, with their new total quantity ("0":
    the level is gone). `seq` is exactly one more than the previous delta's."""

    channel: str
    market: str
    seq: int
    market_seq: int
    commit_time_us: int
    bids: list[Level]
    asks: list[Level]


class Trades(Struct, tag="trades", tag_field="type"):
    channel: str
    market: str
    commit_time_us: int
    trades: list[TradeView]


class TickerUpdate(Struct, tag="ticker", tag_field="type"):
    channel: str
    market: str
    commit_time_us: int | None
    ticker: TickerView


class CandleUpdate(Struct, tag="candles", tag_field="type"):
    """The candles of the buckets that changed, oldest first (two when an update spans
    a bucket edge: the final state of the bucket that closed, then the new one)."""

    channel: str
    market: str
    interval: str
    commit_time_us: int | None
    candles: list[CandleView]


class Orders(Struct, tag="orders", tag_field="type"):
    channel: str
    commit_time_us: int
    updates: list[OrderUpdateView]


class Fills(Struct, tag="fills", tag_field="type"):
    channel: str
    commit_time_us: int
    fills: list[FillView]


class Balances(Struct, tag="balances", tag_field="type"):
    """The new balances of the assets that changed (all of them on subscribe)."""

    channel: str
    commit_time_us: int | None
    balances: list[BalanceView]


encode: Final = msgspec.json.Encoder().encode


def combine(messages: list[bytes]) -> bytes:
    """Several messages in one frame (connections with `?batch=true`): a JSON array."""
    return b"[" + b",".join(messages) + b"]"


def error(request_id: RequestId, code: str, message: str, details: Any = None) -> bytes:
    return encode(Error(request_id, ErrorBody(code, message, details)))

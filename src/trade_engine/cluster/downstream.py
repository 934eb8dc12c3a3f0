"""What downstream consumers read: per-market and per-user messages of each committed
batch (docs/cluster.md, "Events"). Versioned msgspec values, MessagePack-encoded,
like every message of the core port (core/messages.py).

- `MarketEvents` on `<name>.market.<symbol>`: the market's public events of one batch
  (trades, book levels, status; no user ids) and the range of the market's own sequence
  numbers the batch used (its private events included), so the ranges are gap-free: a
  consumer that sees `first_seq` ≠ its last `last_seq` + 1 has missed a batch.
- `UserEvents` on `<name>.user.<user>`: one user's private events of one batch (its
  orders, fills, trades, transfers) and the committed value of every balance of theirs
  the batch changed, with the batch's global sequence number (balances span markets).
"""

from typing import Final

import msgspec

from trade_engine.core.messages import AnyEvent, BalanceState, CommittedBatch
from trade_engine.engine import BookLevelChanged, MarketStatusChanged, TradeExecuted

VERSION: Final = 1
PUBLIC: Final = (TradeExecuted, BookLevelChanged, MarketStatusChanged)


class MarketEvents(msgspec.Struct, frozen=True, kw_only=True):
    market: str
    first_seq: int  # the first market sequence number the batch used
    last_seq: int  # the last
    events: list[AnyEvent]
    v: int = VERSION


class UserEvents(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    seq: int  # the batch's global sequence number
    events: list[AnyEvent]
    balances: list[BalanceState]
    v: int = VERSION


_encoder: Final = msgspec.msgpack.Encoder()


def _users_of(event: AnyEvent) -> tuple[str, ...]:
    if isinstance(event, TradeExecuted):
        return (event.maker_user_id, event.taker_user_id)
    user = getattr(event, "user_id", None)
    return (user,) if isinstance(user, str) else ()


def split(batch: CommittedBatch) -> tuple[list[MarketEvents], list[UserEvents]]:
    """A committed batch as per-market and per-user messages."""
    markets: dict[str, list[AnyEvent]] = {}
    ranges: dict[str, tuple[int, int]] = {}
    users: dict[str, list[AnyEvent]] = {}
    for event in batch.events:
        market, seq = getattr(event, "market", None), getattr(event, "seq", None)
        if isinstance(market, str) and isinstance(seq, int):
            first = ranges.get(market)
            ranges[market] = (seq if first is None else first[0], seq)
            if isinstance(event, PUBLIC):
                markets.setdefault(market, []).append(event)
        if not isinstance(event, BookLevelChanged):
            for user in _users_of(event):
                users.setdefault(user, []).append(event)
    balances: dict[str, list[BalanceState]] = {}
    for balance in batch.balances:
        balances.setdefault(balance.user_id, []).append(balance)
        users.setdefault(balance.user_id, [])
    market_messages = [
        MarketEvents(market=market, first_seq=first, last_seq=last, events=markets.get(market, []))
        for market, (first, last) in ranges.items()
    ]
    user_messages = [
        UserEvents(user_id=user, seq=batch.seq, events=events, balances=balances.get(user, []))
        for user, events in users.items()
    ]
    return market_messages, user_messages


def encode(message: MarketEvents | UserEvents) -> bytes:
    return _encoder.encode(message)


def decode_market(data: bytes) -> MarketEvents:
    return msgspec.msgpack.decode(data, type=MarketEvents)


def decode_user(data: bytes) -> UserEvents:
    return msgspec.msgpack.decode(data, type=UserEvents)

"""Recovery and the canonical snapshot: state in and out of the engine other than by
commands.

The restore calls rebuild the state a durable store recorded, on start; they trust
their input (storage's consistency check, `trade-engine verify`, runs on the result).
`snapshot` encodes every piece of state canonically, so that two engines holding the
same state compare equal however they came to hold it (the replay and property tests
compare them byte for byte).

Owns: both directions of that. Must not touch: anything a command does; a restore emits
no events and takes no sequence numbers.
"""

from sys import intern
from typing import Any, Final

import msgspec

from trade_engine.domain.market import Market
from trade_engine.domain.units import Ticks
from trade_engine.domain.vocabulary import ORDER_TYPES, SIDES, STP_MODES, TIMES_IN_FORCE
from trade_engine.engine.book import Level
from trade_engine.engine.markets import register
from trade_engine.engine.order import Order
from trade_engine.engine.state import EngineState

# The engine's own words, by value: a restored order's side, type, time in force and
# self-trade prevention mode become these very strings.
_WORDS: Final[dict[str, str]] = {word: word for word in SIDES | ORDER_TYPES | TIMES_IN_FORCE | STP_MODES}


def restore_market(state: EngineState, market: Market, status: str, seq: int, last_price: int) -> None:
    m = register(state, market)
    m.status, m.seq, m.last_price = status, seq, Ticks(last_price)


def restore_balance(state: EngineState, user_id: str, asset: str, available: int, locked: int) -> None:
    account = state.account(user_id)
    account.available[asset] = available
    account.locked[asset] = locked


def restore_order(state: EngineState, order: Order) -> None:
    """Put back an open order or pending stop; call in each book's time priority.

    Its texts become shared ones: a store hands over a fresh string per field of every
    row, and a million restored orders would otherwise keep six million copies of a few
    words (measured: half the memory of a restart, and a slower check of it)."""
    m = state.markets[order.market]
    order.market = m.symbol
    order.user_id = intern(order.user_id)
    order.side = _WORDS.get(order.side, order.side)
    order.order_type = _WORDS.get(order.order_type, order.order_type)
    order.time_in_force = _WORDS.get(order.time_in_force, order.time_in_force)
    order.stp_mode = _WORDS.get(order.stp_mode, order.stp_mode)
    account = state.account(order.user_id)
    account.orders[order.id] = order
    if order.client_order_id is not None:
        account.client_ids[order.client_order_id] = order
    if order.pending:
        m.stops.add(order)
    else:
        m.book(order.side).add(order)


def snapshot(state: EngineState) -> bytes:
    """Every piece of engine state, encoded canonically: keys sorted, zero balances and
    empty accounts left out."""
    accounts = {}
    for user_id, account in state.accounts.items():
        entry = {
            "available": {asset: v for asset, v in account.available.items() if v},
            "locked": {asset: v for asset, v in account.locked.items() if v},
            "orders": [o.to_dict() for o in sorted(account.orders.values(), key=_order_id)],
            "client_ids": {k: o.id for k, o in account.client_ids.items()},
        }
        if any(entry.values()):
            accounts[user_id] = entry
    stops: list[int] = []
    for m in state.markets.values():
        stops.extend(m.stops.orders)
    canonical = {
        "next_order_id": state.next_order_id,
        "next_trade_id": state.next_trade_id,
        "next_transfer_id": state.next_transfer_id,
        "assets": state.assets,
        "supply": {asset: v for asset, v in state.supply.items() if v},
        "references": state.references,
        "markets": {
            symbol: {
                "status": m.status,
                "seq": m.seq,
                "last_price": m.last_price,
                "bids": [_level_state(level) for level in m.bids.in_price_order()],
                "asks": [_level_state(level) for level in m.asks.in_price_order()],
                "rise_stops": m.stops.rising,
                "fall_stops": m.stops.falling,
            }
            for symbol, m in state.markets.items()
        },
        "accounts": accounts,
        "stops": sorted(stops),
    }
    return msgspec.msgpack.encode(canonical, order="sorted")


def _level_state(level: Level) -> tuple[int, int, list[dict[str, Any]]]:
    return level.price, level.total, [order.to_dict() for order in level.live_orders()]


def _order_id(order: Order) -> int:
    return order.id

"""An image of the engine's whole state, the form a snapshot stores it in for restarts.

A restart from the tables reads every open order as a row and builds it field by field
(about three seconds for a million). An image is the same state in the engine's own
terms, in parts that decode and restore without one string made per order:

- part 0, the header: the id counters, assets, supply, transfer references, markets
  (rules, status, sequence, last price), every account's balances, and the table of
  texts the orders use (users, markets, sides, types, times in force, self-trade
  prevention modes) by index;
- then the open orders, at most `ORDERS_PER_PART` per part, in groups: each market's
  bids and asks level by level (worst price first, so that restoring a level appends
  its key to the end of the side's sorted keys rather than shifting them all), each
  level's orders in time priority; then the market's pending stops. Restored in that
  order, each book is the one imaged (a stop's place is its key, not its arrival). A
  plain resting order (most of a deep book) is five values; others are every value.

Owns: both directions. Pure like every engine module: the caller stores the parts
(storage/snapshots.py) and decides when to take one (core/snapshotter.py).
"""

from collections.abc import Iterator
from typing import Any, Final

import msgspec

from trade_engine.domain.market import Market
from trade_engine.domain.order_meta import meta_of_text, meta_text
from trade_engine.domain.units import Minor, Ticks
from trade_engine.domain.vocabulary import GTC, LIMIT
from trade_engine.engine.accounts import Account
from trade_engine.engine.markets import register
from trade_engine.engine.order import Order
from trade_engine.engine.state import EngineState, MarketState

IMAGE_VERSION: Final = 1
ORDERS_PER_PART: Final = 50_000
# The kinds of group an order part holds: one price level's orders (a level may span
# parts), or one market's pending stops.
LEVEL: Final = 0
STOPS: Final = 1


class ImageError(Exception):
    """An image this engine cannot read (another version, or parts out of order)."""


def image_parts(state: EngineState, per_part: int = ORDERS_PER_PART) -> Iterator[bytes]:
    """The state as encoded parts: the header, then the orders."""
    encode = msgspec.msgpack.encode
    index: dict[str, int] = {}
    texts: list[str] = []
    for text in _texts(state):
        if text not in index:
            index[text] = len(texts)
            texts.append(text)
    header = {
        "v": IMAGE_VERSION,
        "counters": [state.next_order_id, state.next_trade_id, state.next_transfer_id],
        "assets": state.assets,
        "supply": state.supply,
        "references": state.references,
        "markets": [[m.market, m.status, m.seq, m.last_price] for m in state.markets.values()],
        "accounts": [
            [user_id, account.available, account.locked] for user_id, account in state.accounts.items()
        ],
        "texts": texts,
        "orders": sum(len(account.orders) for account in state.accounts.values()),
    }
    yield encode(header)
    part: list[list[Any]] = []
    count = 0
    for m in state.markets.values():
        market = index[m.symbol]
        for side in (m.bids, m.asks):
            side_index, sign, levels = index[side.side], side.sign, side.levels
            for key in side.keys:  # worst price first: see the module's docstring
                price = key * sign
                rows: list[list[Any]] = []
                for order in levels[price].orders:
                    if order.remaining <= 0:
                        continue
                    rows.append(_row(order, m, index))
                    count += 1
                    if count == per_part:
                        part.append([LEVEL, market, side_index, price, rows])
                        yield encode(part)
                        part, rows, count = [], [], 0
                if rows:
                    part.append([LEVEL, market, side_index, price, rows])
        rows = []
        for order in m.stops.orders.values():
            rows.append(_full_row(order, index))
            count += 1
            if count == per_part:
                part.append([STOPS, market, rows])
                yield encode(part)
                part, rows, count = [], [], 0
        if rows:
            part.append([STOPS, market, rows])
    if part:
        yield encode(part)


def _row(order: Order, m: MarketState, index: dict[str, int]) -> list[Any]:
    """A resting order: five values when it is a plain one (a good-till-cancelled limit
    order with the market's self-trade prevention, nothing traded, no client id or
    labels: most of a deep book), every value otherwise."""
    if (
        order.order_type == LIMIT
        and order.time_in_force == GTC
        and order.stp_mode == m.stp_mode
        and order.client_order_id is None
        and order.meta is None
        and not order.post_only
        and order.executed == 0
        and order.filled_quote == 0
        and order.fee_numer == 0
        and order.stop_price == 0
        and order.quote_quantity == 0
    ):
        return [order.id, index[order.user_id], order.quantity, order.remaining, order.created_ts]
    return _full_row(order, index)


def _full_row(order: Order, index: dict[str, int]) -> list[Any]:
    return [
        order.id,
        index[order.user_id],
        index[order.market],
        index[order.side],
        index[order.order_type],
        index[order.time_in_force],
        order.price,
        order.stop_price,
        order.quantity,
        order.quote_quantity,
        order.remaining,
        order.client_order_id,
        index[order.stp_mode],
        order.post_only,
        order.created_ts,
        order.pending,
        order.executed,
        order.filled_quote,
        order.fee_numer,
        meta_text(order.meta),
    ]


def _texts(state: EngineState) -> Iterator[str]:
    yield from state.accounts
    for m in state.markets.values():
        yield m.symbol
        yield m.bids.side
        yield m.asks.side
    for account in state.accounts.values():
        for order in account.orders.values():
            yield order.order_type
            yield order.time_in_force
            yield order.stp_mode


def header_orders(data: bytes) -> int:
    """How many orders the image whose header is `data` holds."""
    return int(_header(data)["orders"])


def _header(data: bytes) -> dict[str, Any]:
    header = msgspec.msgpack.decode(data)
    if not isinstance(header, dict) or header.get("v") != IMAGE_VERSION:
        raise ImageError(f"not an image of version {IMAGE_VERSION}")
    return header


def restore_header(state: EngineState, data: bytes) -> tuple[list[str], int]:
    """Restore everything but the orders; (the text table the order parts use, how many
    orders they hold)."""
    header = _header(data)
    for definition, status, seq, last_price in header["markets"]:
        m = register(state, msgspec.convert(definition, Market))
        m.status, m.seq, m.last_price = status, seq, Ticks(last_price)
    state.assets = dict(header["assets"])
    state.supply = dict(header["supply"])
    state.references = dict(header["references"])
    state.next_order_id, state.next_trade_id, state.next_transfer_id = header["counters"]
    texts: list[str] = header["texts"]
    shared = {text: text for text in texts}
    for user_id, available, locked in header["accounts"]:
        account = state.account(shared.get(user_id, user_id))
        account.available = dict(available)
        account.locked = dict(locked)
    return [shared[text] for text in texts], int(header["orders"])


def restore_orders(state: EngineState, data: bytes, texts: list[str]) -> int:
    """Restore one part of orders (after the header and every earlier part); how many.

    A level's orders go into their level in one step, each order built from typed locals
    (compiled: a check and an unboxing per value rather than a generic unpacking)."""
    groups = msgspec.msgpack.decode(data)
    if not isinstance(groups, list):
        raise ImageError("an order part is not a list")
    accounts = state.accounts
    restored = 0
    for group in groups:
        values: list[Any] = group
        m = state.markets[texts[values[1]]]
        if values[0] == STOPS:
            for row in values[2]:
                order = _full_order(row, texts)
                _own(accounts[order.user_id], order)
                m.stops.add(order)
                restored += 1
            continue
        side: str = texts[values[2]]
        price: int = values[3]
        orders: list[Order] = []
        for row in values[4]:
            fields: list[Any] = row
            if len(fields) == 5:
                user_id: str = texts[fields[1]]
                order = Order(
                    id=fields[0],
                    user_id=user_id,
                    market=m.symbol,
                    side=side,
                    order_type=LIMIT,
                    time_in_force=GTC,
                    price=Ticks(price),
                    stop_price=Ticks(0),
                    quantity=fields[2],
                    quote_quantity=Minor(0),
                    remaining=fields[3],
                    client_order_id=None,
                    stp_mode=m.stp_mode,
                    post_only=False,
                    created_ts=fields[4],
                )
            else:
                order = _full_order(fields, texts)
            _own(accounts[order.user_id], order)
            orders.append(order)
        m.book(side).add_orders(Ticks(price), orders)
        restored += len(orders)
    return restored


def _own(account: Account, order: Order) -> None:
    account.orders[order.id] = order
    if order.client_order_id is not None:
        account.client_ids[order.client_order_id] = order


def _full_order(row: list[Any], texts: list[str]) -> Order:
    meta: str | None = row[19]
    return Order(
        id=row[0],
        user_id=texts[row[1]],
        market=texts[row[2]],
        side=texts[row[3]],
        order_type=texts[row[4]],
        time_in_force=texts[row[5]],
        price=row[6],
        stop_price=row[7],
        quantity=row[8],
        quote_quantity=row[9],
        remaining=row[10],
        client_order_id=row[11],
        stp_mode=texts[row[12]],
        post_only=row[13],
        created_ts=row[14],
        pending=row[15],
        executed=row[16],
        filled_quote=row[17],
        fee_numer=row[18],
        meta=None if meta is None else meta_of_text(meta),
    )

"""One market's order book: price levels in price-time priority.

Each side keeps `levels` (price -> Level) and `keys`, the sorted list of its active
prices arranged so the best price is always at the end: bids store `price`, asks store
`-price`. Best price, appending to a level and removing the best level are O(1); a new
or emptied inner level costs one bisect and a memmove.

A level is a FIFO deque of orders. Cancelling an order in the middle of a deque would be
O(n), so a cancelled order is only marked (its `remaining` set to 0) and counted as
`dead`; stale entries are skipped when they reach the head and the deque is compacted
when they outnumber the live ones. `total` is always the exact live quantity.

This module owns the shape of a book and nothing else: it moves no funds, emits no
events and knows no order rules. Matching walks it (matching.py); the stages that take
orders out go through `remove`.
"""

from bisect import bisect_left, insort
from collections import deque

from trade_engine.domain.units import Lots, Ticks
from trade_engine.engine.order import Order

_COMPACT_AT = 32


class Level:
    __slots__ = ("dead", "orders", "price", "total")

    def __init__(self, price: Ticks) -> None:
        self.price = price
        self.orders: deque[Order] = deque()
        self.total = Lots(0)
        self.dead = 0

    def live_orders(self) -> list[Order]:
        return [order for order in self.orders if order.remaining > 0]


class BookSide:
    __slots__ = ("keys", "levels", "side", "sign")

    def __init__(self, side: str, sign: int) -> None:
        self.side = side
        self.sign = sign
        self.keys: list[int] = []
        # By price (`Ticks`); `keys` holds sign × price.
        self.levels: dict[int, Level] = {}

    def best_price(self) -> Ticks | None:
        return Ticks(self.keys[-1] * self.sign) if self.keys else None

    def add(self, order: Order) -> None:
        """Append an order at the back of its price level."""
        price = order.price
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price)
            insort(self.keys, price * self.sign)
        else:
            order.price = level.price  # share one int object per level: memory
        level.orders.append(order)
        level.total = Lots(level.total + order.remaining)

    def add_orders(self, price: Ticks, orders: list[Order]) -> None:
        """Append `orders` (all at `price`) at the back of its level, in order: a restore
        puts a level back in one step."""
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price)
            insort(self.keys, price * self.sign)
        shared, total = level.price, level.total
        for order in orders:
            order.price = shared
            total = Lots(total + order.remaining)
        level.orders.extend(orders)
        level.total = total

    def reduce(self, order: Order, remaining: Lots) -> None:
        """Shrink a resting order in place: it keeps its time priority."""
        level = self.levels[order.price]
        level.total = Lots(level.total - (order.remaining - remaining))
        order.remaining = remaining

    def remove(self, order: Order) -> None:
        """Take an open order out of the book (cancel, expiry, loss of priority)."""
        level = self.levels[order.price]
        level.total = Lots(level.total - order.remaining)
        order.remaining = Lots(0)
        if level.orders[0] is order:
            level.orders.popleft()
        else:
            level.dead += 1
        if level.total == 0:
            self.drop(level)
        elif level.dead > _COMPACT_AT and level.dead * 2 > len(level.orders):
            # In place: a matching loop may hold a reference to this very deque.
            live = level.live_orders()
            level.orders.clear()
            level.orders.extend(live)
            level.dead = 0

    def drop(self, level: Level) -> None:
        """Forget an empty level."""
        del self.levels[level.price]
        keys = self.keys
        key = level.price * self.sign
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def depth(self, limit: int) -> list[tuple[int, int]]:
        """Aggregated (price, quantity) per level, best first."""
        sign, levels = self.sign, self.levels
        return [(key * sign, levels[key * sign].total) for key in reversed(self.keys[-limit:])]

    def in_price_order(self) -> list[Level]:
        """Every level, best first."""
        sign, levels = self.sign, self.levels
        return [levels[key * sign] for key in reversed(self.keys)]

    def orders_at(self, price: int) -> list[Order]:
        level = self.levels.get(price)
        return level.live_orders() if level else []

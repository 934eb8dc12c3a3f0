"""One market's pending stop and take-profit orders, in firing order.

A conditional order fires either when the trade price rises to its stop price (buy
stops, sell take-profits) or when it falls to it (sell stops, buy take-profits):
`fires_on_rise` is the one place that direction is decided. Each direction keeps a
sorted list of (key, order id) whose next order to fire is at index 0: rises by (stop
price, id), falls by (-stop price, id), so each goes in stop-price order and, within a
price, oldest first.

This module owns that data structure only. Firing an order (trading it) is stops.py;
its hold is risk.py and release.py; it emits no events.
"""

from bisect import bisect_left, insort

from trade_engine.domain.units import Ticks
from trade_engine.domain.vocabulary import BUY, STOP_LIMIT, STOP_MARKET
from trade_engine.engine.order import Order


def fires_on_rise(side: str, order_type: str) -> bool:
    """Whether a conditional order fires when the price rises to its stop price (a buy
    stop, a sell take-profit) rather than when it falls to it (a sell stop, a buy
    take-profit)."""
    return (side == BUY) == (order_type in (STOP_LIMIT, STOP_MARKET))


class StopBook:
    __slots__ = ("falling", "orders", "rising")

    def __init__(self) -> None:
        self.rising: list[tuple[int, int]] = []
        self.falling: list[tuple[int, int]] = []
        # The pending orders themselves, by id.
        self.orders: dict[int, Order] = {}

    def add(self, order: Order) -> None:
        self.orders[order.id] = order
        if fires_on_rise(order.side, order.order_type):
            insort(self.rising, (order.stop_price, order.id))
        else:
            insort(self.falling, (-order.stop_price, order.id))

    def remove(self, order: Order) -> None:
        """Take a pending order out (cancelled or expired before it fired)."""
        del self.orders[order.id]
        key: tuple[int, int]
        if fires_on_rise(order.side, order.order_type):
            stops, key = self.rising, (order.stop_price, order.id)
        else:
            stops, key = self.falling, (-order.stop_price, order.id)
        del stops[bisect_left(stops, key)]

    def pop_due(self, high: Ticks, low: Ticks) -> Order | None:
        """Take out the next order that trade prices between `low` and `high` reach.

        When both directions have a reached order, the older one (lower id) goes first.
        """
        rising, falling = self.rising, self.falling
        up = rising[0] if rising and rising[0][0] <= high else None
        down = falling[0] if falling and -falling[0][0] >= low else None
        if up is None and down is None:
            return None
        if up is not None and (down is None or up[1] < down[1]):
            del rising[0]
            order_id = up[1]
        else:
            del falling[0]
            assert down is not None
            order_id = down[1]
        return self.orders.pop(order_id)

    def in_firing_order(self) -> list[Order]:
        """Those that fire on a rise, then those that fire on a fall, each in order."""
        orders = self.orders
        return [orders[order_id] for _, order_id in self.rising] + [
            orders[order_id] for _, order_id in self.falling
        ]

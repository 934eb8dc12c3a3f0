"""Orders that closed lately (filled, cancelled, expired): their final status, by id and
by client order id, for the most recent `capacity` of them.

A cancel or amend of an order that is no longer open is answered with why (409
ORDER_NOT_OPEN and the status), which needs the order's final state. The tables hold it
only once written behind the journal, so reading them waits for that write; the order
that just filled is the common case and is answered from here instead. An order closed
longer ago than this holds is looked up in the tables, which by then have it.
"""

from collections import OrderedDict
from collections.abc import Iterable
from typing import Final

from trade_engine.domain.lifecycle import is_open
from trade_engine.readmodel.orders import OrderModel

CAPACITY: Final = 10_000


class ClosedOrders:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._by_id: OrderedDict[int, tuple[str, str | None, str]] = OrderedDict()
        self._by_client_id: dict[tuple[str, str], int] = {}

    def record(self, orders: Iterable[OrderModel]) -> None:
        """Keep the orders among `orders` that are closed (a batch's order updates)."""
        for order in orders:
            if is_open(order.status):
                continue
            self._by_id[order.order_id] = (order.user_id, order.client_order_id, order.status)
            if order.client_order_id is not None:
                self._by_client_id[(order.user_id, order.client_order_id)] = order.order_id
            if len(self._by_id) > self._capacity:
                self._forget()

    def _forget(self) -> None:
        _, (user_id, client_order_id, _) = oldest = self._by_id.popitem(last=False)
        if client_order_id is not None:
            key = (user_id, client_order_id)
            if self._by_client_id.get(key) == oldest[0]:
                del self._by_client_id[key]

    def status(self, user_id: str, order_id: int | None, client_order_id: str | None) -> str | None:
        """The final status of the user's order, if it closed lately (None: not known here)."""
        if order_id is None:
            if client_order_id is None:
                return None
            found = self._by_client_id.get((user_id, client_order_id))
            if found is None:
                return None
            order_id = found
        closed = self._by_id.get(order_id)
        if closed is None or closed[0] != user_id:
            return None
        if client_order_id is not None and closed[1] != client_order_id:
            return None
        return closed[2]

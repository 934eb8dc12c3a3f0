"""Binance's order count per account (ORDERS, `X-MBX-ORDER-COUNT-10S`/`-1D`), the same in
every gateway of a cluster.

An account may spread its orders over several gateways, so no gateway can count them
from its own requests alone. Every gateway's read model gets every committed batch, so
each counts the orders the batches accept (through any gateway, and through either API:
Binance counts per account), plus the orders of its own requests that are still in
flight, which no batch has yet. An order of this gateway is counted once: when its
batch arrives it moves from in flight to counted. An order whose request ended before
its batch arrived here is counted at once, and its batch, if it comes, is not counted
again. That is the usual case: the readers get a batch in the loop's turn after its
answers (readmodel/views.py). It is also the case of an order refused, one of unknown
outcome, and one answered while the read model is behind. An order refused before it
reached the core counts only on the gateway that refused it: Binance says refused
orders may or may not count.

Two gateways thus agree within the time a committed batch takes to reach both (a few
milliseconds; docs/cluster.md says what that leaves open). In `serve` there is one
gateway and the same rules count every order once. Windows are fixed and aligned to
this process's clock (edge/ratelimit.py); an order counts in the window it is counted
in here, which at a window's edge may be the next one.
"""

import time
from collections.abc import Callable
from typing import Final

from trade_engine.domain.lifecycle import OrderChange
from trade_engine.edge.ratelimit import FixedWindows
from trade_engine.readmodel.views import ViewBatch

OrderKey = tuple[str, str | None]  # (user, client order id): how a batch names an order
_AWAIT_SECONDS: Final = 120.0  # how long a batch may still come for an order counted early
_MAX_AWAITED: Final = 100_000


class OrderCounts:
    def __init__(self, windows: tuple[FixedWindows, ...], clock: Callable[[], float] = time.time) -> None:
        self.windows = windows
        self._clock = clock
        self._in_flight: dict[OrderKey, int] = {}
        self._in_flight_of: dict[str, int] = {}  # per user
        # Orders counted before their batch came: how many per key (a client order id is
        # free again once its order closes, so one batch may accept two), and when last.
        self._awaited: dict[OrderKey, tuple[int, float]] = {}

    def counts(self, user_id: str) -> list[int]:
        """The user's orders in each window, those in flight included."""
        pending = self._in_flight_of.get(user_id, 0)
        return [window.count(user_id) + pending for window in self.windows]

    def start(self, key: OrderKey) -> None:
        """An order of this gateway goes to the core."""
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        user_id = key[0]
        self._in_flight_of[user_id] = self._in_flight_of.get(user_id, 0) + 1

    def refused(self, user_id: str) -> None:
        """An order refused here (over the limit): it counts here, and goes nowhere."""
        self._add(user_id)

    def end(self, key: OrderKey) -> None:
        """The order's request is answered. If its batch has not come, count it now."""
        if not self._leave(key):
            return
        self._add(key[0])
        now = self._clock()
        awaited = self._awaited
        earlier = awaited.get(key)
        awaited[key] = (1 if earlier is None else earlier[0] + 1, now)
        if len(awaited) > _MAX_AWAITED:
            self._awaited = {k: v for k, v in awaited.items() if now - v[1] < _AWAIT_SECONDS}

    def on_view(self, view: ViewBatch) -> None:
        """A committed batch: every order it accepted counts, once."""
        for update in view.orders:
            if update.change is not OrderChange.NEW:
                continue
            order = update.order
            key = (order.user_id, order.client_order_id)
            if self._leave(key) or not self._came(key):
                self._add(order.user_id)

    def _came(self, key: OrderKey) -> bool:
        """The batch of an order counted before it came: True (it is not counted again),
        or False if no such order is awaited."""
        earlier = self._awaited.get(key)
        if earlier is None:
            return False
        if earlier[0] > 1:
            self._awaited[key] = (earlier[0] - 1, earlier[1])
        else:
            del self._awaited[key]
        return True

    def _leave(self, key: OrderKey) -> bool:
        """Take one order off in flight; False if none such is."""
        left = self._in_flight.get(key)
        if left is None:
            return False
        if left > 1:
            self._in_flight[key] = left - 1
        else:
            del self._in_flight[key]
        user_id = key[0]
        pending = self._in_flight_of[user_id] - 1
        if pending:
            self._in_flight_of[user_id] = pending
        else:
            del self._in_flight_of[user_id]
        return True

    def _add(self, user_id: str) -> None:
        for window in self.windows:
            window.add(user_id)

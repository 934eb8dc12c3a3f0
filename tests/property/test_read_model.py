"""The order read model against the engine: after every command of a long random flow,
the read model's open orders are exactly the engine's (terms and running totals), and
every change it reports carries the status the lifecycle table gives.

The read model sees only the events, the engine is the reference; a disagreement means
a status, a total or a term is derived wrongly somewhere downstream of the engine.
"""

import msgspec

from tests.property.test_replay import random_flow
from trade_engine.core.local import state_of
from trade_engine.domain.lifecycle import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    OrderChange,
    OrderStatus,
    status_after,
)
from trade_engine.engine import CommandRejected, Engine, OrderFilled, TradeExecuted
from trade_engine.readmodel.orders import OpenOrders, OrderModel

TERMINAL = (OrderChange.FILLED, OrderChange.CANCELED, OrderChange.EXPIRED)


def comparable(order: OrderModel) -> OrderModel:
    """Without what the engine does not keep (the time of the last change)."""
    return msgspec.structs.replace(order, updated_ts=0)


def test_open_orders_follow_the_engine_through_a_random_flow() -> None:
    engine = Engine()
    orders = OpenOrders()
    changes: set[OrderChange] = set()
    for command in random_flow(seed=11, count=4000):
        events = engine.apply(command)
        if len(events) == 1 and isinstance(events[0], CommandRejected):
            continue
        updates, fills = orders.apply(events)
        trades = [event for event in events if isinstance(event, TradeExecuted)]
        assert len(fills) == 2 * len(trades)
        filled = {event.order_id for event in events if isinstance(event, OrderFilled)}
        for update in updates:
            changes.add(update.change)
            status = update.order.status
            if update.change in TERMINAL:
                assert status in CLOSED_STATUSES
                assert orders.get(update.order.order_id) is None
            else:
                assert status in OPEN_STATUSES
            if update.change is OrderChange.TRADE:
                assert update.fill is not None
                assert update.fill.order_id == update.order.order_id
                if update.completes:
                    assert update.order.order_id in filled
        committed = state_of(engine, 0).orders
        expected = {order.order_id: comparable(order) for order in committed}
        actual = {}
        for order_id in expected:
            found = orders.get(order_id)
            assert found is not None, order_id
            actual[order_id] = comparable(found)
        assert actual == expected
        assert len(orders) == len(expected)
    # The flow reaches every kind of change.
    assert changes == set(OrderChange)


def test_the_lifecycle_table_gives_each_change_its_status() -> None:
    assert status_after(OrderChange.EXPIRED, 3, "SELF_TRADE_PREVENTION") is OrderStatus.EXPIRED_IN_MATCH
    assert status_after(OrderChange.EXPIRED, 3, "IOC") is OrderStatus.EXPIRED
    assert status_after(OrderChange.TRADE, 3, completes=True) is OrderStatus.FILLED
    assert status_after(OrderChange.AMENDED, 0) is OrderStatus.NEW
    assert status_after(OrderChange.TRIGGERED, 2) is OrderStatus.PARTIALLY_FILLED

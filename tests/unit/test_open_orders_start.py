"""The read model's open orders, started from a reader's state (readmodel/orders.py):
its indexes answer as if each order had been added one by one, whether a
user's orders arrive together (as the engine hands them over) or interleaved."""

import pytest

from trade_engine.readmodel.orders import OpenOrders, OrderModel


def order(order_id: int, user_id: str, client_order_id: str | None = None) -> OrderModel:
    return OrderModel(
        order_id=order_id,
        user_id=user_id,
        market="BTC-USDT",
        side="BUY",
        order_type="LIMIT",
        time_in_force="GTC",
        price=100 + order_id,
        stop_price=0,
        quantity=1,
        quote_quantity=0,
        client_order_id=client_order_id,
        stp_mode="NONE",
        post_only=False,
        created_ts=order_id,
        updated_ts=order_id,
    )


@pytest.mark.parametrize(
    "owners",
    [["ann", "ann", "bob", "bob", "cy"], ["ann", "bob", "ann", "cy", "bob"], ["ann"] * 5, []],
)
def test_orders_a_reader_starts_from_are_found_by_user_id_and_client_id(owners: list[str]) -> None:
    orders = [order(n, user, f"c-{n}" if n % 2 else None) for n, user in enumerate(owners, 1)]
    started = OpenOrders(orders)
    assert len(started) == len(orders)
    for user in set(owners) | {"nobody"}:
        mine = [o.order_id for o in orders if o.user_id == user]
        assert [o.order_id for o in started.of_user(user)] == mine
    for o in orders:
        assert started.get(o.order_id) == o
        assert started.find(o.user_id, None, o.client_order_id) == (o if o.client_order_id else None)
        assert started.find("nobody", o.order_id, None) is None
    # Taken from a generator too (not only a list).
    assert len(OpenOrders(iter(orders))) == len(orders)


def test_a_users_open_orders_are_listed_oldest_first_whatever_order_they_came_in() -> None:
    """A restarted engine hands its orders over book by book (engine/image.py, the
    tables by priority), not in the order they were placed in; orders accepted after
    the start come after them."""
    handed_over = [order(n, "ann") for n in (7, 3, 9, 1)]
    started = OpenOrders(handed_over)
    started._add(order(12, "ann"))
    started._add(order(10, "ann"))  # committed after 12 in this made-up history: still by id
    assert [o.order_id for o in started.of_user("ann")] == [1, 3, 7, 9, 10, 12]

"""The read model's lately closed orders: the final status of an order that is no longer
open, by id or client order id, for the user who owns it, within a bounded memory."""

from trade_engine.domain.lifecycle import OrderStatus
from trade_engine.readmodel.closed import ClosedOrders
from trade_engine.readmodel.orders import OrderModel


def order(
    order_id: int, status: OrderStatus, *, user: str = "u1", client_id: str | None = None
) -> OrderModel:
    return OrderModel(
        order_id=order_id,
        user_id=user,
        market="BTC-USDT",
        side="BUY",
        order_type="LIMIT",
        time_in_force="GTC",
        price=100,
        stop_price=0,
        quantity=10,
        quote_quantity=0,
        client_order_id=client_id,
        stp_mode="NONE",
        post_only=False,
        created_ts=1,
        updated_ts=2,
        status=status,
    )


def test_closed_orders_are_found_by_id_or_client_id_for_their_owner_only() -> None:
    closed = ClosedOrders()
    closed.record(
        [
            order(1, OrderStatus.FILLED, client_id="a"),
            order(2, OrderStatus.CANCELED),
            order(3, OrderStatus.PARTIALLY_FILLED),  # still open: not kept
        ]
    )
    assert closed.status("u1", 1, None) == "FILLED"
    assert closed.status("u1", None, "a") == "FILLED"
    assert closed.status("u1", 1, "a") == "FILLED"
    assert closed.status("u1", 2, None) == "CANCELED"
    assert closed.status("u2", 1, None) is None  # someone else's order
    assert closed.status("u1", 1, "b") is None  # the id and the client id disagree
    assert closed.status("u1", 3, None) is None
    assert closed.status("u1", None, None) is None


def test_a_reused_client_id_names_the_latest_order_and_memory_stays_bounded() -> None:
    closed = ClosedOrders(capacity=2)
    closed.record([order(1, OrderStatus.CANCELED, client_id="a")])
    closed.record([order(2, OrderStatus.FILLED, client_id="a")])
    assert closed.status("u1", None, "a") == "FILLED"
    closed.record([order(3, OrderStatus.EXPIRED)])  # the oldest, order 1, is forgotten
    assert closed.status("u1", 1, None) is None
    assert closed.status("u1", None, "a") == "FILLED"  # order 2 still holds the client id
    closed.record([order(4, OrderStatus.EXPIRED)])  # and now order 2
    assert closed.status("u1", None, "a") is None
    assert closed.status("u1", 4, None) == "EXPIRED"

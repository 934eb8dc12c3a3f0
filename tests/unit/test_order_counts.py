"""Binance's order count per account from committed batches (binance/ordercounts.py):
every gateway counts every accepted order once, its own included, whether the batch
comes before or after its request is answered, plus its own orders still in flight."""

from trade_engine.binance.ordercounts import OrderCounts
from trade_engine.domain.lifecycle import OrderChange
from trade_engine.edge.ratelimit import FixedWindows
from trade_engine.readmodel.orders import OrderModel, OrderUpdate
from trade_engine.readmodel.views import ViewBatch


def counts() -> OrderCounts:
    clock = lambda: 1_000.0  # noqa: E731 - one window throughout
    return OrderCounts((FixedWindows(10, clock), FixedWindows(86_400, clock)), clock)


def accepted(user: str, client_id: str | None, order_id: int = 1) -> ViewBatch:
    order = OrderModel(
        order_id=order_id, user_id=user, market="BTC-USDT", side="BUY", order_type="LIMIT",
        time_in_force="GTC", price=1, stop_price=0, quantity=1, quote_quantity=0,
        client_order_id=client_id, stp_mode="NONE", post_only=False, created_ts=0, updated_ts=0,
    )  # fmt: skip
    return ViewBatch(
        seq=order_id, commit_ns=0, ts=0, orders=[OrderUpdate(change=OrderChange.NEW, order=order)]
    )


def test_orders_committed_through_another_gateway_count_here() -> None:
    here = counts()
    here.on_view(accepted("alice", "elsewhere-1"))
    here.on_view(accepted("alice", None, 2))  # the native API's, without a client id
    assert here.counts("alice") == [2, 2]
    assert here.counts("bob") == [0, 0]


def test_an_order_of_this_gateway_counts_once_whether_its_batch_comes_first_or_last() -> None:
    here = counts()
    here.start(("alice", "a"))
    assert here.counts("alice") == [1, 1]  # in flight
    here.on_view(accepted("alice", "a"))
    here.end(("alice", "a"))
    assert here.counts("alice") == [1, 1]
    here.start(("alice", "b"))
    here.end(("alice", "b"))  # answered before the batch reached this read model
    assert here.counts("alice") == [2, 2]
    here.on_view(accepted("alice", "b", 2))
    assert here.counts("alice") == [2, 2]


def test_orders_that_never_commit_still_count_where_they_were_tried() -> None:
    here = counts()
    here.start(("alice", "rejected"))
    here.end(("alice", "rejected"))
    here.refused("alice")  # over the limit: not sent
    assert here.counts("alice") == [2, 2]


def test_two_orders_with_one_client_id_answered_before_their_batch_count_twice_not_three_times() -> None:
    """A client order id is free again once its order closes, so one batch may accept
    two orders with the same id (the first one immediate-or-cancel). In one process their
    requests are answered before the batch reaches the counts (readmodel/views.py)."""
    here = counts()
    for _ in range(2):
        here.start(("alice", "same"))
    for _ in range(2):
        here.end(("alice", "same"))
    assert here.counts("alice") == [2, 2]
    here.on_view(accepted("alice", "same", 1))
    here.on_view(accepted("alice", "same", 2))
    assert here.counts("alice") == [2, 2]
    here.on_view(accepted("alice", "same", 3))  # a third, through another gateway: counted
    assert here.counts("alice") == [3, 3]

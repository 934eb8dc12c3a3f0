"""Restoring open orders (engine/restore.py): the state comes back equal, and the
restored orders share their texts instead of keeping a copy each, as a database driver
hands them over (a fresh string per field of every row)."""

from typing import Any

from tests.unit.helpers import SYMBOL, buy, make_engine, restored_copy, sell
from trade_engine.domain.vocabulary import BUY, GTC, LIMIT, SELL, STP_MODES
from trade_engine.engine import Order, PlaceOrder


def fresh(text: str) -> str:
    """An equal string that is another object."""
    return "".join(list(text))


def as_read_from_a_store(order: Order) -> Order:
    values: dict[str, Any] = {
        name: fresh(value) if isinstance(value, str) else value for name, value in order.to_dict().items()
    }
    return Order(**values, meta=order.meta)


def test_restored_orders_share_their_texts_and_the_state_is_equal() -> None:
    original = make_engine("alice", "bob")
    for step in range(10):
        buy(original, "alice", 1, 9_000 + step, client_order_id=f"a-{step}")
        sell(original, "bob", 1, 11_000 + step)
    copy = restored_copy(original, last_price=0, convert=as_read_from_a_store)

    assert copy.snapshot() == original.snapshot()
    orders = copy.all_open_orders()
    assert len(orders) == 20
    assert all(o.side is BUY or o.side is SELL for o in orders)
    assert all(o.order_type is LIMIT and o.time_in_force is GTC for o in orders)
    assert all(any(o.stp_mode is mode for mode in STP_MODES) for o in orders)
    assert len({id(o.market) for o in orders}) == 1
    for user in ("alice", "bob"):
        assert len({id(o.user_id) for o in orders if o.user_id == user}) == 1
    # The restored engine trades on as the original does.
    crossing = PlaceOrder(ts=10**6, user_id="alice", market=SYMBOL, side=BUY, quantity=2, price=11_000)
    assert copy.apply(crossing) == original.apply(crossing)
    assert copy.snapshot() == original.snapshot()

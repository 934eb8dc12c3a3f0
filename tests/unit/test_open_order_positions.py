"""The open orders a reader starts from are built by position (core/local.state_of from
the engine's `open_orders_as`: a million at a restart): every field lands where its
name says, for orders with every kind of value."""

import msgspec

from tests.unit.helpers import SYMBOL, buy, make_engine, sell
from trade_engine.core.local import state_of
from trade_engine.domain.order_meta import OrderMeta
from trade_engine.domain.vocabulary import BUY, SELL
from trade_engine.engine import PlaceOrder
from trade_engine.engine.holds import fee_charged

STOP = PlaceOrder(
    ts=7,
    user_id="carol",
    market=SYMBOL,
    side=SELL,
    order_type="STOP_LIMIT",
    quantity=3,
    price=9_000,
    stop_price=9_100,
    client_order_id="stop-1",
    meta=OrderMeta(strategy_id=42, strategy_type=1_000_001),
)


def test_every_field_of_a_restored_reader_state_is_where_its_name_says() -> None:
    engine = make_engine("alice", "bob", "carol")
    sell(engine, "bob", 5, 10_000, client_order_id="ask-1", post_only=True)
    buy(engine, "alice", 2, 10_000)  # bob's ask is now partly filled and has paid a fee
    buy(engine, "alice", 1, 9_500, stp_mode="EXPIRE_BOTH", time_in_force="GTC")
    engine.apply(STOP)
    originals = {order.id: order for order in engine.all_open_orders()}

    state = state_of(engine, seq=11)

    assert len(state.orders) == len(originals) == 3
    assert {o.pending for o in state.orders} == {True, False}
    assert any(o.executed and o.fee for o in state.orders)
    for open_order in state.orders:
        order = originals[open_order.order_id]
        expected = {name: value for name, value in order.to_dict().items() if name != "id"}
        expected.pop("remaining")
        expected["fee"] = fee_charged(expected.pop("fee_numer"))
        expected["meta"] = order.meta
        got = msgspec.structs.asdict(open_order)
        assert got.pop("order_id") == order.id
        # What the read model adds: the time of the last change (the engine keeps only
        # the creation time), no reason while open, and the status by the lifecycle.
        assert (got.pop("updated_ts"), got.pop("reason")) == (order.created_ts, None)
        assert got.pop("status") == ("PARTIALLY_FILLED" if order.executed else "NEW")
        assert got == expected
    assert {o.side for o in state.orders} == {BUY, SELL}

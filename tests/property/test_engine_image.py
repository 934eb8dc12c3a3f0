"""An engine restored from its image (engine/image.py: what a snapshot stores) holds the
same state and behaves exactly like the original, imaged at any point of a random flow
(all order types, amends, cancels, stops, deposits and withdrawals over two markets),
whatever the size of the parts."""

import msgspec
import pytest

from tests.property.test_ledger_and_restore import assert_continues_alike, run_flow
from trade_engine.engine import Engine
from trade_engine.engine.image import LEVEL, ImageError, image_parts, restore_header


def from_image(parts: list[bytes]) -> Engine:
    engine = Engine()
    texts, expected = engine.restore_image_header(parts[0])
    restored = sum(engine.restore_image_orders(part, texts) for part in parts[1:])
    assert restored == expected
    return engine


@pytest.mark.parametrize(("seed", "per_part"), [(0, 7), (1, 50), (2, 1_000), (3, 1), (4, 13), (5, 100_000)])
def test_an_engine_restored_from_its_image_continues_exactly_like_the_original(seed, per_part):
    engine, _, _ = run_flow(seed, 1_200)
    parts = list(image_parts(engine._state, per_part))
    open_orders = len(engine.all_open_orders())
    assert open_orders > 0
    assert len(parts) == 1 + -(-open_orders // per_part)
    twin = from_image(parts)
    assert twin.counters() == engine.counters()
    assert_continues_alike(engine, twin, seed)


def test_the_flows_imaged_hold_resting_orders_and_pending_stops() -> None:
    """What the test above images is not trivial: books several orders deep and stops."""
    engines = [run_flow(seed, 1_200)[0] for seed in range(5)]
    orders = [order for engine in engines for order in engine.all_open_orders()]
    assert len(orders) > 20
    # Both forms of a resting order (image.py: plain ones in five values) are imaged.
    groups = [
        group
        for engine in engines
        for part in list(engine.image_parts())[1:]
        for group in msgspec.msgpack.decode(part)
    ]
    sizes = {len(row) for group in groups if group[0] == LEVEL for row in group[4]}
    assert sizes == {5, 20}
    assert any(order.pending for order in orders)
    assert any(not order.pending for order in orders)


def test_an_empty_engine_images_to_a_header_alone() -> None:
    parts = list(Engine().image_parts())
    assert len(parts) == 1
    assert from_image(parts).snapshot() == Engine().snapshot()


def test_an_image_of_another_version_is_refused() -> None:
    header = msgspec.msgpack.decode(next(Engine().image_parts()))
    header["v"] += 1
    with pytest.raises(ImageError):
        restore_header(Engine()._state, msgspec.msgpack.encode(header))

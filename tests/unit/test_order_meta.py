"""Order labels: stored as JSON and read back equal; Binance's parameters and names."""

import msgspec
import pytest

from trade_engine.binance.wire import meta_fields, meta_of
from trade_engine.domain.order_meta import OrderMeta, meta_of_text, meta_text


def test_labels_are_stored_as_json_and_read_back_equal() -> None:
    meta = OrderMeta(strategy_id=9, strategy_type=1_000_000)
    text = meta_text(meta)
    assert text == '{"strategy_id":9,"strategy_type":1000000}'
    assert meta_of_text(text) == meta
    assert meta_text(None) is None
    assert meta_text(OrderMeta()) is None  # no label: nothing stored


def test_binance_parameters_become_labels_and_labels_binance_fields() -> None:
    meta = meta_of({"symbol": "BTCUSDT", "strategyId": "12", "strategyType": "1000002"})
    assert meta == OrderMeta(strategy_id=12, strategy_type=1_000_002)
    assert meta_of({"symbol": "BTCUSDT"}) is None
    assert meta_fields(meta) == {"strategyId": 12, "strategyType": 1_000_002}
    assert meta_fields(OrderMeta(strategy_id=3), event=True) == {"j": 3}
    assert meta_fields(None) == {}
    with pytest.raises(msgspec.ValidationError, match="strategy_type"):
        meta_of({"strategyType": "999999"})
    with pytest.raises(msgspec.ValidationError, match="strategy_id"):
        meta_of({"strategyId": "seven"})


@pytest.mark.parametrize("value", ["9007199254740993.0", "1e3", "12.9", "0x10", " 12", "+12"])
def test_a_label_that_is_not_a_plain_integer_is_refused_not_rounded(value: str) -> None:
    # Read laxly, these went through a float: 9007199254740993.0 became ...992, 1e3 1000.
    with pytest.raises(msgspec.ValidationError, match="strategy_id"):
        meta_of({"strategyId": value})
    with pytest.raises(msgspec.ValidationError, match="strategy_type"):
        meta_of({"strategyType": "1000000.9999999999999999"})
    assert meta_of({"strategyId": "0012"}) == OrderMeta(strategy_id=12)  # Binance's integer rule

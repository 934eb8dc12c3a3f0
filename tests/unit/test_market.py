"""Markets: an operator's decimal spec validated once into integer rules."""

from decimal import ROUND_HALF_UP, Decimal, localcontext

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.market import MarketSpec, asset_text, asset_units, market_from_spec
from trade_engine.domain.vocabulary import MAX_AMOUNT

from .helpers import MARKET, SPEC


def spec_code(**changes: object) -> ErrorCode:
    with pytest.raises(TradeEngineError) as caught:
        market_from_spec(msgspec.structs.replace(SPEC, **changes))
    return caught.value.code


def test_spec_becomes_integer_rules():
    assert (MARKET.base, MARKET.quote) == ("BTC", "USDT")
    assert MARKET.quote_per_tick_lot == 10  # 0.01 × 0.00001 = 1e-7 USDT = 10 minor units
    assert MARKET.base_per_lot == 1_000  # 0.00001 BTC = 1,000 minor units
    assert (MARKET.maker_fee, MARKET.taker_fee) == (1_000, 2_000)
    assert (MARKET.min_price, MARKET.max_price) == (1, 100_000_000)
    assert (MARKET.min_quantity, MARKET.max_quantity) == (1, 1_000_000_000)
    assert MARKET.min_notional == 0
    assert (MARKET.stp_mode, MARKET.status) == ("EXPIRE_MAKER", "TRADING")


def test_explicit_limits_convert_to_ticks_lots_and_minor_units():
    market = market_from_spec(
        msgspec.structs.replace(
            SPEC, min_price="0.10", max_price="500", min_quantity="0.001", max_quantity="2", min_notional="5"
        )
    )
    assert (market.min_price, market.max_price) == (10, 50_000)
    assert (market.min_quantity, market.max_quantity) == (100, 200_000)
    assert market.min_notional == 500_000_000


@pytest.mark.parametrize("ticks", [1, 7, 100, 12_345, 100_000_000])
def test_price_text_round_trips(ticks):
    assert MARKET.price_ticks(MARKET.price_text(ticks)) == ticks


@pytest.mark.parametrize("lots", [1, 99_999, 100_000, 1_000_000_000])
def test_quantity_text_round_trips(lots):
    assert MARKET.quantity_lots(MARKET.quantity_text(lots)) == lots


def test_texts_carry_the_grid_places():
    assert MARKET.price_text(12_345) == "123.45"
    assert MARKET.quantity_text(1) == "0.00001"
    assert MARKET.quantity_text(100_000) == "1.00000"
    assert MARKET.quote_text(1) == "0.00000001"
    assert MARKET.base_text(150_000_000) == "1.50000000"


def test_quote_and_asset_amounts_round_trip():
    assert MARKET.quote_units("12.5") == 1_250_000_000
    assert MARKET.quote_units(MARKET.quote_text(1_250_000_000)) == 1_250_000_000
    assert asset_units("0.00000001", 8) == 1
    assert asset_text(asset_units("42.1", 2), 2) == "42.10"


def test_price_off_tick_and_quantity_off_step_are_rejected():
    market = market_from_spec(msgspec.structs.replace(SPEC, tick_size="0.05", step_size="0.002"))
    with pytest.raises(TradeEngineError) as price:
        market.price_ticks("10.01")
    with pytest.raises(TradeEngineError) as quantity:
        market.quantity_lots("0.003")
    assert price.value.code == ErrorCode.OFF_TICK
    assert quantity.value.code == ErrorCode.OFF_STEP


def test_price_finer_than_the_tick_is_too_precise():
    with pytest.raises(TradeEngineError) as caught:
        MARKET.price_ticks("100.001")
    assert caught.value.code == ErrorCode.TOO_PRECISE


def test_quantity_beyond_62_bits_is_out_of_range():
    with pytest.raises(TradeEngineError) as caught:
        MARKET.quantity_lots(str(MAX_AMOUNT))
    assert caught.value.code == ErrorCode.VALUE_OUT_OF_RANGE


@pytest.mark.parametrize(
    "symbol", ["BTCUSDT", "btc-usdt", "BTC-", "-USDT", "BTC-USDT-X", "BTC_USDT", "BTC-BTC"]
)
def test_spec_with_bad_symbol_is_rejected(symbol):
    assert spec_code(symbol=symbol) == ErrorCode.INVALID_MARKET


def test_spec_whose_tick_times_step_is_not_a_whole_quote_unit_is_rejected():
    # 0.01 × 0.00001 = 1e-7, finer than a 6-decimal quote asset can hold.
    assert spec_code(quote_decimals=6) == ErrorCode.INVALID_MARKET


def test_spec_whose_step_is_not_a_whole_base_unit_is_rejected():
    assert spec_code(base_decimals=4) == ErrorCode.INVALID_MARKET


@pytest.mark.parametrize("field", ["tick_size", "step_size"])
@pytest.mark.parametrize("value", ["0", "-0.01"])
def test_spec_with_non_positive_tick_or_step_is_rejected(field, value):
    assert spec_code(**{field: value}) == ErrorCode.INVALID_MARKET


def test_spec_with_minimum_above_maximum_is_rejected():
    assert spec_code(min_price="10", max_price="5") == ErrorCode.INVALID_MARKET
    assert spec_code(min_quantity="2", max_quantity="1") == ErrorCode.INVALID_MARKET


def test_spec_whose_largest_order_exceeds_62_bits_is_rejected():
    assert spec_code(max_price="100000000", max_quantity="100000") == ErrorCode.INVALID_MARKET


@pytest.mark.parametrize("rate", ["1", "1.5", "2"])
def test_spec_with_fee_rate_of_one_or_more_is_rejected(rate):
    assert spec_code(maker_fee=rate) == ErrorCode.VALUE_OUT_OF_RANGE
    assert spec_code(taker_fee=rate) == ErrorCode.VALUE_OUT_OF_RANGE


def test_fee_rates_are_exact_millionths_and_may_be_zero():
    market = market_from_spec(msgspec.structs.replace(SPEC, maker_fee="0", taker_fee="0.999999"))
    assert (market.maker_fee, market.taker_fee) == (0, 999_999)
    assert spec_code(taker_fee="0.0000001") == ErrorCode.TOO_PRECISE
    assert spec_code(maker_fee="-0.001") == ErrorCode.NEGATIVE_VALUE


def test_spec_with_unknown_stp_mode_or_status_is_rejected():
    assert spec_code(stp_mode="EXPIRE_ALL") == ErrorCode.INVALID_MARKET
    assert spec_code(status="OPEN") == ErrorCode.INVALID_MARKET


def test_spec_with_asset_decimals_out_of_range_is_rejected():
    assert spec_code(base_decimals=19) == ErrorCode.INVALID_MARKET
    assert spec_code(quote_decimals=-1) == ErrorCode.INVALID_MARKET


def test_spec_with_malformed_number_is_rejected_with_its_number_code():
    assert spec_code(tick_size="1e-2") == ErrorCode.INVALID_NUMBER
    assert spec_code(max_price="NaN") == ErrorCode.NOT_FINITE
    assert spec_code(min_notional="0.000000001") == ErrorCode.TOO_PRECISE


def test_fine_tick_and_step_are_kept_as_plain_decimal_strings():
    spec = MarketSpec(
        symbol="ETH-BTC",
        tick_size="0.0000001",
        step_size="0.0000001",
        quote_decimals=14,
        max_price="100",
        max_quantity="100",
    )
    market = market_from_spec(spec)
    assert (market.tick_size, market.step_size) == ("0.0000001", "0.0000001")
    # A market's own sizes are valid spec input again (configuration written back).
    again = market_from_spec(
        msgspec.structs.replace(spec, tick_size=market.tick_size, step_size=market.step_size)
    )
    assert again == market


def test_a_decoded_market_spec_is_refused_by_the_one_check_with_its_code():
    good = {"symbol": "ABC-USDT", "tick_size": "0.01", "step_size": "0.001"}
    assert market_from_spec(msgspec.json.decode(msgspec.json.encode(good), type=MarketSpec))
    for bad in ({"symbol": "abc"}, {"base_decimals": 19}, {"stp_mode": "X"}, {"status": "OPEN"}):
        spec = msgspec.json.decode(msgspec.json.encode({**good, **bad}), type=MarketSpec)
        with pytest.raises(TradeEngineError) as refused:
            market_from_spec(spec)
        assert refused.value.code == ErrorCode.INVALID_MARKET


AVERAGED_SPECS = [
    MarketSpec(symbol="BTC-USDT", tick_size="0.01", step_size="0.00001"),
    MarketSpec(symbol="ETH-USDT", tick_size="0.5", step_size="0.001", quote_decimals=6),
    MarketSpec(symbol="DOGE-USDT", tick_size="0.00001", step_size="1", base_decimals=0),
    MarketSpec(symbol="BIG-USD", tick_size="25", step_size="0.1", base_decimals=2, quote_decimals=2),
]


@pytest.mark.parametrize("spec", AVERAGED_SPECS, ids=lambda spec: spec.symbol)
@given(lots=st.integers(1, 10**12), quote_units=st.integers(0, 10**20), places=st.integers(0, 12))
def test_the_average_price_is_decimal_division_rounded_half_up(
    spec: MarketSpec, lots: int, quote_units: int, places: int
) -> None:
    market = market_from_spec(spec)
    places = max(places, len(spec.tick_size.partition(".")[2]))
    with localcontext() as context:
        context.prec = 80
        average = Decimal(market.quote_text(quote_units)) / Decimal(market.quantity_text(lots))
        expected = average.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    assert market.average_price_text(quote_units, lots, places) == format(expected, "f")


def test_the_average_price_at_the_half_rounds_up() -> None:
    market = market_from_spec(AVERAGED_SPECS[0])  # USDT at 8 decimals, lots of 0.00001 BTC
    assert market.average_price_text(500_000, 2, 2) == "250.00"  # 0.005 USDT for 0.00002 BTC
    assert market.average_price_text(1, 3, 8) == "0.00033333"  # 0.00000001 / 0.00003
    assert market.average_price_text(1, 16, 6) == "0.000063"  # 0.0000625: the half goes up
    assert market.average_price_text(0, 7, 2) == "0.00"


@pytest.mark.parametrize(
    ("tick_size", "step_size", "quote_decimals", "base_decimals"),
    [
        # Exactly 1.00000000000000000000000000002 quote units: 28 digits made it 1.
        ("0.50000000000000000000000000001", "2", 0, 0),
        # A step of 1.0000000000000000000000000001 base units: 28 digits made it 1.
        ("0.01", "1.0000000000000000000000000001", 2, 0),
    ],
)
def test_a_spec_off_the_grid_past_28_digits_is_rejected_not_rounded(
    tick_size: str, step_size: str, quote_decimals: int, base_decimals: int
) -> None:
    code = spec_code(
        tick_size=tick_size, step_size=step_size, quote_decimals=quote_decimals, base_decimals=base_decimals
    )
    assert code == ErrorCode.INVALID_MARKET

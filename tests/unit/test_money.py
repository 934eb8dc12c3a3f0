"""Decimal strings to engine integers and back: exact, or rejected with a reason."""

from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.market import asset_text
from trade_engine.domain.money import (
    decimal_places,
    from_units,
    parse_decimal,
    percent_text,
    to_units,
    units_text,
)

CENT = Decimal("0.01")


def units(text: object, unit: Decimal = CENT, *, allow_zero: bool = False) -> int:
    return to_units(text, unit, "price", off_grid=ErrorCode.OFF_TICK, max_units=10**12, allow_zero=allow_zero)


def code_of(text: object, unit: Decimal = CENT) -> ErrorCode:
    with pytest.raises(TradeEngineError) as caught:
        units(text, unit)
    return caught.value.code


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", 100), ("0.01", 1), ("123.45", 12345), ("2.5", 250), ("0.5", 50), ("7", 700), ("1.2300", 123)],
)
def test_plain_decimal_converts_to_exact_units(text, expected):
    assert units(text) == expected


@pytest.mark.parametrize("text", ["abc", "1e5", "1E5", "", " 1", "1 ", "1,000", "1.2.3", "0x10", "--1"])
def test_text_that_is_not_a_plain_decimal_is_invalid_number(text):
    assert code_of(text) == ErrorCode.INVALID_NUMBER


@pytest.mark.parametrize("text", ["+1", "+2.5", ".5", "7.", ".0", "1_000", "-.5"])
def test_signs_and_bare_points_are_not_decimal_text(text):
    # The grammar is -?[0-9]+(.[0-9]+)?: no plus sign, digits on both sides of a point.
    assert code_of(text) == ErrorCode.INVALID_NUMBER


@pytest.mark.parametrize(
    "text",
    [
        "\u0664\u0660\u0660\u0660\u0660",  # Arabic-Indic digits: int() and Decimal() read 40000
        "0.0\u0661",  # one Arabic-Indic digit in a fraction
        "\uff11",  # a full-width 1
        "\u0967\u0966",  # Devanagari 10
        "1\u0660",  # mixed scripts
        "\U0001d7cf",  # mathematical bold 1
    ],
)
def test_digits_of_other_scripts_are_not_decimal_text(text):
    assert int(text.replace(".", "")) >= 0  # what Python itself would have accepted
    assert code_of(text) == ErrorCode.INVALID_NUMBER
    with pytest.raises(TradeEngineError):
        parse_decimal(text, "price")


@pytest.mark.parametrize("value", [1.5, 1, None, b"1", Decimal("1")])
def test_non_string_values_are_invalid_number(value):
    assert code_of(value) == ErrorCode.INVALID_NUMBER


def test_overlong_text_is_invalid_number():
    assert code_of("1" + "0" * 64) == ErrorCode.INVALID_NUMBER


@pytest.mark.parametrize("text", ["NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", "+inf"])
def test_nan_and_infinity_are_not_finite(text):
    assert code_of(text) == ErrorCode.NOT_FINITE


@pytest.mark.parametrize("text", ["-1", "-0.01"])
def test_negative_value_is_rejected(text):
    assert code_of(text) == ErrorCode.NEGATIVE_VALUE


@pytest.mark.parametrize("text", ["-0", "-0.0"])
def test_a_signed_zero_is_refused_even_where_zero_is_allowed(text):
    # Regression: "-0" passed as a fee or a minimum notional (zero allowed there).
    assert code_of(text) == ErrorCode.NEGATIVE_VALUE
    with pytest.raises(TradeEngineError) as refused:
        units(text, allow_zero=True)
    assert refused.value.code == ErrorCode.NEGATIVE_VALUE


@pytest.mark.parametrize("text", ["0", "0.00"])
def test_zero_is_rejected_unless_allowed(text):
    assert code_of(text) == ErrorCode.ZERO_VALUE
    assert units(text, allow_zero=True) == 0


def test_more_decimals_than_the_unit_is_too_precise():
    assert code_of("1.001") == ErrorCode.TOO_PRECISE


def test_value_between_grid_points_is_off_grid():
    assert code_of("1.01", unit=Decimal("0.05")) == ErrorCode.OFF_TICK
    assert units("1.05", unit=Decimal("0.05")) == 21


def test_value_beyond_max_units_is_out_of_range():
    assert units("10000000000") == 10**12
    assert code_of("10000000000.01") == ErrorCode.VALUE_OUT_OF_RANGE


def test_rejection_names_the_field():
    with pytest.raises(TradeEngineError) as caught:
        parse_decimal("abc", "stop_price")
    assert caught.value.details == {"field": "stop_price"}
    assert "stop_price" in caught.value.message


def test_from_units_prints_exactly_the_unit_places():
    assert from_units(12345, CENT, 2) == "123.45"
    assert from_units(1, Decimal("0.00001"), 5) == "0.00001"
    assert from_units(0, CENT, 2) == "0.00"
    assert from_units(10**30, Decimal("0.00000001"), 8) == "10000000000000000000000.00000000"


@given(
    count=st.integers(min_value=-(10**30), max_value=10**30),
    unit=st.sampled_from(
        ["1", "5", "10", "0.01", "0.5", "0.00025", "0.00000001", "2.5", Decimal("0.010"), Decimal("25")]
    ),
    extra=st.integers(min_value=0, max_value=3),
)
def test_integers_become_the_text_decimal_prints(count: int, unit: str | Decimal, extra: int) -> None:
    """Against `Decimal` itself, for any sign, size and unit: the digits are sliced from
    the integer's text, so short values need their leading zeros and the sign in front."""
    places = decimal_places(Decimal(unit)) + extra
    with localcontext() as context:
        context.prec = 80
        expected = format((count * Decimal(unit)).quantize(Decimal(1).scaleb(-places)), "f")
        minor = format(Decimal(count).scaleb(-places), "f")
    assert from_units(count, unit, places) == expected
    if not extra:
        assert units_text(count, unit) == expected
    assert asset_text(count, places) == minor


def test_fewer_places_than_the_unit_has_are_refused_not_truncated() -> None:
    with pytest.raises(ValueError, match="places"):
        from_units(1, "0.001", 2)


def test_decimal_places_ignores_trailing_zeros():
    assert decimal_places(Decimal("0.0100")) == 2
    assert decimal_places(Decimal("100")) == 0
    assert decimal_places(Decimal("0.00000001")) == 8


def test_more_significant_digits_than_the_default_context_is_too_precise():
    # Regression: decimal_places normalised at the default 28-digit precision, which
    # rounded a long value and reported it as off-tick instead of too precise.
    assert code_of("1234567890123456789012345678.001") == ErrorCode.TOO_PRECISE
    assert decimal_places(Decimal("1234567890123456789012345678.001")) == 3


@given(
    part=st.integers(min_value=-(10**18), max_value=10**18),
    whole=st.integers(min_value=1, max_value=10**18),
    places=st.integers(min_value=0, max_value=4),
)
def test_a_percentage_rounds_half_away_from_zero_as_decimal_does(part: int, whole: int, places: int) -> None:
    with localcontext() as context:
        context.prec = 80
        expected = (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    assert percent_text(part, whole, places) == format(expected, "f")


def test_a_percentage_at_the_half_rounds_away_from_zero() -> None:
    assert percent_text(1, 8, 2) == "12.50"
    assert percent_text(-1, 800, 2) == "-0.13"
    assert percent_text(-1, 10**9, 3) == "-0.000"  # a fall too small to show keeps its sign

"""The only place decimal strings become engine integers, and integers become strings.

Inside the engine every amount is an integer count of a unit (a price tick, a quantity
step, an asset's minor unit). At the edges amounts are decimal strings. Conversion is
exact: a value that does not sit on the unit's grid is rejected with a code saying why,
never rounded.
"""

import re
from contextlib import AbstractContextManager
from decimal import Context, Decimal, localcontext
from functools import lru_cache
from typing import Annotated, Final

from msgspec import Meta

from trade_engine.domain.errors import ErrorCode, TradeEngineError

# The one grammar of decimal text: ASCII digits, at most one point with digits on both
# sides, and a leading "-" (which every amount here then refuses as NEGATIVE_VALUE, a more
# helpful answer than "not a number"). No "+", no exponent, no spaces, no separators, and
# no digits of other scripts: Python's `int()`, `Decimal()` and the regex `\d` accept
# Arabic-Indic and full-width digits, so nothing here uses them on unchecked text.
_PLAIN: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# What an amount field accepts (amounts are never negative): the OpenAPI descriptions
# state it with this pattern, and `to_units` enforces it.
UNSIGNED_DECIMAL_PATTERN: Final = r"^[0-9]+(\.[0-9]+)?$"
MAX_TEXT: Final = 64
# Decimal text as a declared type: the grammar is stated for clients (JSON Schema) and
# enforced by the parser below, which says precisely what is wrong.
DecimalText = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_TEXT,
        examples=["0.01"],
        description="a decimal string: ASCII digits, with an optional fraction",
        extra_json_schema={"pattern": UNSIGNED_DECIMAL_PATTERN},
    ),
]
_SPECIAL: Final = frozenset({"nan", "snan", "inf", "infinity"})
_PRECISION: Final = 200


def _refuse_text(text: object, field: str) -> None:
    """Raise the precise reason `text` is not decimal text, if it is not."""
    if not isinstance(text, str) or not text or len(text) > MAX_TEXT:
        raise TradeEngineError(ErrorCode.INVALID_NUMBER, f"{field} must be a decimal string", field=field)
    if _PLAIN.fullmatch(text) is None:
        if text.lstrip("+-").lower() in _SPECIAL:
            raise TradeEngineError(ErrorCode.NOT_FINITE, f"{field} must be a finite number", field=field)
        raise TradeEngineError(
            ErrorCode.INVALID_NUMBER,
            f"{field} is not a plain decimal number (ASCII digits with an optional fraction)",
            field=field,
        )


def parse_decimal(text: object, field: str) -> Decimal:
    """Parse decimal text strictly; JSON numbers (floats) are refused on purpose."""
    _refuse_text(text, field)
    assert isinstance(text, str)
    return Decimal(text)


def exact() -> AbstractContextManager[Context]:
    """A decimal context in which arithmetic on parsed text (MAX_TEXT characters each) is
    exact: the default's 28 digits would round a product of two such numbers silently."""
    return localcontext(prec=_PRECISION)


def decimal_places(unit: Decimal) -> int:
    """How many digits after the point a multiple of `unit` can need."""
    with exact():  # normalize() rounds to the context's precision
        exponent = unit.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


@lru_cache(maxsize=512)
def unit_parts(unit: Decimal | str) -> tuple[int, int]:
    """unit = mantissa * 10**exponent, the mantissa without trailing zeros.

    Cached: markets pass their tick and step sizes as strings, converted once.
    """
    with exact():
        sign, digits, exponent = Decimal(unit).normalize().as_tuple()
    assert isinstance(exponent, int)
    assert sign == 0
    return int("".join(map(str, digits))), exponent


def to_units(
    text: object,
    unit: Decimal | str,
    field: str,
    *,
    off_grid: ErrorCode,
    max_units: int,
    allow_zero: bool = False,
) -> int:
    """Convert a decimal string to a whole number of `unit`s, or reject it.

    Integer arithmetic only: this runs for every amount of every request.
    """
    _refuse_text(text, field)
    assert isinstance(text, str)
    sign = "-" if text[0] == "-" else ""
    whole, _, fraction = text[len(sign) :].partition(".")
    fraction = fraction.rstrip("0")
    number = int(whole + fraction)
    if sign:  # "-0" too: no amount here has a sign (the grammar allows one only where negatives exist)
        raise TradeEngineError(ErrorCode.NEGATIVE_VALUE, f"{field} must not be negative", field=field)
    if number == 0:
        if allow_zero:
            return 0
        raise TradeEngineError(ErrorCode.ZERO_VALUE, f"{field} must be greater than zero", field=field)
    mantissa, exponent = unit_parts(unit)
    places = len(fraction)
    if places > max(0, -exponent):
        raise TradeEngineError(
            ErrorCode.TOO_PRECISE,
            f"{field} has more than {max(0, -exponent)} decimal places",
            field=field,
        )
    # value / unit = number * 10**-places / (mantissa * 10**exponent)
    shift = -places - exponent
    numerator, denominator = (number * 10**shift, mantissa) if shift >= 0 else (number, mantissa * 10**-shift)
    count, rest = divmod(numerator, denominator)
    if rest:
        raise TradeEngineError(off_grid, f"{field} must be a multiple of {unit}", field=field)
    if count > max_units:
        raise TradeEngineError(ErrorCode.VALUE_OUT_OF_RANGE, f"{field} is too large", field=field)
    return count


def units_text(count: int, unit: Decimal | str) -> str:
    """Format `count` units with as many decimal places as the unit has."""
    multiplier, places = _unit_text_form(unit)
    return scaled_text(count * multiplier, places)


def from_units(count: int, unit: Decimal | str, places: int) -> str:
    """Format `count` units as a decimal string with exactly `places` digits after the point."""
    return scaled_text(count * _text_multiplier(unit, places), places)


def scaled_text(scaled: int, places: int) -> str:
    """`scaled` / 10**`places` as decimal text with exactly `places` digits after the point.

    By slicing the integer's digits: every price and amount of every answer and stream
    message comes through here, and this is about a third cheaper than `divmod` and a
    nested format spec (measured).
    """
    if not places:
        return str(scaled)
    sign = ""
    if scaled < 0:
        sign, scaled = "-", -scaled
    digits = str(scaled)
    if len(digits) <= places:
        digits = "0" * (places + 1 - len(digits)) + digits
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


@lru_cache(maxsize=512)
def _text_multiplier(unit: Decimal | str, places: int) -> int:
    """What turns a count of `unit` into its value scaled by 10**places (places ≥ the unit's)."""
    mantissa, exponent = unit_parts(unit)
    if exponent + places < 0:
        raise ValueError(f"{places} places cannot show every multiple of {unit}")
    return mantissa * int(10 ** (exponent + places))


@lru_cache(maxsize=512)
def _unit_text_form(unit: Decimal | str) -> tuple[int, int]:
    """`unit`'s multiplier and places for `units_text`, derived once per unit."""
    places = max(0, -unit_parts(unit)[1])
    return _text_multiplier(unit, places), places


def quotient_text(numerator: int, denominator: int, places: int) -> str:
    """`numerator / denominator` (neither negative, the denominator not zero) with `places`
    decimals, rounded half up, in integers: a display value (an average, a ratio)."""
    scale = 10**places
    rounded = (2 * numerator * scale + denominator) // (2 * denominator)
    whole_part, fraction = divmod(rounded, scale)
    return f"{whole_part}.{fraction:0{places}d}" if places else f"{whole_part}"


def percent_text(part: int, whole: int, places: int) -> str:
    """`part` as a percentage of `whole` (non-zero) with `places` decimals, rounded half
    away from zero, in integers (a display value: a price change in percent)."""
    sign = "-" if (part < 0) != (whole < 0) and part != 0 else ""
    return sign + quotient_text(abs(part) * 100, abs(whole), places)

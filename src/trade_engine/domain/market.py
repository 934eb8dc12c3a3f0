"""Markets: the operator's decimal description and the engine's integer rules.

`MarketSpec` is what configuration and admin APIs supply (decimal strings).
`market_from_spec` validates it once and produces a `Market`, whose every rule is an
integer in engine units, so the matching loop never touches a decimal:

- prices are counted in ticks, quantities in lots (quantity steps);
- balances are counted in each asset's minor unit (10**-decimals);
- `quote_per_tick_lot` turns ticks × lots into quote minor units exactly, and
  `base_per_lot` turns lots into base minor units exactly. A spec whose tick and step
  cannot be expressed exactly in the assets' minor units is refused.
"""

import re
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Final

import msgspec
from msgspec import Meta

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.identifiers import ASSET
from trade_engine.domain.money import (
    DecimalText,
    exact,
    from_units,
    parse_decimal,
    quotient_text,
    scaled_text,
    to_units,
    unit_parts,
    units_text,
)
from trade_engine.domain.vocabulary import (
    EXPIRE_MAKER,
    FEE_SCALE,
    MARKET_STATUSES,
    MAX_AMOUNT,
    STP_MODES,
    TRADING,
)

_SYMBOL: Final = re.compile(rf"({ASSET})-({ASSET})")
_MAX_DECIMALS: Final = 18


# The shapes of a market's fields, stated for clients (the OpenAPI description of the
# admin API) and enforced by `market_from_spec`, which says what is wrong (INVALID_MARKET),
# as decimal text is (money.py).
SymbolText = Annotated[
    str, Meta(examples=["BTC-USDT"], extra_json_schema={"pattern": f"^{_SYMBOL.pattern}$"})
]
AssetDecimals = Annotated[int, Meta(extra_json_schema={"minimum": 0, "maximum": _MAX_DECIMALS})]
StpModeText = Annotated[str, Meta(extra_json_schema={"enum": sorted(STP_MODES)})]
MarketStatusText = Annotated[str, Meta(extra_json_schema={"enum": sorted(MARKET_STATUSES)})]


class MarketSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A market as an operator writes it (checked by `market_from_spec`)."""

    symbol: SymbolText
    tick_size: DecimalText
    step_size: DecimalText
    base_decimals: AssetDecimals = 8
    quote_decimals: AssetDecimals = 8
    min_price: DecimalText | None = None
    max_price: DecimalText = "1000000"
    min_quantity: DecimalText | None = None
    max_quantity: DecimalText = "10000"
    min_notional: DecimalText = "0"
    maker_fee: DecimalText = "0.001"
    taker_fee: DecimalText = "0.001"
    stp_mode: StpModeText = EXPIRE_MAKER
    status: MarketStatusText = TRADING


class Market(msgspec.Struct, frozen=True, kw_only=True):
    """A validated market; all limits in engine integers (see module docstring)."""

    symbol: str
    base: str
    quote: str
    base_decimals: int
    quote_decimals: int
    tick_size: str
    step_size: str
    quote_per_tick_lot: int
    base_per_lot: int
    min_price: int
    max_price: int
    min_quantity: int
    max_quantity: int
    min_notional: int
    maker_fee: int
    taker_fee: int
    stp_mode: str
    status: str

    # -- edge conversion, decimal string -> integer --

    def price_ticks(self, text: object, field: str = "price") -> int:
        return to_units(text, self.tick_size, field, off_grid=ErrorCode.OFF_TICK, max_units=MAX_AMOUNT)

    def quantity_lots(self, text: object, field: str = "quantity") -> int:
        return to_units(text, self.step_size, field, off_grid=ErrorCode.OFF_STEP, max_units=MAX_AMOUNT)

    def quote_units(self, text: object, field: str = "quote_quantity") -> int:
        return to_units(
            text,
            _minor_unit(self.quote_decimals),
            field,
            off_grid=ErrorCode.TOO_PRECISE,
            max_units=MAX_AMOUNT,
        )

    # -- edge conversion, integer -> decimal string --

    def price_text(self, ticks: int) -> str:
        return units_text(ticks, self.tick_size)

    def price_change_text(self, change: int) -> str:
        """A signed difference of two prices, in ticks: "-12.5" for a fall."""
        return ("-" if change < 0 else "") + self.price_text(abs(change))

    def average_price_text(self, quote_units: int, lots: int, places: int) -> str:
        """The price at which `lots` (not zero) cost `quote_units` on average, with
        `places` decimals (at least the tick's), rounded half up: a display value (a
        volume-weighted average price). In integers: the average is `quote_units /
        (lots * quote_per_tick_lot)` ticks, and a tick is `mantissa * 10**exponent`."""
        mantissa, exponent = unit_parts(self.tick_size)
        numerator, denominator = quote_units * mantissa, lots * self.quote_per_tick_lot
        if exponent >= 0:
            numerator *= 10**exponent
        else:
            denominator *= 10**-exponent
        return quotient_text(numerator, denominator, places)

    def quantity_text(self, lots: int) -> str:
        return units_text(lots, self.step_size)

    def quote_text(self, units: int) -> str:
        return asset_text(units, self.quote_decimals)

    def base_text(self, units: int) -> str:
        return asset_text(units, self.base_decimals)


def asset_units(text: object, decimals: int, field: str = "amount") -> int:
    """An asset amount (deposit, withdrawal, balance) in minor units."""
    return to_units(
        text,
        _minor_unit(decimals),
        field,
        off_grid=ErrorCode.TOO_PRECISE,
        max_units=MAX_AMOUNT,
    )


def asset_text(units: int, decimals: int) -> str:
    return scaled_text(units, decimals)  # the minor unit is 10**-decimals


@lru_cache(maxsize=64)
def _minor_unit(decimals: int) -> str:
    """An asset's minor unit as a plain decimal string ("0.00000001" for 8 decimals)."""
    return format(Decimal(1).scaleb(-decimals), "f")


_FEE_UNIT: Final = Decimal(1) / FEE_SCALE


def fee_rate(text: str, field: str) -> int:
    """A fee rate in millionths; rates are within [0, 1) and exact to 1e-6."""
    rate = to_units(
        text,
        _FEE_UNIT,
        field,
        off_grid=ErrorCode.TOO_PRECISE,
        max_units=FEE_SCALE - 1,
        allow_zero=True,
    )
    return rate


def fee_rate_text(rate: int, places: int = 6) -> str:
    """A fee rate (millionths) as decimal text with `places` digits after the point
    (six or more, so the text is exact): 1000 -> "0.001000"."""
    assert places >= 6, "a fee rate has six decimals"
    return from_units(rate, _FEE_UNIT, places)


def _invalid(message: str) -> TradeEngineError:
    return TradeEngineError(ErrorCode.INVALID_MARKET, message)


def _whole(value: Decimal, what: str) -> int:
    if value != value.to_integral_value() or value < 1:
        raise _invalid(f"{what} must be a whole, positive number of minor units")
    return int(value)


def market_from_spec(spec: MarketSpec) -> Market:
    """Validate an operator's market description once, at the edge."""
    match = _SYMBOL.fullmatch(spec.symbol)
    if match is None:
        raise _invalid(f"symbol {spec.symbol!r} must look like BASE-QUOTE")
    base, quote = match.group(1), match.group(2)
    if base == quote:
        raise _invalid("base and quote assets must differ")
    for decimals in (spec.base_decimals, spec.quote_decimals):
        if not 0 <= decimals <= _MAX_DECIMALS:
            raise _invalid(f"asset decimals must be within 0..{_MAX_DECIMALS}")
    if spec.stp_mode not in STP_MODES:
        raise _invalid(f"unknown self-trade prevention mode {spec.stp_mode!r}")
    if spec.status not in MARKET_STATUSES:
        raise _invalid(f"unknown market status {spec.status!r}")
    tick = parse_decimal(spec.tick_size, "tick_size")
    step = parse_decimal(spec.step_size, "step_size")
    if tick <= 0 or step <= 0:
        raise _invalid("tick_size and step_size must be positive")
    with exact():
        base_per_lot = _whole(step.scaleb(spec.base_decimals), "step_size in base units")
        quote_per_tick_lot = _whole((tick * step).scaleb(spec.quote_decimals), "tick × step in quote")
    canonical = Market(
        symbol=spec.symbol,
        base=base,
        quote=quote,
        base_decimals=spec.base_decimals,
        quote_decimals=spec.quote_decimals,
        tick_size=format(tick, "f"),  # plain notation: str() would give "1E-7"
        step_size=format(step, "f"),
        quote_per_tick_lot=quote_per_tick_lot,
        base_per_lot=base_per_lot,
        min_price=1,
        max_price=1,
        min_quantity=1,
        max_quantity=1,
        min_notional=0,
        maker_fee=0,
        taker_fee=0,
        stp_mode=spec.stp_mode,
        status=spec.status,
    )
    min_price = canonical.price_ticks(spec.min_price, "min_price") if spec.min_price else 1
    max_price = canonical.price_ticks(spec.max_price, "max_price")
    min_qty = canonical.quantity_lots(spec.min_quantity, "min_quantity") if spec.min_quantity else 1
    max_qty = canonical.quantity_lots(spec.max_quantity, "max_quantity")
    if min_price > max_price or min_qty > max_qty:
        raise _invalid("minimum limits must not exceed maximum limits")
    if max_price * max_qty * quote_per_tick_lot >= MAX_AMOUNT or max_qty * base_per_lot >= MAX_AMOUNT:
        raise _invalid("max_price × max_quantity does not fit the engine's 62-bit amounts")
    min_notional = to_units(
        spec.min_notional,
        Decimal(1).scaleb(-spec.quote_decimals),
        "min_notional",
        off_grid=ErrorCode.TOO_PRECISE,
        max_units=MAX_AMOUNT,
        allow_zero=True,
    )
    return msgspec.structs.replace(
        canonical,
        min_price=min_price,
        max_price=max_price,
        min_quantity=min_qty,
        max_quantity=max_qty,
        min_notional=min_notional,
        maker_fee=fee_rate(spec.maker_fee, "maker_fee"),
        taker_fee=fee_rate(spec.taker_fee, "taker_fee"),
    )

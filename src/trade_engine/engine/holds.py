"""Fee and hold arithmetic: the rounding rules of the engine, in one place.

Fees
    Each order accumulates `fee_numer = Σ notional_i × rate_i` (exact, in millionths).
    The fee charged by a fill is `ceil(fee_numer_after / S) - ceil(fee_numer_before / S)`,
    so an order's total fee is always the exact fee rounded *up* once: never in the
    trader's favour, never more than one minor unit above exact, and independent of how
    the order was split into fills.

Holds
    A buy at limit price p holds `remaining × p × K` plus the most fee it can still be
    charged at the larger of the maker and taker rates. Fills happen at or below p and at
    a rate no larger than that maximum, so the hold always covers what the order can
    still spend; after each fill the engine releases whatever the hold exceeds the new
    requirement by. A sell holds `remaining × base_per_lot`; its fees come out of the
    quote it receives.

Units: `fee_numer` is in millionths of a quote minor unit and rates are in millionths
(`FEE_SCALE`); `quote_per_tick_lot` is the quote minor units of one lot at one tick.
"""

from trade_engine.domain.units import Lots, Minor, Ticks
from trade_engine.domain.vocabulary import FEE_SCALE


def fee_charged(fee_numer: int) -> Minor:
    """The fee an order has paid so far: its exact fee, rounded up once."""
    return Minor(-(-fee_numer // FEE_SCALE))


def buy_hold(remaining: Lots, price: Ticks, quote_per_tick_lot: int, fee_numer: int, rate: int) -> Minor:
    """Quote a buy of `remaining` lots at `price` can still spend, fees included."""
    notional = remaining * price * quote_per_tick_lot
    return Minor(notional + (-(-(fee_numer + notional * rate) // FEE_SCALE)) - (-(-fee_numer // FEE_SCALE)))


def affordable_lots(budget: Minor, unit_cost: Minor, fee_numer: int, rate: int) -> Lots:
    """The most lots at `unit_cost` quote each that `budget` pays for, fees included."""
    lots = budget * FEE_SCALE // (unit_cost * (FEE_SCALE + rate))
    while lots > 0 and _cost(lots, unit_cost, fee_numer, rate) > budget:
        lots -= 1
    while _cost(lots + 1, unit_cost, fee_numer, rate) <= budget:
        lots += 1
    return Lots(lots)


def _cost(lots: int, unit_cost: Minor, fee_numer: int, rate: int) -> int:
    """What buying `lots` more costs an order that has accumulated `fee_numer`."""
    notional = lots * unit_cost
    return notional + (-(-(fee_numer + notional * rate) // FEE_SCALE)) - (-(-fee_numer // FEE_SCALE))

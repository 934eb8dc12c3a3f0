"""Matching's sizing of one fill on its own: remaining lots, budgets and quote targets.

The helpers' BTC-USDT market: the taker fee is 0.2%; one lot is LOT base minor units.
"""

from trade_engine.domain.units import Lots, Minor, Ticks
from trade_engine.domain.vocabulary import BUY, SELL
from trade_engine.engine.markets import register
from trade_engine.engine.matching import BUDGET, TARGET, fill_size
from trade_engine.engine.order import Order
from trade_engine.engine.state import EngineState, MarketState

from .helpers import LOT, MARKET

NO_BUDGET = -1


def market() -> MarketState:
    return register(EngineState(), MARKET)


def taker(side: str, quantity: int = 0, quote_quantity: int = 0, filled_quote: int = 0) -> Order:
    return Order(
        id=1,
        user_id="alice",
        market=MARKET.symbol,
        side=side,
        order_type="MARKET",
        time_in_force="IOC",
        price=Ticks(0),
        stop_price=Ticks(0),
        quantity=Lots(quantity),
        quote_quantity=Minor(quote_quantity),
        remaining=Lots(quantity),
        client_order_id=None,
        stp_mode="NONE",
        post_only=False,
        created_ts=0,
        filled_quote=Minor(filled_quote),
    )


def size(order: Order, maker_left: int, unit_cost: int, budget_left: int) -> tuple[int, str]:
    by_quote = order.quote_quantity > 0
    return fill_size(
        market(), order, Lots(maker_left), Minor(unit_cost), budget_left, order.side == BUY, by_quote
    )


def test_a_fill_is_the_smaller_of_the_two_remainders():
    assert size(taker(SELL, quantity=3), 5, 100, NO_BUDGET) == (3, "")
    assert size(taker(SELL, quantity=9), 5, 100, NO_BUDGET) == (5, "")


def test_a_buy_from_a_budget_takes_what_the_budget_pays_for_fee_included():
    # 3 lots at 1,000 cost 3,000 + 6 in fees: 3,005 pays for only 2 (2,000 + 4).
    assert size(taker(BUY, quantity=5), 5, 1_000, 3_006) == (3, "")
    assert size(taker(BUY, quantity=5), 5, 1_000, 3_005) == (2, "")
    assert size(taker(BUY, quantity=5), 5, 1_000, 1_001) == (0, BUDGET)


def test_a_quote_sized_order_stops_at_its_target_in_whole_lots():
    assert size(taker(SELL, quote_quantity=2_500), 5, 1_000, 10 * LOT) == (2, "")
    assert size(taker(SELL, quote_quantity=2_500, filled_quote=2_000), 5, 1_000, 10 * LOT) == (0, TARGET)


def test_a_sell_from_a_budget_takes_the_whole_lots_it_holds():
    assert size(taker(SELL, quote_quantity=10_000), 5, 1_000, 2 * LOT + 999) == (2, "")
    assert size(taker(SELL, quote_quantity=10_000), 5, 1_000, LOT - 1) == (0, BUDGET)

"""The risk hold on its own: what a new order locks, and the budget it spends from."""

from typing import Any

import pytest

from trade_engine.domain.errors import TradeEngineError
from trade_engine.domain.units import Lots, Ticks
from trade_engine.domain.vocabulary import BUY, LIMIT, MARKET, SELL, STOP_MARKET
from trade_engine.engine import PlaceOrder
from trade_engine.engine.holds import buy_hold
from trade_engine.engine.markets import register
from trade_engine.engine.risk import NO_BUDGET, new_order_hold
from trade_engine.engine.rules import new_order
from trade_engine.engine.state import EngineState, MarketState

from .helpers import BASE, LOT, MAX_RATE, QUOTE, K
from .helpers import MARKET as BTC_USDT


def market_with_funds(quote: int = 50_000, base: int = 7 * LOT) -> tuple[EngineState, MarketState]:
    state = EngineState()
    m = register(state, BTC_USDT)
    state.account("alice").available.update({QUOTE: quote, BASE: base})
    return state, m


def hold_and_budget(side: str, order_type: str, **fields: Any) -> tuple[int, int]:
    state, m = market_with_funds()
    account = state.accounts["alice"]
    command = PlaceOrder(ts=1, user_id="alice", market=m.symbol, side=side, order_type=order_type, **fields)
    payer, hold, budget = new_order_hold(m, account, new_order(m, state.accounts, command))
    assert payer is account
    return hold, budget


def test_a_limit_buy_holds_its_cost_at_its_price_and_the_highest_fee_rate():
    assert hold_and_budget(BUY, LIMIT, quantity=3, price=100) == (
        buy_hold(Lots(3), Ticks(100), K, 0, MAX_RATE),
        NO_BUDGET,
    )


def test_a_sell_holds_its_base():
    assert hold_and_budget(SELL, LIMIT, quantity=3, price=100) == (3 * LOT, NO_BUDGET)
    assert hold_and_budget(SELL, MARKET, quantity=3) == (3 * LOT, NO_BUDGET)


def test_a_market_buy_by_quote_holds_and_spends_that_amount():
    assert hold_and_budget(BUY, MARKET, quote_quantity=1_234) == (1_234, 1_234)


def test_market_orders_sized_by_what_they_get_hold_and_spend_everything_available():
    assert hold_and_budget(BUY, MARKET, quantity=3) == (50_000, 50_000)
    assert hold_and_budget(SELL, MARKET, quote_quantity=1_000) == (7 * LOT, 7 * LOT)


def test_a_stop_market_buy_by_quantity_holds_its_cost_at_the_stop_price():
    assert hold_and_budget(BUY, STOP_MARKET, quantity=3, stop_price=200) == (
        buy_hold(Lots(3), Ticks(200), K, 0, MAX_RATE),
        NO_BUDGET,
    )


def refusal(quote: int, side: str, order_type: str, **fields: Any) -> str:
    state, m = market_with_funds(quote=quote)
    account = state.accounts.get("alice")
    command = PlaceOrder(ts=1, user_id="alice", market=m.symbol, side=side, order_type=order_type, **fields)
    with pytest.raises(TradeEngineError) as refused:
        new_order_hold(m, account, new_order(m, state.accounts, command))
    return f"{refused.value.code}: {refused.value.message}"


def test_an_order_whose_hold_is_not_available_is_refused():
    short = "INSUFFICIENT_BALANCE: insufficient"
    assert refusal(0, BUY, MARKET, quantity=1) == "INSUFFICIENT_BALANCE: no USDT available"
    assert refusal(999, BUY, LIMIT, quantity=1, price=100) == f"{short} USDT balance"  # 1,000 + fee
    assert refusal(0, SELL, LIMIT, quantity=8, price=100) == f"{short} BTC balance"  # 7 lots held

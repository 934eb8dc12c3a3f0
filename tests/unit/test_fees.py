"""Fees: exact, cumulative per order, rounded up once, never in the trader's favour."""

import msgspec
import pytest

from trade_engine.domain.market import fee_rate, fee_rate_text, market_from_spec
from trade_engine.domain.vocabulary import FEE_ACCOUNT, MAX_AMOUNT
from trade_engine.engine import AddMarket, Deposit, Engine, TradeExecuted

from .helpers import (
    BASE,
    BASE_FUNDS,
    LOT,
    MAKER_RATE,
    QUOTE,
    QUOTE_FUNDS,
    SPEC,
    TAKER_RATE,
    asset_total,
    buy,
    buy_hold,
    fee,
    make_engine,
    notional,
    of_type,
    sell,
    ts,
)


def test_fee_on_a_tiny_trade_rounds_up_to_one_minor_unit():
    engine = make_engine()
    sell(engine, "bob", 1, 1)
    (trade,) = of_type(buy(engine, "alice", 1, 1), TradeExecuted)
    assert trade.quote_amount == 10  # exact fees would be 0.01 and 0.02 minor units
    assert (trade.maker_fee, trade.taker_fee) == (1, 1)
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - 11, 0)
    assert engine.balance("bob", QUOTE) == (QUOTE_FUNDS + 9, 0)
    assert engine.balance(FEE_ACCOUNT, QUOTE) == (2, 0)


def test_zero_fee_rate_charges_nothing():
    market = market_from_spec(msgspec.structs.replace(SPEC, maker_fee="0", taker_fee="0"))
    engine = make_engine(markets=[market])
    sell(engine, "bob", 1, 1)
    (trade,) = of_type(buy(engine, "alice", 1, 1), TradeExecuted)
    assert (trade.maker_fee, trade.taker_fee) == (0, 0)
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - 10, 0)


def test_fee_on_a_huge_trade_is_exact_and_every_amount_fits_below_2_62():
    market = market_from_spec(msgspec.structs.replace(SPEC, max_price="4000000"))
    engine = Engine()
    engine.apply(AddMarket(ts=ts(), market=market))
    price, quantity = market.max_price, market.max_quantity
    amount = notional(price, quantity)
    assert amount == 4 * 10**18
    engine.apply(Deposit(ts=ts(), user_id="alice", asset=QUOTE, amount=MAX_AMOUNT))
    engine.apply(Deposit(ts=ts(), user_id="bob", asset=BASE, amount=quantity * LOT))
    sell(engine, "bob", quantity, price)
    (trade,) = of_type(buy(engine, "alice", quantity, price), TradeExecuted)
    assert trade.quote_amount == amount
    assert trade.taker_fee == amount * TAKER_RATE // 1_000_000 == 8 * 10**15
    assert trade.maker_fee == amount * MAKER_RATE // 1_000_000 == 4 * 10**15
    assert engine.balance("alice", QUOTE) == (MAX_AMOUNT - amount - 8 * 10**15, 0)
    assert engine.balance("alice", BASE) == (quantity * LOT, 0)
    assert engine.balance("bob", QUOTE) == (amount - 4 * 10**15, 0)
    assert engine.balance(FEE_ACCOUNT, QUOTE) == (12 * 10**15, 0)
    for per_asset in engine.balances().values():
        for balance in per_asset.values():
            assert 0 <= balance.available < MAX_AMOUNT
    assert asset_total(engine, QUOTE) == MAX_AMOUNT


def test_taker_fees_over_many_partial_fills_sum_to_the_rounded_up_exact_total():
    engine = make_engine()
    for i in range(37):
        sell(engine, ("bob", "carol")[i % 2], 1, 333)
    trades = of_type(buy(engine, "alice", 37, 333), TradeExecuted)
    assert len(trades) == 37
    total = notional(333, 37)
    assert total * TAKER_RATE == 246_420_000  # 246.42 units; rounding each fill would give 259
    assert sum(t.taker_fee for t in trades) == fee(total, TAKER_RATE) == 247
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - total - 247, 0)


def test_maker_fees_over_many_partial_fills_sum_to_the_rounded_up_exact_total():
    engine = make_engine()
    sell(engine, "bob", 37, 333)
    trades = [t for _ in range(37) for t in of_type(buy(engine, "alice", 1, 333), TradeExecuted)]
    total = notional(333, 37)
    assert total * MAKER_RATE == 123_210_000  # 123.21 units; rounding each fill would give 148
    assert sum(t.maker_fee for t in trades) == fee(total, MAKER_RATE) == 124
    assert engine.balance("bob", QUOTE) == (QUOTE_FUNDS + total - 124, 0)


def test_every_fill_keeps_the_cumulative_fee_within_one_unit_above_exact():
    engine = make_engine()
    for i in range(25):
        sell(engine, "bob", 1 + i % 3, 1_001 + i)
    trades = of_type(buy(engine, "alice", 60, 2_000), TradeExecuted)
    paid, exact = 0, 0
    for trade in trades:
        paid += trade.taker_fee
        exact += trade.quote_amount * TAKER_RATE
        assert exact <= paid * 1_000_000 < exact + 1_000_000


def test_resting_buy_filled_as_maker_pays_the_maker_rate_and_gets_the_fee_reserve_back():
    engine = make_engine()
    buy(engine, "alice", 10, 10_000)
    assert engine.balance("alice", QUOTE).locked == buy_hold(10, 10_000)  # reserve at the taker rate
    (trade,) = of_type(sell(engine, "bob", 10, 9_000), TradeExecuted)
    amount = notional(10_000, 10)
    assert (trade.price, trade.maker_fee) == (10_000, fee(amount, MAKER_RATE))
    assert trade.buyer_released == buy_hold(10, 10_000) - amount - fee(amount, MAKER_RATE)
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS - amount - fee(amount, MAKER_RATE), 0)


def test_seller_fee_comes_out_of_the_quote_received():
    engine = make_engine()
    buy(engine, "alice", 4, 10_000)
    (trade,) = of_type(sell(engine, "bob", 4, 10_000), TradeExecuted)
    amount = notional(10_000, 4)
    assert trade.taker_fee == fee(amount, TAKER_RATE)
    assert engine.balance("bob", QUOTE) == (QUOTE_FUNDS + amount - fee(amount, TAKER_RATE), 0)
    assert engine.balance("bob", BASE) == (BASE_FUNDS - 4 * LOT, 0)


@pytest.mark.parametrize(
    ("rate", "places", "text"),
    [
        (1000, 6, "0.001000"),
        (0, 6, "0.000000"),
        (999_999, 6, "0.999999"),
        (1000, 8, "0.00100000"),
        (1, 8, "0.00000100"),
    ],
)
def test_a_fee_rate_is_written_in_one_place_and_reads_back_exactly(rate: int, places: int, text: str) -> None:
    assert fee_rate_text(rate, places) == text
    assert fee_rate(text, "maker_fee") == rate

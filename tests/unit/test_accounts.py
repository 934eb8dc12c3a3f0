"""Balances, holds, deposits and withdrawals, conservation, and market status."""

import msgspec
import pytest

from trade_engine.domain.market import market_from_spec
from trade_engine.domain.vocabulary import BUY, FEE_ACCOUNT, MAX_AMOUNT, SELL
from trade_engine.engine import (
    AddMarket,
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    CommandRejected,
    Deposit,
    Engine,
    FundsDeposited,
    FundsWithdrawn,
    MarketAdded,
    MarketStatusChanged,
    OrderAccepted,
    OrderCancelled,
    PlaceOrder,
    SetMarketStatus,
    TradeExecuted,
    Withdraw,
)

from .helpers import (
    BASE,
    BASE_FUNDS,
    LOT,
    MARKET,
    OTHER,
    QUOTE,
    QUOTE_FUNDS,
    SPEC,
    SYMBOL,
    TRADERS,
    assert_rejected,
    asset_total,
    buy,
    buy_hold,
    make_engine,
    of_type,
    order_id,
    place,
    sell,
    ts,
)


def limit(user, side, quantity, price, market=SYMBOL):
    return PlaceOrder(ts=ts(), user_id=user, market=market, side=side, quantity=quantity, price=price)


def set_status(engine, status, market=SYMBOL):
    return engine.apply(SetMarketStatus(ts=ts(), market=market, status=status))


# -- deposits and withdrawals ---------------------------------------------------------


def test_deposit_credits_available_balance():
    engine = make_engine("bob")
    events = engine.apply(Deposit(ts=7, user_id="alice", asset=QUOTE, amount=500))
    # bob's two deposits took transfer ids 1 and 2
    assert events == [FundsDeposited(ts=7, transfer_id=3, user_id="alice", asset=QUOTE, amount=500)]
    engine.apply(Deposit(ts=ts(), user_id="alice", asset=QUOTE, amount=250))
    assert engine.balance("alice", QUOTE) == (750, 0)


def test_withdrawal_debits_available_balance():
    engine = make_engine("alice")
    events = engine.apply(Withdraw(ts=8, user_id="alice", asset=BASE, amount=BASE_FUNDS - 1))
    assert events == [FundsWithdrawn(ts=8, transfer_id=3, user_id="alice", asset=BASE, amount=BASE_FUNDS - 1)]
    assert engine.balance("alice", BASE) == (1, 0)


@pytest.mark.parametrize("kind", [Deposit, Withdraw])
def test_a_transfer_reference_is_taken_for_good_by_the_first_transfer(kind):
    engine = make_engine("alice")
    (first,) = engine.apply(kind(ts=ts(), user_id="alice", asset=QUOTE, amount=5, reference="tx-1"))
    assert isinstance(first, FundsDeposited | FundsWithdrawn)
    before = engine.snapshot()
    for again in (
        kind(ts=ts(), user_id="alice", asset=QUOTE, amount=5, reference="tx-1"),  # a retry
        Deposit(ts=ts(), user_id="bob", asset=BASE, amount=9, reference="tx-1"),  # another transfer
        Withdraw(ts=ts(), user_id="alice", asset=QUOTE, amount=1, reference="tx-1"),
    ):
        (refused,) = engine.apply(again)
        assert isinstance(refused, CommandRejected)
        assert (refused.code, refused.duplicate_of) == ("DUPLICATE_REFERENCE", first.transfer_id)
    assert engine.snapshot() == before


def test_a_refused_transfer_does_not_take_its_reference():
    engine = make_engine("alice")
    too_much = Withdraw(ts=ts(), user_id="alice", asset=QUOTE, amount=QUOTE_FUNDS + 1, reference="tx-2")
    assert_rejected(engine, too_much, "INSUFFICIENT_BALANCE")
    (done,) = engine.apply(Withdraw(ts=ts(), user_id="alice", asset=QUOTE, amount=1, reference="tx-2"))
    assert isinstance(done, FundsWithdrawn)


@pytest.mark.parametrize("kind", [Deposit, Withdraw])
def test_funds_command_for_an_unknown_asset_is_rejected(kind):
    engine = make_engine("alice")
    assert_rejected(engine, kind(ts=ts(), user_id="alice", asset="DOGE", amount=1), "UNKNOWN_ASSET")


@pytest.mark.parametrize("kind", [Deposit, Withdraw])
@pytest.mark.parametrize("amount", [0, -1])
def test_funds_command_for_a_non_positive_amount_is_rejected(kind, amount):
    engine = make_engine("alice")
    assert_rejected(engine, kind(ts=ts(), user_id="alice", asset=QUOTE, amount=amount), "VALUE_OUT_OF_RANGE")


def test_withdrawal_of_more_than_available_is_rejected():
    engine = make_engine("alice")
    command = Withdraw(ts=ts(), user_id="alice", asset=QUOTE, amount=QUOTE_FUNDS + 1)
    assert_rejected(engine, command, "INSUFFICIENT_BALANCE")
    stranger = Withdraw(ts=ts(), user_id="nobody", asset=QUOTE, amount=1)
    assert_rejected(engine, stranger, "INSUFFICIENT_BALANCE")


def test_withdrawal_of_locked_funds_is_rejected():
    engine = make_engine("alice")
    sell(engine, "alice", 10, 10_000)
    command = Withdraw(ts=ts(), user_id="alice", asset=BASE, amount=BASE_FUNDS - 10 * LOT + 1)
    assert_rejected(engine, command, "INSUFFICIENT_BALANCE")


def test_deposit_past_the_balance_limit_is_rejected():
    engine = make_engine("alice")
    room = MAX_AMOUNT - QUOTE_FUNDS
    command = Deposit(ts=ts(), user_id="alice", asset=QUOTE, amount=room + 1)
    assert_rejected(engine, command, "BALANCE_LIMIT_EXCEEDED")
    engine.apply(Deposit(ts=ts(), user_id="alice", asset=QUOTE, amount=room))
    assert engine.balance("alice", QUOTE) == (MAX_AMOUNT, 0)


def test_funds_command_without_a_user_is_rejected():
    engine = make_engine("alice")
    assert_rejected(engine, Deposit(ts=ts(), user_id="", asset=QUOTE, amount=1), "INVALID_ORDER")


# -- holds ----------------------------------------------------------------------------


def test_buy_beyond_available_quote_is_rejected_and_changes_nothing():
    engine = make_engine("alice", quote=buy_hold(5, 10_000) - 1)
    assert_rejected(engine, limit("alice", BUY, 5, 10_000), "INSUFFICIENT_BALANCE")
    assert engine.balance("alice", QUOTE) == (buy_hold(5, 10_000) - 1, 0)


def test_buy_that_needs_exactly_the_available_quote_is_accepted():
    engine = make_engine("alice", quote=buy_hold(5, 10_000))
    assert of_type(buy(engine, "alice", 5, 10_000), OrderAccepted)
    assert engine.balance("alice", QUOTE) == (0, buy_hold(5, 10_000))


def test_sell_beyond_available_base_is_rejected_and_changes_nothing():
    engine = make_engine("alice", base=5 * LOT)
    assert_rejected(engine, limit("alice", SELL, 6, 10_000), "INSUFFICIENT_BALANCE")


def test_order_from_a_user_without_an_account_is_rejected():
    engine = make_engine("alice")
    assert_rejected(engine, limit("nobody", SELL, 1, 10_000), "INSUFFICIENT_BALANCE")


def test_the_same_funds_cannot_be_spent_twice():
    engine = make_engine("alice", quote=buy_hold(5, 10_000), base=5 * LOT)
    first = order_id(buy(engine, "alice", 5, 10_000))
    assert_rejected(engine, limit("alice", BUY, 1, 9_000), "INSUFFICIENT_BALANCE")
    order_id(sell(engine, "alice", 5, 11_000))
    assert_rejected(engine, limit("alice", SELL, 1, 11_000), "INSUFFICIENT_BALANCE")
    stop = PlaceOrder(
        ts=ts(),
        user_id="alice",
        market=SYMBOL,
        side=SELL,
        order_type="STOP_MARKET",
        stop_price=9_000,
        quantity=1,
    )
    assert_rejected(engine, stop, "INSUFFICIENT_BALANCE")
    engine.apply(CancelOrder(ts=ts(), user_id="alice", order_id=first))
    assert of_type(buy(engine, "alice", 1, 9_000), OrderAccepted)


def test_locked_balance_equals_the_holds_of_open_orders():
    engine = make_engine()
    buy(engine, "alice", 5, 10_000)
    buy(engine, "alice", 3, 9_990)
    sell(engine, "bob", 6, 9_990)
    sell(engine, "alice", 2, 12_000)
    place(engine, "alice", BUY, order_type="STOP_MARKET", quantity=2, stop_price=12_500)
    for user in ("alice", "bob"):
        for asset, side in ((QUOTE, BUY), (BASE, SELL)):
            held = sum(engine.hold_of(o) for o in engine.open_orders(user) if o.side == side)
            assert engine.balance(user, asset).locked == held


def test_every_asset_is_conserved_through_a_busy_scenario():
    engine = make_engine()
    deposited = {QUOTE: 3 * QUOTE_FUNDS, BASE: 3 * BASE_FUNDS}
    engine.apply(Withdraw(ts=ts(), user_id="carol", asset=QUOTE, amount=12_345))
    engine.apply(Withdraw(ts=ts(), user_id="bob", asset=BASE, amount=777))
    deposited[QUOTE] -= 12_345
    deposited[BASE] -= 777
    for i in range(20):
        sell(engine, ("bob", "carol")[i % 2], 1 + i % 4, 10_000 + i)
        buy(engine, ("alice", "carol")[i % 2], 1 + i % 3, 9_990 - i)
    place(engine, "carol", SELL, order_type="STOP_MARKET", quantity=5, stop_price=9_985)
    buy(engine, "alice", 40, 10_005, client_order_id="sweep")
    amended = engine.apply(AmendOrder(ts=ts(), user_id="alice", client_order_id="sweep", price=10_012))
    assert of_type(amended, TradeExecuted)
    place(engine, "alice", BUY, order_type="MARKET", quote_quantity=3_333_333)
    sell(engine, "bob", 25, 9_980, time_in_force="IOC")
    place(engine, "carol", SELL, order_type="MARKET", quote_quantity=777_777)
    sell(engine, "bob", 3, 12_000)
    buy(engine, "carol", 2, 8_000)
    cancelled = [e for user in TRADERS for e in engine.apply(CancelAllOrders(ts=ts(), user_id=user))]
    assert of_type(cancelled, OrderCancelled)
    assert engine.last_price(SYMBOL) > 0
    assert engine.balance(FEE_ACCOUNT, QUOTE).available > 0
    for asset, amount in deposited.items():
        assert asset_total(engine, asset) == amount


# -- market status --------------------------------------------------------------------


def test_halted_market_rejects_new_orders():
    engine = make_engine()
    events = set_status(engine, "HALT")
    assert [type(e) for e in events] == [MarketStatusChanged]
    market = engine.market(SYMBOL)
    assert market is not None
    assert market.status == "HALT"
    assert_rejected(engine, limit("alice", BUY, 1, 10_000), "MARKET_HALTED")


def test_halted_market_rejects_cancels_and_amends():
    engine = make_engine()
    oid = order_id(buy(engine, "alice", 1, 10_000))
    set_status(engine, "HALT")
    assert_rejected(engine, CancelOrder(ts=ts(), user_id="alice", order_id=oid), "MARKET_HALTED")
    assert_rejected(engine, AmendOrder(ts=ts(), user_id="alice", order_id=oid, quantity=2), "MARKET_HALTED")
    assert_rejected(engine, CancelAllOrders(ts=ts(), user_id="alice", market=SYMBOL), "MARKET_HALTED")


def test_cancel_all_across_markets_skips_a_halted_market():
    engine = make_engine(markets=[MARKET, OTHER])
    frozen = order_id(buy(engine, "alice", 1, 10_000))
    live = order_id(buy(engine, "alice", 1, 3_000, market=OTHER.symbol))
    set_status(engine, "HALT")
    events = engine.apply(CancelAllOrders(ts=ts(), user_id="alice"))
    assert [e.order_id for e in of_type(events, OrderCancelled)] == [live]
    assert [o.id for o in engine.open_orders("alice")] == [frozen]


def test_cancel_only_market_allows_cancels_but_rejects_places_and_amends():
    engine = make_engine()
    first = order_id(buy(engine, "alice", 1, 10_000))
    second = order_id(buy(engine, "alice", 1, 9_000))
    set_status(engine, "CANCEL_ONLY")
    assert_rejected(engine, limit("bob", SELL, 1, 10_000), "MARKET_CANCEL_ONLY")
    assert_rejected(
        engine, AmendOrder(ts=ts(), user_id="alice", order_id=first, quantity=2), "MARKET_CANCEL_ONLY"
    )
    assert of_type(engine.apply(CancelOrder(ts=ts(), user_id="alice", order_id=first)), OrderCancelled)
    events = engine.apply(CancelAllOrders(ts=ts(), user_id="alice", market=SYMBOL))
    assert [e.order_id for e in of_type(events, OrderCancelled)] == [second]
    assert engine.balance("alice", QUOTE) == (QUOTE_FUNDS, 0)


@pytest.mark.parametrize("paused", ["HALT", "CANCEL_ONLY"])
def test_resumed_market_trades_again_against_the_kept_book(paused):
    engine = make_engine()
    maker = order_id(sell(engine, "bob", 2, 10_000))
    set_status(engine, paused)
    (resumed,) = set_status(engine, "TRADING")
    assert isinstance(resumed, MarketStatusChanged)
    assert resumed.status == "TRADING"
    (trade,) = of_type(buy(engine, "alice", 2, 10_000), TradeExecuted)
    assert trade.maker_order_id == maker


def test_status_change_to_the_current_or_an_unknown_status_is_rejected():
    engine = make_engine()
    assert_rejected(
        engine, SetMarketStatus(ts=ts(), market=SYMBOL, status="TRADING"), "MARKET_STATUS_UNCHANGED"
    )
    assert_rejected(engine, SetMarketStatus(ts=ts(), market=SYMBOL, status="CLOSED"), "INVALID_MARKET")
    assert_rejected(engine, SetMarketStatus(ts=ts(), market="XRP-USDT", status="HALT"), "UNKNOWN_MARKET")


def test_market_configured_halted_starts_halted():
    market = market_from_spec(msgspec.structs.replace(SPEC, status="HALT"))
    engine = make_engine(markets=[market])
    assert_rejected(engine, limit("alice", BUY, 1, 10_000), "MARKET_HALTED")


# -- markets --------------------------------------------------------------------------


def test_adding_a_market_announces_it_with_sequence_one():
    engine = Engine()
    events = engine.apply(AddMarket(ts=3, market=MARKET))
    assert events == [MarketAdded(ts=3, seq=1, market=MARKET)]
    assert engine.markets() == [MARKET]


def test_adding_a_market_twice_is_rejected():
    engine = make_engine()
    assert_rejected(engine, AddMarket(ts=ts(), market=MARKET), "MARKET_EXISTS")


def test_market_disagreeing_on_an_assets_decimals_is_rejected():
    engine = make_engine()
    clash = market_from_spec(
        msgspec.structs.replace(SPEC, symbol="ETH-USDT", quote_decimals=9, max_quantity="100")
    )
    assert_rejected(engine, AddMarket(ts=ts(), market=clash), "INVALID_MARKET")


def test_deposits_that_would_take_an_assets_total_past_the_limit_are_rejected():
    # Regression: only each balance was capped, so trading could gather several
    # deposits into one balance above MAX_AMOUNT.
    engine = make_engine(quote=0, base=0)
    half = MAX_AMOUNT // 2 + 1
    engine.apply(Deposit(ts=ts(), user_id="alice", asset=QUOTE, amount=half))
    assert_rejected(
        engine, Deposit(ts=ts(), user_id="bob", asset=QUOTE, amount=half), "BALANCE_LIMIT_EXCEEDED"
    )
    assert engine.supply(QUOTE) == half


def test_supply_is_deposits_minus_withdrawals():
    engine = make_engine(quote=0, base=0)
    engine.apply(Deposit(ts=ts(), user_id="alice", asset=QUOTE, amount=700))
    engine.apply(Deposit(ts=ts(), user_id="bob", asset=QUOTE, amount=300))
    engine.apply(Withdraw(ts=ts(), user_id="alice", asset=QUOTE, amount=250))
    assert engine.supply(QUOTE) == 750 == asset_total(engine, QUOTE)

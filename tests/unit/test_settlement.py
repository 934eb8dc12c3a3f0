"""Settlement on its own: the money of one fill that matching has already sized.

The market is the helpers' BTC-USDT: one lot at one tick is K = 10 quote minor units,
one lot is LOT = 1,000 base minor units, makers pay 0.1% and takers 0.2%.
"""

from trade_engine.domain.units import Lots, Minor, Ticks
from trade_engine.domain.vocabulary import BUY, FEE_ACCOUNT, SELL
from trade_engine.engine import TradeExecuted
from trade_engine.engine.events import Event
from trade_engine.engine.holds import buy_hold
from trade_engine.engine.markets import register
from trade_engine.engine.order import Order
from trade_engine.engine.risk import hold_of, take_hold
from trade_engine.engine.settlement import buyer_slack, charge_fee, settle
from trade_engine.engine.state import EngineState, MarketState

from .helpers import BASE, LOT, MARKET, MAX_RATE, QUOTE, K

FUNDS = 10**9


def market() -> tuple[EngineState, MarketState]:
    state = EngineState()
    m = register(state, MARKET)
    for user in ("alice", "bob", FEE_ACCOUNT):
        account = state.account(user)
        account.available.update({QUOTE: FUNDS, BASE: FUNDS} if user != FEE_ACCOUNT else {})
    return state, m


def open_order(state: EngineState, m: MarketState, user: str, side: str, quantity: int, price: int) -> Order:
    """A limit order holding what a fresh order holds."""
    order = Order(
        id=state.next_order_id,
        user_id=user,
        market=m.symbol,
        side=side,
        order_type="LIMIT",
        time_in_force="GTC",
        price=Ticks(price),
        stop_price=Ticks(0),
        quantity=Lots(quantity),
        quote_quantity=Minor(0),
        remaining=Lots(quantity),
        client_order_id=None,
        stp_mode="NONE",
        post_only=False,
        created_ts=0,
    )
    state.next_order_id += 1
    take_hold(state.account(user), m.held_asset(side), hold_of(m, order))
    return order


def fill(order: Order, lots: int) -> None:
    """What matching does before settlement: the lots come off `remaining`."""
    order.remaining = Lots(order.remaining - lots)


def balances(state: EngineState, user: str) -> tuple[int, int, int, int]:
    account = state.account(user)
    return (
        account.available.get(QUOTE, 0),
        account.locked.get(QUOTE, 0),
        account.available.get(BASE, 0),
        account.locked.get(BASE, 0),
    )


def test_each_fill_charges_the_rise_of_the_rounded_up_running_fee():
    # At 0.1%, three fills of 333 have an exact fee of 0.999: charged 1, 0, 0.
    order = Order(1, "alice", "BTC-USDT", BUY, "LIMIT", "GTC", Ticks(1), Ticks(0), Lots(1), Minor(0),
                  Lots(1), None, "NONE", False, 0)  # fmt: skip
    assert [charge_fee(order, Minor(333), 1_000) for _ in range(3)] == [1, 0, 0]
    assert order.fee_numer == 999_000


def test_a_limit_buy_releases_its_price_improvement_and_the_unused_fee_rate():
    # docs/engine.md section 6: 10 lots at 100 hold 10,020; 3 lots at 98 cost 2,940 + 6,
    # the new hold is 7,014, so 60 is released.
    state, m = market()
    buyer = open_order(state, m, "alice", BUY, 10, 100)
    assert hold_of(m, buyer) == 10_020
    numer_before = buyer.fee_numer
    fill(buyer, 3)
    fee = charge_fee(buyer, Minor(3 * 98 * K), m.taker_fee)
    assert fee == 6
    assert hold_of(m, buyer) == 7_014
    assert buyer_slack(m, buyer, buyer.price, Lots(3), numer_before, Minor(3 * 98 * K), fee) == 60


def test_settle_moves_base_quote_and_both_fees_and_releases_the_buyers_slack():
    state, m = market()
    seller = open_order(state, m, "bob", SELL, 5, 98)
    buyer = open_order(state, m, "alice", BUY, 10, 100)
    alice, bob = balances(state, "alice"), balances(state, "bob")
    fill(seller, 3)
    fill(buyer, 3)
    events: list[Event] = []
    cost = settle(state, m, seller, buyer, state.account("alice"), Ticks(98), Lots(3), False, 7, events)
    notional, maker_fee, taker_fee, released = 2_940, 3, 6, 60
    assert cost == notional + taker_fee
    assert balances(state, "alice") == (
        alice[0] + released,
        alice[1] - notional - taker_fee - released,
        alice[2] + 3 * LOT,
        alice[3],
    )
    assert balances(state, "bob") == (bob[0] + notional - maker_fee, bob[1], bob[2], bob[3] - 3 * LOT)
    assert state.account(FEE_ACCOUNT).available == {QUOTE: maker_fee + taker_fee}
    assert (buyer.executed, buyer.filled_quote, seller.executed, seller.filled_quote) == (3, 2_940, 3, 2_940)
    assert events == [
        TradeExecuted(
            ts=7,
            seq=1,
            market=m.symbol,
            trade_id=1,
            price=98,
            quantity=3,
            base_amount=3 * LOT,
            quote_amount=notional,
            taker_side=BUY,
            maker_order_id=seller.id,
            taker_order_id=buyer.id,
            maker_user_id="bob",
            taker_user_id="alice",
            maker_fee=maker_fee,
            taker_fee=taker_fee,
            maker_remaining=2,
            taker_remaining=7,
            buyer_released=released,
        )
    ]
    assert (state.next_trade_id, m.seq) == (2, 1)


def test_a_buy_spending_a_budget_releases_nothing_per_fill():
    state, m = market()
    seller = open_order(state, m, "bob", SELL, 5, 98)
    buyer = open_order(state, m, "alice", BUY, 10, 100)
    fill(seller, 3)
    fill(buyer, 3)
    events: list[Event] = []
    cost = settle(state, m, seller, buyer, state.account("alice"), Ticks(98), Lots(3), True, 7, events)
    assert cost == 2_940 + 6
    (trade,) = events
    assert isinstance(trade, TradeExecuted)
    assert trade.buyer_released == 0


def test_a_selling_taker_costs_its_base_and_releases_the_resting_buyers_slack():
    state, m = market()
    buyer = open_order(state, m, "alice", BUY, 10, 100)
    seller = open_order(state, m, "bob", SELL, 4, 90)
    fill(buyer, 4)
    fill(seller, 4)
    events: list[Event] = []
    cost = settle(state, m, buyer, seller, state.account("bob"), Ticks(100), Lots(4), False, 7, events)
    assert cost == 4 * LOT
    (trade,) = events
    assert isinstance(trade, TradeExecuted)
    # The maker buys at its own price: it releases only the gap between the highest
    # rate, which it held for, and the maker rate it pays.
    assert trade.maker_fee == 4  # 0.1% of 4,000
    assert (
        trade.buyer_released == buy_hold(Lots(10), Ticks(100), K, 0, MAX_RATE) - hold_of(m, buyer) - 4_000 - 4
    )
    assert trade.buyer_released == 4


def test_a_self_trade_settles_on_one_account_and_only_the_fees_leave_it():
    state, m = market()
    seller = open_order(state, m, "alice", SELL, 2, 100)
    buyer = open_order(state, m, "alice", BUY, 2, 100)
    fill(seller, 2)
    fill(buyer, 2)
    before = state.account("alice")
    total_quote = before.available[QUOTE] + before.locked[QUOTE]
    total_base = before.available[BASE] + before.locked[BASE]
    settle(state, m, seller, buyer, before, Ticks(100), Lots(2), False, 7, [])
    after = state.account("alice")
    fees = state.account(FEE_ACCOUNT).available[QUOTE]
    assert fees == 2 + 4
    assert after.available[QUOTE] + after.locked[QUOTE] == total_quote - fees
    assert after.available[BASE] + after.locked[BASE] == total_base
    assert (after.locked[QUOTE], after.locked[BASE]) == (0, 0)

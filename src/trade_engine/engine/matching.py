"""Matching: a taker against the opposite side of the book, in price-time priority.

`take_limit` and `take_market` run one taker to its end: they match it, then rest a
GTC limit remainder in the book or let the order finish (release.py). `match` is the
loop: from the best price while the taker's limit allows, oldest maker first, it skips
stale entries, applies self-trade prevention, sizes each fill (the taker's remaining
lots, its budget or its quote target) and hands the fill to settlement.py.

Owns: which orders trade, how many lots, book bookkeeping (`remaining`, level totals,
emptied levels, the levels a command touched) and the trade prices the command reached
(`last_price`, `trade_high`, `trade_low`, which stops compare). Must not touch: money
(settlement.py moves it, release.py gives holds back), order rules, stop books.

The loop is the engine's hot path. It hoists what it reads on every maker into locals;
a fill is then two calls, `fill_size` and `settle`. Both are native calls within the
compiled group, which cost little next to the event a fill builds: splitting them out
of the loop left the instruction count per command unchanged (cachegrind).
"""

from typing import Final

from trade_engine.domain.units import Lots, Minor, Ticks
from trade_engine.domain.vocabulary import (
    BUY,
    EXPIRE_BOTH,
    EXPIRE_MAKER,
    EXPIRE_TAKER,
    FEE_ACCOUNT,
    FOK,
    GTC,
    MAX_AMOUNT,
    STP_NONE,
)
from trade_engine.engine.accounts import Account
from trade_engine.engine.book import BookSide
from trade_engine.engine.events import Event
from trade_engine.engine.holds import affordable_lots, fee_charged
from trade_engine.engine.order import Order
from trade_engine.engine.release import finish, remove_open
from trade_engine.engine.risk import hold_of
from trade_engine.engine.settlement import settle
from trade_engine.engine.state import EngineState, MarketState

# How a taker's matching ended, when it ended before the taker was exhausted.
RAN_OUT: Final = "RAN_OUT"  # the book (within the limit price) has no more liquidity
STP: Final = "SELF_TRADE_PREVENTION"
BUDGET: Final = "INSUFFICIENT_FUNDS"  # a market order's funds cannot pay for one more lot
TARGET: Final = "TARGET"  # a quote-sized order reached its amount (up to one lot of dust)


def take_limit(
    state: EngineState, m: MarketState, order: Order, account: Account, ts: int, events: list[Event]
) -> None:
    """Match a limit order as taker, then rest it (GTC) or expire the rest."""
    opp = m.opposite(order.side)
    limit_key = opp.sign * order.price
    if order.time_in_force == FOK and not fok_fillable(order, opp, limit_key):
        finish(m, account, order, ts, events, "FOK_NOT_FILLABLE", hold_of(m, order))
        return
    keys = opp.keys
    end = ""
    if keys and keys[-1] >= limit_key:
        end, _ = match(state, m, order, account, opp, limit_key, Minor(-1), ts, events)
    if order.remaining == 0:
        finish(m, account, order, ts, events, None, Minor(0))
    elif end == STP:
        finish(m, account, order, ts, events, STP, hold_of(m, order))
    elif order.time_in_force == GTC:
        book = m.book(order.side)
        book.add(order)
        m.touched[order.price * book.sign] = None
    else:
        finish(m, account, order, ts, events, "IOC_REMAINDER", hold_of(m, order))


def take_market(
    state: EngineState,
    m: MarketState,
    order: Order,
    account: Account,
    budget: Minor,
    ts: int,
    events: list[Event],
) -> None:
    """Match a market order; whatever it cannot fill expires, unspent funds return.

    `budget` < 0: it spends from its hold (a sell sized by quantity)."""
    opp = m.opposite(order.side)
    end, spent = RAN_OUT, Minor(0)
    if opp.keys:
        end, spent = match(state, m, order, account, opp, -MAX_AMOUNT, budget, ts, events)
    left = Minor(budget - spent if budget >= 0 else order.remaining * m.base_per_lot)
    if order.quote_quantity:
        # Reaching the amount exactly fills the order, even if it also emptied the book.
        reached = spent == budget if order.side == BUY else order.filled_quote == order.quote_quantity
        done = order.filled_quote > 0 and (reached or end == TARGET or (end == BUDGET and order.side == BUY))
    else:
        done = order.remaining == 0
    reason = None if done else "NO_LIQUIDITY" if end in (RAN_OUT, TARGET) else end
    finish(m, account, order, ts, events, reason, left)


def match(
    state: EngineState,
    m: MarketState,
    taker: Order,
    taker_account: Account,
    opp: BookSide,
    limit_key: int,
    budget: Minor,
    ts: int,
    events: list[Event],
) -> tuple[str, Minor]:
    """Trade `taker` against `opp` from the best price while it crosses `limit_key`.

    `budget` < 0: the taker spends from its hold (limit orders, market sells sized by
    quantity). Otherwise it is the quote (buy) or base (sell) the taker may spend.
    Returns why matching stopped early ("" when the taker was exhausted) and how much
    of the budget it spent.
    """
    per = m.quote_per_tick_lot
    keys, levels, sign = opp.keys, opp.levels, opp.sign
    accounts = state.accounts
    state.account(FEE_ACCOUNT)  # settlement credits it: it exists from the first match on
    taker_buys = taker.side == BUY
    taker_user = taker.user_id
    stp = taker.stp_mode
    by_quote = taker.quote_quantity > 0
    from_budget = budget >= 0
    touched = m.touched
    spent = 0  # of the budget (stays 0 without one, so budget - spent stays < 0)
    while keys:
        key = keys[-1]
        if key < limit_key:
            return RAN_OUT, Minor(spent)
        price = Ticks(key * sign)
        level = levels[price]
        orders = level.orders
        unit_cost = Minor(price * per)
        while True:
            maker = orders[0]
            maker_left = maker.remaining
            if maker_left == 0:
                orders.popleft()
                level.dead -= 1
                continue
            if stp != STP_NONE and maker.user_id == taker_user:
                if stp != EXPIRE_TAKER:
                    # Removing the maker also drops its level once that is empty.
                    remove_open(m, accounts[maker.user_id], maker, ts, events, STP, "")
                if stp != EXPIRE_MAKER:
                    return STP, Minor(spent)
                if level.total == 0:
                    break
                continue
            lots, stop = fill_size(m, taker, maker_left, unit_cost, budget - spent, taker_buys, by_quote)
            if lots == 0:
                return stop, Minor(spent)
            # The fill: off the book, then its money.
            maker.remaining = Lots(maker_left - lots)
            level.total = Lots(level.total - lots)
            touched[key] = None
            if not by_quote:
                taker.remaining = Lots(taker.remaining - lots)
            cost = settle(state, m, maker, taker, taker_account, price, lots, from_budget, ts, events)
            if from_budget:
                spent += cost
            m.last_price = price
            if price > m.trade_high:
                m.trade_high = price
            if price < m.trade_low:
                m.trade_low = price
            if maker.remaining == 0:
                orders.popleft()
                finish(m, accounts[maker.user_id], maker, ts, events, None, Minor(0))
            if level.total == 0:
                break
            if not by_quote and taker.remaining == 0:
                return "", Minor(spent)
        if price in levels:
            opp.drop(level)
        if not by_quote and taker.remaining == 0:
            return "", Minor(spent)
    return RAN_OUT, Minor(spent)


def fill_size(
    m: MarketState,
    taker: Order,
    maker_left: Lots,
    unit_cost: Minor,
    budget_left: int,
    taker_buys: bool,
    by_quote: bool,
) -> tuple[Lots, str]:
    """How many lots `taker` takes from a maker with `maker_left` at `unit_cost` quote
    per lot: the smaller remaining, cut to what its budget still pays for (fees included
    for a buy; `budget_left` < 0: it spends from its hold) or to a quote-sized order's
    target. No lots come with the reason matching stops."""
    lots = maker_left
    if not by_quote and taker.remaining < lots:
        lots = taker.remaining
    from_budget = budget_left >= 0
    if from_budget and taker_buys:
        numer, rate = taker.fee_numer, m.taker_fee
        want = lots * unit_cost
        if want + fee_charged(numer + want * rate) - fee_charged(numer) > budget_left:
            lots = affordable_lots(Minor(budget_left), unit_cost, numer, rate)
            if lots == 0:
                return lots, BUDGET
    elif by_quote:
        target = (taker.quote_quantity - taker.filled_quote) // unit_cost
        if target < lots:
            lots = Lots(target)
        if lots == 0:
            return lots, TARGET
    if from_budget and not taker_buys:
        can_sell = budget_left // m.base_per_lot
        if can_sell < lots:
            lots = Lots(can_sell)
        if lots == 0:
            return lots, BUDGET
    return lots, ""


def fok_fillable(order: Order, opp: BookSide, limit_key: int) -> bool:
    """Whether a fill-or-kill order would fill completely (self-trade rules included)."""
    need: int = order.remaining
    stp, user = order.stp_mode, order.user_id
    sign, levels = opp.sign, opp.levels
    for key in reversed(opp.keys):
        if key < limit_key:
            return False
        level = levels[key * sign]
        if stp == STP_NONE:
            need -= level.total
        else:
            for maker in level.orders:
                if maker.remaining == 0:
                    continue
                if maker.user_id == user:
                    if stp in (EXPIRE_TAKER, EXPIRE_BOTH):
                        return False
                    continue
                need -= maker.remaining
                if need <= 0:
                    return True
        if need <= 0:
            return True
    return False

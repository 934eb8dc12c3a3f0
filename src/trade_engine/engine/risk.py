"""The risk hold: what an order must lock before it may trade, and locking it.

Like exchange-core's first risk stage, this runs before matching: an order is accepted
only with its hold moved from available to locked, so funds can never be spent twice,
and matching then spends from holds alone. The amounts are the rules of holds.py
(docs/engine.md, section 6); this module applies them to orders and accounts.

Owns: each order's hold (new, amended, open), the check that available funds cover it,
and the moves from available to locked. Must not touch: books, counters, events;
matching's per-fill settlement is settlement.py, giving holds back is release.py.
"""

from typing import Final

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.units import Lots, Minor, Ticks
from trade_engine.domain.vocabulary import BUY, LIMIT, MARKET, SELL, STOP_LIMIT, TAKE_PROFIT_LIMIT
from trade_engine.engine.accounts import Account
from trade_engine.engine.holds import buy_hold
from trade_engine.engine.order import Order
from trade_engine.engine.state import MarketState

# The budget of an order that spends from its hold alone (and releases what each fill
# does not need); market buys and quote-sized market sells spend from a budget instead.
NO_BUDGET: Final = Minor(-1)


def hold_of(m: MarketState, order: Order) -> Minor:
    """What an open order or pending stop holds now (quote for buys, base for sells)."""
    if order.side == SELL:
        return Minor(order.remaining * m.base_per_lot)
    if order.order_type in (LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT):
        price = order.price
    elif order.quote_quantity:
        return order.quote_quantity
    else:
        # A stop-market or take-profit-market buy sized by quantity: its cost at the
        # stop price, topped up with everything available once it fires (stops.py).
        price = order.stop_price
    return buy_hold(order.remaining, price, m.quote_per_tick_lot, order.fee_numer, m.max_fee)


def new_order_hold(m: MarketState, account: Account | None, order: Order) -> tuple[Account, Minor, Minor]:
    """The account that pays for a new order, the hold the order takes there, and the
    budget it will spend from (`NO_BUDGET`: it spends from its hold). Refused if the
    account does not have the hold available."""
    side = order.side
    asset = m.held_asset(side)
    if order.order_type == MARKET and not (order.quote_quantity if side == BUY else order.quantity):
        # A market buy by quantity or a market sell by quote amount cannot know what it
        # will spend: it holds everything available of what it pays with.
        hold = Minor(account.available.get(asset, 0)) if account is not None else Minor(0)
        if hold <= 0:
            raise TradeEngineError(ErrorCode.INSUFFICIENT_BALANCE, f"no {asset} available")
        budget = hold
    else:
        hold = hold_of(m, order)
        budget = hold if order.order_type == MARKET and side == BUY else NO_BUDGET
    if account is None or account.available.get(asset, 0) < hold:
        raise TradeEngineError(ErrorCode.INSUFFICIENT_BALANCE, f"insufficient {asset} balance")
    return account, hold, budget


def amendment_hold_change(
    m: MarketState, account: Account, order: Order, price: Ticks, remaining: Lots
) -> Minor:
    """How much more (or, negative, less) `order` holds with new terms. Raises if the
    extra is not available."""
    if order.side == BUY:
        asset = m.quote
        per, rate = m.quote_per_tick_lot, m.max_fee
        old_hold = buy_hold(order.remaining, order.price, per, order.fee_numer, rate)
        new_hold = buy_hold(remaining, price, per, order.fee_numer, rate)
    else:
        asset = m.base
        old_hold = Minor(order.remaining * m.base_per_lot)
        new_hold = Minor(remaining * m.base_per_lot)
    change = Minor(new_hold - old_hold)
    if change > account.available.get(asset, 0):
        raise TradeEngineError(ErrorCode.INSUFFICIENT_BALANCE, f"insufficient {asset} balance")
    return change


def take_hold(account: Account, asset: str, amount: Minor) -> None:
    """Move `amount` (checked available; negative moves back) from available to locked."""
    account.available[asset] -= amount
    locked = account.locked
    locked[asset] = locked.get(asset, 0) + amount


def hold_everything(account: Account, asset: str) -> Minor:
    """Lock all of `asset` that is available; return how much that was."""
    extra = Minor(account.available.get(asset, 0))
    account.available[asset] = 0
    account.locked[asset] += extra
    return extra

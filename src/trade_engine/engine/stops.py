"""Stops and take-profits firing: after a taker has finished, every pending order that a
price traded by the command has reached fires and trades as the order it becomes.

Every price traded since the command began counts, not only the last one (a sweep
through several levels passes each of their prices), and each fired order's own trades
move the price again, so cascades fire in either direction. The firing order is the
stop book's (stopbook.py).

Owns: the trigger (`StopTriggered`), the top-up of a stop-market buy sized by quantity
(it then spends all available quote, like a market buy), and handing the fired order to
matching. Must not touch: placing stops in the stop book or taking them out (pipeline.py,
release.py), the trade range (matching.py records it, the command resets it).
"""

from trade_engine.domain.units import Minor
from trade_engine.domain.vocabulary import SELL, STOP_LIMIT, TAKE_PROFIT_LIMIT
from trade_engine.engine import emit
from trade_engine.engine.events import Event
from trade_engine.engine.matching import take_limit, take_market
from trade_engine.engine.order import Order
from trade_engine.engine.risk import NO_BUDGET, hold_everything, hold_of
from trade_engine.engine.state import EngineState, MarketState


def fire(state: EngineState, m: MarketState, ts: int, events: list[Event]) -> None:
    """Trigger every stop and take-profit a trade price of this command has reached,
    cascades included."""
    stops = m.stops
    while True:
        order = stops.pop_due(m.trade_high, m.trade_low)
        if order is None:
            return
        trigger(state, m, order, ts, events)


def trigger(state: EngineState, m: MarketState, order: Order, ts: int, events: list[Event]) -> None:
    """Fire one pending order (already out of the stop book) and trade it."""
    account = state.accounts[order.user_id]
    order.pending = False
    limit = order.order_type in (STOP_LIMIT, TAKE_PROFIT_LIMIT)
    budget, extra = NO_BUDGET, Minor(0)
    if limit or order.side == SELL:
        pass  # it spends from its hold
    elif order.quote_quantity:
        budget = order.quote_quantity
    else:
        # A stop-market or take-profit-market buy sized by quantity held its cost at the
        # stop price; fired, it may spend everything available, like any market buy, and
        # returns what it does not use.
        held = hold_of(m, order)
        extra = hold_everything(account, m.quote)
        budget = Minor(held + extra)
    m.seq += 1
    events.append(emit.stop_triggered(order, ts=ts, seq=m.seq, last_price=m.last_price, hold_change=extra))
    if limit:
        take_limit(state, m, order, account, ts, events)
    else:
        take_market(state, m, order, account, budget, ts, events)

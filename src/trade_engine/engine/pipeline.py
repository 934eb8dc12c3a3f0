"""The order pipeline: each order command runs the stages in order, after exchange-core.

    place:  order rules -> risk hold -> accept -> matching (settlement per fill,
            release of what finishes) -> stops -> book level announcements
    amend:  order rules -> risk hold change -> amend -> matching if it re-enters -> ...
    cancel: find -> release -> book level announcements
    cancel-replace: cancel, then place (the new order may use what the cancel released)

Everything that can refuse the command runs before the line marked `-- from here on
nothing is rejected --`; after it nothing raises, so a refused command changes nothing.

Owns: the order of the stages, accepting an order (its id, its hold taken, its entry as
a user's open order) and applying an amendment. The stages own everything else; see
their modules.
"""

import msgspec

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.units import Minor, Ticks
from trade_engine.domain.vocabulary import HALT, MARKET, MAX_AMOUNT
from trade_engine.engine import emit, rules, stops
from trade_engine.engine.accounts import Account
from trade_engine.engine.commands import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    CancelReplaceOrder,
    PlaceOrder,
)
from trade_engine.engine.events import Event, PartRejected
from trade_engine.engine.matching import take_limit, take_market
from trade_engine.engine.order import Order
from trade_engine.engine.release import remove_open
from trade_engine.engine.risk import amendment_hold_change, new_order_hold, take_hold
from trade_engine.engine.state import EngineState, MarketState


def place(state: EngineState, cmd: PlaceOrder, events: list[Event]) -> None:
    # Past its market, the command is read once, by the rules (reading a command struct
    # is not free); from then on the order says what it asked for.
    m = rules.market_for_orders(state, cmd.market)
    order = rules.new_order(m, state.accounts, cmd)
    account, hold, budget = new_order_hold(m, state.accounts.get(order.user_id), order)
    if order.post_only:
        rules.check_post_only(m, order.side, order.price)

    # -- from here on nothing is rejected --
    ts = order.created_ts
    accept(state, m, account, order, hold, events)
    if order.pending:
        m.stops.add(order)
        return
    m.trade_high, m.trade_low = Ticks(0), Ticks(MAX_AMOUNT)
    if order.order_type == MARKET:  # (the conditional types wait in the stop book)
        take_market(state, m, order, account, budget, ts, events)
    else:
        take_limit(state, m, order, account, ts, events)
    if m.stops.orders:
        stops.fire(state, m, ts, events)
    if m.touched:
        emit.level_changes(m, ts, events)


def accept(
    state: EngineState,
    m: MarketState,
    account: Account,
    order: Order,
    hold: Minor,
    events: list[Event],
) -> None:
    """Give a checked order its id, take its hold and make it the user's open order."""
    order_id = state.next_order_id
    state.next_order_id = order_id + 1
    order.id = order_id
    take_hold(account, m.held_asset(order.side), hold)
    account.orders[order_id] = order
    if order.client_order_id is not None:
        account.client_ids[order.client_order_id] = order
    m.seq += 1
    events.append(emit.order_accepted(order, ts=order.created_ts, seq=m.seq, hold=hold))


def amend(state: EngineState, cmd: AmendOrder, events: list[Event]) -> None:
    account, order = rules.find_open(state, cmd.user_id, cmd.order_id, cmd.client_order_id)
    m = state.markets[order.market]
    price, quantity, remaining = rules.amended_terms(m, order, cmd.price, cmd.quantity)
    change = amendment_hold_change(m, account, order, price, remaining)
    keeps_priority = price == order.price and quantity < order.quantity
    if not keeps_priority and order.post_only:
        rules.check_post_only(m, order.side, price)

    # -- from here on nothing is rejected --
    ts = cmd.ts
    take_hold(account, m.held_asset(order.side), change)
    m.seq += 1
    events.append(
        emit.order_amended(
            order,
            ts=ts,
            seq=m.seq,
            price=price,
            quantity=quantity,
            remaining=remaining,
            hold_change=change,
            priority_kept=keeps_priority,
        )
    )
    book = m.book(order.side)
    if keeps_priority:
        book.reduce(order, remaining)
        order.quantity = quantity
        m.touched[price * book.sign] = None
    else:
        # It re-enters at the back of its new level as a fresh order with the same id:
        # the old entry stays in its queue, stale.
        m.touched[order.price * book.sign] = None
        fresh = order.with_terms(price, quantity, remaining)
        book.remove(order)
        account.orders[fresh.id] = fresh
        if fresh.client_order_id is not None:
            account.client_ids[fresh.client_order_id] = fresh
        m.trade_high, m.trade_low = Ticks(0), Ticks(MAX_AMOUNT)
        take_limit(state, m, fresh, account, ts, events)
        if m.stops.orders:
            stops.fire(state, m, ts, events)
    emit.level_changes(m, ts, events)


def cancel(state: EngineState, cmd: CancelOrder, events: list[Event]) -> None:
    account, order = rules.find_open(state, cmd.user_id, cmd.order_id, cmd.client_order_id)
    rules.require_status(order, cmd.only_status)
    m = state.markets[order.market]
    rules.require_not_halted(m)
    remove_open(m, account, order, cmd.ts, events, None, "USER", cmd.cancel_request_id)
    if m.touched:
        emit.level_changes(m, cmd.ts, events)


def cancel_replace(state: EngineState, cmd: CancelReplaceOrder, events: list[Event]) -> None:
    """The cancel, then the new order, each exactly as its own command would run (so
    their events are those of `cancel` then `place`); a part refused while the other
    goes through is announced by `PartRejected` instead of refusing the command."""
    new = cmd.place
    if new.user_id != cmd.user_id:
        raise TradeEngineError(ErrorCode.INVALID_ORDER, "a cancel-replace places an order of its own user")
    if new.ts != cmd.ts:
        new = msgspec.structs.replace(new, ts=cmd.ts)
    try:
        account, order = rules.find_open(state, cmd.user_id, cmd.cancel_order_id, cmd.cancel_client_order_id)
        if order.market != new.market:
            raise TradeEngineError(ErrorCode.ORDER_NOT_FOUND, "no such open order in this market")
        rules.require_status(order, cmd.cancel_only_status)
        m = state.markets[order.market]
        rules.require_not_halted(m)
    except TradeEngineError as refused:
        if not cmd.allow_failure:
            raise
        _place_alone(state, cmd, new, refused, events)
        return

    # -- from here on nothing is rejected: a refused new order is announced --
    remove_open(m, account, order, cmd.ts, events, None, "USER", cmd.cancel_request_id)
    if m.touched:
        emit.level_changes(m, cmd.ts, events)
    try:
        place(state, new, events)  # refuses before its first change, if at all
    except TradeEngineError as error:
        events.append(PartRejected(cmd.ts, cmd.user_id, "new", error.code, error.message))


def _place_alone(
    state: EngineState,
    cmd: CancelReplaceOrder,
    new: PlaceOrder,
    refused: TradeEngineError,
    events: list[Event],
) -> None:
    """The new order of a cancel-replace whose cancel was refused (ALLOW_FAILURE)."""
    placed: list[Event] = []
    try:
        place(state, new, placed)
    except TradeEngineError as error:
        raise TradeEngineError(
            error.code, error.message, cancel_code=refused.code, cancel_message=refused.message
        ) from error
    events.append(PartRejected(cmd.ts, cmd.user_id, "cancel", refused.code, refused.message))
    events.extend(placed)


def cancel_all(state: EngineState, cmd: CancelAllOrders, events: list[Event]) -> None:
    """Every open order and pending stop of the user (in one market, if named), in id
    order; markets that are halted are skipped, unless named, which refuses."""
    symbol = cmd.market
    if symbol is not None:
        rules.require_not_halted(rules.known_market(state, symbol))
    account = state.accounts.get(cmd.user_id)
    if account is None:
        return
    markets = state.markets
    touched: dict[str, MarketState] = {}
    # In id order (acceptance order), whatever order the index was built in.
    for order in sorted(account.orders.values(), key=_order_id):
        m = markets[order.market]
        if (symbol is not None and order.market != symbol) or m.status == HALT:
            continue
        remove_open(m, account, order, cmd.ts, events, None, "CANCEL_ALL")
        touched[order.market] = m
    for m in touched.values():
        if m.touched:
            emit.level_changes(m, cmd.ts, events)


def _order_id(order: Order) -> int:
    return order.id

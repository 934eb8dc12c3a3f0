"""Order rules: whether a command may act on a market or an order at all.

Every check raises `TradeEngineError` with the code of the first rule broken, in the
order the rules are written here (a command that breaks two rules always gets the same
code). Nothing here changes state, so a refused command leaves none behind.

Owns: market status for orders, order types and time in force, price, quantity and
notional limits, stop-price direction, post-only, client order id uniqueness, finding a
user's open order (and, for a restricted cancel, its status), and the terms of an
amendment. This is where a command's plain
integers become ticks, lots and minor units. Must not touch: balances and holds (whether
funds suffice is risk.py), books, counters, events.
"""

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.lifecycle import is_open, open_status
from trade_engine.domain.units import Lots, Minor, Ticks
from trade_engine.domain.vocabulary import (
    BUY,
    CANCEL_ONLY,
    FEE_ACCOUNT,
    FOK,
    GTC,
    HALT,
    IOC,
    LIMIT,
    MARKET,
    MAX_AMOUNT,
    SELL,
    SIDES,
    STOP_LIMIT,
    STOP_MARKET,
    STP_MODES,
    TAKE_PROFIT_LIMIT,
    TAKE_PROFIT_MARKET,
    TIMES_IN_FORCE,
    TRADING,
)
from trade_engine.engine.accounts import Account
from trade_engine.engine.commands import PlaceOrder
from trade_engine.engine.order import Order
from trade_engine.engine.state import EngineState, MarketState
from trade_engine.engine.stopbook import fires_on_rise

# -- MARKETS ------------------------------------------------------------------------------


def known_market(state: EngineState, symbol: str) -> MarketState:
    m = state.markets.get(symbol)
    if m is None:
        raise TradeEngineError(ErrorCode.UNKNOWN_MARKET, f"unknown market {symbol!r}")
    return m


def market_for_orders(state: EngineState, symbol: str) -> MarketState:
    """The market, if it takes new orders."""
    m = state.markets.get(symbol)
    if m is None:
        raise TradeEngineError(ErrorCode.UNKNOWN_MARKET, f"unknown market {symbol!r}")
    if m.status != TRADING:
        require_trading(m)
    return m


def require_trading(m: MarketState) -> None:
    if m.status == HALT:
        raise TradeEngineError(ErrorCode.MARKET_HALTED, f"market {m.symbol} is halted")
    if m.status == CANCEL_ONLY:
        raise TradeEngineError(ErrorCode.MARKET_CANCEL_ONLY, f"market {m.symbol} is cancel-only")
    assert m.status == TRADING


def require_not_halted(m: MarketState) -> None:
    """Cancels pass in every status but HALT."""
    if m.status == HALT:
        raise TradeEngineError(ErrorCode.MARKET_HALTED, f"market {m.symbol} is halted")


# -- NEW ORDERS ---------------------------------------------------------------------------


def new_order(m: MarketState, accounts: dict[str, Account], cmd: PlaceOrder) -> Order:
    """The order `cmd` asks for in `m`, checked against every order rule; not yet
    accepted (its id is 0) and holding nothing yet."""
    # Every field is read once: attribute reads on a command struct are not free.
    ts, user_id, side, order_type = cmd.ts, cmd.user_id, cmd.side, cmd.order_type
    quantity, quote_quantity = Lots(cmd.quantity), Minor(cmd.quote_quantity)
    price, stop = Ticks(cmd.price), Ticks(cmd.stop_price)
    coid, post_only, tif = cmd.client_order_id, cmd.post_only, cmd.time_in_force
    if side not in SIDES:
        raise TradeEngineError(ErrorCode.INVALID_ORDER, f"side must be BUY or SELL, not {side!r}")
    if quantity < 0 or quote_quantity < 0 or price < 0 or stop < 0:
        raise TradeEngineError(ErrorCode.VALUE_OUT_OF_RANGE, "sizes and prices cannot be negative")
    if user_id == FEE_ACCOUNT or not user_id:
        raise TradeEngineError(ErrorCode.INVALID_ORDER, "this account cannot place orders")
    stp = cmd.stp_mode
    if stp is None:
        stp = m.stp_mode
    elif stp not in STP_MODES:
        raise TradeEngineError(ErrorCode.INVALID_ORDER, f"unknown self-trade prevention mode {stp!r}")
    if coid is not None:
        account = accounts.get(user_id)
        if account is not None and coid in account.client_ids:
            raise TradeEngineError(
                ErrorCode.DUPLICATE_CLIENT_ORDER_ID,
                f"client order id {coid!r} is already used by an open order",
            )
    if order_type in (LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT):
        _check_limit_terms(m, order_type, tif, price, quantity, quote_quantity, post_only)
    elif order_type in (MARKET, STOP_MARKET, TAKE_PROFIT_MARKET):
        _check_market_terms(m, side, order_type, tif, price, quantity, quote_quantity, post_only)
        tif = IOC
    else:
        raise TradeEngineError(ErrorCode.INVALID_ORDER, f"unknown order type {order_type!r}")
    # Known types only from here: the conditional ones are all but LIMIT and MARKET.
    pending = order_type not in (LIMIT, MARKET)
    if pending:
        _check_stop(m, side, order_type, stop)
    elif stop:
        raise TradeEngineError(ErrorCode.INVALID_ORDER, "only stop and take-profit orders take a stop price")
    return Order(
        id=0,
        user_id=user_id,
        market=m.symbol,
        side=side,
        order_type=order_type,
        time_in_force=tif,
        price=price,
        stop_price=stop,
        quantity=quantity,
        quote_quantity=quote_quantity,
        remaining=quantity,
        client_order_id=coid,
        stp_mode=stp,
        post_only=post_only,
        created_ts=ts,
        pending=pending,
        meta=cmd.meta,
    )


def _check_limit_terms(
    m: MarketState,
    order_type: str,
    tif: str,
    price: Ticks,
    quantity: Lots,
    quote_quantity: Minor,
    post_only: bool,
) -> None:
    """LIMIT, STOP_LIMIT and TAKE_PROFIT_LIMIT: a price, a quantity, their time in force."""
    if tif not in TIMES_IN_FORCE:
        raise TradeEngineError(ErrorCode.INVALID_ORDER, f"unknown time in force {tif!r}")
    if quote_quantity:
        raise TradeEngineError(ErrorCode.INVALID_ORDER, "limit orders are sized by quantity")
    check_price(m, price, "price")
    check_quantity(m, quantity)
    check_notional(m, price, quantity)
    if post_only and (tif != GTC or order_type != LIMIT):
        raise TradeEngineError(ErrorCode.INVALID_ORDER, "post-only applies to GTC limit orders")


def _check_market_terms(
    m: MarketState,
    side: str,
    order_type: str,
    tif: str,
    price: Ticks,
    quantity: Lots,
    quote_quantity: Minor,
    post_only: bool,
) -> None:
    """MARKET, STOP_MARKET and TAKE_PROFIT_MARKET: no price, exactly one size; they act as
    IOC whatever time in force they name (but FOK)."""
    if tif == FOK:
        raise TradeEngineError(ErrorCode.INVALID_ORDER, "market orders cannot be fill-or-kill")
    if tif not in TIMES_IN_FORCE:
        raise TradeEngineError(ErrorCode.INVALID_ORDER, f"unknown time in force {tif!r}")
    if price:
        raise TradeEngineError(ErrorCode.INVALID_ORDER, "market orders take no limit price")
    if post_only:
        raise TradeEngineError(ErrorCode.INVALID_ORDER, "market orders cannot be post-only")
    if (quantity > 0) == (quote_quantity > 0):
        raise TradeEngineError(ErrorCode.INVALID_ORDER, "give exactly one of quantity and quote_quantity")
    if quantity:
        check_quantity(m, quantity)
        return
    if quote_quantity < 0 or quote_quantity >= MAX_AMOUNT:
        raise TradeEngineError(ErrorCode.VALUE_OUT_OF_RANGE, "quote_quantity is out of range")
    if quote_quantity < m.min_notional:
        raise TradeEngineError(ErrorCode.NOTIONAL_BELOW_MIN, "quote_quantity is below the minimum")
    if order_type != MARKET and side == SELL:
        raise TradeEngineError(
            ErrorCode.INVALID_ORDER,
            "stop-market and take-profit-market sells are sized by quantity",
        )


def _check_stop(m: MarketState, side: str, order_type: str, stop: Ticks) -> None:
    check_price(m, stop, "stop_price")
    rises = fires_on_rise(side, order_type)
    last = m.last_price
    # Stops and take-profits alike: one that would fire at once is refused (before the
    # first trade there is no price to compare with).
    if last and ((rises and stop <= last) or (not rises and stop >= last)):
        raise TradeEngineError(ErrorCode.STOP_WOULD_TRIGGER, "the stop price would trigger at once")


def check_price(m: MarketState, price: Ticks, field: str) -> None:
    if not m.min_price <= price <= m.max_price:
        raise TradeEngineError(ErrorCode.PRICE_OUT_OF_RANGE, f"{field} is outside the market's range")


def check_quantity(m: MarketState, quantity: Lots) -> None:
    if quantity < m.min_quantity:
        raise TradeEngineError(ErrorCode.QUANTITY_BELOW_MIN, "quantity is below the market minimum")
    if quantity > m.max_quantity:
        raise TradeEngineError(ErrorCode.QUANTITY_ABOVE_MAX, "quantity is above the market maximum")


def check_notional(m: MarketState, price: Ticks, quantity: Lots) -> None:
    if quantity * price * m.quote_per_tick_lot < m.min_notional:
        raise TradeEngineError(ErrorCode.NOTIONAL_BELOW_MIN, "price × quantity is below the minimum")


def check_post_only(m: MarketState, side: str, price: Ticks) -> None:
    """A post-only order must not take: refused if it would cross the opposite best."""
    best = m.asks.best_price() if side == BUY else m.bids.best_price()
    if best is not None and (best <= price if side == BUY else best >= price):
        raise TradeEngineError(ErrorCode.POST_ONLY_WOULD_TAKE, "the post-only order would take liquidity")


# -- OPEN ORDERS ----------------------------------------------------------------------------


def find_open(
    state: EngineState, user_id: str, order_id: int | None, client_order_id: str | None
) -> tuple[Account, Order]:
    """A user's open order or pending stop, by id or client order id (both: they must
    name the same order). Anything else, another user's order included, is not found."""
    account = state.accounts.get(user_id)
    order = None
    if account is not None:
        if order_id is not None:
            order = account.orders.get(order_id)
            if order is not None and client_order_id is not None and order.client_order_id != client_order_id:
                order = None
        elif client_order_id is not None:
            order = account.client_ids.get(client_order_id)
    if account is None or order is None:
        raise TradeEngineError(ErrorCode.ORDER_NOT_FOUND, "no such open order")
    return account, order


def require_status(order: Order, only_status: str | None) -> None:
    """A restricted cancel: the order must have `only_status` (NEW: nothing traded yet;
    PARTIALLY_FILLED: something has), if one is given."""
    if only_status is None:
        return
    if not is_open(only_status):
        raise TradeEngineError(ErrorCode.INVALID_ORDER, f"a cancel cannot be restricted to {only_status}")
    status = open_status(order.executed).value
    if status != only_status:
        raise TradeEngineError(
            ErrorCode.CANCEL_RESTRICTED, f"the order is {status}; the cancel was restricted to {only_status}"
        )


def amended_terms(
    m: MarketState, order: Order, new_price: int | None, new_quantity: int | None
) -> tuple[Ticks, Lots, Lots]:
    """The price, total quantity and remaining quantity an amendment gives `order`."""
    require_trading(m)
    if order.pending:
        raise TradeEngineError(
            ErrorCode.ORDER_NOT_AMENDABLE, "a pending stop or take-profit order cannot be amended"
        )
    price = order.price if new_price is None else Ticks(new_price)
    quantity = order.quantity if new_quantity is None else Lots(new_quantity)
    if price == order.price and quantity == order.quantity:
        raise TradeEngineError(ErrorCode.INVALID_ORDER, "the amendment changes nothing")
    check_price(m, price, "price")
    check_quantity(m, quantity)
    filled = order.quantity - order.remaining
    if quantity <= filled:
        raise TradeEngineError(ErrorCode.INVALID_ORDER, "the new quantity must exceed the filled quantity")
    check_notional(m, price, quantity)
    return price, quantity, Lots(quantity - filled)

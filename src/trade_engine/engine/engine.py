"""The engine: applies commands to markets and accounts, returns the events they cause.

Handlers follow one shape: validate everything (raising `TradeEngineError`, which
`apply` turns into a `CommandRejected` event), then mutate, emitting events as they
happen. No handler raises after its first mutation.
"""

from bisect import bisect_left, insort
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec

from trade_engine.domain.errors import ErrorCode, TradeEngineError
from trade_engine.domain.market import Market
from trade_engine.domain.vocabulary import (
    BUY,
    CANCEL_ONLY,
    EXPIRE_BOTH,
    EXPIRE_MAKER,
    EXPIRE_TAKER,
    FEE_ACCOUNT,
    FEE_SCALE,
    FOK,
    GTC,
    HALT,
    IOC,
    LIMIT,
    MARKET,
    MARKET_STATUSES,
    MAX_AMOUNT,
    SELL,
    SIDES,
    STOP_LIMIT,
    STOP_MARKET,
    STP_MODES,
    STP_NONE,
    TAKE_PROFIT_LIMIT,
    TAKE_PROFIT_MARKET,
    TIMES_IN_FORCE,
    TRADING,
)
from trade_engine.engine.accounts import Account
from trade_engine.engine.book import BookSide, Level
from trade_engine.engine.commands import (
    AddMarket,
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    Command,
    Deposit,
    PlaceOrder,
    SetMarketStatus,
    Withdraw,
)
from trade_engine.engine.events import (
    BookLevelChanged,
    CommandRejected,
    Event,
    FundsDeposited,
    FundsWithdrawn,
    MarketAdded,
    MarketStatusChanged,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    StopTriggered,
    TradeExecuted,
)
from trade_engine.engine.holds import affordable_lots, buy_hold
from trade_engine.engine.order import Order

# How a taker's matching ended, when it ended before the taker was exhausted.
_RAN_OUT = "RAN_OUT"  # the book (within the limit price) has no more liquidity
_STP = "SELF_TRADE_PREVENTION"
_BUDGET = "INSUFFICIENT_FUNDS"  # a market order's funds cannot pay for one more lot
_TARGET = "TARGET"  # a quote-sized order reached its amount (up to one lot of dust)


def _reject(code: ErrorCode, message: str) -> TradeEngineError:
    return TradeEngineError(code, message)


class Balance(NamedTuple):
    available: int
    locked: int


def _levels(side: BookSide) -> list[Level]:
    return [side.levels[key * side.sign] for key in reversed(side.keys)]


def _level_state(level: Level) -> tuple[int, int, list[dict[str, Any]]]:
    return level.price, level.total, [order.to_dict() for order in level.live_orders()]


def _order_id(order: Order) -> int:
    return order.id


def _fires_on_rise(side: str, order_type: str) -> bool:
    """Whether a conditional order fires when the price rises to its stop price (a buy
    stop, a sell take-profit) rather than when it falls to it (a sell stop, a buy
    take-profit): the one place trigger direction is decided."""
    return (side == BUY) == (order_type in (STOP_LIMIT, STOP_MARKET))


class MarketState:
    """A market's rules, status, books, stop books and counters."""

    __slots__ = (
        "asks",
        "base",
        "base_per_lot",
        "bids",
        "fall_stops",
        "last_price",
        "maker_fee",
        "market",
        "max_fee",
        "max_price",
        "max_quantity",
        "min_notional",
        "min_price",
        "min_quantity",
        "quote",
        "quote_per_tick_lot",
        "rise_stops",
        "seq",
        "status",
        "stp_mode",
        "symbol",
        "taker_fee",
        "touched",
        "trade_high",
        "trade_low",
    )

    def __init__(self, market: Market) -> None:
        self.market = market
        # The rules again as native attributes: read on every command, and reading a
        # compiled class's attribute is far cheaper than reading a msgspec struct's.
        self.symbol = market.symbol
        self.base = market.base
        self.quote = market.quote
        self.quote_per_tick_lot = market.quote_per_tick_lot
        self.base_per_lot = market.base_per_lot
        self.min_price = market.min_price
        self.max_price = market.max_price
        self.min_quantity = market.min_quantity
        self.max_quantity = market.max_quantity
        self.min_notional = market.min_notional
        self.maker_fee = market.maker_fee
        self.taker_fee = market.taker_fee
        self.stp_mode = market.stp_mode
        self.status = market.status
        self.seq = 0
        self.bids = BookSide(BUY, 1)
        self.asks = BookSide(SELL, -1)
        # Pending conditional orders by trigger direction, each in firing order. Those
        # that fire on a rise (buy stops, sell take-profits) by (stop price, id)
        # ascending; those that fire on a fall (sell stops, buy take-profits) by
        # (-stop price, id) ascending. Either way the next to fire sits at index 0.
        self.rise_stops: list[tuple[int, int]] = []
        self.fall_stops: list[tuple[int, int]] = []
        self.last_price = 0
        self.max_fee = max(market.maker_fee, market.taker_fee)
        # Highest and lowest trade price of the current command (stops compare them).
        self.trade_high = 0
        self.trade_low = MAX_AMOUNT
        # Book keys (price for bids, -price for asks) changed by the current command.
        self.touched: dict[int, None] = {}


class Engine:
    """The single-writer matching engine. See the package docstring for its rules."""

    def __init__(self) -> None:
        self._markets: dict[str, MarketState] = {}
        self._accounts: dict[str, Account] = {}
        self._assets: dict[str, int] = {}
        # Per asset: deposits minus withdrawals, which every balance must add up to.
        self._supply: dict[str, int] = {}
        self._stops: dict[int, Order] = {}
        # Transfer references (idempotency keys) taken, and by which transfer: forever.
        self._references: dict[str, int] = {}
        self._next_order_id = 1
        self._next_trade_id = 1
        self._next_transfer_id = 1
        self._handlers: dict[type[Command], Callable[[Any, list[Event]], None]] = {
            PlaceOrder: self._place,
            CancelOrder: self._cancel,
            CancelAllOrders: self._cancel_all,
            AmendOrder: self._amend,
            Deposit: self._deposit,
            Withdraw: self._withdraw,
            AddMarket: self._add_market,
            SetMarketStatus: self._set_status,
        }

    # -- QUERIES ----------------------------------------------------------------------
    # Orders handed out are copies: callers can never change engine state through them.

    def market(self, symbol: str) -> Market | None:
        """The market's rules, with its current status."""
        m = self._markets.get(symbol)
        if m is None:
            return None
        return msgspec.structs.replace(m.market, status=m.status)

    def markets(self) -> list[Market]:
        return [market for symbol in self._markets if (market := self.market(symbol))]

    def balance(self, user_id: str, asset: str) -> Balance:
        account = self._accounts.get(user_id)
        if account is None:
            return Balance(0, 0)
        return Balance(account.available.get(asset, 0), account.locked.get(asset, 0))

    def balances(self) -> dict[str, dict[str, Balance]]:
        """Every account's non-empty balances: {user: {asset: Balance}}."""
        result: dict[str, dict[str, Balance]] = {}
        for user_id, account in self._accounts.items():
            assets = sorted(set(account.available) | set(account.locked))
            per_asset = {asset: self.balance(user_id, asset) for asset in assets}
            result[user_id] = {asset: b for asset, b in per_asset.items() if b.available or b.locked}
        return result

    def open_order(
        self, user_id: str, order_id: int | None = None, client_order_id: str | None = None
    ) -> Order | None:
        """An open order or pending stop of this user, by id or client order id."""
        try:
            _, order = self._find_open(user_id, order_id, client_order_id)
        except TradeEngineError:
            return None
        return order.copy()

    def open_orders(self, user_id: str, market: str | None = None) -> list[Order]:
        account = self._accounts.get(user_id)
        if account is None:
            return []
        orders = sorted(account.orders.values(), key=_order_id)
        return [o.copy() for o in orders if market is None or o.market == market]

    def all_open_orders(self) -> list[Order]:
        return [o.copy() for account in self._accounts.values() for o in account.orders.values()]

    def holds(self) -> dict[tuple[str, str], int]:
        """What all open orders and stops hold, per (user, asset): what `locked` must be."""
        totals: dict[tuple[str, str], int] = {}
        for user_id, account in self._accounts.items():
            for order in account.orders.values():
                m = self._markets[order.market]
                key = (user_id, m.quote if order.side == BUY else m.base)
                totals[key] = totals.get(key, 0) + self._hold_of(m, order)
        return totals

    def hold_of(self, order: Order) -> int:
        """What an open order or pending stop holds (quote for buys, base for sells)."""
        return self._hold_of(self._markets[order.market], order)

    def depth(self, symbol: str, limit: int = 0) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Aggregated (price, quantity) levels, best first: (bids, asks). 0 = all levels."""
        m = self._markets[symbol]
        return m.bids.depth(limit), m.asks.depth(limit)

    def queue(self, symbol: str, side: str, price: int) -> list[int]:
        """Ids of the orders resting at one price, in time priority."""
        m = self._markets[symbol]
        book = m.bids if side == BUY else m.asks
        return [order.id for order in book.orders_at(price)]

    def pending_stops(self, symbol: str) -> list[Order]:
        """Pending conditional orders (stops and take-profits) in firing order: those
        that fire on a rise, then those that fire on a fall."""
        m = self._markets[symbol]
        ids = [order_id for _, order_id in m.rise_stops] + [order_id for _, order_id in m.fall_stops]
        return [self._stops[order_id].copy() for order_id in ids]

    def supply(self, asset: str) -> int:
        """Deposits minus withdrawals of `asset`: what all its balances must sum to."""
        return self._supply.get(asset, 0)

    def last_price(self, symbol: str) -> int:
        """Price of the market's last trade; 0 before the first."""
        return self._markets[symbol].last_price

    def sequence(self, symbol: str) -> int:
        """The sequence number of the market's latest event."""
        return self._markets[symbol].seq

    def snapshot(self) -> bytes:
        """Every piece of engine state, encoded canonically (for comparisons).

        Canonical: keys sorted, zero balances and empty accounts left out, so two engines
        that hold the same state compare equal however they came to hold it.
        """
        accounts = {}
        for user_id, account in self._accounts.items():
            entry = {
                "available": {asset: v for asset, v in account.available.items() if v},
                "locked": {asset: v for asset, v in account.locked.items() if v},
                "orders": [o.to_dict() for o in sorted(account.orders.values(), key=_order_id)],
                "client_ids": {k: o.id for k, o in account.client_ids.items()},
            }
            if any(entry.values()):
                accounts[user_id] = entry
        state = {
            "next_order_id": self._next_order_id,
            "next_trade_id": self._next_trade_id,
            "next_transfer_id": self._next_transfer_id,
            "assets": self._assets,
            "supply": {asset: v for asset, v in self._supply.items() if v},
            "references": self._references,
            "markets": {
                symbol: {
                    "status": m.status,
                    "seq": m.seq,
                    "last_price": m.last_price,
                    "bids": [_level_state(level) for level in _levels(m.bids)],
                    "asks": [_level_state(level) for level in _levels(m.asks)],
                    "rise_stops": m.rise_stops,
                    "fall_stops": m.fall_stops,
                }
                for symbol, m in self._markets.items()
            },
            "accounts": accounts,
            "stops": sorted(self._stops),
        }
        return msgspec.msgpack.encode(state, order="sorted")

    # -- RECOVERY ---------------------------------------------------------------------
    # Rebuilding the state a durable store recorded, on start. These calls trust their
    # input; storage's consistency check (`trade-engine verify`) runs on the result.

    def restore_market(self, market: Market, *, status: str, seq: int, last_price: int) -> None:
        self._assets[market.base] = market.base_decimals
        self._assets[market.quote] = market.quote_decimals
        m = self._markets[market.symbol] = MarketState(market)
        m.status, m.seq, m.last_price = status, seq, last_price

    def restore_balance(self, user_id: str, asset: str, available: int, locked: int) -> None:
        account = self._account(user_id)
        account.available[asset] = available
        account.locked[asset] = locked

    def restore_supply(self, asset: str, amount: int) -> None:
        self._supply[asset] = amount

    def restore_reference(self, reference: str, transfer_id: int) -> None:
        self._references[reference] = transfer_id

    def restore_order(self, order: Order) -> None:
        """Put back an open order or pending stop; call in each book's time priority."""
        m = self._markets[order.market]
        account = self._account(order.user_id)
        account.orders[order.id] = order
        if order.client_order_id is not None:
            account.client_ids[order.client_order_id] = order
        if order.pending:
            self._stops[order.id] = order
            if _fires_on_rise(order.side, order.order_type):
                insort(m.rise_stops, (order.stop_price, order.id))
            else:
                insort(m.fall_stops, (-order.stop_price, order.id))
        else:
            (m.bids if order.side == BUY else m.asks).add(order)

    def restore_counters(self, *, next_order_id: int, next_trade_id: int, next_transfer_id: int) -> None:
        self._next_order_id = next_order_id
        self._next_trade_id = next_trade_id
        self._next_transfer_id = next_transfer_id

    def counters(self) -> tuple[int, int, int]:
        """The next order id, trade id and transfer id the engine will assign."""
        return self._next_order_id, self._next_trade_id, self._next_transfer_id

    # -- COMMANDS ---------------------------------------------------------------------

    def apply(self, command: Command) -> list[Event]:
        """Apply one command; return its events (a lone `CommandRejected` if refused)."""
        events: list[Event] = []
        try:
            self._handlers[type(command)](command, events)
        except TradeEngineError as error:
            duplicate_of = error.detail("duplicate_of")
            return [
                CommandRejected(
                    ts=command.ts,
                    code=error.code,
                    message=error.message,
                    user_id=getattr(command, "user_id", None),
                    client_order_id=getattr(command, "client_order_id", None),
                    duplicate_of=duplicate_of if isinstance(duplicate_of, int) else None,
                )
            ]
        return events

    def _place(self, cmd: PlaceOrder, events: list[Event]) -> None:
        # Every field is read once: attribute reads on a command struct are not free.
        ts, user_id, symbol, side, order_type = cmd.ts, cmd.user_id, cmd.market, cmd.side, cmd.order_type
        quantity, quote_quantity, price, stop = cmd.quantity, cmd.quote_quantity, cmd.price, cmd.stop_price
        coid, post_only, requested_tif = cmd.client_order_id, cmd.post_only, cmd.time_in_force
        m = self._markets.get(symbol)
        if m is None:
            raise _reject(ErrorCode.UNKNOWN_MARKET, f"unknown market {symbol!r}")
        if m.status != TRADING:
            self._require_trading(m)
        mk = m
        if side not in SIDES:
            raise _reject(ErrorCode.INVALID_ORDER, f"side must be BUY or SELL, not {side!r}")
        if quantity < 0 or quote_quantity < 0 or price < 0 or stop < 0:
            raise _reject(ErrorCode.VALUE_OUT_OF_RANGE, "sizes and prices cannot be negative")
        if user_id == FEE_ACCOUNT or not user_id:
            raise _reject(ErrorCode.INVALID_ORDER, "this account cannot place orders")
        stp = cmd.stp_mode
        if stp is None:
            stp = m.stp_mode
        elif stp not in STP_MODES:
            raise _reject(ErrorCode.INVALID_ORDER, f"unknown self-trade prevention mode {stp!r}")
        account = self._accounts.get(user_id)
        if coid is not None and account is not None and coid in account.client_ids:
            raise _reject(
                ErrorCode.DUPLICATE_CLIENT_ORDER_ID,
                f"client order id {coid!r} is already used by an open order",
            )
        is_market = order_type in (MARKET, STOP_MARKET, TAKE_PROFIT_MARKET)
        if order_type in (LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT):
            tif = requested_tif
            if tif not in TIMES_IN_FORCE:
                raise _reject(ErrorCode.INVALID_ORDER, f"unknown time in force {tif!r}")
            if quote_quantity:
                raise _reject(ErrorCode.INVALID_ORDER, "limit orders are sized by quantity")
            self._check_price(mk, price, "price")
            self._check_quantity(mk, quantity)
            if quantity * price * mk.quote_per_tick_lot < mk.min_notional:
                raise _reject(ErrorCode.NOTIONAL_BELOW_MIN, "price × quantity is below the minimum")
            if post_only and (tif != GTC or order_type != LIMIT):
                raise _reject(ErrorCode.INVALID_ORDER, "post-only applies to GTC limit orders")
        elif is_market:
            if requested_tif == FOK:
                raise _reject(ErrorCode.INVALID_ORDER, "market orders cannot be fill-or-kill")
            if requested_tif not in TIMES_IN_FORCE:
                raise _reject(ErrorCode.INVALID_ORDER, f"unknown time in force {requested_tif!r}")
            tif = IOC
            if price:
                raise _reject(ErrorCode.INVALID_ORDER, "market orders take no limit price")
            if post_only:
                raise _reject(ErrorCode.INVALID_ORDER, "market orders cannot be post-only")
            if (quantity > 0) == (quote_quantity > 0):
                raise _reject(ErrorCode.INVALID_ORDER, "give exactly one of quantity and quote_quantity")
            if quantity:
                self._check_quantity(mk, quantity)
            else:
                if quote_quantity < 0 or quote_quantity >= MAX_AMOUNT:
                    raise _reject(ErrorCode.VALUE_OUT_OF_RANGE, "quote_quantity is out of range")
                if quote_quantity < mk.min_notional:
                    raise _reject(ErrorCode.NOTIONAL_BELOW_MIN, "quote_quantity is below the minimum")
                if order_type != MARKET and side == SELL:
                    raise _reject(
                        ErrorCode.INVALID_ORDER,
                        "stop-market and take-profit-market sells are sized by quantity",
                    )
        else:
            raise _reject(ErrorCode.INVALID_ORDER, f"unknown order type {order_type!r}")
        # Known types only from here: the conditional ones are all but LIMIT and MARKET.
        is_stop = order_type not in (LIMIT, MARKET)
        rises = False
        if is_stop:
            self._check_price(mk, stop, "stop_price")
            rises = _fires_on_rise(side, order_type)
            last = m.last_price
            # Stops and take-profits alike: one that would fire at once is refused
            # (before the first trade there is no price to compare with).
            if last and ((rises and stop <= last) or (not rises and stop >= last)):
                raise _reject(ErrorCode.STOP_WOULD_TRIGGER, "the stop price would trigger at once")
        elif stop:
            raise _reject(ErrorCode.INVALID_ORDER, "only stop and take-profit orders take a stop price")

        # The hold: what this order can spend, taken from available before matching.
        quote, base = mk.quote, mk.base
        budget = -1  # market buys and quote-sized market sells spend from a budget
        if side == BUY:
            asset = quote
            if order_type in (LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT):
                hold = buy_hold(quantity, price, mk.quote_per_tick_lot, 0, m.max_fee)
            elif quote_quantity:
                hold = quote_quantity
            elif order_type != MARKET:
                # A stop-market or take-profit-market buy sized by quantity: its cost at
                # the stop price, topped up with everything available once it fires.
                hold = buy_hold(quantity, stop, mk.quote_per_tick_lot, 0, m.max_fee)
            else:
                hold = account.available.get(quote, 0) if account is not None else 0
                if hold <= 0:
                    raise _reject(ErrorCode.INSUFFICIENT_BALANCE, f"no {quote} available")
            if order_type == MARKET:
                budget = hold
        else:
            asset = base
            if quantity:
                hold = quantity * mk.base_per_lot
            else:
                hold = budget = account.available.get(base, 0) if account is not None else 0
                if hold <= 0:
                    raise _reject(ErrorCode.INSUFFICIENT_BALANCE, f"no {base} available")
        if account is None or account.available.get(asset, 0) < hold:
            raise _reject(ErrorCode.INSUFFICIENT_BALANCE, f"insufficient {asset} balance")
        if post_only and self._crosses(m, side, price):
            raise _reject(ErrorCode.POST_ONLY_WOULD_TAKE, "the post-only order would take liquidity")

        # -- from here on nothing is rejected --
        order_id = self._next_order_id
        self._next_order_id = order_id + 1
        order = Order(
            order_id,
            user_id,
            mk.symbol,
            side,
            order_type,
            tif,
            price,
            stop,
            quantity,
            quote_quantity,
            quantity,
            coid,
            stp,
            post_only,
            ts,
            is_stop,
        )
        available = account.available
        available[asset] -= hold
        locked = account.locked
        locked[asset] = locked.get(asset, 0) + hold
        account.orders[order_id] = order
        if coid is not None:
            account.client_ids[coid] = order
        m.seq += 1
        events.append(
            OrderAccepted(
                ts,
                m.seq,
                mk.symbol,
                order_id,
                user_id,
                coid,
                side,
                order_type,
                tif,
                price,
                stop,
                quantity,
                quote_quantity,
                stp,
                post_only,
                hold,
            )
        )
        if is_stop:
            self._stops[order_id] = order
            if rises:
                insort(m.rise_stops, (stop, order_id))
            else:
                insort(m.fall_stops, (-stop, order_id))
            return
        m.trade_high, m.trade_low = 0, MAX_AMOUNT
        if is_market:
            self._take_market(m, order, account, budget, ts, events)
        else:
            self._take_limit(m, order, account, ts, events)
        if m.rise_stops or m.fall_stops:
            self._fire_stops(m, ts, events)
        if m.touched:
            self._flush_levels(m, ts, events)

    def _cancel(self, cmd: CancelOrder, events: list[Event]) -> None:
        account, order = self._find_open(cmd.user_id, cmd.order_id, cmd.client_order_id)
        m = self._markets[order.market]
        if m.status == HALT:
            raise _reject(ErrorCode.MARKET_HALTED, f"market {m.symbol} is halted")
        self._remove_open(m, account, order, cmd.ts, events, None, "USER")
        if m.touched:
            self._flush_levels(m, cmd.ts, events)

    def _cancel_all(self, cmd: CancelAllOrders, events: list[Event]) -> None:
        symbol = cmd.market
        if symbol is not None:
            m = self._markets.get(symbol)
            if m is None:
                raise _reject(ErrorCode.UNKNOWN_MARKET, f"unknown market {symbol!r}")
            if m.status == HALT:
                raise _reject(ErrorCode.MARKET_HALTED, f"market {symbol} is halted")
        account = self._accounts.get(cmd.user_id)
        if account is None:
            return
        markets = self._markets
        touched: dict[str, MarketState] = {}
        # In id order (acceptance order), whatever order the index was built in.
        for order in sorted(account.orders.values(), key=_order_id):
            m = markets[order.market]
            if (symbol is not None and order.market != symbol) or m.status == HALT:
                continue
            self._remove_open(m, account, order, cmd.ts, events, None, "CANCEL_ALL")
            touched[order.market] = m
        for m in touched.values():
            if m.touched:
                self._flush_levels(m, cmd.ts, events)

    def _amend(self, cmd: AmendOrder, events: list[Event]) -> None:
        account, order = self._find_open(cmd.user_id, cmd.order_id, cmd.client_order_id)
        m = self._markets[order.market]
        self._require_trading(m)
        mk = m
        if order.pending:
            raise _reject(
                ErrorCode.ORDER_NOT_AMENDABLE, "a pending stop or take-profit order cannot be amended"
            )
        price = order.price if cmd.price is None else cmd.price
        quantity = order.quantity if cmd.quantity is None else cmd.quantity
        if price == order.price and quantity == order.quantity:
            raise _reject(ErrorCode.INVALID_ORDER, "the amendment changes nothing")
        self._check_price(mk, price, "price")
        self._check_quantity(mk, quantity)
        filled = order.quantity - order.remaining
        if quantity <= filled:
            raise _reject(ErrorCode.INVALID_ORDER, "the new quantity must exceed the filled quantity")
        if quantity * price * mk.quote_per_tick_lot < mk.min_notional:
            raise _reject(ErrorCode.NOTIONAL_BELOW_MIN, "price × quantity is below the minimum")
        remaining = quantity - filled
        if order.side == BUY:
            asset = mk.quote
            rate, per = m.max_fee, mk.quote_per_tick_lot
            old_hold = buy_hold(order.remaining, order.price, per, order.fee_numer, rate)
            new_hold = buy_hold(remaining, price, per, order.fee_numer, rate)
        else:
            asset = mk.base
            old_hold = order.remaining * mk.base_per_lot
            new_hold = remaining * mk.base_per_lot
        change = new_hold - old_hold
        if change > account.available.get(asset, 0):
            raise _reject(ErrorCode.INSUFFICIENT_BALANCE, f"insufficient {asset} balance")
        keeps_priority = price == order.price and quantity < order.quantity
        if not keeps_priority and order.post_only and self._crosses(m, order.side, price):
            raise _reject(ErrorCode.POST_ONLY_WOULD_TAKE, "the post-only order would take liquidity")

        # -- from here on nothing is rejected --
        account.available[asset] -= change
        account.locked[asset] += change
        book = m.bids if order.side == BUY else m.asks
        m.seq += 1
        amended = OrderAmended(
            cmd.ts,
            m.seq,
            mk.symbol,
            order.id,
            order.user_id,
            order.side,
            price,
            quantity,
            remaining,
            change,
            keeps_priority,
        )
        events.append(amended)
        if keeps_priority:
            book.levels[price].total -= order.remaining - remaining
            order.quantity = quantity
            order.remaining = remaining
            m.touched[price * book.sign] = None
        else:
            m.touched[order.price * book.sign] = None
            fresh = order.with_terms(price, quantity, remaining)
            book.remove(order)
            account.orders[fresh.id] = fresh
            if fresh.client_order_id is not None:
                account.client_ids[fresh.client_order_id] = fresh
            m.trade_high, m.trade_low = 0, MAX_AMOUNT
            self._take_limit(m, fresh, account, cmd.ts, events)
            if m.rise_stops or m.fall_stops:
                self._fire_stops(m, cmd.ts, events)
        self._flush_levels(m, cmd.ts, events)

    def _deposit(self, cmd: Deposit, events: list[Event]) -> None:
        self._check_reference(cmd.reference)
        self._check_funds_command(cmd.user_id, cmd.asset, cmd.amount)
        supply = self._supply.get(cmd.asset, 0) + cmd.amount
        if supply > MAX_AMOUNT:
            # Every balance is part of the supply, so capping the supply caps every
            # balance, however trading moves it around.
            raise _reject(ErrorCode.BALANCE_LIMIT_EXCEEDED, f"total {cmd.asset} would exceed the limit")
        self._supply[cmd.asset] = supply
        account = self._account(cmd.user_id)
        account.available[cmd.asset] = account.available.get(cmd.asset, 0) + cmd.amount
        events.append(
            FundsDeposited(
                ts=cmd.ts,
                transfer_id=self._new_transfer_id(cmd.reference),
                user_id=cmd.user_id,
                asset=cmd.asset,
                amount=cmd.amount,
                reference=cmd.reference,
            )
        )

    def _withdraw(self, cmd: Withdraw, events: list[Event]) -> None:
        self._check_reference(cmd.reference)
        self._check_funds_command(cmd.user_id, cmd.asset, cmd.amount)
        account = self._accounts.get(cmd.user_id)
        if account is None or account.available.get(cmd.asset, 0) < cmd.amount:
            raise _reject(ErrorCode.INSUFFICIENT_BALANCE, f"insufficient {cmd.asset} balance")
        account.available[cmd.asset] -= cmd.amount
        self._supply[cmd.asset] -= cmd.amount
        events.append(
            FundsWithdrawn(
                ts=cmd.ts,
                transfer_id=self._new_transfer_id(cmd.reference),
                user_id=cmd.user_id,
                asset=cmd.asset,
                amount=cmd.amount,
                reference=cmd.reference,
            )
        )

    def _add_market(self, cmd: AddMarket, events: list[Event]) -> None:
        market = cmd.market
        if market.symbol in self._markets:
            raise _reject(ErrorCode.MARKET_EXISTS, f"market {market.symbol} already exists")
        for asset, decimals in (
            (market.base, market.base_decimals),
            (market.quote, market.quote_decimals),
        ):
            known = self._assets.get(asset)
            if known is not None and known != decimals:
                raise _reject(
                    ErrorCode.INVALID_MARKET,
                    f"{asset} already has {known} decimals, not {decimals}",
                )
        self._assets[market.base] = market.base_decimals
        self._assets[market.quote] = market.quote_decimals
        m = self._markets[market.symbol] = MarketState(market)
        m.seq += 1
        events.append(MarketAdded(ts=cmd.ts, seq=m.seq, market=market))

    def _set_status(self, cmd: SetMarketStatus, events: list[Event]) -> None:
        m = self._markets.get(cmd.market)
        if m is None:
            raise _reject(ErrorCode.UNKNOWN_MARKET, f"unknown market {cmd.market!r}")
        if cmd.status not in MARKET_STATUSES:
            raise _reject(ErrorCode.INVALID_MARKET, f"unknown market status {cmd.status!r}")
        if cmd.status == m.status:
            raise _reject(ErrorCode.MARKET_STATUS_UNCHANGED, f"market {cmd.market} is already {cmd.status}")
        m.status = cmd.status
        m.seq += 1
        events.append(MarketStatusChanged(ts=cmd.ts, seq=m.seq, market=cmd.market, status=cmd.status))

    # -- MATCHING ---------------------------------------------------------------------

    def _take_limit(
        self, m: MarketState, order: Order, account: Account, ts: int, events: list[Event]
    ) -> None:
        """Match a limit order as taker, then rest it (GTC) or expire the rest."""
        opp = m.asks if order.side == BUY else m.bids
        limit_key = opp.sign * order.price
        if order.time_in_force == FOK and not self._fok_fillable(order, opp, limit_key):
            self._finish(m, account, order, ts, events, "FOK_NOT_FILLABLE", self._hold_of(m, order))
            return
        keys = opp.keys
        end = ""
        if keys and keys[-1] >= limit_key:
            end, _ = self._match(m, order, account, opp, limit_key, -1, ts, events)
        if order.remaining == 0:
            self._finish(m, account, order, ts, events, None, 0)
        elif end == _STP:
            self._finish(m, account, order, ts, events, _STP, self._hold_of(m, order))
        elif order.time_in_force == GTC:
            book = m.bids if order.side == BUY else m.asks
            book.add(order)
            m.touched[order.price * book.sign] = None
        else:
            self._finish(m, account, order, ts, events, "IOC_REMAINDER", self._hold_of(m, order))

    def _take_market(
        self,
        m: MarketState,
        order: Order,
        account: Account,
        budget: int,
        ts: int,
        events: list[Event],
    ) -> None:
        """Match a market order; whatever it cannot fill expires, unspent funds return."""
        opp = m.asks if order.side == BUY else m.bids
        end, spent = _RAN_OUT, 0
        if opp.keys:
            end, spent = self._match(m, order, account, opp, -MAX_AMOUNT, budget, ts, events)
        left = budget - spent if budget >= 0 else order.remaining * m.base_per_lot
        if order.quote_quantity:
            # Reaching the amount exactly fills the order, even if it also emptied the book.
            reached = spent == budget if order.side == BUY else order.filled_quote == order.quote_quantity
            done = order.filled_quote > 0 and (
                reached or end == _TARGET or (end == _BUDGET and order.side == BUY)
            )
        else:
            done = order.remaining == 0
        reason = None if done else "NO_LIQUIDITY" if end in (_RAN_OUT, _TARGET) else end
        self._finish(m, account, order, ts, events, reason, left)

    def _match(
        self,
        m: MarketState,
        taker: Order,
        taker_account: Account,
        opp: BookSide,
        limit_key: int,
        budget: int,
        ts: int,
        events: list[Event],
    ) -> tuple[str, int]:
        """Trade `taker` against `opp` from the best price while it crosses `limit_key`.

        `budget` < 0: the taker spends from its hold (limit orders, market sells sized by
        quantity). Otherwise it is the quote (buy) or base (sell) the taker may spend.
        Returns why matching stopped early ("" when the taker was exhausted) and how much
        of the budget it spent.
        """
        mk = m
        per = mk.quote_per_tick_lot
        per_lot = mk.base_per_lot
        maker_rate, taker_rate, max_rate = mk.maker_fee, mk.taker_fee, m.max_fee
        base, quote, symbol = mk.base, mk.quote, mk.symbol
        keys, levels, sign = opp.keys, opp.levels, opp.sign
        accounts = self._accounts
        fee_account = self._account(FEE_ACCOUNT)
        fee_available = fee_account.available
        taker_buys = taker.side == BUY
        taker_side = taker.side
        taker_user = taker.user_id
        stp = taker.stp_mode
        by_quote = taker.quote_quantity > 0
        touched = m.touched
        spent = 0  # of the budget
        while keys:
            key = keys[-1]
            if key < limit_key:
                return _RAN_OUT, spent
            price = key * sign
            level = levels[price]
            orders = level.orders
            unit_cost = price * per
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
                        self._remove_open(m, accounts[maker.user_id], maker, ts, events, _STP, "")
                    if stp != EXPIRE_MAKER:
                        return _STP, spent
                    if level.total == 0:
                        break
                    continue
                lots = maker_left
                if not by_quote and taker.remaining < lots:
                    lots = taker.remaining
                if budget >= 0:
                    if taker_buys:
                        left = budget - spent
                        numer = taker.fee_numer
                        want = lots * unit_cost
                        paid = -(-numer // FEE_SCALE)
                        if want + (-(-(numer + want * taker_rate) // FEE_SCALE)) - paid > left:
                            lots = affordable_lots(left, unit_cost, numer, taker_rate)
                            if lots == 0:
                                return _BUDGET, spent
                    else:
                        if by_quote:
                            target = (taker.quote_quantity - taker.filled_quote) // unit_cost
                            lots = min(lots, target)
                            if lots == 0:
                                return _TARGET, spent
                        can_sell = (budget - spent) // per_lot
                        lots = min(lots, can_sell)
                        if lots == 0:
                            return _BUDGET, spent
                elif by_quote:
                    target = (taker.quote_quantity - taker.filled_quote) // unit_cost
                    lots = min(lots, target)
                    if lots == 0:
                        return _TARGET, spent
                notional = lots * unit_cost
                base_amount = lots * per_lot
                # Fees: cumulative per order, rounded up once (see holds.py).
                maker_numer = maker.fee_numer
                new_maker_numer = maker_numer + notional * maker_rate
                maker_fee = -(-new_maker_numer // FEE_SCALE) - (-(-maker_numer // FEE_SCALE))
                taker_numer = taker.fee_numer
                new_taker_numer = taker_numer + notional * taker_rate
                taker_fee = -(-new_taker_numer // FEE_SCALE) - (-(-taker_numer // FEE_SCALE))
                maker.fee_numer = new_maker_numer
                taker.fee_numer = new_taker_numer
                maker.remaining = maker_left - lots
                maker.executed += lots
                maker.filled_quote += notional
                level.total -= lots
                touched[key] = None
                taker_before = taker.remaining
                if not by_quote:
                    taker.remaining = taker_before - lots
                taker.executed += lots
                taker.filled_quote += notional
                maker_account = accounts[maker.user_id]
                if taker_buys:
                    buyer, seller = taker_account, maker_account
                    buyer_fee, seller_fee = taker_fee, maker_fee
                    if budget >= 0:
                        released = 0
                        spent += notional + taker_fee
                    else:
                        limit = taker.price
                        released = (
                            buy_hold(taker_before, limit, per, taker_numer, max_rate)
                            - buy_hold(taker.remaining, limit, per, new_taker_numer, max_rate)
                            - notional
                            - taker_fee
                        )
                else:
                    buyer, seller = maker_account, taker_account
                    buyer_fee, seller_fee = maker_fee, taker_fee
                    released = (
                        buy_hold(maker_left, price, per, maker_numer, max_rate)
                        - buy_hold(maker.remaining, price, per, new_maker_numer, max_rate)
                        - notional
                        - maker_fee
                    )
                    if budget >= 0:
                        spent += base_amount
                buyer_locked = buyer.locked
                buyer_locked[quote] -= notional + buyer_fee + released
                buyer_available = buyer.available
                if released:
                    buyer_available[quote] += released
                buyer_available[base] = buyer_available.get(base, 0) + base_amount
                seller.locked[base] -= base_amount
                seller_available = seller.available
                seller_available[quote] = seller_available.get(quote, 0) + notional - seller_fee
                fee_available[quote] = fee_available.get(quote, 0) + maker_fee + taker_fee
                trade_id = self._next_trade_id
                self._next_trade_id = trade_id + 1
                m.last_price = price
                if price > m.trade_high:
                    m.trade_high = price
                if price < m.trade_low:
                    m.trade_low = price
                m.seq += 1
                events.append(
                    TradeExecuted(
                        ts,
                        m.seq,
                        symbol,
                        trade_id,
                        price,
                        lots,
                        base_amount,
                        notional,
                        taker_side,
                        maker.id,
                        taker.id,
                        maker.user_id,
                        taker_user,
                        maker_fee,
                        taker_fee,
                        maker.remaining,
                        taker.remaining,
                        released,
                    )
                )
                if maker.remaining == 0:
                    orders.popleft()
                    self._finish(m, maker_account, maker, ts, events, None, 0)
                if level.total == 0:
                    break
                if not by_quote and taker.remaining == 0:
                    return "", spent
            if price in levels:
                opp.drop(level)
            if not by_quote and taker.remaining == 0:
                return "", spent
        return _RAN_OUT, spent

    def _fok_fillable(self, order: Order, opp: BookSide, limit_key: int) -> bool:
        """Whether a fill-or-kill order would fill completely (self-trade rules included)."""
        need = order.remaining
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

    def _fire_stops(self, m: MarketState, ts: int, events: list[Event]) -> None:
        """Trigger every stop and take-profit a trade price of this command has reached,
        cascades included.

        Those that fire on a rise go in ascending stop price, those that fire on a fall
        in descending stop price, each in time order within a price; when both
        directions have a reached order, the older order goes first.
        """
        rising, falling = m.rise_stops, m.fall_stops
        while True:
            # Every price traded since the command began counts, not only the last one:
            # a sweep through several levels passes each of their prices.
            high, low = m.trade_high, m.trade_low
            up = rising[0] if rising and rising[0][0] <= high else None
            down = falling[0] if falling and -falling[0][0] >= low else None
            if up is None and down is None:
                return
            if up is not None and (down is None or up[1] < down[1]):
                del rising[0]
                order_id = up[1]
            else:
                del falling[0]
                assert down is not None
                order_id = down[1]
            order = self._stops.pop(order_id)
            self._trigger(m, order, ts, events)

    def _trigger(self, m: MarketState, order: Order, ts: int, events: list[Event]) -> None:
        account = self._accounts[order.user_id]
        mk = m
        order.pending = False
        extra = 0
        limit = order.order_type in (STOP_LIMIT, TAKE_PROFIT_LIMIT)
        if not limit and order.side == BUY and not order.quote_quantity:
            # A stop-market or take-profit-market buy sized by quantity held its cost at
            # the stop price; once triggered it may spend everything available, like any
            # market buy, and returns what it does not use.
            extra = account.available.get(mk.quote, 0)
            account.available[mk.quote] = 0
            account.locked[mk.quote] += extra
        m.seq += 1
        events.append(
            StopTriggered(ts, m.seq, mk.symbol, order.id, order.user_id, order.side, m.last_price, extra)
        )
        if limit:
            self._take_limit(m, order, account, ts, events)
        elif order.side == SELL:
            self._take_market(m, order, account, -1, ts, events)
        elif order.quote_quantity:
            self._take_market(m, order, account, order.quote_quantity, ts, events)
        else:
            held = buy_hold(order.quantity, order.stop_price, mk.quote_per_tick_lot, 0, m.max_fee)
            self._take_market(m, order, account, held + extra, ts, events)

    # -- BOOKKEEPING -------------------------------------------------------------------

    def _finish(
        self,
        m: MarketState,
        account: Account,
        order: Order,
        ts: int,
        events: list[Event],
        expire_reason: str | None,
        released: int,
    ) -> None:
        """An order leaves the engine filled (reason None) or expired, releasing its hold."""
        self._release(m, account, order, released)
        m.seq += 1
        if expire_reason is None:
            events.append(
                OrderFilled(
                    ts,
                    m.seq,
                    order.market,
                    order.id,
                    order.user_id,
                    order.side,
                    released,
                    order.executed,
                    order.filled_quote,
                    -(-order.fee_numer // FEE_SCALE),
                    order.price,
                    order.quantity,
                )
            )
        else:
            events.append(
                OrderExpired(
                    ts,
                    m.seq,
                    order.market,
                    order.id,
                    order.user_id,
                    order.side,
                    order.remaining,
                    released,
                    expire_reason,
                    order.executed,
                    order.filled_quote,
                    -(-order.fee_numer // FEE_SCALE),
                    order.price,
                    order.quantity,
                )
            )

    def _remove_open(
        self,
        m: MarketState,
        account: Account,
        order: Order,
        ts: int,
        events: list[Event],
        expire_reason: str | None,
        cancel_reason: str,
    ) -> None:
        """Take an open order or pending stop out of the engine: cancelled, or expired."""
        released = self._hold_of(m, order)
        remaining = order.remaining
        if order.pending:
            del self._stops[order.id]
            stops, key = (
                (m.rise_stops, (order.stop_price, order.id))
                if _fires_on_rise(order.side, order.order_type)
                else (m.fall_stops, (-order.stop_price, order.id))
            )
            del stops[bisect_left(stops, key)]
        else:
            book = m.bids if order.side == BUY else m.asks
            m.touched[order.price * book.sign] = None
            book.remove(order)  # marks the order stale: remaining becomes 0
        self._release(m, account, order, released)
        m.seq += 1
        event_type = OrderCancelled if expire_reason is None else OrderExpired
        events.append(
            event_type(
                ts=ts,
                seq=m.seq,
                market=order.market,
                order_id=order.id,
                user_id=order.user_id,
                side=order.side,
                remaining=remaining,
                released=released,
                reason=expire_reason or cancel_reason,
                executed=order.executed,
                filled_quote=order.filled_quote,
                fee=-(-order.fee_numer // FEE_SCALE),
                price=order.price,
                quantity=order.quantity,
            )
        )

    def _release(self, m: MarketState, account: Account, order: Order, released: int) -> None:
        """Return an order's unused hold and forget it as an open order."""
        if released:
            asset = m.quote if order.side == BUY else m.base
            account.locked[asset] -= released
            account.available[asset] += released
        del account.orders[order.id]
        if order.client_order_id is not None:
            del account.client_ids[order.client_order_id]

    def _hold_of(self, m: MarketState, order: Order) -> int:
        """What an open order or pending stop still holds (see holds.py)."""
        mk = m
        if order.side == SELL:
            return order.remaining * mk.base_per_lot
        if order.order_type in (LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT):
            price = order.price
        elif order.quote_quantity:
            return order.quote_quantity
        else:
            price = order.stop_price
        return buy_hold(order.remaining, price, mk.quote_per_tick_lot, order.fee_numer, m.max_fee)

    def _flush_levels(self, m: MarketState, ts: int, events: list[Event]) -> None:
        """Announce the new aggregate quantity of every level the command changed."""
        symbol = m.symbol
        bids, asks = m.bids.levels, m.asks.levels
        for key in m.touched:
            if key > 0:
                side, price, level = BUY, key, bids.get(key)
            else:
                side, price, level = SELL, -key, asks.get(-key)
            m.seq += 1
            events.append(
                BookLevelChanged(ts, m.seq, symbol, side, price, level.total if level is not None else 0)
            )
        m.touched.clear()

    def _crosses(self, m: MarketState, side: str, price: int) -> bool:
        best = m.asks.best_price() if side == BUY else m.bids.best_price()
        if best is None:
            return False
        return best <= price if side == BUY else best >= price

    def _find_open(
        self, user_id: str, order_id: int | None, client_order_id: str | None
    ) -> tuple[Account, Order]:
        account = self._accounts.get(user_id)
        order = None
        if account is not None:
            if order_id is not None:
                order = account.orders.get(order_id)
                if (
                    order is not None
                    and client_order_id is not None
                    and order.client_order_id != client_order_id
                ):
                    order = None
            elif client_order_id is not None:
                order = account.client_ids.get(client_order_id)
        if account is None or order is None:
            raise _reject(ErrorCode.ORDER_NOT_FOUND, "no such open order")
        return account, order

    def _require_trading(self, m: MarketState) -> None:
        if m.status == HALT:
            raise _reject(ErrorCode.MARKET_HALTED, f"market {m.symbol} is halted")
        if m.status == CANCEL_ONLY:
            raise _reject(ErrorCode.MARKET_CANCEL_ONLY, f"market {m.symbol} is cancel-only")
        assert m.status == TRADING

    @staticmethod
    def _check_price(mk: MarketState, price: int, field: str) -> None:
        if not mk.min_price <= price <= mk.max_price:
            raise _reject(ErrorCode.PRICE_OUT_OF_RANGE, f"{field} is outside the market's range")

    @staticmethod
    def _check_quantity(mk: MarketState, quantity: int) -> None:
        if quantity < mk.min_quantity:
            raise _reject(ErrorCode.QUANTITY_BELOW_MIN, "quantity is below the market minimum")
        if quantity > mk.max_quantity:
            raise _reject(ErrorCode.QUANTITY_ABOVE_MAX, "quantity is above the market maximum")

    def _check_funds_command(self, user_id: str, asset: str, amount: int) -> None:
        if not user_id:
            raise _reject(ErrorCode.INVALID_ORDER, "user id is required")
        if asset not in self._assets:
            raise _reject(ErrorCode.UNKNOWN_ASSET, f"unknown asset {asset!r}")
        if amount <= 0 or amount > MAX_AMOUNT:
            raise _reject(ErrorCode.VALUE_OUT_OF_RANGE, "amount must be positive and in range")

    def _check_reference(self, reference: str | None) -> None:
        if reference is not None:
            taken_by = self._references.get(reference)
            if taken_by is not None:
                raise TradeEngineError(
                    ErrorCode.DUPLICATE_REFERENCE,
                    f"reference {reference!r} was used by transfer {taken_by}",
                    duplicate_of=taken_by,
                )

    def _new_transfer_id(self, reference: str | None) -> int:
        """The next transfer id; it takes `reference` for good."""
        transfer_id = self._next_transfer_id
        self._next_transfer_id = transfer_id + 1
        if reference is not None:
            self._references[reference] = transfer_id
        return transfer_id

    def _account(self, user_id: str) -> Account:
        account = self._accounts.get(user_id)
        if account is None:
            account = self._accounts[user_id] = Account()
        return account

"""An independent model of engine state, rebuilt from events alone, and the invariants.

`EventModel` folds the events an engine emits into balances (the ledger described in
events.py), open orders, price levels (from `BookLevelChanged`), last prices and
per-market sequence numbers, checking each event's internal consistency on the way
(trades at the maker's price and within the taker's limit, fees rounded up once per
order, gap-free sequence numbers, ...). `check_engine` then compares that model and the
engine's own queries against the engine invariants:

- no crossed book at rest, FIFO within each level (by the order in which events put
  orders into the book), level aggregates equal the sum of remaining quantities;
- every asset conserved: the sum of all balances equals deposits minus withdrawals;
- locked equals the sum of the holds of a user's open orders and pending stops, and each
  hold equals the documented formula (holds.py);
- 0 <= remaining <= quantity, no negative balance, none above MAX_AMOUNT, no pending
  stop or take-profit left triggerable (each in its own direction).
"""

from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise

from trade_engine.domain.market import Market
from trade_engine.domain.vocabulary import (
    BUY,
    FEE_ACCOUNT,
    FEE_SCALE,
    GTC,
    LIMIT,
    MAX_AMOUNT,
    SELL,
    STOP_LIMIT,
    STOP_MARKET,
    STP_NONE,
    TAKE_PROFIT_LIMIT,
    TAKE_PROFIT_MARKET,
)
from trade_engine.engine import (
    BookLevelChanged,
    CommandRejected,
    Engine,
    Event,
    FundsDeposited,
    FundsWithdrawn,
    MarketAdded,
    MarketStatusChanged,
    Order,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    StopTriggered,
    TradeExecuted,
)


def ceil_div(numer: int, denom: int) -> int:
    return -(-numer // denom)


# Conditional orders, and which way the price must move to reach each one's stop price
# (Binance's rule: a stop-loss buys on a rise and sells on a fall, a take-profit buys on
# a fall and sells on a rise). Written out in full rather than derived, on purpose.
RISE, FALL = "RISE", "FALL"
TRIGGER_DIRECTION = {
    (BUY, STOP_LIMIT): RISE,
    (BUY, STOP_MARKET): RISE,
    (SELL, STOP_LIMIT): FALL,
    (SELL, STOP_MARKET): FALL,
    (BUY, TAKE_PROFIT_LIMIT): FALL,
    (BUY, TAKE_PROFIT_MARKET): FALL,
    (SELL, TAKE_PROFIT_LIMIT): RISE,
    (SELL, TAKE_PROFIT_MARKET): RISE,
}
CONDITIONAL = {order_type for _, order_type in TRIGGER_DIRECTION}
# What a triggered conditional order becomes.
LIMIT_PRICED = {LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT}
MARKET_PRICED = {STOP_MARKET, TAKE_PROFIT_MARKET}


def expected_hold(market: Market, order: Order) -> int:
    """The documented hold of an open order or pending stop (holds.py), recomputed."""
    if order.side == SELL:
        return order.remaining * market.base_per_lot
    if order.order_type in MARKET_PRICED and order.quote_quantity:
        return order.quote_quantity
    price = order.stop_price if order.order_type in MARKET_PRICED else order.price
    rate = max(market.maker_fee, market.taker_fee)
    notional = order.remaining * price * market.quote_per_tick_lot
    return (
        notional
        + ceil_div(order.fee_numer + notional * rate, FEE_SCALE)
        - ceil_div(order.fee_numer, FEE_SCALE)
    )


@dataclass
class ModelOrder:
    market: str
    user: str
    side: str
    order_type: str
    time_in_force: str
    price: int
    stop_price: int
    quantity: int
    quote_quantity: int
    post_only: bool
    stp_mode: str
    remaining: int
    pending: bool
    fee_numer: int = 0
    fee_paid: int = 0
    executed: int = 0  # lots traded
    filled_quote: int = 0  # quote minor units traded
    # When the order (last) entered its price level; -1 while it is not resting.
    entry: int = -1


class EventModel:
    """The engine's observable state, reconstructed from its events."""

    def __init__(self) -> None:
        self.markets: dict[str, Market] = {}
        self.status: dict[str, str] = {}
        self.seq: dict[str, int] = {}
        self.last_price: dict[str, int] = {}
        self.balances: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        self.orders: dict[int, ModelOrder] = {}
        self.levels: dict[tuple[str, str, int], int] = {}
        self._entries = 0
        self.trades = 0
        self.transfers = 0
        self.trade_ids = 0
        # Per market, the highest and lowest price traded by the current command.
        self.traded: dict[str, tuple[int, int]] = {}

    # -- folding events ------------------------------------------------------------

    def _move(self, user: str, asset: str, available: int, locked: int) -> None:
        balance = self.balances[user][asset]
        balance[0] += available
        balance[1] += locked

    def _lock(self, order: ModelOrder, amount: int) -> None:
        market = self.markets[order.market]
        asset = market.quote if order.side == BUY else market.base
        self._move(order.user, asset, -amount, amount)

    def _enter_book(self, order: ModelOrder) -> None:
        self._entries += 1
        order.entry = self._entries

    def apply(self, events: list[Event], ts: int) -> None:
        """Fold the events of one command."""
        self.traded.clear()
        for event in events:
            assert event.ts == ts, event
            seq = getattr(event, "seq", None)
            if seq is not None:
                symbol = event.market.symbol if isinstance(event, MarketAdded) else event.market  # type: ignore[attr-defined]
                expected = self.seq.get(symbol, 0) + 1
                assert seq == expected, f"{symbol}: seq {seq} after {expected - 1} in {event}"
                self.seq[symbol] = seq
            self._fold(event)

    def _fold(self, event: Event) -> None:
        if isinstance(event, MarketAdded):
            self.markets[event.market.symbol] = event.market
            self.status[event.market.symbol] = event.market.status
            self.last_price[event.market.symbol] = 0
        elif isinstance(event, MarketStatusChanged):
            self.status[event.market] = event.status
        elif isinstance(event, FundsDeposited | FundsWithdrawn):
            # Transfer ids are assigned by the engine, one after another.
            self.transfers += 1
            assert event.transfer_id == self.transfers, event
            assert event.amount > 0
            sign = 1 if isinstance(event, FundsDeposited) else -1
            self._move(event.user_id, event.asset, sign * event.amount, 0)
        elif isinstance(event, OrderAccepted):
            self._accepted(event)
        elif isinstance(event, StopTriggered):
            order = self.orders[event.order_id]
            assert order.pending
            assert event.last_price == self.last_price[order.market]
            assert event.order_id == self._next_stop(order.market), event
            assert (event.user_id, event.side) == (order.user, order.side), event
            assert event.hold_change >= 0
            order.pending = False
            self._lock(order, event.hold_change)
            if order.order_type in LIMIT_PRICED:
                self._enter_book(order)
        elif isinstance(event, TradeExecuted):
            self._trade(event)
        elif isinstance(event, OrderFilled):
            order = self.orders.pop(event.order_id)
            if not order.quote_quantity:
                assert order.remaining == 0, event
            assert order.executed > 0, event
            self._closed(order, event)
        elif isinstance(event, OrderCancelled | OrderExpired):
            order = self.orders.pop(event.order_id)
            assert event.remaining == order.remaining, (event, order)
            self._closed(order, event)
        elif isinstance(event, OrderAmended):
            order = self.orders[event.order_id]
            assert not order.pending
            filled = order.quantity - order.remaining
            assert event.remaining == event.quantity - filled > 0, (event, order)
            assert event.priority_kept == (event.price == order.price and event.quantity < order.quantity)
            assert (event.user_id, event.side) == (order.user, order.side), event
            order.price, order.quantity, order.remaining = event.price, event.quantity, event.remaining
            self._lock(order, event.hold_change)
            if not event.priority_kept:
                self._enter_book(order)
        elif isinstance(event, BookLevelChanged):
            key = (event.market, event.side, event.price)
            assert event.quantity >= 0
            if event.quantity:
                self.levels[key] = event.quantity
            else:
                self.levels.pop(key, None)
        else:
            assert isinstance(event, CommandRejected), event

    def _closed(self, order: ModelOrder, event: OrderFilled | OrderCancelled | OrderExpired) -> None:
        """An order leaves the engine: its hold is released, its final totals reported."""
        assert (event.market, event.user_id, event.side) == (order.market, order.user, order.side), event
        assert (event.executed, event.filled_quote, event.fee) == (
            order.executed,
            order.filled_quote,
            order.fee_paid,
        ), (event, order)
        if not order.quote_quantity:
            assert event.executed == order.quantity - order.remaining, (event, order)
        assert event.released >= 0
        self._lock(order, -event.released)

    def _next_stop(self, market: str) -> int | None:
        """The stop or take-profit that fires next (stopbook.py `StopBook.pop_due`).

        A conditional order is reached by any price the current command traded at (a
        sweep through several levels passes each of their prices): one that fires on a
        rise by the highest, one that fires on a fall by the lowest. Reached orders that
        fire on a rise go in ascending stop price, those that fire on a fall in
        descending stop price, each in time order; between the two, the older order
        goes first.
        """
        high, low = self.traded[market]
        pending = [(i, o) for i, o in self.orders.items() if o.market == market and o.pending]
        direction = {i: TRIGGER_DIRECTION[(o.side, o.order_type)] for i, o in pending}
        rising = sorted(
            (o.stop_price, i) for i, o in pending if direction[i] == RISE and o.stop_price <= high
        )
        falling = sorted(
            (-o.stop_price, i) for i, o in pending if direction[i] == FALL and o.stop_price >= low
        )
        heads = [queue[0][1] for queue in (rising, falling) if queue]
        return min(heads) if heads else None

    def _accepted(self, event: OrderAccepted) -> None:
        assert event.order_id not in self.orders
        assert self.status[event.market] == "TRADING"
        is_stop = event.order_type in CONDITIONAL
        order = ModelOrder(
            market=event.market,
            user=event.user_id,
            side=event.side,
            order_type=event.order_type,
            time_in_force=event.time_in_force,
            price=event.price,
            stop_price=event.stop_price,
            quantity=event.quantity,
            quote_quantity=event.quote_quantity,
            post_only=event.post_only,
            stp_mode=event.stp_mode,
            remaining=event.quantity,
            pending=is_stop,
        )
        assert event.hold > 0
        self.orders[event.order_id] = order
        self._lock(order, event.hold)
        if event.order_type == LIMIT:
            self._enter_book(order)

    def _trade(self, event: TradeExecuted) -> None:
        market = self.markets[event.market]
        maker, taker = self.orders[event.maker_order_id], self.orders[event.taker_order_id]
        assert maker.market == taker.market == event.market
        assert not maker.pending
        assert not taker.pending
        assert maker.entry > 0, "the maker must be a resting order"
        assert maker.side != taker.side == event.taker_side
        assert (maker.user, taker.user) == (event.maker_user_id, event.taker_user_id)
        assert not taker.post_only, "a post-only order never takes"
        if maker.user == taker.user:
            assert taker.stp_mode == STP_NONE, "a self-trade needs the taker's STP mode NONE"
        # Trades execute at the maker's price, within the taker's limit.
        assert event.price == maker.price, event
        if taker.order_type in LIMIT_PRICED:
            if taker.side == BUY:
                assert event.price <= taker.price, event
            else:
                assert event.price >= taker.price, event
        lots = event.quantity
        assert lots > 0
        self.trade_ids += 1
        assert event.trade_id == self.trade_ids, event
        for order in (maker, taker):
            order.executed += lots
            order.filled_quote += event.quote_amount
        assert event.quote_amount == lots * event.price * market.quote_per_tick_lot
        assert event.base_amount == lots * market.base_per_lot
        maker.remaining -= lots
        assert maker.remaining == event.maker_remaining >= 0, (event, maker)
        if taker.quote_quantity:
            assert event.taker_remaining == 0
        else:
            taker.remaining -= lots
            assert taker.remaining == event.taker_remaining >= 0, (event, taker)
        # Fees: cumulative per order, rounded up once (holds.py).
        for order, rate, fee in (
            (maker, market.maker_fee, event.maker_fee),
            (taker, market.taker_fee, event.taker_fee),
        ):
            order.fee_numer += event.quote_amount * rate
            order.fee_paid += fee
            assert fee >= 0
            assert order.fee_paid == ceil_div(order.fee_numer, FEE_SCALE), (event, order)
        if taker.side == BUY:
            buyer, seller, buyer_fee, seller_fee = taker.user, maker.user, event.taker_fee, event.maker_fee
        else:
            buyer, seller, buyer_fee, seller_fee = maker.user, taker.user, event.maker_fee, event.taker_fee
        assert event.buyer_released >= 0
        quote, base = market.quote, market.base
        self._move(
            buyer, quote, event.buyer_released, -(event.quote_amount + buyer_fee + event.buyer_released)
        )
        self._move(buyer, base, event.base_amount, 0)
        self._move(seller, base, 0, -event.base_amount)
        self._move(seller, quote, event.quote_amount - seller_fee, 0)
        self._move(FEE_ACCOUNT, quote, event.maker_fee + event.taker_fee, 0)
        self.last_price[event.market] = event.price
        high, low = self.traded.get(event.market, (event.price, event.price))
        self.traded[event.market] = (max(high, event.price), min(low, event.price))
        self.trades += 1

    # -- comparing with the engine -------------------------------------------------

    def nonzero_balances(self) -> dict[str, dict[str, tuple[int, int]]]:
        result: dict[str, dict[str, tuple[int, int]]] = {}
        for user, assets in self.balances.items():
            kept = {asset: (b[0], b[1]) for asset, b in assets.items() if b[0] or b[1]}
            if kept:
                result[user] = kept
        return result


def check_engine(engine: Engine, model: EventModel, net_supply: dict[str, int]) -> None:
    """Every invariant of the engine, against its own queries and the event model."""
    # Balances: the engine's equal the ledger folded from events; none negative.
    balances = engine.balances()
    actual = {
        user: {asset: (b.available, b.locked) for asset, b in assets.items()}
        for user, assets in balances.items()
        if assets
    }
    assert actual == model.nonzero_balances()
    totals: dict[str, int] = defaultdict(int)
    for user, assets in balances.items():
        for asset, balance in assets.items():
            assert balance.available >= 0, (user, asset, balance)
            assert balance.locked >= 0, (user, asset, balance)
            # Every balance fits the engine's 62-bit amounts (storage uses signed 64-bit columns).
            assert balance.available + balance.locked <= MAX_AMOUNT, (user, asset, balance)
            totals[asset] += balance.available + balance.locked
    # Conservation: every asset's total equals deposits minus withdrawals.
    assert {a: t for a, t in totals.items() if t} == {a: n for a, n in net_supply.items() if n}
    for asset, amount in net_supply.items():
        assert engine.supply(asset) == amount, asset

    # Open orders and locks.
    open_orders = engine.all_open_orders()
    assert {o.id for o in open_orders} == set(model.orders)
    locks: dict[tuple[str, str], int] = defaultdict(int)
    for order in open_orders:
        known = model.orders[order.id]
        market = model.markets[order.market]
        assert (order.user_id, order.market, order.side, order.price) == (
            known.user,
            known.market,
            known.side,
            known.price,
        )
        assert order.quantity == known.quantity
        assert order.remaining == known.remaining
        assert order.pending == known.pending
        assert order.fee_numer == known.fee_numer
        if order.quote_quantity:
            assert order.pending, order
            assert order.remaining == order.quantity == 0, order
        else:
            assert 0 < order.remaining <= order.quantity, order
        assert order.pending or (order.order_type in LIMIT_PRICED and order.time_in_force == GTC)
        hold = engine.hold_of(order)
        assert hold == expected_hold(market, order), (order, hold)
        assert hold > 0
        asset = market.quote if order.side == BUY else market.base
        locks[(order.user_id, asset)] += hold
    for user, assets in balances.items():
        for asset, balance in assets.items():
            assert balance.locked == locks.get((user, asset), 0), (user, asset, balance, locks)
    for user, asset in locks:
        assert (user, asset) in {(u, a) for u, assets in balances.items() for a in assets}

    by_id = {o.id: o for o in open_orders}
    for symbol in model.markets:
        _check_book(engine, model, symbol, by_id)
        _check_stops(engine, model, symbol, by_id)
        assert engine.last_price(symbol) == model.last_price[symbol]
        assert engine.sequence(symbol) == model.seq[symbol]
        engine_market = engine.market(symbol)
        assert engine_market is not None
        assert engine_market.status == model.status[symbol]


def _check_book(engine: Engine, model: EventModel, symbol: str, by_id: dict[int, Order]) -> None:
    bids, asks = engine.depth(symbol)
    # Best first, strictly; never crossed at rest.
    assert all(a[0] > b[0] for a, b in pairwise(bids)), bids
    assert all(a[0] < b[0] for a, b in pairwise(asks)), asks
    if bids and asks:
        assert bids[0][0] < asks[0][0], (bids[0], asks[0])
    resting: set[int] = set()
    for side, levels in ((BUY, bids), (SELL, asks)):
        for price, total in levels:
            assert total > 0
            ids = engine.queue(symbol, side, price)
            assert ids, (symbol, side, price)
            assert total == sum(by_id[i].remaining for i in ids), (symbol, side, price, total)
            for order_id in ids:
                order = by_id[order_id]
                assert (order.market, order.side, order.price, order.pending) == (symbol, side, price, False)
            # FIFO: the queue is in the order the orders entered (or re-entered) the level.
            entries = [model.orders[i].entry for i in ids]
            assert all(e > 0 for e in entries)
            assert entries == sorted(set(entries)), (ids, entries)
            resting.update(ids)
        # The market-data deltas rebuild the same book.
        from_events = sorted(
            (price, qty) for (sym, s, price), qty in model.levels.items() if sym == symbol and s == side
        )
        assert from_events == sorted(levels), (symbol, side, from_events, levels)
    expected = {i for i, o in model.orders.items() if o.market == symbol and not o.pending}
    assert resting == expected


def _check_stops(engine: Engine, model: EventModel, symbol: str, by_id: dict[int, Order]) -> None:
    stops = engine.pending_stops(symbol)
    assert {o.id for o in stops} == {i for i, o in model.orders.items() if o.market == symbol and o.pending}
    directions = [TRIGGER_DIRECTION[(o.side, o.order_type)] for o in stops]
    rising = [(o.stop_price, o.id) for o, d in zip(stops, directions, strict=True) if d == RISE]
    falling = [(-o.stop_price, o.id) for o, d in zip(stops, directions, strict=True) if d == FALL]
    # Firing order: those that fire on a rise, then those that fire on a fall.
    assert directions == [RISE] * len(rising) + [FALL] * len(falling)
    assert rising == sorted(rising)
    assert falling == sorted(falling)
    last = model.last_price[symbol]
    high, low = model.traded.get(symbol, (0, MAX_AMOUNT))
    for order, direction in zip(stops, directions, strict=True):
        assert order.pending
        assert by_id[order.id].pending
        assert order.order_type in CONDITIONAL
        # An order the last price, or any price the last command traded at, has reached
        # would have fired.
        if direction == RISE:
            assert order.stop_price > high, (order, high)
            assert not last or order.stop_price > last, (order, last)
        else:
            assert order.stop_price < low, (order, low)
            assert not last or order.stop_price < last, (order, last)

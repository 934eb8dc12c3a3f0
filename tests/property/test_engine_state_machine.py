"""The engine's invariants under random command sequences (hypothesis stateful testing).

Four users (and the fee account, which may withdraw) trade on two markets with narrow
price grids and small balances, so orders cross often and funds run short now and then.
Every kind of command is generated, valid or not: limit orders (GTC, IOC, FOK,
post-only), market orders by quantity and by quote amount, stop-limit, stop-market,
take-profit-limit and take-profit-market orders, cancels (of open, closed and unknown
ids, by client order id, by the wrong user), cancel-all, amendments, market halts /
cancel-only / resumes, deposits (some up to the 62-bit supply limit) and withdrawals.
After every command:

- a rejected command returned exactly one `CommandRejected` and left `snapshot()`
  byte-identical;
- the events are internally consistent and rebuild the engine's balances, open orders,
  book and per-market sequence numbers (`EventModel`): trades at the maker's price and
  within the taker's limit, fees rounded up once per order, stops and take-profits
  fired in the documented order (each in its own direction), gap-free sequence, trade
  and transfer ids, terminal events carrying the order's true totals;
- all invariants of `check_engine` hold: no crossed book, FIFO per level, level
  aggregates, conservation of every asset, locks equal holds, 0 < remaining <= quantity,
  no negative balance and none above MAX_AMOUNT, no triggerable pending stop or
  take-profit.
"""

from collections import defaultdict

import msgspec
from hypothesis import event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from trade_engine.domain.vocabulary import (
    BUY,
    CANCEL_ONLY,
    EXPIRE_BOTH,
    EXPIRE_MAKER,
    EXPIRE_TAKER,
    FEE_ACCOUNT,
    FOK,
    GTC,
    HALT,
    IOC,
    LIMIT,
    MARKET,
    MAX_AMOUNT,
    SELL,
    STOP_LIMIT,
    STOP_MARKET,
    STP_NONE,
    TAKE_PROFIT_LIMIT,
    TAKE_PROFIT_MARKET,
    TRADING,
)
from trade_engine.engine import (
    AddMarket,
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    Command,
    CommandRejected,
    Deposit,
    Engine,
    Event,
    PlaceOrder,
    SetMarketStatus,
    StopTriggered,
    Withdraw,
)

from .engine_model import RISE, TRIGGER_DIRECTION, EventModel, check_engine
from .markets import ASSETS, MARKETS, PRICE_GRID, USERS

SYMBOLS = sorted(MARKETS)
users = st.sampled_from(USERS)
symbols = st.sampled_from(SYMBOLS)
sides = st.sampled_from([BUY, SELL])
quantities = st.integers(1, 8) | st.integers(1, 32)
quote_amounts = st.integers(1, 600) | st.integers(1, 4000)
price_offsets = st.integers(0, 10)
stp_modes = st.sampled_from([None, None, STP_NONE, EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH])
client_ids = st.sampled_from([None, None, None, "c1", "c2", "c3"])
picks = st.integers(0, 1000)


# Ways to spoil a valid limit buy (each must be rejected).
INVALID_FIELDS: dict[str, dict[str, object]] = {
    "invalid side": {"side": "HOLD"},
    "unknown market": {"market": "XRP-USDT"},
    "zero quantity": {"quantity": 0},
    "off range": {"price": 10**12},
    "bad tif": {"time_in_force": "GTD"},
    "stray stop price": {"order_type": MARKET, "price": 0, "stop_price": 99},
    "fee account": {"user_id": FEE_ACCOUNT},
    "no user": {"user_id": ""},
    "unfunded user": {"user_id": "nobody"},
    "unfunded market buy": {"user_id": "nobody", "order_type": MARKET, "price": 0},
    "market of both sizes": {"order_type": MARKET, "price": 0, "quote_quantity": 500},
    "fill-or-kill market": {"order_type": MARKET, "price": 0, "time_in_force": FOK},
    "post-only market": {"order_type": MARKET, "price": 0, "post_only": True},
    "post-only IOC": {"time_in_force": IOC, "post_only": True},
    "stop-market sell by quote": {
        "side": SELL,
        "order_type": STOP_MARKET,
        "price": 0,
        "quantity": 0,
        "quote_quantity": 500,
        "stop_price": 1,
    },
    "take-profit-market sell by quote": {
        "side": SELL,
        "order_type": TAKE_PROFIT_MARKET,
        "price": 0,
        "quantity": 0,
        "quote_quantity": 500,
        "stop_price": 10**6,
    },
    "take-profit limit without a stop price": {"order_type": TAKE_PROFIT_LIMIT},
    "take-profit market with a limit price": {"order_type": TAKE_PROFIT_MARKET, "stop_price": 99},
    "limit by quote": {"quote_quantity": 500},
    "unknown STP mode": {"stp_mode": "EXPIRE_NOBODY"},
    "unknown order type": {"order_type": "TRAILING_STOP"},
}


def grid_price(symbol: str, offset: int) -> int:
    low, high = PRICE_GRID[symbol]
    return low + offset % (high - low + 1)


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = Engine()
        self.model = EventModel()
        self.net_supply: dict[str, int] = defaultdict(int)
        self.ts = 0
        self.closed_ids: list[int] = []

    # -- driving the engine ----------------------------------------------------------

    def execute(self, command: Command) -> list[Event]:
        note(repr(command))
        before = self.engine.snapshot()
        events = self.engine.apply(command)
        rejections = [e for e in events if isinstance(e, CommandRejected)]
        if rejections:
            assert len(events) == 1, events
            assert self.engine.snapshot() == before, f"rejected {command} changed the state"
            event(f"rejected {rejections[0].code}")
        for e in events:
            if isinstance(e, StopTriggered):
                # Which kinds fired (each must, now and then, for the run to mean much).
                fired = self.model.orders.get(e.order_id)
                event(f"StopTriggered {fired.order_type if fired else 'same command'}")
            elif not isinstance(e, CommandRejected):
                event(type(e).__name__)
        open_before = set(self.model.orders)
        self.model.apply(events, command.ts)
        self.closed_ids.extend(sorted(open_before - set(self.model.orders)))
        return events

    def next_ts(self) -> int:
        self.ts += 1
        return self.ts

    def stop_base(self, symbol: str) -> int:
        last = self.model.last_price[symbol]
        if last:
            return last
        low, high = PRICE_GRID[symbol]
        return (low + high) // 2

    def stop_price(self, symbol: str, side: str, order_type: str, offset: int) -> int:
        """A stop price `offset` ticks beyond the last price in the direction the order
        fires (a negative offset: one that would fire at once)."""
        base = self.stop_base(symbol)
        return base + offset if TRIGGER_DIRECTION[(side, order_type)] == RISE else base - offset

    def pick_open(self, pick: int) -> int | None:
        ids = sorted(self.model.orders)
        return ids[pick % len(ids)] if ids else None

    # -- rules -----------------------------------------------------------------------

    @initialize(sizes=st.lists(st.integers(2, 6), min_size=12, max_size=12))
    def open_markets(self, sizes: list[int]) -> None:
        """Both markets, funded users, and a few resting orders on each side of each book."""
        for symbol in SYMBOLS:
            self.execute(AddMarket(ts=self.next_ts(), market=MARKETS[symbol]))
        for user in USERS:
            for asset in ASSETS:
                self.deposit(user, asset, 20_000)
        for n, quantity in enumerate(sizes):
            symbol = SYMBOLS[n // 6]
            low, high = PRICE_GRID[symbol]
            mid, step = (low + high) // 2, n % 3 + 1
            side, price = (BUY, mid - step) if n % 6 < 3 else (SELL, mid + step)
            self.execute(
                PlaceOrder(
                    ts=self.next_ts(),
                    user_id=USERS[n % len(USERS)],
                    market=symbol,
                    side=side,
                    price=price,
                    quantity=quantity,
                )
            )

    @rule(user=users, asset=st.sampled_from([*ASSETS, "DOGE"]), amount=st.integers(0, 30_000))
    def deposit(self, user: str, asset: str, amount: int) -> None:
        events = self.execute(Deposit(ts=self.next_ts(), user_id=user, asset=asset, amount=amount))
        if not isinstance(events[0], CommandRejected):
            self.net_supply[asset] += amount

    @rule(user=users, asset=st.sampled_from(ASSETS), headroom=st.integers(-2, 5_000))
    def deposit_fortune(self, user: str, asset: str, headroom: int) -> None:
        """A deposit that brings the asset's total within `headroom` of the 62-bit limit.

        Every balance must stay within that limit however trading moves funds around, so
        the engine caps the total (a negative headroom must be rejected).
        """
        self.deposit(user, asset, max(1, MAX_AMOUNT - self.net_supply[asset] - headroom))

    @rule(
        user=st.sampled_from([*USERS, FEE_ACCOUNT]),
        asset=st.sampled_from(ASSETS),
        amount=st.integers(1, 200) | st.integers(1, 25_000),
    )
    def withdraw(self, user: str, asset: str, amount: int) -> None:
        events = self.execute(Withdraw(ts=self.next_ts(), user_id=user, asset=asset, amount=amount))
        if not isinstance(events[0], CommandRejected):
            self.net_supply[asset] -= amount

    @rule(
        user=users,
        symbol=symbols,
        side=sides,
        offset=price_offsets,
        quantity=quantities,
        tif=st.sampled_from([GTC, GTC, GTC, IOC, FOK]),
        post_only=st.sampled_from([False, False, False, True]),
        stp=stp_modes,
        coid=client_ids,
    )
    def place_limit(
        self,
        user: str,
        symbol: str,
        side: str,
        offset: int,
        quantity: int,
        tif: str,
        post_only: bool,
        stp: str | None,
        coid: str | None,
    ) -> None:
        self.execute(
            PlaceOrder(
                ts=self.next_ts(),
                user_id=user,
                market=symbol,
                side=side,
                order_type=LIMIT,
                time_in_force=tif,
                price=grid_price(symbol, offset),
                quantity=quantity,
                post_only=post_only,
                stp_mode=stp,
                client_order_id=coid,
            )
        )

    @rule(user=users, symbol=symbols, side=sides, offset=st.integers(0, 3), quantity=quantities)
    def place_resting_limit(self, user: str, symbol: str, side: str, offset: int, quantity: int) -> None:
        """A plain GTC limit order at or behind the touch: builds depth."""
        bids, asks = self.engine.depth(symbol)
        low, high = PRICE_GRID[symbol]
        if side == BUY:
            price = (bids[0][0] if bids else (low + high) // 2 - 1) - offset
            if asks:
                price = min(price, asks[0][0] - 1)
        else:
            price = (asks[0][0] if asks else (low + high) // 2 + 1) + offset
            if bids:
                price = max(price, bids[0][0] + 1)
        self.execute(
            PlaceOrder(
                ts=self.next_ts(), user_id=user, market=symbol, side=side, price=price, quantity=quantity
            )
        )

    @rule(
        user=users,
        symbol=symbols,
        side=sides,
        through=st.integers(0, 2),
        quantity=quantities,
        tif=st.sampled_from([GTC, IOC, FOK]),
        stp=stp_modes,
    )
    def take_liquidity(
        self, user: str, symbol: str, side: str, through: int, quantity: int, tif: str, stp: str | None
    ) -> None:
        """A limit order priced at (or through) the best opposite price."""
        bids, asks = self.engine.depth(symbol)
        opposite = asks if side == BUY else bids
        if not opposite:
            return
        price = opposite[0][0] + through if side == BUY else max(1, opposite[0][0] - through)
        self.execute(
            PlaceOrder(
                ts=self.next_ts(),
                user_id=user,
                market=symbol,
                side=side,
                time_in_force=tif,
                price=price,
                quantity=quantity,
                stp_mode=stp,
            )
        )

    @rule(user=users, symbol=symbols, side=sides, quantity=quantities, stp=stp_modes)
    def place_market_by_quantity(
        self, user: str, symbol: str, side: str, quantity: int, stp: str | None
    ) -> None:
        self.execute(
            PlaceOrder(
                ts=self.next_ts(),
                user_id=user,
                market=symbol,
                side=side,
                order_type=MARKET,
                time_in_force=IOC,
                quantity=quantity,
                stp_mode=stp,
            )
        )

    @rule(user=users, symbol=symbols, side=sides, amount=quote_amounts, stp=stp_modes, coid=client_ids)
    def place_market_by_quote(
        self, user: str, symbol: str, side: str, amount: int, stp: str | None, coid: str | None
    ) -> None:
        self.execute(
            PlaceOrder(
                ts=self.next_ts(),
                user_id=user,
                market=symbol,
                side=side,
                order_type=MARKET,
                quote_quantity=amount,
                stp_mode=stp,
                client_order_id=coid,
            )
        )

    @rule(
        user=users,
        symbol=symbols,
        side=sides,
        stop_offset=st.integers(-1, 4),
        offset=price_offsets,
        quantity=quantities,
        tif=st.sampled_from([GTC, GTC, IOC, FOK]),
        stp=stp_modes,
        coid=client_ids,
        order_type=st.sampled_from([STOP_LIMIT, TAKE_PROFIT_LIMIT]),
    )
    def place_stop_limit(
        self,
        user: str,
        symbol: str,
        side: str,
        stop_offset: int,
        offset: int,
        quantity: int,
        tif: str,
        stp: str | None,
        coid: str | None,
        order_type: str,
    ) -> None:
        """A stop-limit or take-profit-limit order, its trigger near the last price."""
        stop = self.stop_price(symbol, side, order_type, stop_offset)
        self.execute(
            PlaceOrder(
                ts=self.next_ts(),
                user_id=user,
                market=symbol,
                side=side,
                order_type=order_type,
                time_in_force=tif,
                price=grid_price(symbol, offset),
                stop_price=stop,
                quantity=quantity,
                stp_mode=stp,
                client_order_id=coid,
            )
        )

    @rule(
        user=users,
        symbol=symbols,
        side=sides,
        stop_offset=st.integers(-1, 4),
        quantity=quantities,
        amount=quote_amounts,
        by_quote=st.booleans(),
        stp=stp_modes,
        order_type=st.sampled_from([STOP_MARKET, TAKE_PROFIT_MARKET]),
    )
    def place_stop_market(
        self,
        user: str,
        symbol: str,
        side: str,
        stop_offset: int,
        quantity: int,
        amount: int,
        by_quote: bool,
        stp: str | None,
        order_type: str,
    ) -> None:
        """A stop-market or take-profit-market order, its trigger near the last price."""
        stop = self.stop_price(symbol, side, order_type, stop_offset)
        self.execute(
            PlaceOrder(
                ts=self.next_ts(),
                user_id=user,
                market=symbol,
                side=side,
                order_type=order_type,
                stop_price=stop,
                quantity=0 if by_quote else quantity,
                quote_quantity=amount if by_quote else 0,
                stp_mode=stp,
            )
        )

    @rule(
        kind=st.sampled_from(sorted(INVALID_FIELDS)),
        user=users,
        symbol=symbols,
    )
    def place_invalid(self, kind: str, user: str, symbol: str) -> None:
        command = PlaceOrder(ts=self.next_ts(), user_id=user, market=symbol, side=BUY, price=100, quantity=1)
        events = self.execute(msgspec.structs.replace(command, **INVALID_FIELDS[kind]))
        assert isinstance(events[0], CommandRejected), events

    @rule(
        mode=st.sampled_from(["open", "open", "open", "by client id", "closed", "unknown", "other user"]),
        pick=picks,
        stranger=users,
    )
    def cancel(self, mode: str, pick: int, stranger: str) -> None:
        order_id = self.pick_open(pick)
        ts = self.next_ts()
        if mode == "by client id":
            named = [
                (i, o) for i, o in sorted(self.model.orders.items()) if _client_id(self.engine, o.user, i)
            ]
            if not named:
                return
            order_id, order = named[pick % len(named)]
            coid = _client_id(self.engine, order.user, order_id)
            command = CancelOrder(ts=ts, user_id=order.user, client_order_id=coid)
        elif mode == "closed" and self.closed_ids:
            closed = self.closed_ids[pick % len(self.closed_ids)]
            command = CancelOrder(ts=ts, user_id=stranger, order_id=closed)
        elif mode in ("unknown", "closed") or order_id is None:
            command = CancelOrder(ts=ts, user_id=stranger, order_id=10**9 + pick)
        elif mode == "other user":
            owner = self.model.orders[order_id].user
            other = USERS[(USERS.index(owner) + 1 + pick % 3) % len(USERS)]
            command = CancelOrder(ts=ts, user_id=other, order_id=order_id)
        else:
            command = CancelOrder(ts=ts, user_id=self.model.orders[order_id].user, order_id=order_id)
        events = self.execute(command)
        if mode in ("unknown", "other user", "closed"):
            assert isinstance(events[0], CommandRejected), events

    @rule(user=users, symbol=st.none() | symbols)
    def cancel_all(self, user: str, symbol: str | None) -> None:
        self.execute(CancelAllOrders(ts=self.next_ts(), user_id=user, market=symbol))

    @rule(
        pick=picks,
        offset=st.none() | price_offsets,
        quantity=st.none() | quantities,
        by_client_id=st.booleans(),
    )
    def amend(self, pick: int, offset: int | None, quantity: int | None, by_client_id: bool) -> None:
        order_id = self.pick_open(pick)
        if order_id is None:
            return
        order = self.model.orders[order_id]
        coid = _client_id(self.engine, order.user, order_id) if by_client_id else None
        self.execute(
            AmendOrder(
                ts=self.next_ts(),
                user_id=order.user,
                order_id=None if coid else order_id,
                client_order_id=coid,
                price=None if offset is None else grid_price(order.market, offset),
                quantity=quantity,
            )
        )

    @rule(symbol=symbols, status=st.sampled_from([TRADING, HALT, CANCEL_ONLY]))
    def set_status(self, symbol: str, status: str) -> None:
        self.execute(SetMarketStatus(ts=self.next_ts(), market=symbol, status=status))

    @precondition(lambda self: any(status != TRADING for status in self.model.status.values()))
    @rule()
    def resume_markets(self) -> None:
        """Halted periods stay short, so most commands meet trading markets."""
        for symbol, status in sorted(self.model.status.items()):
            if status != TRADING:
                self.execute(SetMarketStatus(ts=self.next_ts(), market=symbol, status=TRADING))

    @invariant()
    def engine_invariants(self) -> None:
        check_engine(self.engine, self.model, self.net_supply)


def _client_id(engine: Engine, user: str, order_id: int) -> str | None:
    order = engine.open_order(user, order_id)
    return order.client_order_id if order is not None else None


TestEngineStateMachine = EngineMachine.TestCase
TestEngineStateMachine.settings = settings(max_examples=200, stateful_step_count=60, deadline=None)

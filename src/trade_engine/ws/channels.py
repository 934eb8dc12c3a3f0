"""The native channels: committed events in, one encoded message per channel out.

The sequencer hands `on_commit` every committed batch, in order, right after its
commit. It updates the live market data, notes what changed per market and per user,
and schedules a flush. A flush turns everything since the previous one into at most
one message per channel (a book delta, trades, ticker, candles; per user: orders,
fills, balances), encodes each once and publishes it to the hub. Flushes are at least
`flush_interval` apart: when quiet a change goes out at once; under load a message
carries many changes, so the messages per client stay bounded whatever the order rate.
When the process is overloaded (clients still writing the previous flush), a flush
waits a little longer, so that the fan-out sheds work instead of falling behind.

Book deltas: the levels changed since the previous delta with their new totals, so
applying a delta twice is harmless. Each delta of a market carries `seq`, one more than
the previous delta's; a snapshot carries the `seq` of the last delta published (it may
already include changes of the next delta, which then change nothing). `market_seq`
is the engine's sequence number of the market's last committed event.

Balances come from the sequencer's committed view (`CommittedBalances`), never from
the engine itself: while a batch commits the engine already holds the next one, whose
effects must not be published before they are durable.
"""

import asyncio
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Final

from trade_engine.api import views
from trade_engine.api.schemas import BalanceView, Fill, FillView, TickerView, TradeView
from trade_engine.domain.market import Market
from trade_engine.domain.vocabulary import BUY, SELL
from trade_engine.engine import (
    Balance,
    BookLevelChanged,
    Engine,
    Event,
    FundsDeposited,
    FundsWithdrawn,
    MarketAdded,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    StopTriggered,
    TradeExecuted,
)
from trade_engine.engine.holds import fee_charged
from trade_engine.engine.ledger import movements
from trade_engine.marketdata.candles import INTERVALS
from trade_engine.marketdata.depth import DepthBook
from trade_engine.marketdata.live import LiveMarketData
from trade_engine.ws import protocol
from trade_engine.ws.connection import Connection, Frame
from trade_engine.ws.hub import Hub
from trade_engine.ws.protocol import (
    BALANCES,
    BOOK,
    CANDLES,
    FILLS,
    ORDERS,
    TICKER,
    TRADES,
    Balances,
    BookDelta,
    BookSnapshot,
    CandleUpdate,
    Channel,
    Fills,
    Orders,
    OrderUpdate,
    TickerUpdate,
    Trades,
)

NS_PER_MS: Final = 1_000_000
# A flush waits while more than this share of the clients still have frames queued...
BUSY_FRACTION: Final = 0.1
# ...but never longer than this many flush intervals since the previous flush.
MAX_POSTPONE: Final = 4
encode: Final = protocol.encode


def ms(ns: int) -> int:
    return ns // NS_PER_MS


class MarketKeys:
    """The hub keys (channel names) of one market's public channels."""

    __slots__ = ("book", "candles", "ticker", "trades")

    def __init__(self, symbol: str) -> None:
        self.book = f"{BOOK}:{symbol}"
        self.trades = f"{TRADES}:{symbol}"
        self.ticker = f"{TICKER}:{symbol}"
        self.candles = {interval: f"{CANDLES}:{symbol}:{interval}" for interval in INTERVALS}


class _MarketChanges:
    __slots__ = ("book_changed", "commit_ns", "levels", "trades")

    def __init__(self, commit_ns: int) -> None:
        self.commit_ns = commit_ns
        self.book_changed = False
        self.levels: dict[tuple[str, int], int] = {}
        self.trades: list[TradeExecuted] = []


class _UserChanges:
    __slots__ = ("balances", "commit_ns", "fills", "orders")

    def __init__(self, commit_ns: int) -> None:
        self.commit_ns = commit_ns
        self.orders: list[OrderUpdate] = []
        self.fills: list[FillView] = []
        self.balances: dict[str, Balance] = {}


def private_key(kind: str, user_id: str) -> tuple[str, str]:
    return (kind, user_id)


class Channels:
    def __init__(
        self,
        hub: Hub,
        *,
        engine: Engine,
        balance_of: Callable[[str, str], Balance],
        depth: DepthBook,
        live: LiveMarketData,
        flush_interval: float,
    ) -> None:
        """`engine` gives the state at start (committed, before the first command);
        `balance_of(user, asset)` the committed balance at any later time."""
        self._hub = hub
        self._balance_of = balance_of
        self._depth = depth
        self._live = live
        self._interval = flush_interval
        self._rules: dict[str, Market] = {}
        self._decimals: dict[str, int] = {}
        self._keys: dict[str, MarketKeys] = {}
        for market in engine.markets():
            self._add_market(market)
        # Cumulative (executed lots, quote, fee) of open orders that have traded.
        self._executed: dict[int, list[int]] = {}
        for order in engine.all_open_orders():
            if order.executed:
                self._executed[order.id] = [order.executed, order.filled_quote, fee_charged(order.fee_numer)]
        self._book_seq: dict[str, int] = {}
        self._snapshots: dict[str, tuple[tuple[int, int], Frame]] = {}
        self._tickers: dict[str, TickerView] = {}
        self._markets: dict[str, _MarketChanges] = {}
        self._users: dict[str, _UserChanges] = {}
        self._flush_handle: asyncio.Handle | None = None
        self._last_flush = 0.0

    # -- queries --

    def market(self, symbol: str) -> Market | None:
        return self._rules.get(symbol)

    def keys(self, symbol: str) -> MarketKeys:
        return self._keys[symbol]

    def key(self, channel: Channel, user_id: str | None) -> Hashable:
        """The hub key of a channel (private channels: per user)."""
        if channel.private:
            assert user_id is not None
            return private_key(channel.kind, user_id)
        return channel.name

    # -- committed events --

    def on_commit(self, events: Sequence[Event]) -> None:
        """A committed batch (sequencer subscriber): note changes, schedule a flush."""
        self._live.apply(events)
        now = time.time_ns()
        hub = self._hub
        markets = self._markets
        users = self._users
        touched: dict[str, set[str]] = {}
        for event in events:
            kind = type(event)
            if kind is BookLevelChanged:
                assert isinstance(event, BookLevelChanged)
                changes = markets.get(event.market)
                if changes is None:
                    changes = markets[event.market] = _MarketChanges(now)
                changes.book_changed = True
                if hub.has_subscribers(self._keys[event.market].book):
                    changes.levels[(event.side, event.price)] = event.quantity
            elif kind is TradeExecuted:
                assert isinstance(event, TradeExecuted)
                changes = markets.get(event.market)
                if changes is None:
                    changes = markets[event.market] = _MarketChanges(now)
                changes.trades.append(event)
                self._trade(event, now, touched)
            elif kind is MarketAdded:
                assert isinstance(event, MarketAdded)
                self._add_market(event.market)
            elif kind is FundsDeposited or kind is FundsWithdrawn:
                assert isinstance(event, FundsDeposited | FundsWithdrawn)
                self._note_balance(event, touched)
            elif kind is OrderAccepted or kind is StopTriggered or kind is OrderAmended:
                assert isinstance(event, OrderAccepted | StopTriggered | OrderAmended)
                self._order_event(event, now)
                self._note_balance(event, touched)
            elif kind is OrderFilled or kind is OrderCancelled or kind is OrderExpired:
                assert isinstance(event, OrderFilled | OrderCancelled | OrderExpired)
                self._order_event(event, now)
                self._executed.pop(event.order_id, None)
                self._note_balance(event, touched)
        balance_of = self._balance_of
        for user_id, assets in touched.items():
            changes_of = users.get(user_id)
            if changes_of is None:
                changes_of = users[user_id] = _UserChanges(now)
            for asset in assets:
                changes_of.balances[asset] = balance_of(user_id, asset)
        if markets or users:
            self._schedule()

    def _trade(self, event: TradeExecuted, now: int, touched: dict[str, set[str]]) -> None:
        executed = self._executed
        for order_id, fee in (
            (event.maker_order_id, event.maker_fee),
            (event.taker_order_id, event.taker_fee),
        ):
            totals = executed.get(order_id)
            if totals is None:
                executed[order_id] = [event.quantity, event.quote_amount, fee]
            else:
                totals[0] += event.quantity
                totals[1] += event.quote_amount
                totals[2] += fee
        hub = self._hub
        for user_id, order_id, role in (
            (event.maker_user_id, event.maker_order_id, "MAKER"),
            (event.taker_user_id, event.taker_order_id, "TAKER"),
        ):
            wants_orders = hub.has_subscribers((ORDERS, user_id))
            wants_fills = hub.has_subscribers((FILLS, user_id))
            if hub.has_subscribers((BALANCES, user_id)):
                market = self._rules[event.market]
                touched.setdefault(user_id, set()).update((market.base, market.quote))
            if not (wants_orders or wants_fills):
                continue
            market = self._rules[event.market]
            taker = role == "TAKER"
            side = event.taker_side if taker else (SELL if event.taker_side == BUY else BUY)
            fee = event.taker_fee if taker else event.maker_fee
            changes = self._user(user_id, now)
            if wants_fills:
                changes.fills.append(
                    FillView(
                        trade_id=event.trade_id,
                        order_id=order_id,
                        market=event.market,
                        side=side,
                        role=role,  # type: ignore[arg-type]
                        price=market.price_text(event.price),
                        quantity=market.quantity_text(event.quantity),
                        quote_amount=market.quote_text(event.quote_amount),
                        fee=market.quote_text(fee),
                        fee_asset=market.quote,
                        time=ms(event.ts),
                    )
                )
            if wants_orders:
                changes.orders.append(
                    self._update(
                        market,
                        order_id,
                        side,
                        "TRADE",
                        "PARTIALLY_FILLED",
                        event.ts,
                        trade=Fill(
                            trade_id=event.trade_id,
                            price=market.price_text(event.price),
                            quantity=market.quantity_text(event.quantity),
                            quote_amount=market.quote_text(event.quote_amount),
                            fee=market.quote_text(fee),
                            fee_asset=market.quote,
                            role=role,  # type: ignore[arg-type]
                            time=ms(event.ts),
                        ),
                    )
                )

    def _order_event(
        self,
        event: OrderAccepted | StopTriggered | OrderAmended | OrderFilled | OrderCancelled | OrderExpired,
        now: int,
    ) -> None:
        if not self._hub.has_subscribers((ORDERS, event.user_id)):
            return
        market = self._rules[event.market]
        price = market.price_text
        quantity = market.quantity_text
        update: OrderUpdate
        if isinstance(event, OrderAccepted):
            update = OrderUpdate(
                order_id=event.order_id,
                market=event.market,
                side=event.side,
                event="NEW",
                status="NEW",
                time=ms(event.ts),
                executed_quantity=quantity(0),
                executed_quote=market.quote_text(0),
                fee=market.quote_text(0),
                fee_asset=market.quote,
                client_order_id=event.client_order_id,
                type=event.order_type,
                time_in_force=event.time_in_force,
                price=price(event.price) if event.price else None,
                stop_price=price(event.stop_price) if event.stop_price else None,
                quantity=quantity(event.quantity) if event.quantity else None,
                quote_quantity=market.quote_text(event.quote_quantity) if event.quote_quantity else None,
                post_only=event.post_only,
                stp_mode=event.stp_mode,
            )
        elif isinstance(event, StopTriggered):
            status = "PARTIALLY_FILLED" if event.order_id in self._executed else "NEW"
            update = self._update(market, event.order_id, event.side, "TRIGGERED", status, event.ts)
        elif isinstance(event, OrderAmended):
            status = "PARTIALLY_FILLED" if event.order_id in self._executed else "NEW"
            update = self._update(market, event.order_id, event.side, "AMENDED", status, event.ts)
            update.price = price(event.price) if event.price else None
            update.quantity = quantity(event.quantity)
            update.remaining_quantity = quantity(event.remaining)
            update.priority_kept = event.priority_kept
        else:
            if isinstance(event, OrderFilled):
                name, status, reason = "FILLED", "FILLED", None
            elif isinstance(event, OrderCancelled):
                name, status, reason = "CANCELED", "CANCELED", event.reason
            else:
                expired_in_match = event.reason == "SELF_TRADE_PREVENTION"
                name, status = "EXPIRED", "EXPIRED_IN_MATCH" if expired_in_match else "EXPIRED"
                reason = event.reason
            update = OrderUpdate(
                order_id=event.order_id,
                market=event.market,
                side=event.side,
                event=name,  # type: ignore[arg-type]
                status=status,
                time=ms(event.ts),
                executed_quantity=quantity(event.executed),
                executed_quote=market.quote_text(event.filled_quote),
                fee=market.quote_text(event.fee),
                fee_asset=market.quote,
                reason=reason,
            )
            if not isinstance(event, OrderFilled):
                update.remaining_quantity = quantity(event.remaining)
        self._user(event.user_id, now).orders.append(update)

    def _update(
        self,
        market: Market,
        order_id: int,
        side: str,
        name: str,
        status: str,
        ts: int,
        trade: Fill | None = None,
    ) -> OrderUpdate:
        executed, quote, fee = self._executed.get(order_id, (0, 0, 0))
        return OrderUpdate(
            order_id=order_id,
            market=market.symbol,
            side=side,
            event=name,  # type: ignore[arg-type]
            status=status,
            time=ms(ts),
            executed_quantity=market.quantity_text(executed),
            executed_quote=market.quote_text(quote),
            fee=market.quote_text(fee),
            fee_asset=market.quote,
            trade=trade,
        )

    def _note_balance(self, event: Event, touched: dict[str, set[str]]) -> None:
        user_id: str = event.user_id  # type: ignore[attr-defined]
        if not self._hub.has_subscribers((BALANCES, user_id)):
            return
        for movement in movements(event, self._assets_of):
            if movement.user_id == user_id:
                touched.setdefault(user_id, set()).add(movement.asset)

    def _assets_of(self, symbol: str) -> tuple[str, str]:
        market = self._rules[symbol]
        return market.base, market.quote

    def _user(self, user_id: str, now: int) -> _UserChanges:
        changes = self._users.get(user_id)
        if changes is None:
            changes = self._users[user_id] = _UserChanges(now)
        return changes

    def _add_market(self, market: Market) -> None:
        self._rules[market.symbol] = market
        self._keys[market.symbol] = MarketKeys(market.symbol)
        self._decimals[market.base] = market.base_decimals
        self._decimals[market.quote] = market.quote_decimals

    # -- flushing --

    def _schedule(self) -> None:
        if self._flush_handle is not None:
            return
        loop = asyncio.get_running_loop()
        delay = self._last_flush + self._interval - loop.time()
        if delay <= 0:
            self._flush_handle = loop.call_soon(self._flush_when_ready)
        else:
            self._flush_handle = loop.call_later(delay, self._flush_when_ready)

    def _flush_when_ready(self) -> None:
        """Flush, unless many clients are still writing the previous flush (the process is
        overloaded): then wait, up to MAX_POSTPONE intervals, so that more changes go out
        in fewer, larger messages and the writers catch up instead of falling behind."""
        loop = asyncio.get_running_loop()
        waited = loop.time() - self._last_flush
        if waited < self._interval * MAX_POSTPONE and self._hub.busy_fraction() > BUSY_FRACTION:
            self._flush_handle = loop.call_later(self._interval / 4, self._flush_when_ready)
            return
        self.flush()

    def flush(self) -> None:
        """Publish everything noted since the previous flush."""
        self._flush_handle = None
        self._last_flush = asyncio.get_running_loop().time()
        markets, self._markets = self._markets, {}
        users, self._users = self._users, {}
        hub = self._hub
        now = time.time_ns()
        out: list[tuple[Hashable, bytes, int]] = []
        for symbol, changes in markets.items():
            keys = self._keys[symbol]
            market = self._rules[symbol]
            commit_ns = changes.commit_ns
            commit_us = commit_ns // 1000
            if changes.levels and hub.has_subscribers(keys.book):
                seq = self._book_seq.get(symbol, 0) + 1
                self._book_seq[symbol] = seq
                bids = sorted(((p, q) for (s, p), q in changes.levels.items() if s == BUY), reverse=True)
                asks = sorted((p, q) for (s, p), q in changes.levels.items() if s != BUY)
                delta = BookDelta(
                    keys.book,
                    symbol,
                    seq,
                    self._depth.market(symbol).sequence,
                    commit_us,
                    [(market.price_text(p), market.quantity_text(q)) for p, q in bids],
                    [(market.price_text(p), market.quantity_text(q)) for p, q in asks],
                )
                out.append((keys.book, encode(delta), commit_ns))
            trades = changes.trades
            if trades:
                if hub.has_subscribers(keys.trades):
                    message = Trades(
                        keys.trades, symbol, commit_us, [self._trade_view(market, t) for t in trades]
                    )
                    out.append((keys.trades, encode(message), commit_ns))
                for interval, key in keys.candles.items():
                    if hub.has_subscribers(key):
                        out.append((key, self._candles(market, interval, key, trades, commit_ns), commit_ns))
            if (trades or changes.book_changed) and hub.has_subscribers(keys.ticker):
                ticker = self._ticker(market, now, commit_ns)
                if ticker is not None:
                    out.append((keys.ticker, ticker, commit_ns))
        for user_id, user_changes in users.items():
            commit_ns = user_changes.commit_ns
            commit_us = commit_ns // 1000
            if user_changes.orders:
                message_orders = Orders(ORDERS, commit_us, user_changes.orders)
                out.append(((ORDERS, user_id), encode(message_orders), commit_ns))
            if user_changes.fills:
                message_fills = Fills(FILLS, commit_us, user_changes.fills)
                out.append(((FILLS, user_id), encode(message_fills), commit_ns))
            if user_changes.balances:
                message_balances = Balances(BALANCES, commit_us, self._balance_views(user_changes.balances))
                out.append(((BALANCES, user_id), encode(message_balances), commit_ns))
        if out:
            hub.publish_batch(out, protocol.combine)

    def tick(self) -> None:
        """Tickers whose window slid (a minute passed) although nothing traded."""
        now = time.time_ns()
        for symbol, keys in self._keys.items():
            if self._hub.has_subscribers(keys.ticker):
                self._publish_ticker(self._rules[symbol], now, 0)

    def _publish_ticker(self, market: Market, now: int, commit_ns: int) -> None:
        data = self._ticker(market, now, commit_ns)
        if data is not None:
            self._hub.publish(self._keys[market.symbol].ticker, data, commit_ns)

    def _ticker(self, market: Market, now: int, commit_ns: int) -> bytes | None:
        """The ticker message, if the ticker changed since it was last published."""
        view = self.ticker_view(market, now)
        if self._tickers.get(market.symbol) == view:
            return None
        self._tickers[market.symbol] = view
        key = self._keys[market.symbol].ticker
        return encode(TickerUpdate(key, market.symbol, commit_ns // 1000 if commit_ns else None, view))

    def _candles(
        self, market: Market, interval: str, key: str, trades: list[TradeExecuted], commit_ns: int
    ) -> bytes:
        size = INTERVALS[interval]
        starts: list[int] = []
        for trade in trades:
            start = trade.ts - trade.ts % size
            if not starts or starts[-1] != start:
                starts.append(start)
        # The live data keeps the current and the previous bucket: enough for any flush
        # (flushes are far less than a minute apart).
        views_ = [
            views.candle_view(self._live.candle(market.symbol, interval, start), market)
            for start in starts[-2:]
        ]
        return encode(CandleUpdate(key, market.symbol, interval, commit_ns // 1000, views_))

    @staticmethod
    def _trade_view(market: Market, trade: TradeExecuted) -> TradeView:
        return TradeView(
            trade_id=trade.trade_id,
            price=market.price_text(trade.price),
            quantity=market.quantity_text(trade.quantity),
            quote_amount=market.quote_text(trade.quote_amount),
            taker_side=trade.taker_side,
            time=ms(trade.ts),
        )

    def _balance_views(self, balances: dict[str, Balance]) -> list[BalanceView]:
        return [
            views.balance_view(asset, self._decimals.get(asset, 8), balance)
            for asset, balance in sorted(balances.items())
        ]

    # -- snapshots (sent on subscribe) --

    def ticker_view(self, market: Market, now: int) -> TickerView:
        best_bid, best_ask = self._depth.market(market.symbol).best()
        ticker = self._live.ticker(market.symbol, now)
        return views.ticker_view(ticker, market, best_bid, best_ask)

    def snapshot(self, connection: Connection, channel: Channel, user_id: str | None) -> None:
        """Queue what a new subscriber starts from, if the channel has a snapshot."""
        kind = channel.kind
        if kind == BOOK:
            assert channel.market is not None
            connection.offer(self._book_snapshot(self._rules[channel.market]))
        elif kind == TICKER:
            assert channel.market is not None
            market = self._rules[channel.market]
            view = self.ticker_view(market, time.time_ns())
            if self._tickers.get(market.symbol) != view:
                # Newer than what subscribers last got: everyone gets it (the new
                # subscriber is subscribed already).
                self._publish_ticker(market, time.time_ns(), 0)
            else:
                connection.offer(Frame(encode(TickerUpdate(channel.name, market.symbol, None, view))))
        elif kind == CANDLES:
            assert channel.market is not None
            assert channel.interval is not None
            market = self._rules[channel.market]
            size = INTERVALS[channel.interval]
            now = time.time_ns()
            candle = self._live.candle(market.symbol, channel.interval, now - now % size)
            message = CandleUpdate(
                channel.name,
                market.symbol,
                channel.interval,
                None,
                [views.candle_view(candle, market)],
            )
            connection.offer(Frame(encode(message)))
        elif kind == BALANCES:
            assert user_id is not None
            connection.offer(self._balances_snapshot(user_id))

    def _book_snapshot(self, market: Market) -> Frame:
        symbol = market.symbol
        depth = self._depth.market(symbol)
        seq = self._book_seq.get(symbol, 0)
        version = (seq, depth.sequence)
        cached = self._snapshots.get(symbol)
        if cached is not None and cached[0] == version:
            return cached[1]
        bids, asks = depth.levels(0)
        message = BookSnapshot(
            self._keys[symbol].book,
            symbol,
            seq,
            depth.sequence,
            [(market.price_text(p), market.quantity_text(q)) for p, q in bids],
            [(market.price_text(p), market.quantity_text(q)) for p, q in asks],
        )
        frame = Frame(encode(message))
        self._snapshots[symbol] = (version, frame)
        return frame

    def _balances_snapshot(self, user_id: str) -> Frame:
        balances = {}
        for asset in self._decimals:
            balance = self._balance_of(user_id, asset)
            if balance.available or balance.locked:
                balances[asset] = balance
        return Frame(encode(Balances(BALANCES, None, self._balance_views(balances))))

"""The native channels: committed views in, one encoded message per channel out.

The read model hands `on_view` every committed batch's views (readmodel/views.py), in
order, in the loop's turn after the batch was answered (or earlier, when settled). It
notes what changed per market and per user and schedules a flush. A flush turns
everything since the previous one into at most one message per channel (a book delta,
trades, ticker, candles; per user: orders, fills, balances), encodes each once and
publishes it to the hub. Flushes are at least `flush_interval` apart: when quiet a
change goes out at once; under load a message carries many changes, so the messages per
client stay bounded whatever the order rate. When the process is overloaded (clients
still writing the previous flush), a flush waits a little longer, so that the fan-out
sheds work instead of falling behind.

Book deltas: the levels changed since the previous delta with their new totals, so
applying a delta twice is harmless. Each delta of a market carries `seq`, one more than
the previous delta's; a snapshot carries the `seq` of the last delta published (it may
already include changes of the next delta, which then change nothing). `market_seq`
is the engine's sequence number of the market's last committed event.

Balances are the committed values each batch carries; nothing here asks the engine.
"""

import asyncio
import time
from collections.abc import Callable, Hashable
from typing import Final

from trade_engine.api import views
from trade_engine.api.schemas import BalanceView, FillView, OrderUpdateView, TickerView
from trade_engine.domain.market import Market
from trade_engine.domain.timestamps import us
from trade_engine.domain.vocabulary import BUY
from trade_engine.edge.hub import Hub
from trade_engine.engine import Balance
from trade_engine.marketdata.candles import INTERVALS
from trade_engine.marketdata.depth import DepthBook
from trade_engine.marketdata.live import LiveMarketData
from trade_engine.readmodel.balances import Balances as CommittedBalances
from trade_engine.readmodel.markets import Markets
from trade_engine.readmodel.trades import TradeModel
from trade_engine.readmodel.views import ReadModel, ViewBatch
from trade_engine.ws import protocol
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
    CandleUpdate,
    Channel,
    Fills,
    Orders,
    TickerUpdate,
    Trades,
)

# A flush waits while more than this share of the clients still have frames queued...
BUSY_FRACTION: Final = 0.1
# ...but never longer than this many flush intervals since the previous flush.
MAX_POSTPONE: Final = 4
encode: Final = protocol.encode


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
        self.trades: list[TradeModel] = []


class _UserChanges:
    __slots__ = ("balances", "commit_ns", "fills", "orders")

    def __init__(self, commit_ns: int) -> None:
        self.commit_ns = commit_ns
        self.orders: list[OrderUpdateView] = []
        self.fills: list[FillView] = []
        self.balances: dict[str, Balance] = {}


def private_key(kind: str, user_id: str) -> tuple[str, str]:
    return (kind, user_id)


class Channels:
    def __init__(
        self,
        hub: Hub,
        *,
        read_model: ReadModel,
        depth: DepthBook,
        live: LiveMarketData,
        flush_interval: float,
        observe_wait: Callable[[float], None] | None = None,
    ) -> None:
        """`read_model`: the committed state (its markets and balances), whose readers
        are settled before each flush (readmodel/views.py). `observe_wait` is given, at
        each flush, how long the oldest change of each market and each user it sends
        messages for waited for it, in seconds (the conflation's part of the delivery
        time: a metric)."""
        self.hub = hub
        self.markets: Markets = read_model.markets
        self.balances: CommittedBalances = read_model.balances
        # Has every committed batch noted: before a flush, or a subscription's snapshot,
        # reads what the read model's readers keep (readmodel/views.py).
        self.settle = read_model.settle
        self.depth = depth
        self.live = live
        self._interval = flush_interval
        self._observe_wait = observe_wait
        self._keys = {market.symbol: MarketKeys(market.symbol) for market in self.markets.all()}
        self.book_seq: dict[str, int] = {}
        self.tickers: dict[str, TickerView] = {}
        self._markets: dict[str, _MarketChanges] = {}
        self._users: dict[str, _UserChanges] = {}
        self._flush_handle: asyncio.Handle | None = None
        self._last_flush = 0.0

    # -- queries --

    def market(self, symbol: str) -> Market | None:
        return self.markets.get(symbol)

    def keys(self, symbol: str) -> MarketKeys:
        return self._keys[symbol]

    def key(self, channel: Channel, user_id: str | None) -> Hashable:
        """The hub key of a channel (private channels: per user)."""
        if channel.private:
            assert user_id is not None
            return private_key(channel.kind, user_id)
        return channel.name

    # -- committed views --

    def on_view(self, view: ViewBatch) -> None:
        """A committed batch's views (a read-model reader): note changes, schedule a flush."""
        for market in view.markets_added:
            self._keys[market.symbol] = MarketKeys(market.symbol)
        now = view.commit_ns
        hub = self.hub
        for level in view.levels:
            changes = self._market(level.market, now)
            changes.book_changed = True
            if hub.has_subscribers(self._keys[level.market].book):
                changes.levels[(level.side, level.price)] = level.quantity
        for trade in view.trades:
            self._market(trade.market, now).trades.append(trade)
        markets = self.markets
        for update in view.orders:
            order = update.order
            if hub.has_subscribers((ORDERS, order.user_id)):
                market = markets.require(order.market)
                self._user(order.user_id, now).orders.append(views.order_update(update, market))
        for fill in view.fills:
            if hub.has_subscribers((FILLS, fill.user_id)):
                market = markets.require(fill.market)
                self._user(fill.user_id, now).fills.append(views.fill_view(fill, market))
        for balance in view.balances:
            if hub.has_subscribers((BALANCES, balance.user_id)):
                changes_of = self._user(balance.user_id, now)
                changes_of.balances[balance.asset] = Balance(balance.available, balance.locked)
        if self._markets or self._users:
            self._schedule()

    def _market(self, symbol: str, now: int) -> _MarketChanges:
        changes = self._markets.get(symbol)
        if changes is None:
            changes = self._markets[symbol] = _MarketChanges(now)
        return changes

    def _user(self, user_id: str, now: int) -> _UserChanges:
        changes = self._users.get(user_id)
        if changes is None:
            changes = self._users[user_id] = _UserChanges(now)
        return changes

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
        if waited < self._interval * MAX_POSTPONE and self.hub.busy_fraction() > BUSY_FRACTION:
            self._flush_handle = loop.call_later(self._interval / 4, self._flush_when_ready)
            return
        self.flush()

    def flush(self) -> None:
        """Publish everything noted since the previous flush (every batch committed
        before it: the read model's readers are settled first)."""
        self.settle()
        if self._flush_handle is not None:  # settling may have asked for one: this is it
            self._flush_handle.cancel()
            self._flush_handle = None
        self._last_flush = asyncio.get_running_loop().time()
        markets, self._markets = self._markets, {}
        users, self._users = self._users, {}
        now = time.time_ns()
        observe = self._observe_wait
        out: list[tuple[Hashable, bytes, int]] = []
        for symbol, changes in markets.items():
            before = len(out)
            self._market_messages(self.markets.require(symbol), changes, now, out)
            if observe is not None and len(out) > before:  # a market nobody watches waits for nothing
                observe(max(0, now - changes.commit_ns) / 1e9)
        for user_id, user_changes in users.items():
            before = len(out)
            commit_ns = user_changes.commit_ns
            commit_us = us(commit_ns)
            if user_changes.orders:
                message_orders = Orders(ORDERS, commit_us, user_changes.orders)
                out.append(((ORDERS, user_id), encode(message_orders), commit_ns))
            if user_changes.fills:
                message_fills = Fills(FILLS, commit_us, user_changes.fills)
                out.append(((FILLS, user_id), encode(message_fills), commit_ns))
            if user_changes.balances:
                message_balances = Balances(BALANCES, commit_us, self.balance_views(user_changes.balances))
                out.append(((BALANCES, user_id), encode(message_balances), commit_ns))
            if observe is not None and len(out) > before:
                observe(max(0, now - commit_ns) / 1e9)
        if out:
            self.hub.publish_batch(out, protocol.combine)

    def _market_messages(
        self, market: Market, changes: _MarketChanges, now: int, out: list[tuple[Hashable, bytes, int]]
    ) -> None:
        hub, symbol = self.hub, market.symbol
        keys = self._keys[symbol]
        commit_ns = changes.commit_ns
        commit_us = us(commit_ns)
        if changes.levels and hub.has_subscribers(keys.book):
            seq = self.book_seq.get(symbol, 0) + 1
            self.book_seq[symbol] = seq
            bids = sorted(((p, q) for (s, p), q in changes.levels.items() if s == BUY), reverse=True)
            asks = sorted((p, q) for (s, p), q in changes.levels.items() if s != BUY)
            delta = BookDelta(
                keys.book,
                symbol,
                seq,
                self.depth.market(symbol).sequence,
                commit_us,
                views.levels(market, bids),
                views.levels(market, asks),
            )
            out.append((keys.book, encode(delta), commit_ns))
        trades = changes.trades
        if trades:
            if hub.has_subscribers(keys.trades):
                message = Trades(
                    keys.trades, symbol, commit_us, [views.trade_view(t, market) for t in trades]
                )
                out.append((keys.trades, encode(message), commit_ns))
            for interval, key in keys.candles.items():
                if hub.has_subscribers(key):
                    out.append((key, self._candles(market, interval, key, trades, commit_ns), commit_ns))
        if (trades or changes.book_changed) and hub.has_subscribers(keys.ticker):
            ticker = self.ticker_message(market, now, commit_ns)
            if ticker is not None:
                out.append((keys.ticker, ticker, commit_ns))

    def tick(self) -> None:
        """Tickers whose window slid (a minute passed) although nothing traded."""
        self.settle()
        now = time.time_ns()
        for symbol, keys in self._keys.items():
            if self.hub.has_subscribers(keys.ticker):
                self.publish_ticker(self.markets.require(symbol), now, 0)

    def publish_ticker(self, market: Market, now: int, commit_ns: int) -> None:
        data = self.ticker_message(market, now, commit_ns)
        if data is not None:
            self.hub.publish(self._keys[market.symbol].ticker, data, commit_ns)

    def ticker_message(self, market: Market, now: int, commit_ns: int) -> bytes | None:
        """The ticker message, if the ticker changed since it was last published."""
        view = self.ticker_view(market, now)
        if self.tickers.get(market.symbol) == view:
            return None
        self.tickers[market.symbol] = view
        key = self._keys[market.symbol].ticker
        return encode(TickerUpdate(key, market.symbol, us(commit_ns) if commit_ns else None, view))

    def ticker_view(self, market: Market, now: int) -> TickerView:
        best_bid, best_ask = self.depth.market(market.symbol).best()
        ticker = self.live.ticker(market.symbol, now)
        return views.ticker_view(ticker, market, best_bid, best_ask)

    def _candles(
        self, market: Market, interval: str, key: str, trades: list[TradeModel], commit_ns: int
    ) -> bytes:
        size = INTERVALS[interval]
        starts: list[int] = []
        for trade in trades:
            start = trade.ts - trade.ts % size
            if not starts or starts[-1] != start:
                starts.append(start)
        # The live data keeps the current and the previous bucket: enough for any flush
        # (flushes are far less than a minute apart).
        candles = [
            views.candle_view(self.live.candle(market.symbol, interval, start), market)
            for start in starts[-2:]
        ]
        return encode(CandleUpdate(key, market.symbol, interval, us(commit_ns), candles))

    def balance_views(self, balances: dict[str, Balance]) -> list[BalanceView]:
        return [
            views.balance_view(asset, self.markets.decimals(asset), balance)
            for asset, balance in sorted(balances.items())
        ]

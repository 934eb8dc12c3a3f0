"""Binance market streams and user-data events, built from committed events.

`StreamPublisher.apply` is a sequencer subscriber: it runs after each batch is
committed, encodes each message once and hands the bytes to the shared WebSocket hub
(`trade_engine.edge.hub`, which never blocks). Real-time streams (`@trade`, `@aggTrade`,
`@bookTicker`, user data) go out per batch; a timer sends depth diffs every 100 ms
(`@depth@100ms`, and the partial books `@depth<N>@100ms`, changed or not) and every second
(`@depth`, `@depth<N>`, `@ticker`, `@miniTicker`, `@kline_<i>`, those three
`statistics.py`'s).

Depth diffs carry the market sequence numbers: a diff covers `[U, u]`, the events since
the previous diff, and `U` is always the previous `u + 1`. The committed depth view
(REST `lastUpdateId`) uses the same numbers, so a client can line a snapshot up with
the stream (Binance's procedure). A window in which only other events happened (an
order accepted away from the top, say) sends nothing: its range is covered by the next
diff, which then starts earlier.

User-data events (execution reports, balances) are `userdata.py`'s; tickers and
klines come from the live market data, as the REST API's do.
"""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Final

from trade_engine.binance.outlet import StreamOutlet
from trade_engine.binance.statistics import StatisticsStreams
from trade_engine.binance.subscriptions import UserDataSubscriptions
from trade_engine.binance.userdata import UserData
from trade_engine.binance.views import agg_trade, aggregate, levels, top
from trade_engine.binance.wire import pad, symbol_of
from trade_engine.domain.market import Market
from trade_engine.domain.timestamps import NS_PER_SECOND, ms
from trade_engine.domain.vocabulary import BUY, SELL
from trade_engine.edge.hub import Hub
from trade_engine.marketdata.depth import DepthBook
from trade_engine.marketdata.live import LiveMarketData
from trade_engine.readmodel.trades import TradeModel
from trade_engine.readmodel.views import ReadModel, ViewBatch

log = logging.getLogger(__name__)

TICK_SECONDS: Final = 0.1
PARTIAL_DEPTHS: Final = (5, 10, 20)


@dataclass
class _Diff:
    """Book changes of one market since its last diff, with their sequence range."""

    first: int = 0
    last: int = 0
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    changed: bool = False

    def reset(self) -> None:
        self.first = 0
        self.bids.clear()
        self.asks.clear()
        self.changed = False


class StreamPublisher:
    def __init__(
        self,
        read_model: ReadModel,
        depth: DepthBook,
        live: LiveMarketData,
        hub: Hub,
        subscriptions: UserDataSubscriptions,
    ) -> None:
        """`read_model`: the committed markets and balances; `depth` and `live` must be
        readers of it ahead of this one (diffs share the depth view's sequence);
        `subscriptions`: who receives user data besides the WebSocket API's subscribers."""
        self._outlet = StreamOutlet(hub)
        self._settle = read_model.settle  # before each timer's streams (readmodel/views.py)
        self._markets = read_model.markets
        self._depth = depth
        self._statistics = StatisticsStreams(read_model.markets, depth, live, self._outlet)
        self.user_data = UserData(read_model, hub, subscriptions)
        self._by_stream_symbol: dict[str, str] = {}
        # Per period suffix ("" or "@100ms"), per market: its partial books' stream names
        # by depth, made once, not at every tick of the timer.
        self._partial_names: dict[str, dict[str, dict[int, str]]] = {"": {}, "@100ms": {}}
        for market in self._markets.all():
            self._add_market(market)
        self._fast: dict[str, _Diff] = {}
        self._slow: dict[str, _Diff] = {}
        self._tops: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {}
        # Per market: the partial books of its depth view's sequence, made once per change.
        self._partial_books: dict[str, tuple[int, dict[int, dict[str, Any]]]] = {}
        # Per market: the first and last trade time since the last 1-second streams.
        self._traded: dict[str, tuple[int, int]] = {}
        self._quoted: set[str] = set()  # markets whose book changed: their tickers may have
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle --

    def start(self) -> None:
        self._task = asyncio.create_task(self._timer(), name="binance-streams")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- markets --

    def _add_market(self, market: Market) -> None:
        stream = symbol_of(market.symbol).lower()
        self._by_stream_symbol[stream] = market.symbol
        for suffix, names in self._partial_names.items():
            names[market.symbol] = {count: f"{stream}@depth{count}{suffix}" for count in PARTIAL_DEPTHS}

    def market_of_stream(self, stream_symbol: str) -> str | None:
        return self._by_stream_symbol.get(stream_symbol)

    # -- after each commit --

    def on_view(self, view: ViewBatch) -> None:
        """A committed batch's views (a read-model reader)."""
        now = ms(view.commit_ns)
        for market in view.markets_added:
            self._add_market(market)
        for symbol, (first, last) in view.sequences.items():
            self._advance(symbol, first, last)
        for level in view.levels:
            for diffs in (self._fast, self._slow):
                diff = diffs[level.market]
                (diff.bids if level.side == BUY else diff.asks)[level.price] = level.quantity
                diff.changed = True
        if view.trades:
            traded = self._traded
            for trade in view.trades:
                span = traded.get(trade.market)
                if span is None:
                    traded[trade.market] = (trade.ts, trade.ts)
                elif trade.ts > span[1]:
                    traded[trade.market] = (span[0], trade.ts)
                elif trade.ts < span[0]:
                    traded[trade.market] = (trade.ts, span[1])
            self._publish_trades(view.trades, now)
        for symbol in view.sequences:
            self._publish_book_ticker(symbol)
        if view.levels:
            self._quoted.update(level.market for level in view.levels)
        self.user_data.on_view(view)

    def _advance(self, symbol: str, first: int, last: int) -> None:
        for diffs in (self._fast, self._slow):
            diff = diffs.get(symbol)
            if diff is None:
                diff = diffs[symbol] = _Diff()
            if not diff.first:
                diff.first = first
            diff.last = last

    # -- public streams --

    def _publish_trades(self, trades: list[TradeModel], now: int) -> None:
        # Each payload is built only for a stream someone subscribes to (as below).
        for trade in trades:
            market = self._markets.require(trade.market)
            name = f"{symbol_of(market.symbol).lower()}@trade"
            if not self._outlet.wanted(name):
                continue
            self._outlet.publish(
                name,
                {
                    "e": "trade",
                    "E": now,
                    "s": symbol_of(market.symbol),
                    "t": trade.trade_id,
                    "p": pad(market.price_text(trade.price)),
                    "q": pad(market.quantity_text(trade.quantity)),
                    "T": ms(trade.ts),
                    "m": trade.taker_side == SELL,
                    "M": True,
                },
            )
        wanted = [t for t in trades if self._outlet.wanted(f"{symbol_of(t.market).lower()}@aggTrade")]
        for group in aggregate(wanted):
            first = group[0]
            market = self._markets.require(first.market)
            symbol = symbol_of(market.symbol)
            self._outlet.publish(
                f"{symbol.lower()}@aggTrade",
                {"e": "aggTrade", "E": now, "s": symbol, **agg_trade(group, market)},
            )

    def _publish_book_ticker(self, symbol: str) -> None:
        """When the top of the book changed (computed only for a subscribed market)."""
        name = f"{symbol_of(symbol).lower()}@bookTicker"
        market = self._markets.get(symbol)
        if market is None or not self._outlet.wanted(name):
            self._tops.pop(symbol, None)
            return
        view = self._depth.market(symbol)
        best = top(view)
        if self._tops.get(symbol) == best:
            return
        self._tops[symbol] = best
        (bid, bid_qty), (ask, ask_qty) = best
        self._outlet.publish(
            name,
            {
                "u": view.sequence,
                "s": symbol_of(symbol),
                "b": pad(market.price_text(bid)),
                "B": pad(market.quantity_text(bid_qty)),
                "a": pad(market.price_text(ask)),
                "A": pad(market.quantity_text(ask_qty)),
            },
        )

    def _flush_depth(self, diffs: dict[str, _Diff], suffix: str, now: int) -> None:
        for symbol, diff in diffs.items():
            if not diff.changed:
                continue
            market = self._markets.require(symbol)
            stream = symbol_of(symbol).lower()
            # A busy book changes thousands of levels a second: formatted only when
            # someone subscribes (and forgotten at each flush either way).
            if self._outlet.wanted(f"{stream}@depth{suffix}"):
                self._outlet.publish(
                    f"{stream}@depth{suffix}",
                    {
                        "e": "depthUpdate",
                        "E": now,
                        "s": symbol_of(symbol),
                        "U": diff.first,
                        "u": diff.last,
                        "b": levels(market, sorted(diff.bids.items(), reverse=True)),
                        "a": levels(market, sorted(diff.asks.items())),
                    },
                )
            diff.reset()
        self._publish_partial_books(suffix)

    def _publish_partial_books(self, suffix: str) -> None:
        """`@depth<N>` and `@depth<N>@100ms`: the top levels, pushed every period whether
        or not the book changed, as Binance's partial book streams are (a client waits for
        its first one; a quiet book once sent none). Each subscribed one only; a market's
        books are made once per change of its depth, whatever the periods in between."""
        for symbol, names in self._partial_names[suffix].items():
            wanted = [count for count, name in names.items() if self._outlet.wanted(name)]
            if wanted:
                books = self._partial_books_of(symbol)
                for count in wanted:
                    self._outlet.publish(names[count], books[count])

    def _partial_books_of(self, symbol: str) -> dict[int, dict[str, Any]]:
        view = self._depth.market(symbol)
        made = self._partial_books.get(symbol)
        if made is not None and made[0] == view.sequence:
            return made[1]
        market = self._markets.require(symbol)
        bids, asks = view.levels(max(PARTIAL_DEPTHS))
        books = {
            count: {
                "lastUpdateId": view.sequence,
                "bids": levels(market, bids[:count]),
                "asks": levels(market, asks[:count]),
            }
            for count in PARTIAL_DEPTHS
        }
        self._partial_books[symbol] = (view.sequence, books)
        return books

    async def _timer(self) -> None:
        # The 1-second streams run on the first tick of each second of the clock, not
        # every tenth tick (which drifts): a second's trades then span at most two
        # `1s` klines, both still in the live market data.
        second = time.time_ns() // NS_PER_SECOND
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self._settle()
                now_ns = time.time_ns()
                self._flush_depth(self._fast, "@100ms", ms(now_ns))
                if now_ns // NS_PER_SECOND > second:
                    second = now_ns // NS_PER_SECOND
                    self.every_second(now_ns)
            except Exception:
                log.exception("binance stream timer failed")

    def every_second(self, now_ns: int) -> None:
        """The 1-second streams: full depth diffs, tickers and klines of the markets that
        traded since the last call."""
        self._flush_depth(self._slow, "", ms(now_ns))
        traded, self._traded = self._traded, {}
        quoted, self._quoted = self._quoted, set()
        self._statistics.publish(traded, quoted, now_ns)

"""Binance market streams and user-data events, built from committed events.

`StreamPublisher.apply` is a sequencer subscriber: it runs after each batch is
committed, encodes each message once and hands the bytes to the shared WebSocket hub
(`trade_engine.ws.hub`, which never blocks). Real-time streams (`@trade`, `@aggTrade`,
`@bookTicker`, user data) go out per batch; a timer sends depth diffs every 100 ms
(`@depth@100ms`, partial books) and every second (`@depth`, `@ticker`, `@miniTicker`,
`@kline_<i>`).

Depth diffs carry the market sequence numbers: a diff covers `[U, u]`, the events since
the previous diff, and `U` is always the previous `u + 1`. The committed depth view
(REST `lastUpdateId`) uses the same numbers, so a client can line a snapshot up with
the stream (Binance's procedure). A window in which only other events happened (an
order accepted away from the top, say) sends nothing: its range is covered by the next
diff, which then starts earlier.

Balances come from the sequencer's committed view, not from the engine: while this
runs the engine may already hold the next batch, which is not durable yet.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.binance.ticker import day_ticker, kline_row
from trade_engine.binance.views import ZERO, binance_tif, binance_type, levels, ms, pad, symbol_of, top
from trade_engine.domain.market import Market, asset_text
from trade_engine.domain.vocabulary import BUY, CONDITIONAL_TYPES, SELL
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
from trade_engine.engine.order import Order
from trade_engine.marketdata.candles import INTERVALS
from trade_engine.marketdata.depth import DepthBook
from trade_engine.storage import market_reads
from trade_engine.ws.hub import Hub

log = logging.getLogger(__name__)

TICK_SECONDS: Final = 0.1
SLOW_EVERY: Final = 10  # ticks: the 1-second streams
PARTIAL_DEPTHS: Final = (5, 10, 20)
_encode = msgspec.json.Encoder().encode


# Hub keys of this gateway (the native protocol uses plain channel names).
RAW: Final = "binance"
COMBINED: Final = "binance-combined"
USER: Final = "binance-user"


def stream_key(stream: str, combined: bool = False) -> tuple[str, str]:
    return (COMBINED if combined else RAW, stream)


def user_key(user_id: str) -> tuple[str, str]:
    return (USER, user_id)


def user_event(data: bytes) -> bytes:
    """A WebSocket API event frame. A connection has one user-data subscription, so its
    id is always 0 and every subscriber of a user gets the same bytes."""
    return b'{"subscriptionId":0,"event":' + data + b"}"


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


@dataclass
class _OrderState:
    """What an execution report needs to know about an open order."""

    market: str
    user_id: str
    side: str
    order_type: str
    time_in_force: str
    price: int
    stop_price: int
    quantity: int
    quote_quantity: int
    client_order_id: str
    stp_mode: str
    post_only: bool
    created_ts: int
    executed: int = 0
    filled_quote: int = 0
    pending: bool = False


class StreamPublisher:
    def __init__(
        self,
        engine: Engine,
        balance_of: Callable[[str, str], Balance],
        depth: DepthBook,
        database: AsyncEngine,
        hub: Hub,
    ) -> None:
        """`engine` gives the state at start (committed, before the first command);
        `balance_of(user, asset)` the committed balance at any later time."""
        self.hub = hub
        self._balance_of = balance_of
        self._depth = depth
        self._database = database
        self._markets: dict[str, Market] = {}
        self._by_stream_symbol: dict[str, str] = {}
        for market in engine.markets():
            self._add_market(market)
        self._fast: dict[str, _Diff] = {}
        self._slow: dict[str, _Diff] = {}
        self._tops: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {}
        self._traded: set[str] = set()
        self._orders: dict[int, _OrderState] = {o.id: self._state_of(o) for o in engine.all_open_orders()}
        self._exec_ids = 0
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
        self._markets[market.symbol] = market
        self._by_stream_symbol[symbol_of(market.symbol).lower()] = market.symbol

    def market_of_stream(self, stream_symbol: str) -> str | None:
        return self._by_stream_symbol.get(stream_symbol)

    def _publish(self, stream: str, payload: Any) -> None:
        raw = self.hub.has_subscribers(stream_key(stream))
        combined = self.hub.has_subscribers(stream_key(stream, True))
        if not (raw or combined):
            return
        data = _encode(payload)
        if raw:
            self.hub.publish(stream_key(stream), data)
        if combined:
            wrapped = b'{"stream":' + _encode(stream) + b',"data":' + data + b"}"
            self.hub.publish(stream_key(stream, True), wrapped)

    def _wanted(self, stream: str) -> bool:
        return self.hub.has_subscribers(stream_key(stream)) or self.hub.has_subscribers(
            stream_key(stream, True)
        )

    def _has_user(self, user_id: str) -> bool:
        return self.hub.has_subscribers(user_key(user_id))

    def _publish_user(self, user_id: str, payload: Any) -> None:
        self.hub.publish(user_key(user_id), user_event(_encode(payload)))

    # -- after each commit --

    def apply(self, events: Sequence[Event]) -> None:
        now = ms(time.time_ns())
        touched_markets: set[str] = set()
        touched_users: dict[str, set[str]] = {}
        last_trade: dict[int, int] = {}
        filled: set[int] = set()
        for index, event in enumerate(events):
            if isinstance(event, TradeExecuted):
                last_trade[event.maker_order_id] = index
                last_trade[event.taker_order_id] = index
            elif isinstance(event, OrderFilled):
                filled.add(event.order_id)
        trades: list[TradeExecuted] = []
        for index, event in enumerate(events):
            seq = getattr(event, "seq", None)
            symbol = getattr(event, "market", None)
            if isinstance(event, MarketAdded):
                self._add_market(event.market)
                symbol = event.market.symbol
            if isinstance(seq, int) and isinstance(symbol, str):
                self._advance(symbol, seq)
                touched_markets.add(symbol)
            if isinstance(event, BookLevelChanged):
                for diffs in (self._fast, self._slow):
                    diff = diffs[event.market]
                    (diff.bids if event.side == BUY else diff.asks)[event.price] = event.quantity
                    diff.changed = True
            elif isinstance(event, TradeExecuted):
                trades.append(event)
                self._traded.add(event.market)
                self._on_trade(event, index, last_trade, filled, now, touched_users)
            elif isinstance(event, OrderAccepted):
                self._on_accepted(event, now, touched_users)
            elif isinstance(event, OrderCancelled | OrderExpired):
                self._on_finished(event, now, touched_users)
            elif isinstance(event, OrderFilled):
                self._orders.pop(event.order_id, None)
                self._touch(touched_users, event.user_id, event.market)
            elif isinstance(event, StopTriggered):
                state = self._orders.get(event.order_id)
                if state is not None:
                    state.pending = False
                self._touch(touched_users, event.user_id, event.market)
            elif isinstance(event, OrderAmended):
                self._on_amended(event, now, touched_users)
            elif isinstance(event, FundsDeposited | FundsWithdrawn):
                self._on_transfer(event, now, touched_users)
        if trades:
            self._publish_trades(trades, now)
        for symbol in touched_markets:
            self._publish_book_ticker(symbol)
        for user_id, assets in touched_users.items():
            self._publish_balances(user_id, assets, now, events[-1].ts)

    def _advance(self, symbol: str, seq: int) -> None:
        for diffs in (self._fast, self._slow):
            diff = diffs.get(symbol)
            if diff is None:
                diff = diffs[symbol] = _Diff()
            if not diff.first:
                diff.first = seq
            diff.last = seq

    # -- public streams --

    def _publish_trades(self, trades: list[TradeExecuted], now: int) -> None:
        groups: list[list[TradeExecuted]] = []
        for trade in trades:
            market = self._markets[trade.market]
            stream = symbol_of(market.symbol).lower()
            self._publish(
                f"{stream}@trade",
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
            last = groups[-1][-1] if groups else None
            if (
                last is not None
                and last.market == trade.market
                and last.taker_order_id == trade.taker_order_id
                and last.price == trade.price
                and last.trade_id + 1 == trade.trade_id
            ):
                groups[-1].append(trade)
            else:
                groups.append([trade])
        for group in groups:
            first = group[0]
            market = self._markets[first.market]
            self._publish(
                f"{symbol_of(market.symbol).lower()}@aggTrade",
                {
                    "e": "aggTrade",
                    "E": now,
                    "s": symbol_of(market.symbol),
                    "a": first.trade_id,
                    "p": pad(market.price_text(first.price)),
                    "q": pad(market.quantity_text(sum(t.quantity for t in group))),
                    "f": first.trade_id,
                    "l": group[-1].trade_id,
                    "T": ms(first.ts),
                    "m": first.taker_side == SELL,
                    "M": True,
                },
            )

    def _publish_book_ticker(self, symbol: str) -> None:
        """When the top of the book changed (computed only for a subscribed market)."""
        name = f"{symbol_of(symbol).lower()}@bookTicker"
        market = self._markets.get(symbol)
        if market is None or not self._wanted(name):
            self._tops.pop(symbol, None)
            return
        view = self._depth.market(symbol)
        best = top(view)
        if self._tops.get(symbol) == best:
            return
        self._tops[symbol] = best
        (bid, bid_qty), (ask, ask_qty) = best
        self._publish(
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
            market = self._markets[symbol]
            stream = symbol_of(symbol).lower()
            self._publish(
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
            for count in PARTIAL_DEPTHS:
                name = f"{stream}@depth{count}{suffix}"
                if self._wanted(name):
                    view = self._depth.market(symbol)
                    bids, asks = view.levels(count)
                    self._publish(
                        name,
                        {
                            "lastUpdateId": view.sequence,
                            "bids": levels(market, bids),
                            "asks": levels(market, asks),
                        },
                    )
            diff.reset()

    async def _timer(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(TICK_SECONDS)
            ticks += 1
            try:
                now = ms(time.time_ns())
                self._flush_depth(self._fast, "@100ms", now)
                if ticks % SLOW_EVERY == 0:
                    self._flush_depth(self._slow, "", now)
                    traded, self._traded = self._traded, set()
                    for symbol in traded:
                        await self._publish_statistics(symbol)
            except Exception:
                log.exception("binance stream timer failed")

    async def _publish_statistics(self, symbol: str) -> None:
        market = self._markets[symbol]
        stream = symbol_of(symbol).lower()
        now_ns = time.time_ns()
        now = ms(now_ns)
        if self._wanted(f"{stream}@ticker") or self._wanted(f"{stream}@miniTicker"):
            t = await day_ticker(self._database, market, self._depth.market(symbol), now_ns)
            common = {
                "c": t["lastPrice"],
                "o": t["openPrice"],
                "h": t["highPrice"],
                "l": t["lowPrice"],
                "v": t["volume"],
                "q": t["quoteVolume"],
            }
            self._publish(
                f"{stream}@miniTicker", {"e": "24hrMiniTicker", "E": now, "s": t["symbol"], **common}
            )
            self._publish(
                f"{stream}@ticker",
                {
                    "e": "24hrTicker",
                    "E": now,
                    "s": t["symbol"],
                    "p": t["priceChange"],
                    "P": t["priceChangePercent"],
                    "w": t["weightedAvgPrice"],
                    "x": t["prevClosePrice"],
                    "Q": t["lastQty"],
                    "b": t["bidPrice"],
                    "B": t["bidQty"],
                    "a": t["askPrice"],
                    "A": t["askQty"],
                    "O": t["openTime"],
                    "C": t["closeTime"],
                    "F": t["firstId"],
                    "L": t["lastId"],
                    "n": t["count"],
                    **common,
                },
            )
        for interval, size in INTERVALS.items():
            name = f"{stream}@kline_{interval}"
            if not self._wanted(name):
                continue
            bucket = now_ns - now_ns % size
            rows, _ = await market_reads.klines(self._database, symbol, size, bucket, bucket + size)
            if not rows:
                continue
            row = rows[-1]
            k = kline_row(market, bucket, size, row)
            self._publish(
                name,
                {
                    "e": "kline",
                    "E": now,
                    "s": symbol_of(symbol),
                    "k": {
                        "t": k[0],
                        "T": k[6],
                        "s": symbol_of(symbol),
                        "i": interval,
                        "f": row[10],
                        "L": row[11],
                        "o": k[1],
                        "c": k[4],
                        "h": k[2],
                        "l": k[3],
                        "v": k[5],
                        "n": k[8],
                        "x": False,
                        "q": k[7],
                        "V": k[9],
                        "Q": k[10],
                        "B": "0",
                    },
                },
            )

    # -- user data --

    @staticmethod
    def _state_of(order: Order) -> _OrderState:
        return _OrderState(
            market=order.market,
            user_id=order.user_id,
            side=order.side,
            order_type=order.order_type,
            time_in_force=order.time_in_force,
            price=order.price,
            stop_price=order.stop_price,
            quantity=order.quantity,
            quote_quantity=order.quote_quantity,
            client_order_id=order.client_order_id or "",
            stp_mode=order.stp_mode,
            post_only=order.post_only,
            created_ts=order.created_ts,
            executed=order.executed,
            filled_quote=order.filled_quote,
            pending=order.pending,
        )

    def _touch(self, touched: dict[str, set[str]], user_id: str, symbol: str) -> None:
        market = self._markets.get(symbol)
        if market is not None and self._has_user(user_id):
            touched.setdefault(user_id, set()).update((market.base, market.quote))

    def _report(
        self,
        state: _OrderState,
        order_id: int,
        execution: str,
        status: str,
        ts: int,
        now: int,
        *,
        trade: TradeExecuted | None = None,
        maker: bool = False,
    ) -> None:
        if not self._has_user(state.user_id):
            return
        market = self._markets[state.market]
        self._exec_ids += 1
        fee = 0
        if trade is not None:
            fee = trade.maker_fee if maker else trade.taker_fee
        quantity = state.quantity or (state.executed if status not in ("NEW", "PARTIALLY_FILLED") else 0)
        report = {
            "e": "executionReport",
            "E": now,
            "s": symbol_of(market.symbol),
            "c": state.client_order_id,
            "S": state.side,
            "o": binance_type(state.order_type, state.post_only),
            "f": binance_tif(state.order_type, state.time_in_force),
            "q": pad(market.quantity_text(quantity)),
            "p": pad(market.price_text(state.price)) if state.price else ZERO,
            "P": pad(market.price_text(state.stop_price)) if state.stop_price else ZERO,
            "F": ZERO,
            "g": -1,
            "C": state.client_order_id if execution == "CANCELED" else "",
            "x": execution,
            "X": status,
            "r": "NONE",
            "i": order_id,
            "l": pad(market.quantity_text(trade.quantity)) if trade else ZERO,
            "z": pad(market.quantity_text(state.executed)),
            "L": pad(market.price_text(trade.price)) if trade else ZERO,
            "n": pad(market.quote_text(fee)) if trade else "0",
            "N": market.quote if trade else None,
            "T": ms(ts),
            "t": trade.trade_id if trade else -1,
            "I": self._exec_ids,
            "w": status in ("NEW", "PARTIALLY_FILLED") and not state.pending,
            "m": maker,
            "M": False,
            "O": ms(state.created_ts),
            "Z": pad(market.quote_text(state.filled_quote)),
            "Y": pad(market.quote_text(trade.quote_amount)) if trade else ZERO,
            "Q": pad(market.quote_text(state.quote_quantity)),
            "W": -1 if state.pending else ms(state.created_ts),
            "V": state.stp_mode,
        }
        self._publish_user(state.user_id, report)

    def _on_accepted(self, event: OrderAccepted, now: int, touched: dict[str, set[str]]) -> None:
        state = _OrderState(
            market=event.market,
            user_id=event.user_id,
            side=event.side,
            order_type=event.order_type,
            time_in_force=event.time_in_force,
            price=event.price,
            stop_price=event.stop_price,
            quantity=event.quantity,
            quote_quantity=event.quote_quantity,
            client_order_id=event.client_order_id or "",
            stp_mode=event.stp_mode,
            post_only=event.post_only,
            created_ts=event.ts,
            pending=event.order_type in CONDITIONAL_TYPES,
        )
        self._orders[event.order_id] = state
        self._report(state, event.order_id, "NEW", "NEW", event.ts, now)
        self._touch(touched, event.user_id, event.market)

    def _on_trade(
        self,
        event: TradeExecuted,
        index: int,
        last_trade: dict[int, int],
        filled: set[int],
        now: int,
        touched: dict[str, set[str]],
    ) -> None:
        for order_id, maker in ((event.maker_order_id, True), (event.taker_order_id, False)):
            state = self._orders.get(order_id)
            if state is None:
                continue
            state.executed += event.quantity
            state.filled_quote += event.quote_amount
            done = order_id in filled and last_trade.get(order_id) == index
            status = "FILLED" if done else "PARTIALLY_FILLED"
            self._report(state, order_id, "TRADE", status, event.ts, now, trade=event, maker=maker)
        self._touch(touched, event.maker_user_id, event.market)
        self._touch(touched, event.taker_user_id, event.market)

    def _on_finished(
        self, event: OrderCancelled | OrderExpired, now: int, touched: dict[str, set[str]]
    ) -> None:
        state = self._orders.pop(event.order_id, None)
        if state is not None:
            state.executed, state.filled_quote = event.executed, event.filled_quote
            if isinstance(event, OrderCancelled):
                execution = status = "CANCELED"
            elif event.reason == "SELF_TRADE_PREVENTION":
                execution, status = "TRADE_PREVENTION", "EXPIRED_IN_MATCH"
            else:
                execution = status = "EXPIRED"
            self._report(state, event.order_id, execution, status, event.ts, now)
        self._touch(touched, event.user_id, event.market)

    def _on_amended(self, event: OrderAmended, now: int, touched: dict[str, set[str]]) -> None:
        state = self._orders.get(event.order_id)
        if state is not None:
            state.price, state.quantity = event.price, event.quantity
            status = "PARTIALLY_FILLED" if state.executed else "NEW"
            self._report(state, event.order_id, "REPLACED", status, event.ts, now)
        self._touch(touched, event.user_id, event.market)

    def _decimals(self, asset: str) -> int:
        for market in self._markets.values():
            if market.base == asset:
                return market.base_decimals
            if market.quote == asset:
                return market.quote_decimals
        return 8

    def _on_transfer(
        self, event: FundsDeposited | FundsWithdrawn, now: int, touched: dict[str, set[str]]
    ) -> None:
        if not self._has_user(event.user_id):
            return
        amount = asset_text(event.amount, self._decimals(event.asset))
        delta = amount if isinstance(event, FundsDeposited) else f"-{amount}"
        self._publish_user(
            event.user_id, {"e": "balanceUpdate", "E": now, "a": event.asset, "d": delta, "T": ms(event.ts)}
        )
        touched.setdefault(event.user_id, set()).add(event.asset)

    def _publish_balances(self, user_id: str, assets: set[str], now: int, ts: int) -> None:
        balances = []
        for asset in sorted(assets):
            balance = self._balance_of(user_id, asset)
            decimals = self._decimals(asset)
            balances.append(
                {
                    "a": asset,
                    "f": pad(asset_text(balance.available, decimals)),
                    "l": pad(asset_text(balance.locked, decimals)),
                }
            )
        self._publish_user(user_id, {"e": "outboundAccountPosition", "E": now, "u": ms(ts), "B": balances})

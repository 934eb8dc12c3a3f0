"""One committed batch as the views every API renders: built once, handed to each reader.

`ReadModel.on_commit` takes the sequencer's `CommittedBatch`, runs it through the read
models (markets, open orders, balances) and hands the resulting `ViewBatch` to every
reader in the order they subscribed (depth and market data first, then the streams of
each API). Nobody downstream re-derives a status, a fill or a balance.

The read model itself is current when a command is answered (a client reads its own
order at once). The readers need not be: the composition root defers them with the event
loop's `call_soon`, so they run right after the requests the batch answered have resumed
and written their answers, not before. They are at most one batch behind the read model:
the next batch is built only after they have read this one. A request that comes after
an answer of the batch was written is read in a later turn of the loop, after them.
Whatever may run before that turn and reads what the readers keep first `settle`s them:
the publishers of what they noted (the WebSocket flushes, the Binance streams' timer), so
that what they send carries every batch committed before it, a WebSocket subscription,
and a cluster gateway catching up before a request (edge/gateway.py). Measured side by side
(`benchmarks/http.py`, 8 connections, medians of 4): the order p50 went from 1.49 to
1.44 ms on PostgreSQL and from 2.49 to 2.37 ms on SQLite; the WebSocket figures stayed
as they were. Without the settling, a flush due in the turn a batch was answered missed
it, and `make bench-ws`'s delivery p99 rose from 50 to 56 ms.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from trade_engine.core.messages import BalanceState, CommittedBatch, CoreState
from trade_engine.domain.market import Market
from trade_engine.engine import (
    TRANSFERS,
    BookLevelChanged,
    FundsDeposited,
    FundsWithdrawn,
    MarketAdded,
    MarketStatusChanged,
    TradeExecuted,
)
from trade_engine.readmodel.balances import Balances
from trade_engine.readmodel.closed import ClosedOrders
from trade_engine.readmodel.markets import Markets
from trade_engine.readmodel.orders import FillModel, OpenOrders, OrderUpdate
from trade_engine.readmodel.trades import TradeModel, trade_of_event

log = logging.getLogger(__name__)


@dataclass
class ViewBatch:
    """What one committed batch changed, as views (engine integers, not yet text)."""

    seq: int
    commit_ns: int
    ts: int  # the time of the batch's last command
    orders: list[OrderUpdate] = field(default_factory=list)
    fills: list[FillModel] = field(default_factory=list)
    trades: list[TradeModel] = field(default_factory=list)
    levels: list[BookLevelChanged] = field(default_factory=list)
    transfers: list[FundsDeposited | FundsWithdrawn] = field(default_factory=list)
    balances: list[BalanceState] = field(default_factory=list)
    markets_added: list[Market] = field(default_factory=list)
    statuses: list[MarketStatusChanged] = field(default_factory=list)
    # Per market touched: the sequence numbers of its first and last event in the batch.
    sequences: dict[str, tuple[int, int]] = field(default_factory=dict)


Reader = Callable[[ViewBatch], None]
# When the readers are given the views built since they last were: `defer(settle)` calls
# `settle()`, at once or later (the event loop's `call_soon` has this shape).
Defer = Callable[[Callable[[], None]], object]


def at_once(settle: Callable[[], None]) -> None:
    settle()


class ReadModel:
    """The committed state readers need (markets, open orders, balances), kept from
    committed batches, and the readers each batch's views go to (`defer`: when; module
    docstring)."""

    def __init__(self, defer: Defer = at_once) -> None:
        self._defer = defer
        self._unread: ViewBatch | None = None  # built, not yet handed to the readers
        self.markets = Markets()
        self.orders = OpenOrders()
        self.closed = ClosedOrders()  # orders that closed lately: their final status
        self.balances = Balances()
        self.seq = 0  # the global sequence number of the last committed batch applied
        self._readers: list[Reader] = []

    def start_from(self, state: CoreState) -> None:
        """The committed state the core port hands a new reader; batches after it follow."""
        self.markets = Markets(market.market for market in state.markets)
        self.orders = OpenOrders(state.orders)  # adopted: the state is this reader's own
        self.balances = Balances(state.balances_by_user())
        self.seq = state.seq

    def subscribe(self, reader: Reader) -> None:
        """Receive every committed batch's views, in order, after the commit."""
        self._readers.append(reader)

    def build(self, batch: CommittedBatch) -> ViewBatch:
        events = batch.events
        self.seq = batch.seq
        self.markets.apply(events)
        self.balances.apply(batch.balances)
        view = ViewBatch(
            seq=batch.seq, commit_ns=batch.commit_ns, ts=events[-1].ts, balances=list(batch.balances)
        )
        view.orders, view.fills = self.orders.apply(events)
        self.closed.record(update.order for update in view.orders)
        sequences = view.sequences
        for event in events:
            if isinstance(event, BookLevelChanged):
                view.levels.append(event)
            elif isinstance(event, TradeExecuted):
                view.trades.append(trade_of_event(event))
            elif isinstance(event, TRANSFERS):
                view.transfers.append(event)
                continue
            elif isinstance(event, MarketAdded):
                view.markets_added.append(event.market)
                sequences[event.market.symbol] = (event.seq, event.seq)
                continue
            elif isinstance(event, MarketStatusChanged):
                view.statuses.append(event)
            market: str | None = getattr(event, "market", None)
            seq: int | None = getattr(event, "seq", None)
            if isinstance(market, str) and seq is not None:
                first = sequences.get(market)
                sequences[market] = (first[0] if first is not None else seq, seq)
        return view

    def on_commit(self, batch: CommittedBatch) -> None:
        """A committed batch (the sequencer's subscriber): build the views, hand them on."""
        # The readers first get any batch still unread, so they are never more than this
        # one behind the read model, and each reads the read model as of its own batch.
        self.settle()
        self._unread = self.build(batch)
        self._defer(self.settle)

    def settle(self) -> None:
        """Hand the views of the batch built last to the readers, if they have not had
        them (a publisher of what the readers noted calls it first; module docstring)."""
        view, self._unread = self._unread, None
        if view is None:
            return
        for reader in self._readers:
            try:
                reader(view)
            except Exception:
                log.exception("read model reader failed", extra={"seq": view.seq})

"""From a batch of events to the rows that record it: what one group commit writes.

The projection is called by the sequencer right after it applied a batch of commands,
before it applies another: the engine then holds exactly the state the batch leaves
behind, so every row written is an absolute value (current balances, current order
state), never a delta. Writing the same batch twice therefore gives the same database,
and retrying a transaction after an error that left its outcome unknown is safe. Appended records
(trades, ledger entries, transfers) have natural unique keys and are inserted with
"on conflict do nothing" (PostgreSQL's writer first tries trades and ledger entries
without it, and falls back to it when they are there already: postgres_writer.py).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

import msgspec

from trade_engine.domain.lifecycle import OrderChange, status_after
from trade_engine.domain.order_meta import meta_text
from trade_engine.domain.vocabulary import FEE_SCALE, SELL
from trade_engine.engine import (
    ENDED,
    ENDINGS,
    TRANSFERS,
    BookLevelChanged,
    Engine,
    Event,
    FundsDeposited,
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
from trade_engine.engine.ledger import movements

TRANSFER_SOURCE: Final = "$transfer"
TRANSFER_SCOPE: Final = "transfer"

# Column orders of the tuples below; the writers' SQL uses the same orders.
ORDER_COLUMNS: Final = (
    "id",
    "created_ts",
    "updated_ts",
    "user_id",
    "market",
    "side",
    "order_type",
    "time_in_force",
    "price",
    "stop_price",
    "quantity",
    "quote_quantity",
    "remaining",
    "executed",
    "filled_quote",
    "fee_paid",
    "fee_residue",
    "client_order_id",
    "stp_mode",
    "post_only",
    "pending",
    "status",
    "reason",
    "priority",
    "meta",
)
# Columns an update may change; None in price/quantity/priority/pending/fee_residue
# means "unchanged".
ORDER_UPDATE_COLUMNS: Final = (
    "updated_ts",
    "price",
    "quantity",
    "remaining",
    "executed",
    "filled_quote",
    "fee_paid",
    "fee_residue",
    "pending",
    "status",
    "reason",
    "priority",
    "id",
)
TRADE_COLUMNS: Final = (
    "id",
    "ts",
    "market",
    "seq",
    "price",
    "quantity",
    "base_amount",
    "quote_amount",
    "taker_side",
    "maker_order_id",
    "taker_order_id",
    "buyer_user_id",
    "seller_user_id",
    "maker_fee",
    "taker_fee",
)
LEDGER_COLUMNS: Final = (
    "ts",
    "source",
    "source_seq",
    "leg",
    "user_id",
    "asset",
    "available_delta",
    "locked_delta",
    "kind",
    "ref_id",
)
BALANCE_COLUMNS: Final = ("user_id", "asset", "available", "locked", "updated_ts")
MARKET_COLUMNS: Final = ("symbol", "definition", "status", "seq", "last_price", "created_ts", "updated_ts")
MARKET_UPDATE_COLUMNS: Final = ("status", "seq", "last_price", "updated_ts", "symbol")
TRANSFER_COLUMNS: Final = ("id", "ts", "user_id", "asset", "kind", "amount")
IDEMPOTENCY_COLUMNS: Final = ("scope", "key", "user_id", "ref_id", "created_ts")
USER_COLUMNS: Final = ("id", "created_ts")
STATE_COLUMNS: Final = ("id", "last_seq", "updated_ts")
STATE_ROW_ID: Final = 1

Row = tuple[object, ...]


@dataclass
class BatchRows:
    """Everything one batch writes, table by table, as tuples in the column orders above."""

    users: list[Row] = field(default_factory=list)
    new_markets: list[Row] = field(default_factory=list)
    market_updates: list[Row] = field(default_factory=list)
    new_orders: list[Row] = field(default_factory=list)
    order_updates: list[Row] = field(default_factory=list)
    trades: list[Row] = field(default_factory=list)
    ledger: list[Row] = field(default_factory=list)
    balances: list[Row] = field(default_factory=list)
    transfers: list[Row] = field(default_factory=list)
    idempotency: list[Row] = field(default_factory=list)
    # The sequencer's position after the batch (one row): see storage/schema.py.
    state: list[Row] = field(default_factory=list)

    def row_count(self) -> int:
        return sum(len(rows) for rows in vars(self).values())


@dataclass
class _OrderChange:
    """What the batch did to one order."""

    user_id: str
    accepted: OrderAccepted | None = None
    terminal: OrderFilled | OrderCancelled | OrderExpired | None = None
    price: int | None = None
    quantity: int | None = None
    priority: int | None = None
    pending: bool | None = None
    updated_ts: int = 0


def _terminal_status(event: OrderFilled | OrderCancelled | OrderExpired) -> tuple[str, str | None]:
    reason = None if isinstance(event, OrderFilled) else event.reason
    return status_after(ENDINGS[type(event)], event.executed, reason), reason


def _split_fee(fee_numer: int) -> tuple[int, int]:
    """(fee_paid, fee_residue) with fee_numer = fee_paid * FEE_SCALE - fee_residue."""
    paid = -(-fee_numer // FEE_SCALE)
    return paid, paid * FEE_SCALE - fee_numer


class Projection:
    """Turns batches of events into rows; remembers which users already have a row."""

    def __init__(self, known_users: Iterable[str] = ()) -> None:
        self._known_users = set(known_users)
        self._assets: dict[str, tuple[str, str]] = {}

    def assets_of(self, symbol: str) -> tuple[str, str]:
        assets = self._assets.get(symbol)
        if assets is None:
            base, quote = symbol.split("-")
            assets = self._assets[symbol] = (base, quote)
        return assets

    def project(self, events: Iterable[Event], engine: Engine, created_ts: int, last_seq: int) -> BatchRows:
        """The rows of a batch whose last command has the global sequence `last_seq`."""
        rows = BatchRows(state=[(STATE_ROW_ID, last_seq, created_ts)])
        changes: dict[int, _OrderChange] = {}
        touched_markets: dict[str, int] = {}
        new_markets: dict[str, MarketAdded] = {}
        touched_balances: dict[tuple[str, str], int] = {}
        new_users: dict[str, None] = {}

        for event in events:
            ts = event.ts
            # The commonest first: each change of a book level, then the order events.
            if isinstance(event, BookLevelChanged):
                touched_markets[event.market] = ts
                continue
            if isinstance(event, TradeExecuted):
                buyer, seller = event.taker_user_id, event.maker_user_id
                if event.taker_side == SELL:
                    buyer, seller = seller, buyer
                rows.trades.append(
                    (
                        event.trade_id,
                        ts,
                        event.market,
                        event.seq,
                        event.price,
                        event.quantity,
                        event.base_amount,
                        event.quote_amount,
                        event.taker_side,
                        event.maker_order_id,
                        event.taker_order_id,
                        buyer,
                        seller,
                        event.maker_fee,
                        event.taker_fee,
                    )
                )
                for order_id, user_id in (
                    (event.maker_order_id, event.maker_user_id),
                    (event.taker_order_id, event.taker_user_id),
                ):
                    change = changes.get(order_id)
                    if change is None:
                        change = changes[order_id] = _OrderChange(user_id)
                    change.updated_ts = ts
                ref = event.trade_id
            elif isinstance(event, OrderAccepted):
                change = changes[event.order_id] = _OrderChange(event.user_id, accepted=event)
                change.priority, change.updated_ts = event.seq, ts
                new_users[event.user_id] = None
                ref = event.order_id
            elif isinstance(event, ENDED):
                change = changes.setdefault(event.order_id, _OrderChange(event.user_id))
                change.terminal, change.updated_ts = event, ts
                ref = event.order_id
            elif isinstance(event, OrderAmended):
                change = changes.setdefault(event.order_id, _OrderChange(event.user_id))
                change.price, change.quantity, change.updated_ts = event.price, event.quantity, ts
                if not event.priority_kept:
                    change.priority = event.seq
                ref = event.order_id
            elif isinstance(event, StopTriggered):
                change = changes.setdefault(event.order_id, _OrderChange(event.user_id))
                change.pending, change.priority, change.updated_ts = False, event.seq, ts
                ref = event.order_id
            elif isinstance(event, TRANSFERS):
                kind = "DEPOSIT" if isinstance(event, FundsDeposited) else "WITHDRAWAL"
                rows.transfers.append((event.transfer_id, ts, event.user_id, event.asset, kind, event.amount))
                if event.reference is not None:
                    rows.idempotency.append(
                        (TRANSFER_SCOPE, event.reference, event.user_id, event.transfer_id, ts)
                    )
                new_users[event.user_id] = None
                self._ledger(
                    rows, event, TRANSFER_SOURCE, event.transfer_id, event.transfer_id, touched_balances
                )
                continue
            elif isinstance(event, MarketAdded):
                new_markets[event.market.symbol] = event
                touched_markets[event.market.symbol] = ts
                continue
            elif isinstance(event, MarketStatusChanged):
                touched_markets[event.market] = ts
                continue
            else:
                continue
            touched_markets[event.market] = ts
            self._ledger(rows, event, event.market, event.seq, ref, touched_balances)

        for user_id, _asset in touched_balances:
            new_users[user_id] = None
        for user_id in new_users:
            if user_id not in self._known_users:
                self._known_users.add(user_id)
                rows.users.append((user_id, created_ts))
        for (user_id, asset), ts in touched_balances.items():
            balance = engine.balance(user_id, asset)
            rows.balances.append((user_id, asset, balance.available, balance.locked, ts))
        for symbol, ts in touched_markets.items():
            market = engine.market(symbol)
            assert market is not None
            seq, last_price = engine.sequence(symbol), engine.last_price(symbol)
            added = new_markets.get(symbol)
            if added is not None:
                definition = msgspec.json.encode(added.market).decode()
                rows.new_markets.append((symbol, definition, market.status, seq, last_price, ts, ts))
            else:
                rows.market_updates.append((market.status, seq, last_price, ts, symbol))
        for order_id, change in changes.items():
            self._order_rows(rows, engine, order_id, change)
        return rows

    def _ledger(
        self,
        rows: BatchRows,
        event: Event,
        source: str,
        source_seq: int,
        ref: int,
        touched: dict[tuple[str, str], int],
    ) -> None:
        for leg, movement in enumerate(movements(event, self.assets_of)):
            rows.ledger.append(
                (
                    event.ts,
                    source,
                    source_seq,
                    leg,
                    movement.user_id,
                    movement.asset,
                    movement.available,
                    movement.locked,
                    movement.kind,
                    ref,
                )
            )
            touched[(movement.user_id, movement.asset)] = event.ts

    def _order_rows(self, rows: BatchRows, engine: Engine, order_id: int, change: _OrderChange) -> None:
        terminal = change.terminal
        if terminal is not None:
            status, reason = _terminal_status(terminal)
            remaining = terminal.remaining if not isinstance(terminal, OrderFilled) else 0
            executed, filled_quote, fee_paid = terminal.executed, terminal.filled_quote, terminal.fee
            residue: int | None = 0
            price, quantity, pending = change.price, change.quantity, change.pending
        else:
            order = engine.open_order(change.user_id, order_id)
            assert order is not None, f"order {order_id} neither open nor closed"
            status = status_after(OrderChange.TRADE, order.executed)  # open: NEW or PARTIALLY_FILLED
            reason = None
            remaining, executed, filled_quote = order.remaining, order.executed, order.filled_quote
            fee_paid, residue = _split_fee(order.fee_numer)
            price, quantity, pending = order.price, order.quantity, order.pending
        accepted = change.accepted
        if accepted is not None:
            rows.new_orders.append(
                (
                    order_id,
                    accepted.ts,
                    change.updated_ts,
                    accepted.user_id,
                    accepted.market,
                    accepted.side,
                    accepted.order_type,
                    accepted.time_in_force,
                    accepted.price if price is None else price,
                    accepted.stop_price,
                    accepted.quantity if quantity is None else quantity,
                    accepted.quote_quantity,
                    remaining,
                    executed,
                    filled_quote,
                    fee_paid,
                    residue,
                    accepted.client_order_id,
                    accepted.stp_mode,
                    accepted.post_only,
                    accepted.stop_price > 0 and pending is not False,
                    status,
                    reason,
                    change.priority,
                    meta_text(accepted.meta),
                )
            )
            return
        rows.order_updates.append(
            (
                change.updated_ts,
                price,
                quantity,
                remaining,
                executed,
                filled_quote,
                fee_paid,
                residue,
                pending,
                status,
                reason,
                change.priority,
                order_id,
            )
        )

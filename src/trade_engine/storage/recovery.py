"""Recovery: rebuild the engine from the database, and check the store is consistent.

On start the service loads every market, balance and open order (in time priority)
and the id counters, then verifies the result before it takes a single command:

- conservation: for every asset, the balances sum to deposits minus withdrawals;
- holds: every user's locked balance equals what their open orders and stops hold;
- ledger: for every account, the ledger entries add up to its balance.

An inconsistent store is refused with the list of what is wrong (`InconsistentStore`);
`trade-engine verify` runs the same checks on demand.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from trade_engine.domain.market import Market
from trade_engine.domain.order_meta import meta_of_text
from trade_engine.domain.vocabulary import FEE_SCALE
from trade_engine.engine import Balance, Engine, Order
from trade_engine.storage import schema
from trade_engine.storage.database import driver_batches, rows_in_one_value
from trade_engine.storage.projection import TRANSFER_SCOPE


class InconsistentStore(Exception):
    """The database contradicts itself; the service must not start on it."""

    def __init__(self, problems: list[str]) -> None:
        shown = "; ".join(problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"inconsistent store: {shown}{more}")
        self.problems = problems


@dataclass(frozen=True)
class RecoveryReport:
    markets: int
    accounts: int
    open_orders: int
    # The global sequence number of the last committed command.
    last_seq: int = 0


_ORDER_FIELDS = (
    schema.orders.c.id,
    schema.orders.c.user_id,
    schema.orders.c.market,
    schema.orders.c.side,
    schema.orders.c.order_type,
    schema.orders.c.time_in_force,
    schema.orders.c.price,
    schema.orders.c.stop_price,
    schema.orders.c.quantity,
    schema.orders.c.quote_quantity,
    schema.orders.c.remaining,
    schema.orders.c.client_order_id,
    schema.orders.c.stp_mode,
    schema.orders.c.post_only,
    schema.orders.c.created_ts,
    schema.orders.c.pending,
    schema.orders.c.executed,
    schema.orders.c.filled_quote,
    schema.orders.c.fee_paid,
    schema.orders.c.fee_residue,
    schema.orders.c.meta,
)
# Open orders are read in batches of this many rows.
ORDER_BATCH: Final = 20_000
# Every open order, each market's in time priority, read in the order of the partial
# index that holds them (schema.py), so the database does not sort a million rows.
OPEN_ORDERS_IN_PRIORITY: Final = (
    select(*_ORDER_FIELDS)
    .where(text(schema.OPEN_ORDER))
    .order_by(schema.orders.c.market, schema.orders.c.priority)
)


async def load_engine(database: AsyncEngine) -> tuple[Engine, RecoveryReport]:
    """An engine holding exactly the state the database recorded."""
    engine = Engine()
    async with database.connect() as connection:
        markets = (await connection.execute(select(schema.markets))).mappings().all()
        for row in markets:
            market = msgspec.json.decode(row["definition"], type=Market)
            engine.restore_market(market, status=row["status"], seq=row["seq"], last_price=row["last_price"])
        accounts = set()
        for user_id, asset, available, locked in await connection.execute(
            select(
                schema.balances.c.user_id,
                schema.balances.c.asset,
                schema.balances.c.available,
                schema.balances.c.locked,
            )
        ):
            engine.restore_balance(user_id, asset, available, locked)
            accounts.add(user_id)
        for asset, amount in (await _supply(connection)).items():
            engine.restore_supply(asset, amount)
        keys = schema.idempotency_keys
        references = select(keys.c.key, keys.c.ref_id).where(keys.c.scope == TRANSFER_SCOPE)
        for reference, transfer_id in await connection.execute(references):
            engine.restore_reference(reference, transfer_id)
        open_orders = 0
        restore = engine.restore_order
        async for batch in driver_batches(connection, OPEN_ORDERS_IN_PRIORITY, ORDER_BATCH):
            for values in batch:
                restore(_order(values))
            open_orders += len(batch)
        next_order = await _next_id(connection, schema.orders.c.id)
        next_trade = await _next_id(connection, schema.trades.c.id)
        next_transfer = await _next_id(connection, schema.transfers.c.id)
        state = schema.sequencer_state
        last_seq = (await connection.execute(select(state.c.last_seq).where(state.c.id == 1))).scalar()
    engine.restore_counters(
        next_order_id=next_order, next_trade_id=next_trade, next_transfer_id=next_transfer
    )
    report = RecoveryReport(
        markets=len(markets), accounts=len(accounts), open_orders=open_orders, last_seq=int(last_seq or 0)
    )
    return engine, report


def _order(values: Sequence[Any]) -> Order:
    """An engine order from a row of `_ORDER_FIELDS`, as the driver gives it (booleans
    may be 0 or 1). One unpacking and one call: this runs once per open order at start."""
    (order_id, user, market, side, kind, tif, price, stop, quantity, quote, remaining, client_id,
     stp, post_only, created, pending, executed, filled_quote, paid, residue, meta) = values  # fmt: skip
    return Order(
        order_id,
        user,
        market,
        side,
        kind,
        tif,
        price,
        stop,
        quantity,
        quote,
        remaining,
        client_id,
        stp,
        post_only == 1,
        created,
        pending == 1,
        executed,
        filled_quote,
        paid * FEE_SCALE - residue,
        meta_of_text(meta),
    )


async def projected_seq(database: AsyncEngine) -> int:
    """How far the tables hold: the global sequence number of the last command whose
    rows are written (`sequencer_state`)."""
    state = schema.sequencer_state
    async with database.connect() as connection:
        last_seq = (await connection.execute(select(state.c.last_seq).where(state.c.id == 1))).scalar()
    return int(last_seq or 0)


async def last_committed_ts(database: AsyncEngine) -> int:
    """The latest time stamp the store holds: the journal's last batch or the tables'
    (`sequencer_state`). A recovered sequencer stamps after it, so that time never runs
    back across a restart or a takeover, whatever the clock did meanwhile."""
    journal, state = schema.journal, schema.sequencer_state
    async with database.connect() as connection:
        journaled = (await connection.execute(select(func.max(journal.c.ts)))).scalar()
        projected = (await connection.execute(select(func.max(state.c.updated_ts)))).scalar()
    return max(int(journaled or 0), int(projected or 0))


async def _supply(connection: AsyncConnection) -> dict[str, int]:
    query = select(
        schema.transfers.c.asset, schema.transfers.c.kind, func.sum(schema.transfers.c.amount)
    ).group_by(schema.transfers.c.asset, schema.transfers.c.kind)
    supply: dict[str, int] = defaultdict(int)
    for asset, kind, total in await connection.execute(query):
        supply[asset] += int(total) if kind == "DEPOSIT" else -int(total)
    return dict(supply)


async def _next_id(connection: AsyncConnection, column: ColumnElement[int]) -> int:
    highest = (await connection.execute(select(func.max(column)))).scalar()
    return int(highest or 0) + 1


@dataclass(frozen=True)
class StoreTotals:
    """What verification compares the engine with: deposits minus withdrawals per
    asset, the ledger folded per (account, asset) into (available, locked), and the
    `balances` table (the engine may come from a snapshot rather than from it)."""

    supply: dict[str, int]
    ledger: dict[tuple[str, str], tuple[int, int]]
    balances: dict[tuple[str, str], tuple[int, int]]


async def store_totals(database: AsyncEngine) -> StoreTotals:
    """Fold the store's transfers and ledger (SQL aggregates: the database does the work,
    so the fold can run while the engine loads on another connection)."""
    async with database.connect() as connection:
        supply = await _supply(connection)
        entries = schema.ledger_entries.c
        ledger = select(
            entries.user_id, entries.asset, func.sum(entries.available_delta), func.sum(entries.locked_delta)
        ).group_by(entries.user_id, entries.asset)
        folded = {
            (user, asset): (int(available), int(locked))
            for user, asset, available, locked in await rows_in_one_value(connection, ledger)
        }
        table = schema.balances.c
        rows = select(table.user_id, table.asset, table.available, table.locked)
        balances = {
            (user, asset): (int(available), int(locked))
            for user, asset, available, locked in await rows_in_one_value(connection, rows)
        }
    return StoreTotals(supply, folded, balances)


async def verify(database: AsyncEngine, engine: Engine) -> list[str]:
    """Everything wrong with the store (and the engine loaded from it); empty if sound."""
    return check(engine, await store_totals(database))


@dataclass(frozen=True)
class EngineTotals:
    """What verification compares with the store, taken from the engine: every balance,
    and what the open orders hold per (account, asset)."""

    balances: dict[str, dict[str, Balance]]
    holds: dict[tuple[str, str], int]

    @classmethod
    def of(cls, engine: Engine) -> "EngineTotals":
        return cls(engine.balances(), engine.holds())


def check(engine: Engine | EngineTotals, totals: StoreTotals) -> list[str]:
    """Everything on which the engine (or its totals, taken while the store's were being
    folded) and the store's totals disagree."""
    ours = engine if isinstance(engine, EngineTotals) else EngineTotals.of(engine)
    problems: list[str] = []
    balances = ours.balances
    sums: dict[str, int] = defaultdict(int)
    for per_asset in balances.values():
        for asset, balance in per_asset.items():
            sums[asset] += balance.available + balance.locked
    supply, folded = totals.supply, totals.ledger
    for asset in sorted(set(sums) | set(supply)):
        if sums.get(asset, 0) != supply.get(asset, 0):
            problems.append(
                f"{asset}: balances sum to {sums.get(asset, 0)} but deposits minus "
                f"withdrawals are {supply.get(asset, 0)}"
            )
    recorded = {
        (user, asset): (balance.available, balance.locked)
        for user, per_asset in balances.items()
        for asset, balance in per_asset.items()
    }
    problems += _disagreements("ledger adds up to", folded, recorded)
    problems += _disagreements("the balances table says", totals.balances, recorded)
    holds = ours.holds
    for key in sorted(set(holds) | {k for k, v in recorded.items() if v[1]}):
        locked = recorded.get(key, (0, 0))[1]
        if holds.get(key, 0) != locked:
            problems.append(f"{key[0]}/{key[1]}: locked is {locked} but open orders hold {holds.get(key, 0)}")
    return problems


Amounts = dict[tuple[str, str], tuple[int, int]]  # (account, asset) -> (available, locked)


def _disagreements(said: str, theirs: Amounts, recorded: Amounts) -> list[str]:
    """Each (account, asset) whose (available, locked) in `theirs` is not the engine's."""
    return [
        f"{key[0]}/{key[1]}: {said} {theirs.get(key, (0, 0))} "
        f"but the balance is {recorded.get(key, (0, 0))} (available, locked)"
        for key in sorted(set(theirs) | set(recorded))
        if theirs.get(key, (0, 0)) != recorded.get(key, (0, 0))
    ]


async def recover(database: AsyncEngine) -> tuple[Engine, RecoveryReport]:
    """Load and verify; refuse an inconsistent store."""
    engine, report = await load_engine(database)
    problems = await verify(database, engine)
    if problems:
        raise InconsistentStore(problems)
    return engine, report

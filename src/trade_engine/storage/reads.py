"""Reads of committed state, for the APIs."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.domain.vocabulary import BUY, SELL
from trade_engine.storage import schema
from trade_engine.storage.database import connected

# -- orders and fills (a user's own) --------------------------------------------------


async def order_row(
    database: AsyncEngine, user_id: str, order_id: int | None = None, client_order_id: str | None = None
) -> dict[str, Any] | None:
    """One of the user's orders, by id or by client order id (the newest such order)."""
    orders = schema.orders
    query = select(orders).where(orders.c.user_id == user_id)
    if order_id is not None:
        query = query.where(orders.c.id == order_id)
    if client_order_id is not None:
        query = query.where(orders.c.client_order_id == client_order_id)
    query = query.order_by(orders.c.id.desc()).limit(1)
    async with connected(database) as connection:
        row = (await connection.execute(query)).mappings().first()
    return dict(row) if row is not None else None


Page = tuple[list[dict[str, Any]], int]


async def _page(
    database: AsyncEngine,
    table: Table,
    conditions: list[ColumnElement[bool]],
    time_column: ColumnElement[int],
    start_ns: int | None,
    end_ns: int | None,
    limit: int,
    offset: int,
) -> Page:
    """Rows newest first (by id) in [start, end) of `time_column`, and how many match in all."""
    if start_ns is not None:
        conditions.append(time_column >= start_ns)
    if end_ns is not None:
        conditions.append(time_column < end_ns)
    page = select(table).where(*conditions).order_by(table.c.id.desc()).limit(limit).offset(offset)
    total = select(func.count()).select_from(table).where(*conditions)
    async with connected(database) as connection:
        rows = [dict(row) for row in (await connection.execute(page)).mappings()]
        count = (await connection.execute(total)).scalar() or 0
    return rows, int(count)


async def order_rows(
    database: AsyncEngine,
    user_id: str,
    *,
    market: str | None,
    statuses: Sequence[str] | None,
    start_ns: int | None,
    end_ns: int | None,
    limit: int,
    offset: int,
) -> Page:
    """A page of the user's orders, newest first, and how many match in all."""
    orders = schema.orders
    conditions: list[ColumnElement[bool]] = [orders.c.user_id == user_id]
    if market is not None:
        conditions.append(orders.c.market == market)
    if statuses:
        conditions.append(orders.c.status.in_(statuses))
    return await _page(database, orders, conditions, orders.c.created_ts, start_ns, end_ns, limit, offset)


async def fill_rows(
    database: AsyncEngine,
    user_id: str,
    *,
    market: str | None,
    start_ns: int | None,
    end_ns: int | None,
    limit: int,
    offset: int,
) -> Page:
    """A page of the user's fills, newest first: one per (trade, side the user was on), so
    a self-trade is two fills. Each row carries `side`; a trade and its two sides share
    the trade's id, buy first."""
    trades = schema.trades
    conditions: list[ColumnElement[bool]] = []
    if market is not None:
        conditions.append(trades.c.market == market)
    if start_ns is not None:
        conditions.append(trades.c.ts >= start_ns)
    if end_ns is not None:
        conditions.append(trades.c.ts < end_ns)
    bought = select(trades, literal(BUY).label("side")).where(trades.c.buyer_user_id == user_id, *conditions)
    sold = select(trades, literal(SELL).label("side")).where(trades.c.seller_user_id == user_id, *conditions)
    fills = union_all(bought, sold).subquery("fills")
    page = select(fills).order_by(fills.c.id.desc(), fills.c.side).limit(limit).offset(offset)
    total = select(func.count()).select_from(fills)
    async with connected(database) as connection:
        rows = [dict(row) for row in (await connection.execute(page)).mappings()]
        count = (await connection.execute(total)).scalar() or 0
    return rows, int(count)


# -- public market data ----------------------------------------------------------------


async def trade_rows(
    database: AsyncEngine,
    market: str,
    *,
    start_ns: int | None,
    end_ns: int | None,
    limit: int,
    offset: int,
) -> Page:
    """A page of a market's trades, newest first, and how many match in all."""
    trades = schema.trades
    conditions: list[ColumnElement[bool]] = [trades.c.market == market]
    return await _page(database, trades, conditions, trades.c.ts, start_ns, end_ns, limit, offset)


async def trades_between(
    database: AsyncEngine, market: str, start_ns: int, end_ns: int, after_id: int = 0, limit: int = 100_000
) -> list[tuple[int, int, int, int, int, str]]:
    """(id, ts, price, quantity, quote_amount, taker_side) of trades in [start, end), by id."""
    trades = schema.trades
    query = (
        select(
            trades.c.id,
            trades.c.ts,
            trades.c.price,
            trades.c.quantity,
            trades.c.quote_amount,
            trades.c.taker_side,
        )
        .where(
            trades.c.market == market, trades.c.ts >= start_ns, trades.c.ts < end_ns, trades.c.id > after_id
        )
        .order_by(trades.c.id)
        .limit(limit)
    )
    async with connected(database) as connection:
        return [tuple(row) for row in await connection.execute(query)]


async def candle_rows(
    database: AsyncEngine, market: str, interval_ns: int, start_ns: int, end_ns: int, limit: int
) -> list[tuple[int, int, int, int, int, int, int, int]]:
    """Per bucket with trades: (bucket start, open, high, low, close, volume, quote volume,
    trade count), exact: open and close are the first and last trade of the bucket by id."""
    trades = schema.trades
    bucket = (trades.c.ts - trades.c.ts % interval_ns).label("bucket")
    aggregate = (
        select(
            bucket,
            func.min(trades.c.id),
            func.max(trades.c.id),
            func.max(trades.c.price),
            func.min(trades.c.price),
            func.sum(trades.c.quantity),
            func.sum(trades.c.quote_amount),
            func.count(),
        )
        .where(trades.c.market == market, trades.c.ts >= start_ns, trades.c.ts < end_ns)
        .group_by(bucket)
        .order_by(bucket)
        .limit(limit)
    )
    async with connected(database) as connection:
        groups = list(await connection.execute(aggregate))
        ids = {int(group[1]) for group in groups} | {int(group[2]) for group in groups}
        prices: dict[int, int] = {}
        for chunk in _chunks(sorted(ids), 500):
            query = select(trades.c.id, trades.c.price).where(trades.c.id.in_(chunk))
            prices.update({int(i): int(p) for i, p in await connection.execute(query)})
    return [
        (int(b), prices[int(first)], int(high), int(low), prices[int(last)], int(v), int(q), int(n))
        for b, first, last, high, low, v, q, n in groups
    ]


def _chunks(values: list[int], size: int) -> list[list[int]]:
    return [values[i : i + size] for i in range(0, len(values), size)]

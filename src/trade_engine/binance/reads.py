"""Reads of committed state in the shapes the Binance API pages through.

Binance lists oldest first: with no start it returns the most recent `limit` items (in
ascending order), with `fromId`/`orderId`/`startTime` the first `limit` from there.
"""

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.storage import schema
from trade_engine.storage.database import connected

Row = dict[str, Any]


async def _rows(database: AsyncEngine, query: Select[Any]) -> list[Row]:
    async with connected(database) as connection:
        return [dict(row) for row in (await connection.execute(query)).mappings()]


def _window(
    query: Select[Any], key: Any, *, from_id: int | None, start: bool, limit: int
) -> tuple[Select[Any], bool]:
    """Order and limit `query`: ascending from a start, else the newest `limit` (reversed later)."""
    if from_id is not None or start:
        return query.order_by(key).limit(limit), False
    return query.order_by(key.desc()).limit(limit), True


# -- a user's orders, trades and balances ------------------------------------------------


async def orders(
    database: AsyncEngine,
    user_id: str,
    *,
    market: str | None,
    open_only: bool = False,
    from_id: int | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    limit: int = 1000,
) -> list[Row]:
    table = schema.orders
    conditions: list[ColumnElement[bool]] = [table.c.user_id == user_id]
    if market is not None:
        conditions.append(table.c.market == market)
    if open_only:
        conditions.append(table.c.status.in_(schema.OPEN_STATUSES))
    if from_id is not None:
        conditions.append(table.c.id >= from_id)
    if start_ns is not None:
        conditions.append(table.c.created_ts >= start_ns)
    if end_ns is not None:
        conditions.append(table.c.created_ts <= end_ns)
    query, newest = _window(
        select(table).where(*conditions), table.c.id, from_id=from_id, start=start_ns is not None, limit=limit
    )
    rows = await _rows(database, query)
    return rows[::-1] if newest else rows


async def user_trades(
    database: AsyncEngine,
    user_id: str,
    *,
    market: str,
    order_id: int | None = None,
    from_id: int | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    limit: int = 500,
) -> list[Row]:
    table = schema.trades
    conditions: list[ColumnElement[bool]] = [
        table.c.market == market,
        or_(table.c.buyer_user_id == user_id, table.c.seller_user_id == user_id),
    ]
    if order_id is not None:
        conditions.append(or_(table.c.maker_order_id == order_id, table.c.taker_order_id == order_id))
    if from_id is not None:
        conditions.append(table.c.id >= from_id)
    if start_ns is not None:
        conditions.append(table.c.ts >= start_ns)
    if end_ns is not None:
        conditions.append(table.c.ts <= end_ns)
    query, newest = _window(
        select(table).where(*conditions),
        table.c.id,
        from_id=from_id if from_id is not None else order_id,
        start=start_ns is not None,
        limit=limit,
    )
    rows = await _rows(database, query)
    return rows[::-1] if newest else rows


async def balances(database: AsyncEngine, user_id: str) -> list[tuple[str, int, int, int]]:
    """(asset, available, locked, updated_ts) of every balance the user has."""
    table = schema.balances
    query = (
        select(table.c.asset, table.c.available, table.c.locked, table.c.updated_ts)
        .where(table.c.user_id == user_id)
        .order_by(table.c.asset)
    )
    async with connected(database) as connection:
        return [(str(a), int(f), int(lk), int(u)) for a, f, lk, u in await connection.execute(query)]


# -- public market data -------------------------------------------------------------------


async def trades(
    database: AsyncEngine,
    market: str,
    *,
    from_id: int | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    limit: int,
) -> list[Row]:
    """A market's trades, ascending by id."""
    table = schema.trades
    conditions: list[ColumnElement[bool]] = [table.c.market == market]
    if from_id is not None:
        conditions.append(table.c.id >= from_id)
    if start_ns is not None:
        conditions.append(table.c.ts >= start_ns)
    if end_ns is not None:
        conditions.append(table.c.ts <= end_ns)
    columns = select(
        table.c.id,
        table.c.ts,
        table.c.price,
        table.c.quantity,
        table.c.quote_amount,
        table.c.taker_side,
        table.c.taker_order_id,
    )
    query, newest = _window(
        columns.where(*conditions), table.c.id, from_id=from_id, start=start_ns is not None, limit=limit
    )
    rows = await _rows(database, query)
    return rows[::-1] if newest else rows


async def klines(
    database: AsyncEngine, market: str, interval_ns: int, start_ns: int, end_ns: int
) -> tuple[list[tuple[int, ...]], int | None]:
    """Per bucket with trades in [start, end): (bucket, open, high, low, close, volume,
    quote volume, count, taker-buy volume, taker-buy quote volume, first and last trade
    id); and the last price
    traded before `start_ns` (to carry into leading empty buckets)."""
    table = schema.trades
    bucket = (table.c.ts - table.c.ts % interval_ns).label("bucket")
    taker_buy = table.c.taker_side == "BUY"
    aggregate = (
        select(
            bucket,
            func.min(table.c.id),
            func.max(table.c.id),
            func.max(table.c.price),
            func.min(table.c.price),
            func.sum(table.c.quantity),
            func.sum(table.c.quote_amount),
            func.count(),
            func.sum(case((taker_buy, table.c.quantity), else_=0)),
            func.sum(case((taker_buy, table.c.quote_amount), else_=0)),
        )
        .where(table.c.market == market, table.c.ts >= start_ns, table.c.ts < end_ns)
        .group_by(bucket)
        .order_by(bucket)
    )
    before = (
        select(table.c.price)
        .where(table.c.market == market, table.c.ts < start_ns)
        .order_by(table.c.ts.desc(), table.c.id.desc())
        .limit(1)
    )
    async with connected(database) as connection:
        groups = list(await connection.execute(aggregate))
        previous = (await connection.execute(before)).scalar()
        ids = sorted({int(g[1]) for g in groups} | {int(g[2]) for g in groups})
        prices: dict[int, int] = {}
        for at in range(0, len(ids), 500):
            query = select(table.c.id, table.c.price).where(table.c.id.in_(ids[at : at + 500]))
            prices.update({int(i): int(p) for i, p in await connection.execute(query)})
    rows = [
        (int(b), prices[int(f)], int(hi), int(lo), prices[int(la)], *(int(x) for x in sums), int(f), int(la))
        for b, f, la, hi, lo, *sums in groups
    ]
    return rows, None if previous is None else int(previous)


async def day_stats(database: AsyncEngine, market: str, start_ns: int, end_ns: int) -> Row:
    """Statistics of the trades in [start, end] plus the last trade before `start_ns`."""
    table = schema.trades
    in_window = and_(table.c.market == market, table.c.ts >= start_ns, table.c.ts <= end_ns)
    query = select(
        func.count().label("count"),
        func.coalesce(func.sum(table.c.quantity), 0).label("volume"),
        func.coalesce(func.sum(table.c.quote_amount), 0).label("quote_volume"),
        func.max(table.c.price).label("high"),
        func.min(table.c.price).label("low"),
        func.min(table.c.id).label("first_id"),
        func.max(table.c.id).label("last_id"),
    ).where(in_window)
    previous = (
        select(table.c.price)
        .where(table.c.market == market, table.c.ts < start_ns)
        .order_by(table.c.ts.desc(), table.c.id.desc())
        .limit(1)
    )
    async with connected(database) as connection:
        stats = dict((await connection.execute(query)).mappings().one())
        stats["previous"] = (await connection.execute(previous)).scalar()
        ends: dict[int, tuple[int, int]] = {}
        if stats["count"]:
            edges = select(table.c.id, table.c.price, table.c.quantity).where(
                table.c.id.in_([stats["first_id"], stats["last_id"]])
            )
            ends = {int(i): (int(p), int(q)) for i, p, q in await connection.execute(edges)}
    stats["first"] = ends.get(int(stats["first_id"])) if stats["count"] else None
    stats["last"] = ends.get(int(stats["last_id"])) if stats["count"] else None
    return stats

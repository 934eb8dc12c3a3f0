"""Reads of committed market data: public trades, and the aggregates candles, klines
and tickers are computed from (exact: first and last trade of a bucket by id)."""

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.storage import schema
from trade_engine.storage.database import connected
from trade_engine.storage.reads import Page, Row, _page, _rows, _window


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

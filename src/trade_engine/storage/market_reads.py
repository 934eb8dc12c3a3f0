"""Reads of committed market data: public trades, and the one aggregate candles, klines
and tickers are computed from (exact: first and last trade of a bucket by id)."""

from sqlalchemy import ColumnElement, case, func, select

from trade_engine.storage import schema
from trade_engine.storage.database import connected
from trade_engine.storage.reads import Page, Reads, Row


def _chunks(values: list[int], size: int) -> list[list[int]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def _through(seq: int | None) -> list[ColumnElement[bool]]:
    """The condition for trades up to a market sequence number (none: all of them)."""
    return [] if seq is None else [schema.trades.c.seq <= seq]


class MarketHistory(Reads):
    """A market's committed trades and the aggregate its candles, klines and tickers are made of."""

    async def trade_rows(
        self,
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
        return await self._page(trades, conditions, trades.c.ts, start_ns, end_ns, limit, offset)

    async def trades(
        self,
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
        columns = select(
            table.c.id,
            table.c.ts,
            table.c.price,
            table.c.quantity,
            table.c.quote_amount,
            table.c.taker_side,
            table.c.taker_order_id,
        )
        return await self._oldest_first(
            columns,
            table,
            table.c.ts,
            conditions,
            from_id=from_id,
            start_ns=start_ns,
            end_ns=end_ns,
            limit=limit,
        )

    async def buckets(
        self,
        market: str,
        interval_ns: int,
        start_ns: int,
        end_ns: int,
        limit: int | None = None,
        offset_ns: int = 0,
        *,
        through_seq: int | None = None,
    ) -> tuple[list[tuple[int, ...]], int | None]:
        """The one aggregate candles, klines and tickers are made of. Per bucket with trades
        in [start, end), oldest first: (bucket start, open, high, low, close, volume, quote
        volume, trade count, taker-buy volume, taker-buy quote volume, first and last trade
        id), exact (open and close are the first and last trade of the bucket by id); and the
        last price traded before `start_ns` (to carry into leading empty buckets). Buckets
        are `interval_ns` long and start `offset_ns` after a multiple of it (Binance's weeks
        start on Mondays). `through_seq`: only the trades up to that market sequence
        number (the tables may already hold later ones)."""
        table = schema.trades
        upto = _through(through_seq)
        if offset_ns % interval_ns:
            # Kept non-negative on both databases: their % takes the sign of the dividend.
            shift = interval_ns - offset_ns % interval_ns
            bucket = (table.c.ts - (table.c.ts + shift) % interval_ns).label("bucket")
        else:
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
            .where(table.c.market == market, table.c.ts >= start_ns, table.c.ts < end_ns, *upto)
            .group_by(bucket)
            .order_by(bucket)
        )
        if limit is not None:
            aggregate = aggregate.limit(limit)
        before = (
            select(table.c.price)
            .where(table.c.market == market, table.c.ts < start_ns, *upto)
            .order_by(table.c.ts.desc(), table.c.id.desc())
            .limit(1)
        )
        async with connected(self._database) as connection:
            groups = list(await connection.execute(aggregate))
            previous = (await connection.execute(before)).scalar()
            ids = sorted({int(g[1]) for g in groups} | {int(g[2]) for g in groups})
            prices: dict[int, int] = {}
            for chunk in _chunks(ids, 500):
                query = select(table.c.id, table.c.price).where(table.c.id.in_(chunk))
                prices.update({int(i): int(p) for i, p in await connection.execute(query)})
        rows = [
            (int(b), prices[int(f)], int(hi), int(lo), prices[int(la)], *map(int, sums), int(f), int(la))
            for b, f, la, hi, lo, *sums in groups
        ]
        return rows, None if previous is None else int(previous)

    async def first_trade_ts(self, market: str) -> int | None:
        """When the market's first trade happened (None before it has one)."""
        table = schema.trades
        async with connected(self._database) as connection:
            value = (
                await connection.execute(select(func.min(table.c.ts)).where(table.c.market == market))
            ).scalar()
        return None if value is None else int(value)

    async def last_trade(self, market: str, *, through_seq: int | None = None) -> tuple[int, int] | None:
        """The quantity and time of the market's last trade (None before its first), up
        to market sequence number `through_seq` if given."""
        table = schema.trades
        query = (
            select(table.c.quantity, table.c.ts)
            .where(table.c.market == market, *_through(through_seq))
            .order_by(table.c.ts.desc(), table.c.id.desc())
            .limit(1)
        )
        async with connected(self._database) as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else (int(row[0]), int(row[1]))

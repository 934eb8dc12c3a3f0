"""Reads of a user's own committed state: orders, fills, balances, transfers.

Pages come two ways: the native API's (newest first, with a total), and Binance's
(oldest first: with no start the most recent `limit` items in ascending order, with
`fromId`/`orderId`/`startTime` the first `limit` from there).
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncEngine

from trade_engine.domain.vocabulary import BUY, SELL
from trade_engine.storage import schema
from trade_engine.storage.database import connected

Row = dict[str, Any]
Page = tuple[list[Row], int]


class Reads:
    """Queries bound to one database: a gateway is handed these (edge/gateway.py,
    `history()`) and names the read it makes, never the database itself."""

    def __init__(self, database: AsyncEngine) -> None:
        self._database = database

    async def _page(
        self,
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
        async with connected(self._database) as connection:
            rows = [dict(row) for row in (await connection.execute(page)).mappings()]
            count = (await connection.execute(total)).scalar() or 0
        return rows, int(count)

    async def _rows(self, query: Select[Any]) -> list[Row]:
        async with connected(self._database) as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings()]

    async def _oldest_first(
        self,
        query: Select[Any],
        table: Table,
        time_column: ColumnElement[int],
        conditions: list[ColumnElement[bool]],
        *,
        from_id: int | None,
        start_ns: int | None,
        end_ns: int | None,
        limit: int,
        anchored: bool = False,
    ) -> list[Row]:
        """Binance's page of `query`'s rows, ascending by id: from `from_id` or
        `start_ns` (or `anchored` elsewhere: an order's trades), the first `limit` from
        there; else the newest `limit`. Both ends inclusive."""
        if from_id is not None:
            conditions.append(table.c.id >= from_id)
        if start_ns is not None:
            conditions.append(time_column >= start_ns)
        if end_ns is not None:
            conditions.append(time_column <= end_ns)
        query = query.where(*conditions)
        if anchored or from_id is not None or start_ns is not None:
            return await self._rows(query.order_by(table.c.id).limit(limit))
        newest = await self._rows(query.order_by(table.c.id.desc()).limit(limit))
        return newest[::-1]


class OwnHistory(Reads):
    """A user's own committed orders, fills, balances and transfers."""

    async def order_row(
        self, user_id: str, order_id: int | None = None, client_order_id: str | None = None
    ) -> dict[str, Any] | None:
        """One of the user's orders, by id or by client order id (the newest such order)."""
        orders = schema.orders
        query = select(orders).where(orders.c.user_id == user_id)
        if order_id is not None:
            query = query.where(orders.c.id == order_id)
        if client_order_id is not None:
            query = query.where(orders.c.client_order_id == client_order_id)
        query = query.order_by(orders.c.id.desc()).limit(1)
        async with connected(self._database) as connection:
            row = (await connection.execute(query)).mappings().first()
        return dict(row) if row is not None else None

    async def order_rows(
        self,
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
        return await self._page(orders, conditions, orders.c.created_ts, start_ns, end_ns, limit, offset)

    async def fill_rows(
        self,
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
        bought = select(trades, literal(BUY).label("side"))
        bought = bought.where(trades.c.buyer_user_id == user_id, *conditions)
        sold = select(trades, literal(SELL).label("side"))
        sold = sold.where(trades.c.seller_user_id == user_id, *conditions)
        fills = union_all(bought, sold).subquery("fills")
        page = select(fills).order_by(fills.c.id.desc(), fills.c.side).limit(limit).offset(offset)
        total = select(func.count()).select_from(fills)
        async with connected(self._database) as connection:
            rows = [dict(row) for row in (await connection.execute(page)).mappings()]
            count = (await connection.execute(total)).scalar() or 0
        return rows, int(count)

    async def orders_from(
        self,
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
        return await self._oldest_first(
            select(table),
            table,
            table.c.created_ts,
            conditions,
            from_id=from_id,
            start_ns=start_ns,
            end_ns=end_ns,
            limit=limit,
        )

    async def user_trades(
        self,
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
        return await self._oldest_first(
            select(table),
            table,
            table.c.ts,
            conditions,
            from_id=from_id,
            start_ns=start_ns,
            end_ns=end_ns,
            limit=limit,
            anchored=order_id is not None,
        )

    async def balance_rows(self, user_id: str) -> list[tuple[str, int, int, int]]:
        """(asset, available, locked, updated_ts) of every balance the user has, by asset."""
        table = schema.balances
        query = (
            select(table.c.asset, table.c.available, table.c.locked, table.c.updated_ts)
            .where(table.c.user_id == user_id)
            .order_by(table.c.asset)
        )
        async with connected(self._database) as connection:
            return [(str(a), int(f), int(lk), int(u)) for a, f, lk, u in await connection.execute(query)]

    async def transfer_with_balance(self, transfer_id: int) -> tuple[dict[str, Any], int, int] | None:
        """A transfer's row, and the (available, locked) balance of its user's asset now;
        None if the tables do not hold it (yet)."""
        transfers, balances = schema.transfers, schema.balances
        async with connected(self._database) as connection:
            query = select(transfers).where(transfers.c.id == transfer_id)
            row = (await connection.execute(query)).mappings().one_or_none()
            if row is None:
                return None
            balance = (
                await connection.execute(
                    select(balances.c.available, balances.c.locked).where(
                        balances.c.user_id == row["user_id"], balances.c.asset == row["asset"]
                    )
                )
            ).one()
        return dict(row), int(balance[0]), int(balance[1])

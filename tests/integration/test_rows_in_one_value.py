"""Rows handed back as one JSON value (storage/database.rows_in_one_value), as recovery
folds the ledger and the balances: on SQLite and PostgreSQL, the rows SQLAlchemy gives,
with every digit of large and negative integers and any text, and no rows as none."""

import asyncio
from typing import Any

from sqlalchemy import BigInteger, Column, MetaData, Table, Text, func, select

from trade_engine.storage.database import normalise_url, open_database, rows_in_one_value

metadata = MetaData()
amounts = Table(
    "amounts_for_one_value",
    metadata,
    Column("user_id", Text, nullable=False),
    Column("asset", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
)

ROWS: list[dict[str, Any]] = [
    {"user_id": "alice", "asset": "BTC", "amount": 2**62 + 7},
    {"user_id": "alice", "asset": "BTC", "amount": -(2**61) - 1},
    {"user_id": 'bob "the" \\ trader, ünïcode', "asset": "USDT", "amount": -(2**63) + 1},
    {"user_id": "carol", "asset": "ETH", "amount": 0},
    {"user_id": "carol", "asset": "ETH", "amount": 2**63 - 1},
]


def test_rows_in_one_value_are_the_rows_sqlalchemy_gives(database_url: str) -> None:
    async def scenario() -> tuple[list[Any], ...]:
        database = open_database(normalise_url(database_url))
        try:
            async with database.begin() as connection:
                await connection.run_sync(metadata.create_all)
            async with database.connect() as connection:
                query = select(amounts.c.user_id, amounts.c.asset, amounts.c.amount)
                none = await rows_in_one_value(connection, query)
                await connection.execute(amounts.insert(), ROWS)
                await connection.commit()
                plain = sorted([list(row) for row in await connection.execute(query)], key=str)
                as_one = sorted(await rows_in_one_value(connection, query), key=str)
                folded = (
                    select(amounts.c.user_id, amounts.c.asset, func.sum(amounts.c.amount))
                    .where(amounts.c.user_id != "carol")  # carol's sum would overflow SQLite's
                    .group_by(amounts.c.user_id, amounts.c.asset)
                )
                folded_rows = await connection.execute(folded)
                folded_plain = sorted([row[0], row[1], int(row[2])] for row in folded_rows)
                folded_as_one = sorted(await rows_in_one_value(connection, folded))
                await connection.run_sync(metadata.drop_all)
                await connection.commit()
        finally:
            await database.dispose()
        return none, plain, as_one, folded_plain, folded_as_one

    none, plain, as_one, folded_plain, folded_as_one = asyncio.run(scenario())
    assert none == []
    assert as_one == plain
    assert sorted(row[2] for row in as_one) == sorted(row["amount"] for row in ROWS)
    assert all(type(row[2]) is int for row in as_one)
    expected = [
        ["alice", "BTC", 2**62 + 7 - 2**61 - 1],
        ['bob "the" \\ trader, ünïcode', "USDT", -(2**63) + 1],
    ]
    assert folded_as_one == folded_plain == expected

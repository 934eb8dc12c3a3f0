"""Recovery's read of the open orders (migration `0010`), on SQLite and PostgreSQL: a
partial index holds exactly the open orders in each market's time priority, and the
recovery query is answered from it without sorting."""

import asyncio

from sqlalchemy import Connection, inspect, text
from sqlalchemy.dialects import postgresql, sqlite

from tests.integration.migrations import round_trip
from trade_engine.storage.database import is_sqlite, open_database
from trade_engine.storage.migrate import upgrade
from trade_engine.storage.recovery import OPEN_ORDERS_IN_PRIORITY

INDEX = "ix_orders_open_market_priority"


def _indexes(connection: Connection) -> dict[str, str]:
    """Each index of `orders` with its predicate (empty when it has none)."""
    predicates = {}
    for index in inspect(connection).get_indexes("orders"):
        options = index.get("dialect_options", {})
        where = options.get("sqlite_where", options.get("postgresql_where", ""))
        predicates[index["name"] or ""] = str(getattr(where, "text", where))
    return predicates


def test_the_open_orders_index_matches_the_schema_and_goes_both_ways(database_url: str) -> None:
    trip = asyncio.run(round_trip(database_url, "0009", {INDEX, "ix_orders_market_status_priority"}))
    assert trip.after_upgrade == []
    assert trip.again == []


def test_recovery_reads_the_open_orders_from_the_partial_index_without_sorting(database_url: str) -> None:
    async def plan() -> tuple[dict[str, str], list[str]]:
        database = open_database(database_url)
        await upgrade(database)
        dialect = sqlite.dialect() if is_sqlite(database_url) else postgresql.dialect()
        query = str(OPEN_ORDERS_IN_PRIORITY.compile(dialect=dialect))
        async with database.connect() as connection:
            indexes = await connection.run_sync(_indexes)
            if is_sqlite(database_url):
                rows = await connection.execute(text(f"EXPLAIN QUERY PLAN {query}"))
                steps = [str(row[-1]) for row in rows]
            else:  # a tiny table is scanned whole unless the planner is told otherwise
                await connection.execute(text("SET enable_seqscan = off"))
                await connection.execute(text("SET enable_sort = off"))
                steps = [str(row[0]) for row in await connection.execute(text(f"EXPLAIN {query}"))]
        await database.dispose()
        return indexes, steps

    indexes, steps = asyncio.run(plan())
    assert "'PARTIALLY_FILLED'" in indexes[INDEX], indexes
    assert "'NEW'" in indexes[INDEX], indexes
    assert "ix_orders_market_status_priority" not in indexes
    # PostgreSQL names each partition's index after the partition: "..._market_priority_idx".
    assert any(INDEX in step or "market_priority_idx" in step for step in steps), steps
    assert not any("TEMP B-TREE" in step or step.lstrip().startswith("Sort") for step in steps), steps

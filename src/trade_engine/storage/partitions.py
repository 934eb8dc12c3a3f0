"""PostgreSQL partitions: trades by day, orders by month, created ahead of time.

The service calls `ensure_partitions` at start and then periodically, so the partitions
for the coming days and months exist before the first row needs them. Rows that still
fall outside every dated partition (clock skew, a long outage) land in the default
partition created by the migration, never in an error. A dated partition whose range
already has rows in the default partition cannot be attached; that range is left to
the default partition and reported.
"""

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

NS: Final = 1_000_000_000


def _ns(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * NS


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def planned_partitions(
    now_ns: int, days_ahead: int = 7, months_ahead: int = 2
) -> list[tuple[str, str, int, int]]:
    """(table, partition name, lower bound, upper bound) for the coming days/months."""
    today = datetime.fromtimestamp(now_ns / NS, tz=UTC).date()
    plans = []
    for offset in range(-1, days_ahead + 1):
        day = today + timedelta(days=offset)
        plans.append(("trades", f"trades_p{day:%Y%m%d}", _ns(day), _ns(day + timedelta(days=1))))
    month = date(today.year, today.month, 1)
    for _ in range(months_ahead + 1):
        following = _next_month(month)
        plans.append(("orders", f"orders_p{month:%Y%m}", _ns(month), _ns(following)))
        month = following
    return plans


async def ensure_partitions(database: AsyncEngine, now_ns: int) -> list[str]:
    """Create the missing partitions; returns the names created. A no-op on SQLite."""
    if database.dialect.name != "postgresql":
        return []
    async with database.connect() as connection:
        existing = {
            name
            for (name,) in await connection.execute(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname IN ('trades', 'orders')"
                )
            )
        }
    created = []
    for table, name, lower, upper in planned_partitions(now_ns):
        if name in existing:
            continue
        try:
            async with database.begin() as connection:
                await connection.execute(
                    text(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({lower}) TO ({upper})")
                )
            created.append(name)
        except Exception as error:  # rows for this range already sit in the default partition
            log.warning("partition not created", extra={"partition": name, "error": str(error)})
    return created

"""Recovery's index holds only the open orders, in each market's time priority.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 13:00:00

The index on (market, status, priority) made recovery sort: the open orders are two
statuses, so their priorities come from two ranges of the index (measured on SQLite
with 1,000,000 open orders: 3.7 s to read them sorted, 2.2 s from this index). A partial
index on (market, priority) of the open orders is read in order, and it is smaller:
closed orders, most of a store, leave it. Nothing else looked orders up by market.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_ORDER = "status IN ('NEW', 'PARTIALLY_FILLED')"


def upgrade() -> None:
    op.drop_index("ix_orders_market_status_priority", table_name="orders")
    op.create_index(
        "ix_orders_open_market_priority",
        "orders",
        ["market", "priority"],
        sqlite_where=sa.text(OPEN_ORDER),
        postgresql_where=sa.text(OPEN_ORDER),
    )


def downgrade() -> None:
    op.drop_index("ix_orders_open_market_priority", table_name="orders")
    op.create_index("ix_orders_market_status_priority", "orders", ["market", "status", "priority"])

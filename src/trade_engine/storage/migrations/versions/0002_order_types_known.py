"""Order types are a known set, take-profits included.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 11:40:00

Take-profit orders (TAKE_PROFIT_LIMIT, TAKE_PROFIT_MARKET) are stored like every order,
with their type in `orders.order_type`, and that is all recovery needs: the engine
derives a pending order's trigger direction from its side and type. What this revision
adds is the guarantee behind that. Recovery trusts the rows it restores, and a pending
order of a type the engine does not know would land in a stop book of the wrong
direction instead of being refused, so the database now accepts only the engine's types.

PostgreSQL adds the constraint to the partitioned `orders` table, which adds it to every
partition. SQLite cannot add a constraint to an existing table, so batch mode rebuilds
`orders` with it (copying the rows and recreating its indexes).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As of this revision (later revisions must not change it here, but in a new one).
_ORDER_TYPES = (
    "LIMIT",
    "MARKET",
    "STOP_LIMIT",
    "STOP_MARKET",
    "TAKE_PROFIT_LIMIT",
    "TAKE_PROFIT_MARKET",
)
_NAME = "ck_orders_order_type_known"


def upgrade() -> None:
    condition = "order_type IN ({})".format(", ".join(f"'{kind}'" for kind in _ORDER_TYPES))
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_check_constraint(op.f(_NAME), condition)


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(_NAME), type_="check")

"""Orders keep their caller's labels (domain/order_meta.py) as JSON.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 12:00:00

One nullable text column: an order without labels stores NULL, so existing rows need
no rewrite. On PostgreSQL the column is added to the partitioned table and so to
every partition.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("meta", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("orders", "meta")

"""Each journal row names the epoch of the core that committed it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 18:00:00

A cluster core's journal append checks its epoch against the fence and records the
command stream's position there (0009); the row it appends now carries that epoch too,
so the journal itself says which leader committed each batch still in it, and where
one leader's batches end and the next one's begin (for an operator looking into a
takeover; nothing reads it back). `serve` has no epoch: its rows carry 0.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("journal") as journal:
        journal.add_column(sa.Column("epoch", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("journal") as journal:
        journal.drop_column("epoch")

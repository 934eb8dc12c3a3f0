"""The command journal: acknowledgements are durable in one row per batch.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 14:00:00

Each group commit writes one journal row (the batch's time-stamped commands, encoded);
the orders, trades, balances and ledger rows follow behind it, and the journal rows
they cover are deleted in the same transaction. See docs/adr/0001.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "journal",
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("commands", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("last_seq", name=op.f("pk_journal")),
    )


def downgrade() -> None:
    op.drop_table("journal")

"""The sequencer's durable position: the global sequence number of the last committed
command, written by every batch in the batch's own transaction.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 07:00:00

When a commit's outcome is unknown (the connection dropped after the batch was sent,
before the database answered), the sequencer reconnects and reads this row: the batch
is committed exactly when `last_seq` has reached the batch's last command. On start,
numbering continues from it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sequencer_state",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequencer_state")),
        sa.CheckConstraint("id = 1", name=op.f("ck_sequencer_state_single_row")),
    )


def downgrade() -> None:
    op.drop_table("sequencer_state")

"""Engine snapshots: a restart loads an image of the engine instead of every open order.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 21:00:00

A snapshot is the engine's image (engine/image.py) as of a global sequence number, in
parts. Its row in `snapshots` is written last, in one transaction with the removal of
older snapshots: a snapshot without its row is incomplete and never read. The journal
keeps every batch after the latest snapshot, so that a restart replays them onto it
(docs/adr/0002).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "snapshot_parts",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq", "part", name=op.f("pk_snapshot_parts")),
    )
    op.create_table(
        "snapshots",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("orders", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("snapshots")
    op.drop_table("snapshot_parts")

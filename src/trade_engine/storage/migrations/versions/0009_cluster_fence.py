"""The cluster's fencing state: the leader's epoch and how far the command stream is applied.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-04 16:00:00

Two rows with the same epoch, one per kind of write, so that a journal append and a
write of the tables never wait for each other: a core that takes over increments both
in one transaction; every journal append of the active core checks the `journal` row's
epoch and records there `position` (the command stream's sequence number of the last
command its batch took) in the same statement, and every write of the tables checks the
`tables` row's, through `te_fence` (PostgreSQL), which fails the statement of a core
whose epoch is stale. See docs/cluster.md.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FENCE = """
CREATE FUNCTION te_fence(current_epoch bigint, expected_epoch bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF current_epoch <> expected_epoch THEN
        RAISE EXCEPTION 'fenced: epoch % is stale, the cluster is at %', expected_epoch, current_epoch
            USING ERRCODE = 'TE409';
    END IF;
    RETURN true;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "cluster_fence",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("leader", sa.Text(), nullable=False),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cluster_fence")),
        sa.CheckConstraint("name IN ('journal', 'tables')", name=op.f("ck_cluster_fence_name_known")),
    )
    op.execute(
        "INSERT INTO cluster_fence (name, epoch, position, leader, updated_ts)"
        " VALUES ('journal', 0, 0, '', 0), ('tables', 0, 0, '', 0)"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FENCE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION te_fence(bigint, bigint)")
    op.drop_table("cluster_fence")

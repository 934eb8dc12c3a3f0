"""Listen keys of Binance's user-data stream, in the database.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-04 16:00:00

A listen key is created, kept alive and closed through the REST API of any gateway
process and validated by the process that serves its stream, so it lives in the
database: its user, the API key that opened it, and when it expires.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "listen_keys",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("api_key", sa.Text(), nullable=False),
        sa.Column("created_ts", sa.BigInteger(), nullable=False),
        sa.Column("expires_ts", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_listen_keys_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listen_keys")),
    )
    with op.batch_alter_table("listen_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_listen_keys_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("listen_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_listen_keys_user_id"))
    op.drop_table("listen_keys")

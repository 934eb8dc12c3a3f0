"""The operators' audit log; transfers can be listed with their references.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 09:00:00

`audit_log` records every successful administrative change made through the API (who,
what, on what, when: api/audit.py). The index on `idempotency_keys (scope, ref_id)`
lets the operator view show each listed transfer's reference without a scan.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        op.f("ix_idempotency_keys_scope_ref_id"), "idempotency_keys", ["scope", "ref_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_scope_ref_id"), table_name="idempotency_keys")
    op.drop_table("audit_log")

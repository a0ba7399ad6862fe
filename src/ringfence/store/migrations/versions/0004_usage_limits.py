"""Usage throttles: limits per tenant and extension, and what each call cost.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "usage_limits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("ext", sa.String(32), nullable=False, server_default=""),
        sa.Column("limits", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_usage_limits_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_limits")),
        sa.UniqueConstraint("tenant_id", "ext", name=op.f("uq_usage_limits_tenant_id_ext")),
    )
    with op.batch_alter_table("call_records") as batch:
        batch.add_column(sa.Column("cost", sa.String(32), nullable=True))
        batch.add_column(sa.Column("currency", sa.String(3), nullable=True))
        batch.create_index(op.f("ix_call_records_ended_at"), ["ended_at"])


def downgrade() -> None:
    with op.batch_alter_table("call_records") as batch:
        batch.drop_index(op.f("ix_call_records_ended_at"))
        batch.drop_column("currency")
        batch.drop_column("cost")
    op.drop_table("usage_limits")

"""Usage shared by every node: spend counters per period, and each node's live calls and call
starts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "usage_spend",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("ext", sa.String(32), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("micros", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_usage_spend_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "ext", "period", name=op.f("pk_usage_spend")),
    )
    op.create_index("ix_usage_spend_updated_at", "usage_spend", ["updated_at"])
    op.create_table(
        "usage_nodes",
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("key", sa.String(96), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("node", "key", name=op.f("pk_usage_nodes")),
    )


def downgrade() -> None:
    op.drop_table("usage_nodes")
    op.drop_index("ix_usage_spend_updated_at", table_name="usage_spend")
    op.drop_table("usage_spend")

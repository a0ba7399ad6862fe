"""Call policy: the tenant's country and time zone, policy settings, blocked callers, rates, and
old and new values in the audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("country", sa.String(2), nullable=False, server_default="US"))
        batch.add_column(sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"))
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("old_value", sa.Text(), nullable=True))
        batch.add_column(sa.Column("new_value", sa.Text(), nullable=True))
    op.create_table(
        "policy_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("ext", sa.String(32), nullable=False, server_default=""),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_policy_settings_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_settings")),
        sa.UniqueConstraint("tenant_id", "ext", name=op.f("uq_policy_settings_tenant_id_ext")),
    )
    op.create_table(
        "caller_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("ext", sa.String(32), nullable=False, server_default=""),
        sa.Column("pattern", sa.String(32), nullable=False),
        sa.Column("treatment", sa.String(8), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.CheckConstraint(
            "treatment IN ('busy', 'reject', 'silence')",
            name=op.f("ck_caller_blocks_treatment"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_caller_blocks_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_caller_blocks")),
        sa.UniqueConstraint(
            "tenant_id", "ext", "pattern", name=op.f("uq_caller_blocks_tenant_id_ext_pattern")
        ),
    )
    op.create_table(
        "rates",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(15), nullable=False),
        sa.Column("price", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rates")),
        sa.UniqueConstraint("tenant_id", "prefix", name=op.f("uq_rates_tenant_id_prefix")),
    )


def downgrade() -> None:
    op.drop_table("rates")
    op.drop_table("caller_blocks")
    op.drop_table("policy_settings")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("new_value")
        batch.drop_column("old_value")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("timezone")
        batch.drop_column("country")

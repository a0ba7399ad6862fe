"""Toll-fraud guard: incidents, holds, security contacts, webhooks, the notification outbox and
extension PINs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"],
        ["tenants.id"],
        name=op.f(f"fk_{table}_tenant_id_tenants"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "fraud_incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("ext", sa.String(32), nullable=False, server_default=""),
        sa.Column("opened_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("actions", sa.Text(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("released_at", sa.Double(), nullable=True),
        sa.Column("released_by", sa.String(128), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'released')", name=op.f("ck_fraud_incidents_status")
        ),
        _tenant_fk("fraud_incidents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fraud_incidents")),
    )
    op.create_index("ix_fraud_incidents_tenant_status", "fraud_incidents", ["tenant_id", "status"])
    op.create_table(
        "fraud_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("ext", sa.String(32), nullable=False, server_default=""),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("since", sa.Double(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("level IN ('pin', 'contain')", name=op.f("ck_fraud_holds_level")),
        _tenant_fk("fraud_holds"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fraud_holds")),
        sa.UniqueConstraint("tenant_id", "ext", name=op.f("uq_fraud_holds_tenant_id_ext")),
    )
    op.create_table(
        "security_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        _tenant_fk("security_contacts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_contacts")),
        sa.UniqueConstraint(
            "tenant_id", "email", name=op.f("uq_security_contacts_tenant_id_email")
        ),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        _tenant_fk("webhooks"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_webhooks_tenant_id")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered_at", sa.Double(), nullable=True),
        sa.Column("gave_up", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "channel IN ('email', 'webhook')", name=op.f("ck_notifications_channel")
        ),
        _tenant_fk("notifications"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index("ix_notifications_pending", "notifications", ["delivered_at", "gave_up"])
    with op.batch_alter_table("extensions") as batch:
        batch.add_column(sa.Column("pin_ha1_md5", sa.String(32), nullable=True))
        batch.add_column(sa.Column("pin_ha1_sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("extensions") as batch:
        batch.drop_column("pin_ha1_sha256")
        batch.drop_column("pin_ha1_md5")
    op.drop_index("ix_notifications_pending", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("webhooks")
    op.drop_table("security_contacts")
    op.drop_table("fraud_holds")
    op.drop_index("ix_fraud_incidents_tenant_status", table_name="fraud_incidents")
    op.drop_table("fraud_incidents")

"""The first schema: tenants, extensions, trunks, numbers, bindings, call records, audit log
and the admin revision counter.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("encryption_required", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
        sa.UniqueConstraint("domain", name=op.f("uq_tenants_domain")),
    )
    op.create_table(
        "extensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("ext", sa.String(32), nullable=False),
        sa.Column("display_name", sa.String(64), nullable=True),
        sa.Column("ha1_md5", sa.String(32), nullable=False),
        sa.Column("ha1_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extensions")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_extensions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("tenant_id", "ext", name=op.f("uq_extensions_tenant_id_ext")),
    )
    op.create_table(
        "trunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("transport", sa.String(3), nullable=False),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("password", sa.String(128), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trunks")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_trunks_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_trunks_tenant_id_name")),
        sa.UniqueConstraint("host", name=op.f("uq_trunks_host")),
        sa.CheckConstraint("transport IN ('udp', 'tcp', 'tls')", name=op.f("ck_trunks_transport")),
        sa.CheckConstraint("port BETWEEN 1 AND 65535", name=op.f("ck_trunks_port")),
    )
    op.create_table(
        "numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("e164", sa.String(16), nullable=False),
        sa.Column("ext", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_numbers")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_numbers_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "ext"],
            ["extensions.tenant_id", "extensions.ext"],
            name=op.f("fk_numbers_tenant_id_ext_extensions"),
            ondelete="RESTRICT",
        ),
        sa.UniqueConstraint("e164", name=op.f("uq_numbers_e164")),
    )
    op.create_table(
        "bindings",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("ext", sa.String(32), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("cseq", sa.BigInteger(), nullable=False),
        sa.Column("q", sa.Double(), nullable=True),
        sa.Column("instance", sa.Text(), nullable=True),
        sa.Column("reg_id", sa.Text(), nullable=True),
        sa.Column("transport", sa.String(8), nullable=False),
        sa.Column("source_host", sa.Text(), nullable=False),
        sa.Column("source_port", sa.Integer(), nullable=False),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bindings")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "ext"],
            ["extensions.tenant_id", "extensions.ext"],
            name=op.f("fk_bindings_tenant_id_ext_extensions"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_bindings_tenant_id_ext"), "bindings", ["tenant_id", "ext"])
    op.create_index(op.f("ix_bindings_expires_at"), "bindings", ["expires_at"])
    op.create_table(
        "call_records",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("caller", sa.Text(), nullable=False),
        sa.Column("callee", sa.Text(), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("answered_at", sa.Double(), nullable=True),
        sa.Column("ended_at", sa.Double(), nullable=False),
        sa.Column("duration", sa.Double(), nullable=False),
        sa.Column("final_status", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_records")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_call_records_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.CheckConstraint(
            "direction IN ('internal', 'outbound', 'inbound')",
            name=op.f("ck_call_records_direction"),
        ),
    )
    op.create_index(
        op.f("ix_call_records_tenant_id_ended_at"), "call_records", ["tenant_id", "ended_at"]
    )
    op.create_table(
        "audit_log",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_tenant_id_id"), "audit_log", ["tenant_id", "id"])
    meta = op.create_table(
        "meta",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meta")),
        sa.CheckConstraint("id = 1", name=op.f("ck_meta_single_row")),
    )
    op.bulk_insert(meta, [{"id": 1, "revision": 0}])


def downgrade() -> None:
    for table in (
        "meta",
        "audit_log",
        "call_records",
        "bindings",
        "numbers",
        "trunks",
        "extensions",
        "tenants",
    ):
        op.drop_table(table)

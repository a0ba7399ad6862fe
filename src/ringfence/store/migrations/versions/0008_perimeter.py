"""The perimeter: bans shared by every node, and the networks phones and trunks may come from.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "bans",
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("since", sa.Double(), nullable=False),
        sa.Column("until", sa.Double(), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("offences", sa.Integer(), nullable=False),
        sa.Column("lifted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("network", name=op.f("pk_bans")),
    )
    op.create_index("ix_bans_updated_at", "bans", ["updated_at"])
    for table in ("tenants", "extensions", "trunks"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("allow_from", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    for table in ("trunks", "extensions", "tenants"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("allow_from")
    op.drop_index("ix_bans_updated_at", table_name="bans")
    op.drop_table("bans")

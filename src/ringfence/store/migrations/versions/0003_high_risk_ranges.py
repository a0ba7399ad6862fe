"""The operator's high-risk range list, which replaces the packaged one while it has rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "high_risk_ranges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(15), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_high_risk_ranges")),
        sa.UniqueConstraint("prefix", name=op.f("uq_high_risk_ranges_prefix")),
    )


def downgrade() -> None:
    op.drop_table("high_risk_ranges")

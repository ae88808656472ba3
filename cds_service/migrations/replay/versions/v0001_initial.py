"""The replay store's table as the code before Alembic created it (kept when present).

Revision ID: replay_0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "replay_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "cds_seen_jti" not in sa.inspect(op.get_bind()).get_table_names():
        op.create_table(
            "cds_seen_jti",
            sa.Column("jti_key", sa.Text(), primary_key=True),
            sa.Column("expires_at", sa.Double(), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("cds_seen_jti")

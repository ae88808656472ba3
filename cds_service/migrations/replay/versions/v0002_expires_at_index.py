"""An index on ``cds_seen_jti.expires_at``: the purge of expired ids no longer scans.

Revision ID: replay_0002
Revises: replay_0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "replay_0002"
down_revision = "replay_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cds_seen_jti_expires_at", "cds_seen_jti", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_cds_seen_jti_expires_at", table_name="cds_seen_jti")

"""An index on ``cds_issued_card.issued_at``: the retention purge no longer scans the table.

Revision ID: feedback_0002
Revises: feedback_0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "feedback_0002"
down_revision = "feedback_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cds_issued_card_issued_at", "cds_issued_card", ["issued_at"])


def downgrade() -> None:
    op.drop_index("ix_cds_issued_card_issued_at", table_name="cds_issued_card")

"""The feedback store's tables as the code before Alembic created them.

Revision ID: feedback_0001
Revises:
Create Date: 2026-11-29

A database made by that code already has them: each is created only when missing.
Timestamps are TIMESTAMPTZ on PostgreSQL and ISO 8601 text in UTC on SQLite.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "feedback_0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamp() -> sa.types.TypeEngine[Any]:
    if op.get_bind().dialect.name == "postgresql":
        return sa.DateTime(timezone=True)
    return sa.Text()


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "cds_issued_card" not in existing:
        op.create_table(
            "cds_issued_card",
            sa.Column("service_id", sa.Text(), nullable=False),
            sa.Column("card_uuid", sa.Text(), nullable=False),
            sa.Column("rule_id", sa.Text(), nullable=False),
            sa.Column("issued_at", _timestamp(), nullable=False),
            sa.PrimaryKeyConstraint("service_id", "card_uuid"),
        )
    if "cds_feedback" not in existing:
        op.create_table(
            "cds_feedback",
            sa.Column("feedback_key", sa.Text(), primary_key=True),
            sa.Column("service_id", sa.Text(), nullable=False),
            sa.Column("card_uuid", sa.Text(), nullable=False),
            sa.Column("rule_id", sa.Text()),
            sa.Column("outcome", sa.Text(), nullable=False),
            sa.Column("accepted_suggestion_ids", sa.Text(), nullable=False),
            sa.Column("override_system", sa.Text()),
            sa.Column("override_code", sa.Text()),
            sa.Column("override_display", sa.Text()),
            sa.Column("user_comment_given", sa.Boolean(), nullable=False),
            sa.Column("outcome_timestamp", _timestamp(), nullable=False),
            sa.Column("received_at", _timestamp(), nullable=False),
            sa.CheckConstraint("outcome IN ('accepted', 'overridden')"),
        )


def downgrade() -> None:
    op.drop_table("cds_feedback")
    op.drop_table("cds_issued_card")

"""Alembic environment of the feedback store's schema history."""

from cds_service.migrations import run_migrations

run_migrations("cds_feedback_schema_version")

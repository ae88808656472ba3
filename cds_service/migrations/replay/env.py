"""Alembic environment of the replay store's schema history."""

from cds_service.migrations import run_migrations

run_migrations("cds_replay_schema_version")

"""Alembic schema migrations, one history per store (each with its own version table).

``feedback/``: ``cds_issued_card`` and ``cds_feedback``; ``replay/``: ``cds_seen_jti``.
Revision 0001 is the schema the stores created before Alembic (commit 20917b4): on
such a database it finds the tables in place and only records the revision. Run by
``cds_service.sql.Database`` (at a process's first use, or ``python -m cds_service
migrate``), always on a connection it passes in: there is no offline (SQL script) mode.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection


def run_migrations(version_table: str) -> None:
    """The body of each history's ``env.py``."""
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("the stores' migrations run on a connection cds_service passes in")
    context.configure(connection=connection, version_table=version_table)
    with context.begin_transaction():
        context.run_migrations()

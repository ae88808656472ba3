"""Schema migrations (Alembic): a database made by the code before Alembic is upgraded in place.

``tests/stores/schema_20917b4_*.sql`` hold the schema the stores created at commit
20917b4, before Alembic, and rows as that code wrote them (captured by running it).
Upgrading keeps every row and every idempotency key, adds what later revisions add,
and records the revision; ``python -m cds_service migrate`` does it as a deploy step.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from cds_service.feedback_store import open_feedback_store
from cds_service.replay_store import open_replay_cache
from cds_service.settings import StoreSettings
from cds_service.sql import head_revision
from cds_service.wire import FeedbackItem
from tests.postgres import isolated_postgres_url
from tests.python_process import run_python

STORES = Path(__file__).parent / "stores"
ROOT = Path(__file__).resolve().parents[1]
SERVICE = "her2-nsclc-order-sign"
SEEN_ISSUER, SEEN_JTI = "https://ehr.example.org", "jti-1"
"""The replay id recorded in the captured rows (until 2100)."""
NOT_AUTOMATIC = StoreSettings(auto_migrate=False)


def statements(backend: str) -> list[str]:
    script = (STORES / f"schema_20917b4_{backend}.sql").read_text(encoding="utf-8")
    lines = [line for line in script.splitlines() if not line.startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";\n") if part.strip()]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database as today's code before Alembic left it, with its rows."""
    if request.param == "sqlite":
        path = tmp_path / "feedback.sqlite3"
        connection = sqlite3.connect(path)
        for statement in statements("sqlite"):
            connection.execute(statement)
        connection.commit()
        connection.close()
        yield f"sqlite:///{path}"
        return
    with isolated_postgres_url() as url:
        with psycopg.connect(url) as server:
            for statement in statements("postgresql"):
                server.execute(statement.encode())
        yield url


def tables_and_indexes(url: str) -> tuple[set[str], set[str], set[str]]:
    """Table names, index names and the recorded revisions."""
    if url.startswith("sqlite:"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            rows = connection.execute("SELECT type, name FROM sqlite_master").fetchall()
            tables = {name for kind, name in rows if kind == "table"}
            indexes = {name for kind, name in rows if kind == "index"}
            revisions = {
                row[0]
                for table in ("cds_feedback_schema_version", "cds_replay_schema_version")
                if table in tables
                for row in connection.execute(f"SELECT version_num FROM {table}")
            }
        finally:
            connection.close()
        return tables, indexes, revisions
    with psycopg.connect(url) as server:
        tables = {
            name
            for (name,) in server.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        }
        indexes = {
            name
            for (name,) in server.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            )
        }
        revisions = {
            str(row[0])
            for table in ("cds_feedback_schema_version", "cds_replay_schema_version")
            if table in tables
            for row in server.execute(f"SELECT version_num FROM {table}".encode())
        }
    return tables, indexes, revisions


def test_a_database_made_before_alembic_is_upgraded_in_place(old_database: str) -> None:
    tables, _, revisions = tables_and_indexes(old_database)
    assert tables == {"cds_feedback", "cds_issued_card", "cds_seen_jti"}
    assert revisions == set()

    feedback = open_feedback_store(old_database, NOT_AUTOMATIC)
    replay = open_replay_cache(old_database, NOT_AUTOMATIC)
    try:
        feedback.migrate()
        replay.migrate()
        feedback.migrate()  # at head already: nothing to do, no error

        tables, indexes, revisions = tables_and_indexes(old_database)
        assert revisions == {"feedback_0002", "replay_0002"}
        assert {"ix_cds_issued_card_issued_at", "ix_cds_seen_jti_expires_at"} <= indexes
        assert {"cds_feedback_schema_version", "cds_replay_schema_version"} <= tables

        rows = {(row.card_uuid, row.rule_id, row.outcome) for row in feedback.feedback_rows()}
        assert rows == {
            ("card-tdxd", "tdxd-second-line", "accepted"),
            ("card-ild", "ild-monitor", "overridden"),
        }
        # The old rows' idempotency keys are today's: the same item again is not new.
        same = FeedbackItem.model_validate(
            {
                "card": "card-tdxd",
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": "sugg-a"}],
                "outcomeTimestamp": "2026-11-21T09:30:00Z",
            }
        )
        assert feedback.record(SERVICE, [same]) == 0
        assert not replay.first_use(SEEN_ISSUER, SEEN_JTI, 4102444800.0)  # still seen
        assert replay.first_use(SEEN_ISSUER, "jti-new", 4102444800.0)
    finally:
        feedback.close()
        replay.close()


def test_by_default_a_process_upgrades_at_its_first_use(old_database: str) -> None:
    store = open_feedback_store(old_database)
    try:
        assert len(store.feedback_rows()) == 2
    finally:
        store.close()
    _, indexes, revisions = tables_and_indexes(old_database)
    assert "feedback_0002" in revisions
    assert "ix_cds_issued_card_issued_at" in indexes


def test_the_migrate_command_upgrades_both_stores(old_database: str) -> None:
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("CDS_")},
        "CDS_PROFILE": "production",
        "CDS_FEEDBACK_DATABASE_URL": old_database,
    }
    done = subprocess.run(
        [sys.executable, "-m", "cds_service", "migrate"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    _, _, revisions = tables_and_indexes(old_database)
    assert revisions == {"feedback_0002", "replay_0002"}


def test_the_migrate_command_fails_when_a_store_is_unreachable(tmp_path: Path) -> None:
    from demo.fhir_server import free_port

    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("CDS_")},
        "CDS_PROFILE": "production",
        "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        "CDS_REPLAY_STORE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/test",
        "CDS_STORE_CONNECT_TIMEOUT_S": "2",
    }
    done = subprocess.run(
        [sys.executable, "-m", "cds_service", "migrate"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "replay store: not migrated" in done.stderr + done.stdout


@pytest.mark.parametrize("store", ["feedback", "replay"])
def test_the_head_revision_is_read_from_the_scripts_as_alembic_reads_it(store: str) -> None:
    config = Config()
    config.set_main_option("script_location", f"cds_service:migrations/{store}")
    heads = ScriptDirectory.from_config(config).get_heads()
    assert [head_revision(f"cds_service:migrations/{store}")] == heads


USE_BOTH_STORES = """
import sys
from cds_service.feedback_store import open_feedback_store
from cds_service.replay_store import open_replay_cache

feedback, replay = open_feedback_store(sys.argv[1]), open_replay_cache(sys.argv[1])
rows = len(feedback.feedback_rows())
first = replay.first_use("https://ehr.example.org", "jti-after-the-upgrade", 4102444800.0)
feedback.close()
replay.close()
print(rows, first, "alembic" in sys.modules)
"""


def test_a_process_finding_its_stores_at_head_does_not_import_alembic(old_database: str) -> None:
    feedback = open_feedback_store(old_database, NOT_AUTOMATIC)
    replay = open_replay_cache(old_database, NOT_AUTOMATIC)
    try:
        feedback.migrate()
        replay.migrate()
    finally:
        feedback.close()
        replay.close()
    run = run_python(USE_BOTH_STORES, old_database, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["2", "True", "False"]
    _, _, revisions = tables_and_indexes(old_database)
    assert revisions == {"feedback_0002", "replay_0002"}


def test_a_process_finding_its_stores_behind_upgrades_them_with_alembic(
    old_database: str,
) -> None:
    run = run_python(USE_BOTH_STORES, old_database, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["2", "True", "True"]
    _, _, revisions = tables_and_indexes(old_database)
    assert revisions == {"feedback_0002", "replay_0002"}

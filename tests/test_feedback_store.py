"""The feedback store, the same tests on SQLite and on PostgreSQL.

Scenario: a clinician sees the HER2 cards of one hook call, accepts one card's
suggestion and overrides another, giving a reason and a free-text comment; the
EHR may report the same feedback more than once.
"""

from __future__ import annotations

import json
import multiprocessing
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from cds_service import feedback_store
from cds_service.errors import ConfigurationError
from cds_service.feedback_store import (
    FeedbackStore,
    FeedbackStoreUnavailable,
    open_feedback_store,
)
from cds_service.wire import FeedbackItem
from tests.postgres import admin_url, postgres_url_fixture

postgres_url = postgres_url_fixture()

SERVICE = "her2-nsclc-order-sign"
OVERRIDE_SYSTEM = "urn:her2-nsclc-cds:override-reason"
PRIVATE_COMMENT = "Mrs Jane Example (MRN 445566) declined T-DXd at her visit"


# --- Fixtures: one store per backend ----------------------------------------------------


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'var' / 'feedback.sqlite3'}"  # parent does not exist yet
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[FeedbackStore]:
    opened = open_feedback_store(store_url)
    yield opened
    opened.close()


def accepted(card: str, *suggestions: str, at: str = "2026-11-21T09:30:00Z") -> FeedbackItem:
    return FeedbackItem.model_validate(
        {
            "card": card,
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": suggestion} for suggestion in suggestions],
            "outcomeTimestamp": at,
        }
    )


def overridden(
    card: str,
    code: str = "alternative-therapy-planned",
    *,
    comment: str | None = None,
    at: str = "2026-11-21T09:31:00Z",
) -> FeedbackItem:
    reason: dict[str, Any] = {
        "reason": {"system": OVERRIDE_SYSTEM, "code": code, "display": "Alternative planned"}
    }
    if comment is not None:
        reason["userComment"] = comment
    return FeedbackItem.model_validate(
        {"card": card, "outcome": "overridden", "overrideReason": reason, "outcomeTimestamp": at}
    )


def raw_contents(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table in the store's database, read around the store."""
    if url.startswith("sqlite:"):
        return _sqlite_contents(unquote(urlsplit(url).path[1:]))
    return _postgres_contents(url)


def _sqlite_contents(path: str) -> dict[str, list[dict[str, Any]]]:
    connection = sqlite3.connect(path)
    connection.row_factory = sqlite3.Row
    try:
        tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {
            table: [dict(row) for row in connection.execute(f'SELECT * FROM "{table}"')]
            for (table,) in tables.fetchall()
        }
    finally:
        connection.close()


def _postgres_contents(url: str) -> dict[str, list[dict[str, Any]]]:
    with psycopg.connect(url, row_factory=dict_row) as connection:
        tables = connection.execute(
            "SELECT table_name AS name FROM information_schema.tables"
            " WHERE table_schema = current_schema()"
        ).fetchall()
        return {
            table["name"]: connection.execute(
                sql.SQL("SELECT * FROM {}").format(sql.Identifier(table["name"]))
            ).fetchall()
            for table in tables
        }


# --- What is stored ------------------------------------------------------------------------


def test_accepted_suggestion_is_stored_with_its_card(store: FeedbackStore) -> None:
    before = datetime.now(UTC)
    assert store.record(SERVICE, [accepted("card-tdxd", "sugg-order-tdxd", "sugg-echo")]) == 1

    (row,) = store.feedback_rows()
    assert row.service_id == SERVICE
    assert row.card_uuid == "card-tdxd"
    assert row.outcome == "accepted"
    assert row.accepted_suggestion_ids == ("sugg-echo", "sugg-order-tdxd")
    assert (row.override_system, row.override_code, row.override_display) == (None, None, None)
    assert row.user_comment_given is False
    assert row.outcome_timestamp == datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    assert before <= row.received_at <= datetime.now(UTC)


def test_override_reason_is_stored_but_never_the_comment(
    store: FeedbackStore, store_url: str
) -> None:
    assert store.record(SERVICE, [overridden("card-ild", comment=PRIVATE_COMMENT)]) == 1

    (row,) = store.feedback_rows()
    assert row.outcome == "overridden"
    assert row.accepted_suggestion_ids == ()
    assert row.override_system == OVERRIDE_SYSTEM
    assert row.override_code == "alternative-therapy-planned"
    assert row.override_display == "Alternative planned"
    assert row.user_comment_given is True
    contents = raw_contents(store_url)
    # The store's tables, and Alembic's version table (one row: the schema revision).
    assert set(contents) == {"cds_feedback", "cds_issued_card", "cds_feedback_schema_version"}
    for table, raw_rows in contents.items():
        for raw in raw_rows:
            for column, value in raw.items():
                assert "Jane" not in str(value), (table, column)
                assert "445566" not in str(value), (table, column)


def test_comment_is_not_in_the_sqlite_files_at_all(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
    store = open_feedback_store(url)
    try:
        store.record(SERVICE, [overridden("card-ild", comment=PRIVATE_COMMENT)])
        files = list(tmp_path.glob("feedback.sqlite3*"))  # the database, its WAL and index
        assert len(files) >= 2
        for file in files:
            assert b"445566" not in file.read_bytes(), file.name
    finally:
        store.close()


def test_blank_comment_counts_as_none_given(store: FeedbackStore) -> None:
    store.record(SERVICE, [overridden("card-ild", comment="   ")])

    (row,) = store.feedback_rows()
    assert row.user_comment_given is False


# --- Idempotency -------------------------------------------------------------------------


def test_same_feedback_twice_is_one_record(store: FeedbackStore) -> None:
    first = [accepted("card-tdxd", "sugg-a", "sugg-b"), overridden("card-ild")]
    assert store.record(SERVICE, first) == 2

    again = [
        accepted("card-tdxd", "sugg-b", "sugg-a", at="2026-11-21T10:30:00+01:00"),
        overridden("card-ild", comment="reported again, with a comment"),
    ]
    assert store.record(SERVICE, again) == 0
    assert store.record(SERVICE, [overridden("card-ild"), overridden("card-ild")]) == 0
    assert len(store.feedback_rows()) == 2


def test_different_feedback_on_one_card_is_kept_apart(store: FeedbackStore) -> None:
    items = [
        accepted("card-tdxd", "sugg-a"),
        accepted("card-tdxd", "sugg-b"),
        accepted("card-tdxd", "sugg-a", at="2026-11-21T09:45:00Z"),
        overridden("card-tdxd"),
        overridden("card-tdxd", "patient-declined"),
    ]
    assert store.record(SERVICE, items) == 5
    assert store.record("her2-nsclc-patient-view", [accepted("card-tdxd", "sugg-a")]) == 1
    assert len(store.feedback_rows()) == 6


def test_an_empty_batch_stores_nothing(store: FeedbackStore) -> None:
    store.remember_cards(SERVICE, [])
    assert store.record(SERVICE, []) == 0
    assert store.feedback_rows() == []


# --- Rule ids ------------------------------------------------------------------------------


def test_issued_cards_past_retention_are_purged_at_most_every_few_minutes(
    store: FeedbackStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.remember_cards(SERVICE, [("card-old", "seq-ihc3")])  # purges (nothing), starts the clock
    monkeypatch.setattr(feedback_store, "ISSUED_CARD_RETENTION", timedelta(0))
    store.remember_cards(SERVICE, [("card-kept", "seq-ihc3")])  # too soon after: no purge
    store.record(SERVICE, [overridden("card-kept")])  # its rule id is copied now
    monkeypatch.setattr(feedback_store, "PURGE_EVERY_S", 0.0)
    store.remember_cards(SERVICE, [("card-new", "seq-ihc3")])  # purges card-old (and card-kept)
    store.record(SERVICE, [overridden("card-old"), overridden("card-new")])
    rule_by_card = {r.card_uuid: r.rule_id for r in store.feedback_rows()}
    assert rule_by_card == {"card-kept": "seq-ihc3", "card-old": None, "card-new": "seq-ihc3"}


def test_rule_id_comes_from_the_issued_card(store: FeedbackStore) -> None:
    store.remember_cards(SERVICE, [("card-tdxd", "tdxd-second-line"), ("card-ild", "ild-monitor")])
    store.remember_cards(SERVICE, [("card-tdxd", "tdxd-second-line")])  # re-issued: no error

    store.record(
        SERVICE,
        [accepted("card-tdxd", "sugg-a"), overridden("card-ild"), overridden("card-unknown")],
    )
    store.record("her2-nsclc-patient-view", [overridden("card-ild")])  # not its card

    rule_by_card = {(r.service_id, r.card_uuid): r.rule_id for r in store.feedback_rows()}
    assert rule_by_card == {
        (SERVICE, "card-tdxd"): "tdxd-second-line",
        (SERVICE, "card-ild"): "ild-monitor",
        (SERVICE, "card-unknown"): None,
        ("her2-nsclc-patient-view", "card-ild"): None,
    }


def test_cards_of_responses_that_wait_for_the_writer_together_are_all_stored(
    store: FeedbackStore,
) -> None:
    """The writer takes what queued up while it lingered in one transaction."""
    for n in range(5):
        store.remember_cards(SERVICE, [(f"card-{n}", f"rule-{n}"), (f"card-{n}-ild", "ild")])
    store.record(SERVICE, [overridden(f"card-{n}") for n in range(5)])
    store.record(SERVICE, [overridden("card-3-ild")])

    rule_by_card = {r.card_uuid: r.rule_id for r in store.feedback_rows()}
    assert rule_by_card == {**{f"card-{n}": f"rule-{n}" for n in range(5)}, "card-3-ild": "ild"}


def test_card_remembered_after_its_feedback_still_gets_its_rule(store: FeedbackStore) -> None:
    store.record(SERVICE, [overridden("card-late")])
    store.remember_cards(SERVICE, [("card-late", "cardiac-lvef")])

    (row,) = store.feedback_rows()
    assert row.rule_id == "cardiac-lvef"


# --- Durability ----------------------------------------------------------------------------


def test_feedback_survives_reopening_the_store(store_url: str) -> None:
    first = open_feedback_store(store_url)
    first.remember_cards(SERVICE, [("card-tdxd", "tdxd-second-line")])
    first.record(SERVICE, [accepted("card-tdxd", "sugg-a"), overridden("card-ild")])
    before = first.feedback_rows()
    first.close()

    second = open_feedback_store(store_url)
    try:
        assert second.feedback_rows() == before
        assert second.record(SERVICE, [accepted("card-tdxd", "sugg-a")]) == 0
        assert second.ping()
    finally:
        second.close()


def test_a_closed_store_fails_feedback_but_not_hook_responses(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_feedback_store(store_url)
    assert store.ping() is True
    store.close()

    assert store.ping() is False
    with pytest.raises(FeedbackStoreUnavailable) as raised:
        store.record(SERVICE, [overridden("card-ild")])
    assert raised.value.status == 503
    store.remember_cards(SERVICE, [("card-ild", "ild-monitor")])  # logged, not raised
    assert "issued cards not recorded" in caplog.text


def test_a_forked_worker_opens_its_own_connection(
    store: FeedbackStore, caplog: pytest.LogCaptureFixture
) -> None:
    """gunicorn with preload_app forks after the store is opened.

    Had the child used (and closed) the parent's connection, the parent's
    PostgreSQL session would be gone and the parent would have to reconnect.
    """
    store.record(SERVICE, [accepted("card-before-fork", "sugg-a")])

    def worker() -> None:
        stored = store.record(SERVICE, [accepted("card-in-child", "sugg-a")])
        store.close()
        if stored != 1:
            raise SystemExit(f"child stored {stored}")

    child = multiprocessing.get_context("fork").Process(target=worker)
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    child.close()

    assert store.record(SERVICE, [accepted("card-after-fork", "sugg-a")]) == 1
    assert "reconnecting" not in caplog.text
    assert {row.card_uuid for row in store.feedback_rows()} == {
        "card-before-fork",
        "card-in-child",
        "card-after-fork",
    }


# --- Concurrency ---------------------------------------------------------------------------


def test_threads_writing_at_once_lose_nothing(store: FeedbackStore) -> None:
    threads, per_thread = 8, 25
    start = threading.Barrier(threads)
    shared = [overridden(f"card-shared-{n}") for n in range(10)]

    def write(worker: int) -> int:
        start.wait(timeout=30)
        new = 0
        for n in range(per_thread):
            card = f"card-t{worker}-{n}"
            store.remember_cards(SERVICE, [(card, "tdxd-second-line")])
            new += store.record(SERVICE, [accepted(card, "sugg-a"), shared[n % len(shared)]])
        return new

    with ThreadPoolExecutor(max_workers=threads) as pool:
        stored = sum(pool.map(write, range(threads)))

    rows = store.feedback_rows()
    assert stored == len(rows) == threads * per_thread + len(shared)
    assert sum(row.rule_id == "tdxd-second-line" for row in rows) == threads * per_thread


def _write_from_process(
    url: str, worker: int, per_worker: int, start: Barrier, stored: Synchronized[int]
) -> None:
    """Runs in a spawned process: open the store as a fresh worker would, then write."""
    start.wait(timeout=60)
    store = open_feedback_store(url)  # both processes create the schema at the same moment
    try:
        new = 0
        for n in range(per_worker):
            card = f"card-p{worker}-{n}"
            store.remember_cards(SERVICE, [(card, "tdxd-second-line")])
            new += store.record(SERVICE, [accepted(card, "sugg-a"), overridden(f"card-shared-{n}")])
    finally:
        store.close()
    with stored.get_lock():
        stored.value += new


def test_two_processes_writing_at_once_lose_nothing(store_url: str) -> None:
    processes, per_worker = 2, 60
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes)
    stored = context.Value("i", 0)
    workers = [
        context.Process(
            target=_write_from_process, args=(store_url, worker, per_worker, start, stored)
        )
        for worker in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0] * processes
    for worker in workers:
        worker.close()

    store = open_feedback_store(store_url)
    try:
        rows = store.feedback_rows()
    finally:
        store.close()
    assert stored.value == len(rows) == processes * per_worker + per_worker
    assert sum(row.rule_id == "tdxd-second-line" for row in rows) == processes * per_worker


# --- Backend specifics ---------------------------------------------------------------------


def test_sqlite_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_feedback_store("sqlite:///var/feedback.sqlite3")
    assert store.ping()  # connections open at first use
    store.close()

    database = tmp_path / "var" / "feedback.sqlite3"
    connection = sqlite3.connect(database)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        connection.close()


@pytest.mark.postgres
def test_postgres_reconnects_after_losing_its_connection(postgres_url: str) -> None:
    application = f"cds-feedback-test-{secrets.token_hex(4)}"
    url = f"{postgres_url}&application_name={application}"
    store = open_feedback_store(url)
    try:
        assert store.record(SERVICE, [accepted("card-tdxd", "sugg-a")]) == 1
        with psycopg.connect(admin_url(), autocommit=True) as admin:
            (ended,) = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (application,),
            ).fetchone() or (0,)
        assert ended == 1

        assert store.record(SERVICE, [overridden("card-ild")]) == 1
        assert store.ping()
        assert len(store.feedback_rows()) == 2
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_tables_live_in_the_urls_own_schema(postgres_url: str) -> None:
    store = open_feedback_store(postgres_url)
    assert store.ping()  # connections open (and the schema is made) at first use
    store.close()
    with psycopg.connect(postgres_url) as connection:
        (schema,) = connection.execute("SELECT current_schema()").fetchone() or ("",)
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
            " ORDER BY table_name",
            (schema,),
        ).fetchall()
    assert schema.startswith("cds_test_")
    assert tables == [("cds_feedback",), ("cds_feedback_schema_version",), ("cds_issued_card",)]


# --- Configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "",
        "var/feedback.sqlite3",
        "mysql://db.example/feedback",
        "postgresql+psycopg://db.example/feedback",
        "sqlite://",
        "sqlite:///",
        "sqlite://db.example/feedback.sqlite3",
        "sqlite:///var/feedback.sqlite3?mode=ro",
        "postgresql://[::1/feedback",
        "postgresql://db.example/feedback?bogus=1",
    ],
)
def test_unsupported_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="feedback database URL"):
        open_feedback_store(url)


def test_configuration_error_does_not_echo_a_password() -> None:
    with pytest.raises(ConfigurationError) as raised:
        open_feedback_store("postgresql://cds:s3cret@[::1/feedback")
    assert "s3cret" not in str(raised.value)


def test_accepted_suggestions_are_a_json_array_in_the_table(
    store_url: str, store: FeedbackStore
) -> None:
    """Reports can read the raw column without this module: a sorted, distinct JSON array."""
    store.record(SERVICE, [accepted("card-tdxd", "sugg-b", "sugg-a", "sugg-a")])
    (row,) = raw_contents(store_url)["cds_feedback"]
    assert json.loads(row["accepted_suggestion_ids"]) == ["sugg-a", "sugg-b"]


def test_an_in_memory_store_serves_threads_one_at_a_time() -> None:
    """``sqlite:///:memory:`` is one connection: operations from threads take turns."""
    store = open_feedback_store("sqlite:///:memory:")
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            stored = list(
                pool.map(lambda n: store.record(SERVICE, [overridden(f"card-{n}")]), range(40))
            )
        assert stored == [1] * 40
        assert len(store.feedback_rows()) == 40
    finally:
        store.close()

"""Durable, idempotent storage of CDS Hooks feedback, and of the cards it refers to.

Two tables, one schema definition (``SCHEMA``) for both backends:

``cds_issued_card``
    Every card the service sends (service id, card uuid -> rule id, issued time),
    written by ``remember_cards`` on each hook response, so that feedback, which
    names only the card uuid, can be tied to the rule that raised the card.
``cds_feedback``
    One row per distinct feedback item: service id, card uuid, rule id (copied
    from ``cds_issued_card`` when the card is known, else NULL), outcome,
    accepted suggestion ids (sorted JSON array), override reason Coding
    (system, code, display), whether a user comment was given, outcome
    timestamp (UTC) and received time (UTC).

Override reasons as EHRs send them: the ``reason`` Coding of CDS Hooks 2.0, or, when
there is none, a reason given in an extension (``overrideReason.extension`` or the
item's ``extension``; a CDS Hooks extension object or a FHIR-style list of
``{url, valueCoding | valueCodeableConcept | valueCode}``): the first Coding found there
(system, code, display) is stored, or a bare code (a token such as
``patient-declined``, under a key naming a reason or as ``valueCode``: no spaces, at
most 64 characters, stored with no system). Free text in an extension is never stored
(it may name the patient), like the comment.

No patient data is stored. In particular ``overrideReason.userComment`` is
never stored, logged or hashed: it is clinician free text and may name the
patient. Only ``user_comment_given`` (true when a non-blank comment came) is
kept. Unknown extra fields of a feedback item are ignored likewise.

Idempotency: each item's key is a SHA-256 over service id, card uuid, outcome,
outcomeTimestamp normalised to UTC (a timestamp without an offset is read as
UTC), the sorted distinct accepted suggestion ids, and the override reason's
system and code. Rows are inserted with ``ON CONFLICT DO NOTHING``, so the same
item reported again (or by two workers at once) is stored once and ``record``
counts only new rows.

Backends, chosen by URL (``open_feedback_store``):

``sqlite:///relative/path`` (to the working directory), ``sqlite:////abs/path``
    ``synchronous=FULL`` for feedback (fsync at every commit), ``NORMAL`` for
    issued cards (durable at the next checkpoint; a power cut can lose the
    last few issued cards, which only costs the rule id of their later
    feedback).
``postgresql://...`` (or ``postgres://``)
    psycopg 3. Issued cards are committed with ``synchronous_commit = off``,
    the same trade as SQLite's NORMAL.

Connections, timeouts, the schema's migrations (``cds_service/migrations/feedback``)
are ``cds_service.sql``'s: nothing connects before the first operation, so a
worker boots while the database is down, and feedback then gets a 503.

Hook calls never wait on this store. ``remember_cards`` only puts the cards on a
bounded queue (``StoreSettings.issued_cards_queue``) that one background thread
per process writes (what has queued up within ``ISSUED_CARDS_LINGER_S`` of a response's
cards, in one transaction); when the queue is full (the database slow or down) or a
write fails, the cards are dropped with a log line "issued cards not recorded"
and counted in ``issued_cards_dropped`` (their feedback then has no rule id).
``record`` and ``feedback_rows`` first wait (at most the statement timeout) for
the cards already queued, so feedback right after a hook still finds its rule.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, text

from cds_service.errors import ConfigurationError, ServiceUnavailable
from cds_service.settings import StoreSettings
from cds_service.sql import (
    Database,
    Owner,
    check_postgres_url,
    describe_postgres_url,
    enable_wal,
    sqlite_path,
)
from cds_service.wire import FeedbackItem, Outcome

__all__ = [
    "FeedbackRecord",
    "FeedbackStore",
    "FeedbackStoreUnavailable",
    "SqlFeedbackStore",
    "describe_postgres_url",
    "enable_wal",
    "open_feedback_store",
]

logger = logging.getLogger(__name__)


class FeedbackStoreUnavailable(ServiceUnavailable):
    """The feedback database could not be reached or refused the write (503).

    A ``ServiceError``, so the app's error handler answers 503 with an
    OperationOutcome; the database's own message goes to the log only.
    """


_OWNER = Owner(
    label="feedback store",
    database="feedback database",
    error=FeedbackStoreUnavailable,
    unavailable_message="Feedback storage is unavailable; retry later",
    logger=logger,
)


class FeedbackStore(Protocol):
    def remember_cards(self, service_id: str, cards: Sequence[tuple[str, str]]) -> None:
        """Record (card uuid, rule id) of cards sent by ``service_id``; idempotent.

        Never waits on the database and never raises: the cards are queued for
        a background writer, or dropped with a log line when it cannot keep up.
        """

    def record(self, service_id: str, items: Sequence[FeedbackItem]) -> int:
        """Store feedback items; return how many were new. Raises FeedbackStoreUnavailable."""

    def feedback_rows(self) -> list[FeedbackRecord]:
        """Every stored feedback record, oldest first (reports and tests)."""

    def ping(self) -> bool:
        """True when the database answers within the timeouts (/healthz, /readyz); never raises."""

    def migrate(self) -> None:
        """Bring the schema to the current revision. Raises FeedbackStoreUnavailable."""

    @property
    def issued_cards_dropped(self) -> int:
        """Cards this process dropped instead of remembering them (queue full, database down)."""

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    key: str
    service_id: str
    card_uuid: str
    rule_id: str | None
    """The rule that raised the card; None when no such card was remembered for the service."""
    outcome: Outcome
    accepted_suggestion_ids: tuple[str, ...]
    override_system: str | None
    override_code: str | None
    override_display: str | None
    user_comment_given: bool
    """Whether a non-blank userComment came; the comment itself is never stored."""
    outcome_timestamp: datetime
    received_at: datetime


# --- One schema, one set of statements, for both backends ---------------------------------

_INSERT_ISSUED_CARD = """
    INSERT INTO cds_issued_card (service_id, card_uuid, rule_id, issued_at)
    VALUES (:service_id, :card_uuid, :rule_id, :issued_at)
    ON CONFLICT (service_id, card_uuid) DO NOTHING
"""

_PURGE_ISSUED_CARDS = "DELETE FROM cds_issued_card WHERE issued_at < :cutoff"

ISSUED_CARD_RETENTION = timedelta(days=30)
"""How long an issued card is remembered: feedback comes within minutes or days, and a
feedback row keeps its rule id once recorded. Older rows are deleted, at most every
``PURGE_EVERY_S``, by the next hook call that remembers cards."""
PURGE_EVERY_S = 300.0
EXIT_FLUSH_S = 2.0
"""How long an exiting process waits for its queued issued cards to be written."""
ISSUED_CARDS_LINGER_S = 0.1
"""How long the writer waits, after a hook response's cards, for the next responses' before
it writes them all in one transaction (``flush`` cuts it short: feedback never waits for it).
Waking the writer for each response cost a worker about 1 ms of CPU per hook call at one
client, a tenth of the call; a process killed outright loses at most this much of cards."""

_INSERT_FEEDBACK = """
    INSERT INTO cds_feedback (
        feedback_key, service_id, card_uuid, rule_id, outcome, accepted_suggestion_ids,
        override_system, override_code, override_display, user_comment_given,
        outcome_timestamp, received_at
    ) VALUES (
        :key, :service_id, :card_uuid,
        (SELECT rule_id FROM cds_issued_card
          WHERE service_id = :service_id AND card_uuid = :card_uuid),
        :outcome, :accepted_suggestion_ids,
        :override_system, :override_code, :override_display, :user_comment_given,
        :outcome_timestamp, :received_at
    )
    ON CONFLICT (feedback_key) DO NOTHING
"""

_SELECT_FEEDBACK = """
    SELECT f.feedback_key, f.service_id, f.card_uuid, COALESCE(f.rule_id, c.rule_id),
           f.outcome, f.accepted_suggestion_ids,
           f.override_system, f.override_code, f.override_display, f.user_comment_given,
           f.outcome_timestamp, f.received_at
      FROM cds_feedback f
      LEFT JOIN cds_issued_card c
        ON c.service_id = f.service_id AND c.card_uuid = f.card_uuid
     ORDER BY f.received_at, f.feedback_key
"""

# --- What gets stored --------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _feedback_params(service_id: str, item: FeedbackItem) -> dict[str, Any]:
    """The row for one item, without the timestamps' backend encoding; never the comment."""
    accepted = sorted({suggestion.id for suggestion in item.acceptedSuggestions or ()})
    override = item.overrideReason
    coding: Mapping[str, Any] = (override.reason if override else None) or _extension_reason(item)
    comment = override.userComment if override else None
    params: dict[str, Any] = {
        "service_id": service_id,
        "card_uuid": item.card,
        "outcome": Outcome(item.outcome).value,
        "accepted_suggestion_ids": json.dumps(accepted, ensure_ascii=False),
        "override_system": _text(coding.get("system")),
        "override_code": _text(coding.get("code")),
        "override_display": _text(coding.get("display")),
        "user_comment_given": bool(comment and comment.strip()),
        "outcome_timestamp": _utc(item.outcomeTimestamp),
    }
    params["key"] = _feedback_key(params)
    return params


_BARE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:|-]{0,63}")
_MAX_EXTENSION_DEPTH = 4


def _extension_reason(item: FeedbackItem) -> Mapping[str, Any]:
    """An override reason an EHR put in an extension (see the module docstring)."""
    places: list[object] = []
    if item.overrideReason is not None:
        places.append((item.overrideReason.model_extra or {}).get("extension"))
    places.append((item.model_extra or {}).get("extension"))
    for place in places:
        found = _coding_in(place, 0)
        if found:
            return found
    return {}


def _coding_in(value: object, depth: int) -> dict[str, str]:
    """The first coding found in ``value`` (a JSON value), at most a few levels down."""
    if depth > _MAX_EXTENSION_DEPTH:
        return {}
    if isinstance(value, str):
        return {"code": value} if _BARE_CODE.fullmatch(value) else {}
    if isinstance(value, list):
        return _first_coding(value, depth + 1)
    if not isinstance(value, dict):
        return {}
    if isinstance(value.get("code"), str) and _text(value.get("code")):
        return _coding_of(value)
    return _coding_under(value, depth)


def _first_coding(values: Iterable[object], depth: int) -> dict[str, str]:
    for element in values:
        found = _coding_in(element, depth)
        if found:
            return found
    return {}


def _coding_of(value: dict[str, Any]) -> dict[str, str]:
    """A coding from an object with a ``code``: with a system, or a bare code that looks
    like one."""
    coding = {"code": value["code"]}
    for key in ("system", "display"):
        if _text(value.get(key)):
            coding[key] = value[key]
    if "system" in coding or _BARE_CODE.fullmatch(coding["code"]):
        return coding
    return {}


def _coding_under(value: dict[str, Any], depth: int) -> dict[str, str]:
    """A coding under the keys that hold one, then under any other key but free text."""
    known = ("valueCoding", "valueCodeableConcept", "coding", "valueCode", "reason")
    found = _first_coding((value[key] for key in known if key in value), depth + 1)
    if found:
        return found
    # A bare string counts only under a key that names a reason (never free text).
    others = (
        inner
        for key, inner in value.items()
        if key not in ("url", "text", "userComment", "valueString")
        and ((isinstance(inner, str) and "reason" in key.lower()) or isinstance(inner, dict | list))
    )
    return _first_coding(others, depth + 1)


def _feedback_key(params: Mapping[str, Any]) -> str:
    """The idempotency key of a feedback row (see the module docstring)."""
    moment: datetime = params["outcome_timestamp"]
    identity = [
        params["service_id"],
        params["card_uuid"],
        params["outcome"],
        _utc(moment).isoformat(timespec="microseconds"),
        json.loads(params["accepted_suggestion_ids"]),
        params["override_system"],
        params["override_code"],
    ]
    encoded = json.dumps(identity, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


# --- The store -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _IssuedCards:
    service_id: str
    rows: list[dict[str, Any]]
    purge_cutoff: object | None


def _one_write(batches: Sequence[_IssuedCards]) -> _IssuedCards:
    """Several hook responses' cards as one write: every row, sorted by (service, card) as
    each batch's are (one lock order across transactions), and the last purge cutoff."""
    if len(batches) == 1:
        return batches[0]
    cutoffs = [b.purge_cutoff for b in batches if b.purge_cutoff is not None]
    rows = sorted(
        (row for b in batches for row in b.rows),
        key=lambda row: (row["service_id"], row["card_uuid"], row["rule_id"]),
    )
    return _IssuedCards(batches[0].service_id, rows, cutoffs[-1] if cutoffs else None)


class _IssuedCardsWriter:
    """A bounded queue of issued cards and the one thread (per process) that writes them."""

    def __init__(self, store: SqlFeedbackStore, capacity: int) -> None:
        self._store = store
        self._capacity = capacity
        self._lock = threading.Lock()
        self._pid = 0
        self._queue: queue.Queue[_IssuedCards | None] = queue.Queue(capacity)
        self._hurry = threading.Event()
        """Set by ``flush``: the writer stops lingering and writes what it holds now."""
        self.dropped = 0

    def submit(self, batch: _IssuedCards) -> None:
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked child: a thread of its own
                self._pid = os.getpid()
                self._queue = queue.Queue(self._capacity)
                self._hurry = threading.Event()
                threading.Thread(
                    target=self._loop, args=(self._queue,), name="cds-issued-cards", daemon=True
                ).start()
                # A worker that exits (gunicorn's graceful stop) writes what it holds first.
                atexit.register(self.flush, EXIT_FLUSH_S)
            pending = self._queue
        try:
            pending.put_nowait(batch)
        except queue.Full:
            self.drop(batch, f"more than {self._capacity} hook responses waiting")

    def drop(self, batch: _IssuedCards, reason: str) -> None:
        with self._lock:
            self.dropped += len(batch.rows)
            total = self.dropped
        logger.warning(
            "issued cards not recorded: %s",
            reason,
            extra={
                "fields": {
                    "serviceId": batch.service_id,
                    "cards": len(batch.rows),
                    "droppedTotal": total,
                }
            },
        )

    def flush(self, timeout_s: float) -> bool:
        """Wait until every queued batch is written or dropped; False past ``timeout_s``."""
        if self._pid != os.getpid():
            return True
        pending = self._queue
        deadline = time.monotonic() + timeout_s
        self._hurry.set()
        with pending.all_tasks_done:
            while pending.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                pending.all_tasks_done.wait(remaining)
        return True

    def stop(self, timeout_s: float) -> None:
        if self._pid == os.getpid():
            self.flush(timeout_s)
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)

    def _loop(self, pending: queue.Queue[_IssuedCards | None]) -> None:
        """Take a hook response's cards, linger (``ISSUED_CARDS_LINGER_S``, unless ``flush``
        hurries it) for those of the next calls, and write all that waits in one
        transaction: a transaction costs about five times the CPU of its rows."""
        while True:
            taken = [pending.get()]
            if taken[0] is not None:
                self._hurry.wait(ISSUED_CARDS_LINGER_S)
                self._hurry.clear()
            while taken[-1] is not None:
                try:
                    taken.append(pending.get_nowait())
                except queue.Empty:
                    break
            batches = [batch for batch in taken if batch is not None]
            try:
                if batches:
                    try:
                        self._store.write_issued_cards(_one_write(batches))
                    except FeedbackStoreUnavailable as error:
                        for batch in batches:
                            self.drop(batch, error.diagnostics)
            finally:
                for _ in taken:
                    pending.task_done()
            if taken[-1] is None:
                return


class SqlFeedbackStore:
    """The operations, written once for SQLite and PostgreSQL."""

    def __init__(
        self,
        dialect: Literal["sqlite", "postgresql"],
        location: Path | str,
        settings: StoreSettings,
    ) -> None:
        self._db = Database(
            dialect=dialect,
            location=location,
            owner=_OWNER,
            settings=settings,
            migrations="cds_service:migrations/feedback",
            version_table="cds_feedback_schema_version",
        )
        self._settings = settings
        self._text_times = dialect == "sqlite"
        self._writer = _IssuedCardsWriter(self, settings.issued_cards_queue)
        self._closed = False
        self._purged_at = float("-inf")
        """``time.monotonic()`` of the last purge of old issued cards, in this process."""

    def _encode_time(self, moment: datetime) -> object:
        if self._text_times:  # ISO 8601 in UTC, fixed width: sorts as time does
            return _utc(moment).isoformat(timespec="microseconds")
        return moment

    def _decode_time(self, value: Any) -> datetime:
        return _utc(datetime.fromisoformat(value) if isinstance(value, str) else value)

    # The interface

    @property
    def issued_cards_dropped(self) -> int:
        return self._writer.dropped

    def remember_cards(self, service_id: str, cards: Sequence[tuple[str, str]]) -> None:
        if not cards:
            return
        now = datetime.now(UTC)
        issued_at = self._encode_time(now)
        # Sorted, so that concurrent transactions lock rows in one order (no deadlock).
        rows = [
            {"service_id": service_id, "card_uuid": uuid, "rule_id": rule, "issued_at": issued_at}
            for uuid, rule in sorted(set(cards))
        ]
        purge = time.monotonic() - self._purged_at >= PURGE_EVERY_S
        if purge:
            self._purged_at = time.monotonic()
        batch = _IssuedCards(
            service_id, rows, self._encode_time(now - ISSUED_CARD_RETENTION) if purge else None
        )
        if self._closed:
            self._writer.drop(batch, "Feedback store is closed")
            return
        self._writer.submit(batch)

    def write_issued_cards(self, batch: _IssuedCards) -> None:
        """The background writer's operation."""

        def insert(connection: Connection) -> None:
            if batch.purge_cutoff is not None:
                connection.execute(text(_PURGE_ISSUED_CARDS), {"cutoff": batch.purge_cutoff})
            connection.execute(text(_INSERT_ISSUED_CARD), batch.rows)

        self._db.run(insert, write=True, relaxed=True)

    def record(self, service_id: str, items: Sequence[FeedbackItem]) -> int:
        if not items:
            return 0
        self._writer.flush(self._settings.statement_timeout_s)  # their cards' rule ids first
        received_at = self._encode_time(datetime.now(UTC))
        rows: dict[str, dict[str, Any]] = {}
        for item in items:
            params = _feedback_params(service_id, item)
            params["outcome_timestamp"] = self._encode_time(params["outcome_timestamp"])
            params["received_at"] = received_at
            rows.setdefault(params["key"], params)
        ordered = [rows[key] for key in sorted(rows)]  # one lock order across transactions
        statement = text(_INSERT_FEEDBACK)

        def insert(connection: Connection) -> int:
            return sum(connection.execute(statement, row).rowcount for row in ordered)

        return self._db.run(insert, write=True)

    def feedback_rows(self) -> list[FeedbackRecord]:
        self._writer.flush(self._settings.statement_timeout_s)
        rows = self._db.run(lambda connection: connection.execute(text(_SELECT_FEEDBACK)).all())
        return [
            FeedbackRecord(
                key=key,
                service_id=service_id,
                card_uuid=card_uuid,
                rule_id=rule_id,
                outcome=Outcome(outcome),
                accepted_suggestion_ids=tuple(json.loads(accepted)),
                override_system=system,
                override_code=code,
                override_display=display,
                user_comment_given=bool(comment_given),
                outcome_timestamp=self._decode_time(outcome_timestamp),
                received_at=self._decode_time(received_at),
            )
            for (
                key,
                service_id,
                card_uuid,
                rule_id,
                outcome,
                accepted,
                system,
                code,
                display,
                comment_given,
                outcome_timestamp,
                received_at,
            ) in rows
        ]

    def ping(self) -> bool:
        return self._db.ping()

    def migrate(self) -> None:
        self._db.migrate()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._writer.stop(self._settings.statement_timeout_s)
        self._db.close()


# --- Opening by URL ----------------------------------------------------------------------


def open_feedback_store(url: str, settings: StoreSettings | None = None) -> FeedbackStore:
    """Open (creating the schema if needed) the store ``url`` names.

    ``sqlite:///relative/to/cwd.sqlite3``, ``sqlite:////absolute/path.sqlite3``,
    ``sqlite:///:memory:`` (one process only), ``postgresql://user@host:port/db``.
    Raises ConfigurationError for an unsupported or malformed URL (or an SQLite
    directory that cannot be created); never connects (see the module docstring).
    """
    settings = settings or StoreSettings()
    scheme, separator, _ = url.partition("://")
    scheme = scheme.lower() if separator and re.fullmatch(r"[A-Za-z][\w+.-]*", scheme) else ""
    if scheme == "sqlite":
        path = sqlite_path(url, _OWNER.database)
        logger.info("feedback store: SQLite at %s", path)
        return SqlFeedbackStore("sqlite", path, settings)
    if scheme in {"postgresql", "postgres"}:
        checked = check_postgres_url(url, _OWNER.database)
        logger.info("feedback store: PostgreSQL at %s", describe_postgres_url(checked))
        return SqlFeedbackStore("postgresql", checked, settings)
    raise ConfigurationError(
        "The feedback database URL must start with sqlite:/// or postgresql://, "
        + (f"not {scheme}://" if scheme else "and this one has no scheme")
    )

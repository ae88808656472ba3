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
    stdlib ``sqlite3``. ``synchronous=FULL`` for feedback (fsync at every
    commit), ``NORMAL`` for issued cards (durable at the next checkpoint; a
    power cut can lose the last few issued cards, which only costs the rule id
    of their later feedback).
``postgresql://...`` (or ``postgres://``)
    psycopg 3. Issued cards are committed with ``synchronous_commit = off``,
    the same trade as SQLite's NORMAL.

Connections (one per store, shared by threads under a lock, reopened after a
fork; WAL and busy timeout for SQLite; reconnect-and-retry-once for PostgreSQL,
which is why every operation is idempotent) are ``cds_service.sql``'s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from cds_service.errors import ConfigurationError, ServiceUnavailable
from cds_service.sql import (
    Owner,
    PgConnection,
    PostgresConnector,
    SqliteConnector,
    check_postgres_url,
    describe_postgres_url,
    enable_wal,
    sqlite_path,
    sqlite_placeholders,
)
from cds_service.wire import FeedbackItem, Outcome

__all__ = [
    "SCHEMA",
    "FeedbackRecord",
    "FeedbackStore",
    "FeedbackStoreUnavailable",
    "PostgresFeedbackStore",
    "SqliteFeedbackStore",
    "describe_postgres_url",
    "enable_wal",
    "open_feedback_store",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


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

        Best effort: a database failure is logged, never raised, so that a hook
        response never fails for want of feedback storage.
        """

    def record(self, service_id: str, items: Sequence[FeedbackItem]) -> int:
        """Store feedback items; return how many were new. Raises FeedbackStoreUnavailable."""

    def feedback_rows(self) -> list[FeedbackRecord]:
        """Every stored feedback record, oldest first (reports and tests)."""

    def ping(self) -> bool:
        """True when the database answers (for /healthz); never raises."""

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

SCHEMA: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS cds_issued_card (
        service_id  TEXT NOT NULL,
        card_uuid   TEXT NOT NULL,
        rule_id     TEXT NOT NULL,
        issued_at   {timestamp} NOT NULL,
        PRIMARY KEY (service_id, card_uuid)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS cds_feedback (
        feedback_key             TEXT PRIMARY KEY,
        service_id               TEXT NOT NULL,
        card_uuid                TEXT NOT NULL,
        rule_id                  TEXT,
        outcome                  TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
        accepted_suggestion_ids  TEXT NOT NULL,
        override_system          TEXT,
        override_code            TEXT,
        override_display         TEXT,
        user_comment_given       BOOLEAN NOT NULL,
        outcome_timestamp        {timestamp} NOT NULL,
        received_at              {timestamp} NOT NULL
    )
    """,
)
"""DDL with ``{timestamp}`` standing for the backend's timestamp type."""

_INSERT_ISSUED_CARD = """
    INSERT INTO cds_issued_card (service_id, card_uuid, rule_id, issued_at)
    VALUES (%(service_id)s, %(card_uuid)s, %(rule_id)s, %(issued_at)s)
    ON CONFLICT (service_id, card_uuid) DO NOTHING
"""

_PURGE_ISSUED_CARDS = "DELETE FROM cds_issued_card WHERE issued_at < %(cutoff)s"

ISSUED_CARD_RETENTION = timedelta(days=30)
"""How long an issued card is remembered: feedback comes within minutes or days, and a
feedback row keeps its rule id once recorded. Older rows are deleted, at most every
``PURGE_EVERY_S``, by the next hook call that remembers cards."""
PURGE_EVERY_S = 300.0

_INSERT_FEEDBACK = """
    INSERT INTO cds_feedback (
        feedback_key, service_id, card_uuid, rule_id, outcome, accepted_suggestion_ids,
        override_system, override_code, override_display, user_comment_given,
        outcome_timestamp, received_at
    ) VALUES (
        %(key)s, %(service_id)s, %(card_uuid)s,
        (SELECT rule_id FROM cds_issued_card
          WHERE service_id = %(service_id)s AND card_uuid = %(card_uuid)s),
        %(outcome)s, %(accepted_suggestion_ids)s,
        %(override_system)s, %(override_code)s, %(override_display)s, %(user_comment_given)s,
        %(outcome_timestamp)s, %(received_at)s
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

_PING = "SELECT count(*) FROM cds_feedback WHERE 1 = 0"


class _Durability(Enum):
    READ = "read"
    RELAXED = "relaxed"
    """Issued cards: losing the last few on a power cut only costs rule ids."""
    FULL = "full"
    """Feedback: on disk before ``record`` returns."""


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
    if depth > _MAX_EXTENSION_DEPTH:
        return {}
    if isinstance(value, str):
        return {"code": value} if _BARE_CODE.fullmatch(value) else {}
    if isinstance(value, list):
        for element in value:
            found = _coding_in(element, depth + 1)
            if found:
                return found
        return {}
    if not isinstance(value, dict):
        return {}
    if isinstance(value.get("code"), str) and _text(value.get("code")):
        coding = {"code": value["code"]}
        for key in ("system", "display"):
            if _text(value.get(key)):
                coding[key] = value[key]
        if "system" in coding or _BARE_CODE.fullmatch(coding["code"]):
            return coding
        return {}
    for key in ("valueCoding", "valueCodeableConcept", "coding", "valueCode", "reason"):
        if key in value:
            found = _coding_in(value[key], depth + 1)
            if found:
                return found
    for key, inner in value.items():
        # A bare string counts only under a key that names a reason (never free text).
        named = isinstance(inner, str) and "reason" in key.lower()
        if key not in ("url", "text", "userComment", "valueString") and (
            named or isinstance(inner, dict | list)
        ):
            found = _coding_in(inner, depth + 1)
            if found:
                return found
    return {}


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


# --- The shared store --------------------------------------------------------------------


class _Transaction(Protocol):
    def execute(self, sql: str, params: Mapping[str, Any]) -> int:
        """Run one statement; return its row count."""

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None: ...

    def query(self, sql: str) -> list[tuple[Any, ...]]: ...


class _SqlStore:
    """The operations, written once; subclasses supply dialect and transactions."""

    timestamp_type: str
    _db: SqliteConnector | PostgresConnector
    _purged_at: float = float("-inf")
    """``time.monotonic()`` of the last purge of old issued cards, in this process."""

    # Backend hooks
    def _run(self, operation: Callable[[_Transaction], _T], durability: _Durability) -> _T:
        raise NotImplementedError

    def _sql(self, statement: str) -> str:
        return statement

    def _encode_time(self, moment: datetime) -> object:
        return moment

    def _decode_time(self, value: Any) -> datetime:
        return _utc(value)

    def close(self) -> None:
        self._db.close()

    # Schema
    def _schema_statements(self) -> list[str]:
        return [ddl.format(timestamp=self.timestamp_type) for ddl in SCHEMA]

    # The interface
    def remember_cards(self, service_id: str, cards: Sequence[tuple[str, str]]) -> None:
        if not cards:
            return
        issued_at = self._encode_time(datetime.now(UTC))
        # Sorted, so that concurrent transactions lock rows in one order (no deadlock).
        rows = [
            {"service_id": service_id, "card_uuid": uuid, "rule_id": rule, "issued_at": issued_at}
            for uuid, rule in sorted(set(cards))
        ]
        statement = self._sql(_INSERT_ISSUED_CARD)
        purge = time.monotonic() - self._purged_at >= PURGE_EVERY_S
        cutoff = {"cutoff": self._encode_time(datetime.now(UTC) - ISSUED_CARD_RETENTION)}

        def insert(tx: _Transaction) -> None:
            if purge:
                tx.execute(self._sql(_PURGE_ISSUED_CARDS), cutoff)
            tx.executemany(statement, rows)

        try:
            self._run(insert, _Durability.RELAXED)
            if purge:
                self._purged_at = time.monotonic()
        except FeedbackStoreUnavailable as error:
            logger.warning(
                "issued cards not recorded: %s",
                error.diagnostics,
                extra={"fields": {"serviceId": service_id, "cards": len(rows)}},
            )

    def record(self, service_id: str, items: Sequence[FeedbackItem]) -> int:
        if not items:
            return 0
        received_at = self._encode_time(datetime.now(UTC))
        rows: dict[str, dict[str, Any]] = {}
        for item in items:
            params = _feedback_params(service_id, item)
            params["outcome_timestamp"] = self._encode_time(params["outcome_timestamp"])
            params["received_at"] = received_at
            rows.setdefault(params["key"], params)
        ordered = [rows[key] for key in sorted(rows)]  # one lock order across transactions
        statement = self._sql(_INSERT_FEEDBACK)

        def insert(tx: _Transaction) -> int:
            return sum(tx.execute(statement, row) for row in ordered)

        return self._run(insert, _Durability.FULL)

    def feedback_rows(self) -> list[FeedbackRecord]:
        statement = self._sql(_SELECT_FEEDBACK)
        rows = self._run(lambda tx: tx.query(statement), _Durability.READ)
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
        try:
            self._run(lambda tx: tx.query(_PING), _Durability.READ)
        except FeedbackStoreUnavailable:
            return False
        return True


# --- SQLite ------------------------------------------------------------------------------


class _SqliteTransaction:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Mapping[str, Any]) -> int:
        return self._connection.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        self._connection.executemany(sql, rows)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self._connection.execute(sql).fetchall()


class SqliteFeedbackStore(_SqlStore):
    timestamp_type = "TEXT"  # ISO 8601 in UTC, fixed width: sorts as time does
    _db: SqliteConnector
    _SYNCHRONOUS: Mapping[_Durability, Literal["FULL", "NORMAL"] | None] = {
        _Durability.READ: None,
        _Durability.RELAXED: "NORMAL",
        _Durability.FULL: "FULL",
    }

    def __init__(self, path: Path | str) -> None:
        self._db = SqliteConnector(path, _OWNER)
        self._run(self._create_schema, _Durability.FULL)
        logger.info("feedback store: SQLite at %s", path)

    def _sql(self, statement: str) -> str:
        return sqlite_placeholders(statement)

    def _encode_time(self, moment: datetime) -> object:
        return _utc(moment).isoformat(timespec="microseconds")

    def _decode_time(self, value: Any) -> datetime:
        return _utc(datetime.fromisoformat(value))

    def _create_schema(self, tx: _Transaction) -> None:
        for ddl in self._schema_statements():
            tx.query(ddl)

    def _run(self, operation: Callable[[_Transaction], _T], durability: _Durability) -> _T:
        return self._db.run(
            lambda connection: operation(_SqliteTransaction(connection)),
            synchronous=self._SYNCHRONOUS[durability],
        )


# --- PostgreSQL --------------------------------------------------------------------------


class _PostgresTransaction:
    def __init__(self, connection: PgConnection) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Mapping[str, Any]) -> int:
        return self._connection.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        with self._connection.cursor() as cursor:
            cursor.executemany(sql, rows)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self._connection.execute(sql).fetchall()


class PostgresFeedbackStore(_SqlStore):
    timestamp_type = "TIMESTAMPTZ"
    _db: PostgresConnector

    def __init__(self, url: str) -> None:
        self._db = PostgresConnector(url, _OWNER)
        self._db.create_schema(b"cds_feedback schema", self._schema_statements())
        logger.info("feedback store: PostgreSQL at %s", describe_postgres_url(url))

    def _run(self, operation: Callable[[_Transaction], _T], durability: _Durability) -> _T:
        def transaction(connection: PgConnection) -> _T:
            with connection.transaction():
                if durability is _Durability.RELAXED:
                    connection.execute(b"SET LOCAL synchronous_commit = off")
                return operation(_PostgresTransaction(connection))

        return self._db.run(transaction)


# --- Opening by URL ----------------------------------------------------------------------


def open_feedback_store(url: str) -> FeedbackStore:
    """Open (creating the schema if needed) the store ``url`` names.

    ``sqlite:///relative/to/cwd.sqlite3``, ``sqlite:////absolute/path.sqlite3``,
    ``sqlite:///:memory:`` (one process only), ``postgresql://user@host:port/db``.
    Raises ConfigurationError for an unsupported or malformed URL (or an SQLite
    directory that cannot be created), FeedbackStoreUnavailable when the
    database cannot be opened.
    """
    scheme, separator, _ = url.partition("://")
    scheme = scheme.lower() if separator and re.fullmatch(r"[A-Za-z][\w+.-]*", scheme) else ""
    if scheme == "sqlite":
        return SqliteFeedbackStore(sqlite_path(url, _OWNER.database))
    if scheme in {"postgresql", "postgres"}:
        return PostgresFeedbackStore(check_postgres_url(url, _OWNER.database))
    raise ConfigurationError(
        "The feedback database URL must start with sqlite:/// or postgresql://, "
        + (f"not {scheme}://" if scheme else "and this one has no scheme")
    )

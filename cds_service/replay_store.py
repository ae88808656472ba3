"""JWT ids (``jti``) already seen, shared by every worker process: replays are refused.

``ReplayCache.first_use(issuer, jti, expires_at)`` records the pair until
``expires_at`` (the token's ``exp`` plus the leeway) and answers True only for
the first use. The check and the record are one atomic operation in a store
all workers share, so a token replayed to another gunicorn worker, or to
another machine on the same store, is refused too. The pair is kept as a
SHA-256 over (issuer, jti): bounded in size, nothing else of the token.

Backends, chosen by URL (``open_replay_cache``), with the feedback store's
URL conventions; by default the feedback database itself:

``sqlite:///relative/path`` (to the working directory), ``sqlite:////abs/path``
    Table ``cds_seen_jti`` (primary key ``jti_key``). One statement,
    ``INSERT ... ON CONFLICT (jti_key) DO UPDATE ... WHERE expires_at <= now``:
    it inserts, or takes over an expired record, or changes nothing; the row
    count says which. WAL journal and ``busy_timeout`` so that worker
    processes share the file; ``synchronous=NORMAL`` (an OS crash can forget
    the last few ids, a process crash cannot). Expired rows are purged at
    most every ``PURGE_EVERY_S``.
``postgresql://...`` (or ``postgres://``)
    The same table and statement (atomic under concurrent inserts: the
    unique index makes the second writer wait, then see the first's row).
``redis://host:port/db`` (or ``rediss://``)
    ``SET cds:jti:<key> 1 NX EX <seconds left>``: Redis expires the key itself.

A store that cannot be reached fails closed: the request is refused with 503
(``ReplayStoreUnavailable``), never let through unchecked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sqlite3
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import redis

from cds_service.errors import ConfigurationError, ServiceError
from cds_service.sql import (
    CONNECT_TIMEOUT_S,
    Owner,
    PgConnection,
    PostgresConnector,
    SqliteConnector,
    check_postgres_url,
    describe_postgres_url,
    sqlite_path,
    sqlite_placeholders,
)

__all__ = ["ReplayCache", "ReplayStoreUnavailable", "open_replay_cache", "replay_key"]

logger = logging.getLogger(__name__)

PURGE_EVERY_S = 300.0
"""SQL backends: how often (per process) expired ids are deleted."""


class ReplayStoreUnavailable(ServiceError):
    """The replay store could not be reached: the call is refused (503), not let through."""

    status = 503
    issue_code = "transient"


_OWNER = Owner(
    label="replay store",
    database="replay store",
    error=ReplayStoreUnavailable,
    unavailable_message="Authentication is unavailable; retry later",
    logger=logger,
)


class ReplayCache(Protocol):
    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Record (issuer, jti) until ``expires_at`` (epoch seconds); False if already recorded.

        Raises ReplayStoreUnavailable when the store cannot answer.
        """

    def close(self) -> None: ...


def replay_key(issuer: str, jti: str) -> str:
    identity = json.dumps([issuer, jti], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


# --- SQL (SQLite and PostgreSQL) ---------------------------------------------------------

_CREATE = """
    CREATE TABLE IF NOT EXISTS cds_seen_jti (
        jti_key     TEXT PRIMARY KEY,
        expires_at  DOUBLE PRECISION NOT NULL
    )
"""

_FIRST_USE = """
    INSERT INTO cds_seen_jti (jti_key, expires_at) VALUES (%(key)s, %(expires_at)s)
    ON CONFLICT (jti_key) DO UPDATE SET expires_at = excluded.expires_at
    WHERE cds_seen_jti.expires_at <= %(now)s
"""

_PURGE = "DELETE FROM cds_seen_jti WHERE expires_at <= %(now)s"


class _SqlReplayCache:
    """The statements and the purge timing are shared; the connector is the backend's."""

    _db: SqliteConnector | PostgresConnector

    def __init__(self) -> None:
        self._purged_at = 0.0

    def _statements(self, key: str, expires_at: float) -> list[tuple[str, dict[str, Any]]]:
        now = time.time()
        statements: list[tuple[str, dict[str, Any]]] = []
        if now - self._purged_at >= PURGE_EVERY_S:
            statements.append((_PURGE, {"now": now}))
            self._purged_at = now
        statements.append((_FIRST_USE, {"key": key, "expires_at": expires_at, "now": now}))
        return statements

    def close(self) -> None:
        self._db.close()


class SqliteReplayCache(_SqlReplayCache):
    _db: SqliteConnector

    def __init__(self, path: Path | str) -> None:
        super().__init__()
        self._db = SqliteConnector(path, _OWNER)
        self._db.run(lambda connection: connection.execute(_CREATE), synchronous="NORMAL")
        logger.info("replay store: SQLite at %s", path)

    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        key = replay_key(issuer, jti)

        def record(connection: sqlite3.Connection) -> int:
            changed = 0
            for statement, params in self._statements(key, expires_at):
                changed = connection.execute(sqlite_placeholders(statement), params).rowcount
            return changed

        return self._db.run(record, synchronous="NORMAL") == 1


class PostgresReplayCache(_SqlReplayCache):
    _db: PostgresConnector

    def __init__(self, url: str) -> None:
        super().__init__()
        self._db = PostgresConnector(url, _OWNER)
        self._db.create_schema(b"cds_seen_jti schema", [_CREATE])
        logger.info("replay store: PostgreSQL at %s", describe_postgres_url(url))

    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        key = replay_key(issuer, jti)

        def record(connection: PgConnection) -> int:  # autocommit: one statement at a time
            changed = 0
            for statement, params in self._statements(key, expires_at):
                changed = connection.execute(statement, params).rowcount
            return changed

        return self._db.run(record) == 1


# --- Redis -------------------------------------------------------------------------------


class RedisReplayCache:
    PREFIX = "cds:jti:"

    def __init__(self, url: str) -> None:
        self._where = _describe_redis_url(url)
        self._client: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=CONNECT_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S
        )
        try:
            self._client.ping()
        except redis.RedisError as error:
            self._client.close()
            raise _OWNER.unavailable(error) from error
        logger.info("replay store: Redis at %s", self._where)

    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        seconds_left = max(1, math.ceil(expires_at - time.time()))
        try:
            stored = self._client.set(
                self.PREFIX + replay_key(issuer, jti), b"1", nx=True, ex=seconds_left
            )
        except redis.RedisError as error:
            raise _OWNER.unavailable(error) from error
        return bool(stored)

    def close(self) -> None:
        self._client.close()


def _describe_redis_url(url: str) -> str:
    """host:port/db, for logs: never the password."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


# --- Opening by URL ----------------------------------------------------------------------


def open_replay_cache(url: str) -> ReplayCache:
    """Open (creating the table if needed) the replay store ``url`` names.

    Raises ConfigurationError for an unsupported or malformed URL,
    ReplayStoreUnavailable when the store cannot be reached.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        return SqliteReplayCache(sqlite_path(url, _OWNER.database))
    if scheme in {"postgresql", "postgres"}:
        return PostgresReplayCache(check_postgres_url(url, _OWNER.database))
    if scheme in {"redis", "rediss"}:
        return RedisReplayCache(url)
    raise ConfigurationError(
        "The replay store URL (CDS_REPLAY_STORE_URL) must start with sqlite:///, "
        f"postgresql:// or redis://, not {scheme + '://' if scheme else 'a bare path'}"
    )

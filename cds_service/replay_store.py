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
import os
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import psycopg
import redis
from psycopg.conninfo import conninfo_to_dict

from cds_service.errors import ConfigurationError, ServiceError

__all__ = ["ReplayCache", "ReplayStoreUnavailable", "open_replay_cache", "replay_key"]

logger = logging.getLogger(__name__)

PURGE_EVERY_S = 300.0
"""SQL backends: how often (per process) expired ids are deleted."""
CONNECT_TIMEOUT_S = 5
SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a writer waits for another process's write lock (as the feedback store does)."""


class ReplayStoreUnavailable(ServiceError):
    """The replay store could not be reached: the call is refused (503), not let through."""

    status = 503
    issue_code = "transient"


class ReplayCache(Protocol):
    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Record (issuer, jti) until ``expires_at`` (epoch seconds); False if already recorded.

        Raises ReplayStoreUnavailable when the store cannot answer.
        """

    def close(self) -> None: ...


def replay_key(issuer: str, jti: str) -> str:
    identity = json.dumps([issuer, jti], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


def _unavailable(error: Exception) -> ReplayStoreUnavailable:
    logger.error("replay store error: %s: %s", type(error).__name__, error)
    return ReplayStoreUnavailable("Authentication is unavailable; retry later")


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
    """Connection handling is the backend's; the statements and the purge timing are shared."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._purged_at = 0.0
        self._closed = False

    def _statements(self, key: str, expires_at: float) -> list[tuple[str, dict[str, Any]]]:
        now = time.time()
        statements: list[tuple[str, dict[str, Any]]] = []
        if now - self._purged_at >= PURGE_EVERY_S:
            statements.append((_PURGE, {"now": now}))
            self._purged_at = now
        statements.append((_FIRST_USE, {"key": key, "expires_at": expires_at, "now": now}))
        return statements

    def _check_open(self) -> None:
        if self._closed:
            raise ReplayStoreUnavailable("Replay store is closed")


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
"""psycopg's ``%(name)s`` parameters, as SQLite's ``:name``."""


class SqliteReplayCache(_SqlReplayCache):
    def __init__(self, path: Path | str) -> None:
        super().__init__()
        self._path = path
        if isinstance(path, Path):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ConfigurationError(
                    f"Cannot create the replay store directory {path.parent}: {error}"
                ) from None
        self._connection: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._inherited: list[sqlite3.Connection] = []
        with self._lock:
            try:
                self._connect().execute(_CREATE)
            except sqlite3.Error as error:
                raise _unavailable(error) from error
        logger.info("replay store: SQLite at %s", path)

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None and self._pid != os.getpid():
            self._inherited.append(self._connection)  # forked: the parent's, not ours
            self._connection = None
        if self._connection is None:
            connection = sqlite3.connect(
                self._path,
                timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,  # shared by threads, under self._lock
            )
            try:
                connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = NORMAL")
            except sqlite3.Error:
                connection.close()
                raise
            self._connection, self._pid = connection, os.getpid()
        return self._connection

    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        key = replay_key(issuer, jti)
        with self._lock:
            self._check_open()
            try:
                connection = self._connect()
                connection.execute("BEGIN IMMEDIATE")
                try:
                    changed = 0
                    for statement, params in self._statements(key, expires_at):
                        sql = _PLACEHOLDER.sub(r":\1", statement)
                        changed = connection.execute(sql, params).rowcount
                    connection.execute("COMMIT")
                except BaseException:
                    if connection.in_transaction:
                        connection.rollback()
                    raise
            except sqlite3.Error as error:
                raise _unavailable(error) from error
        return changed == 1

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None


_SCHEMA_LOCK_KEY = int.from_bytes(hashlib.sha256(b"cds_seen_jti schema").digest()[:8], "big") >> 1


class PostgresReplayCache(_SqlReplayCache):
    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._connection: psycopg.Connection[tuple[Any, ...]] | None = None
        self._pid = os.getpid()
        self._inherited: list[psycopg.Connection[tuple[Any, ...]]] = []
        with self._lock:
            try:
                connection = self._connect()
                with connection.transaction():
                    connection.execute(
                        "SELECT pg_advisory_xact_lock(%(key)s)", {"key": _SCHEMA_LOCK_KEY}
                    )
                    connection.execute(_CREATE)
            except psycopg.Error as error:
                raise _unavailable(error) from error
        params = conninfo_to_dict(url)
        where = f"{params.get('host', '')}:{params.get('port', 5432)}/{params.get('dbname', '')}"
        logger.info("replay store: PostgreSQL at %s", where)  # never the password

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._connection is not None and self._pid != os.getpid():
            self._inherited.append(self._connection)  # forked: the parent's session
            self._connection = None
        if self._connection is not None and self._connection.closed:
            self._connection = None
        if self._connection is None:
            options: dict[str, Any] = {}
            if "connect_timeout" not in conninfo_to_dict(self._url):
                options["connect_timeout"] = CONNECT_TIMEOUT_S
            self._connection = psycopg.connect(self._url, autocommit=True, **options)
            self._pid = os.getpid()
        return self._connection

    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        key = replay_key(issuer, jti)
        with self._lock:
            self._check_open()
            for attempt in (1, 2):
                connection: psycopg.Connection[tuple[Any, ...]] | None = None
                try:
                    connection = self._connect()
                    changed = 0
                    for statement, params in self._statements(key, expires_at):
                        changed = connection.execute(statement, params).rowcount
                except psycopg.OperationalError as error:
                    if attempt == 1 and connection is not None and connection.closed:
                        logger.warning("replay store: PostgreSQL connection lost; reconnecting")
                        continue  # nothing was recorded on a broken connection
                    raise _unavailable(error) from error
                except psycopg.Error as error:
                    raise _unavailable(error) from error
                return changed == 1
            raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None


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
            raise _unavailable(error) from error
        logger.info("replay store: Redis at %s", self._where)

    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        seconds_left = max(1, math.ceil(expires_at - time.time()))
        try:
            stored = self._client.set(
                self.PREFIX + replay_key(issuer, jti), b"1", nx=True, ex=seconds_left
            )
        except redis.RedisError as error:
            raise _unavailable(error) from error
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
        return SqliteReplayCache(_sqlite_path(url))
    if scheme in {"postgresql", "postgres"}:
        try:
            conninfo_to_dict(url)
        except psycopg.ProgrammingError:
            raise ConfigurationError("The replay store URL is not a valid PostgreSQL URL") from None
        return PostgresReplayCache(url)
    if scheme in {"redis", "rediss"}:
        return RedisReplayCache(url)
    raise ConfigurationError(
        "The replay store URL (CDS_REPLAY_STORE_URL) must start with sqlite:///, "
        f"postgresql:// or redis://, not {scheme + '://' if scheme else 'a bare path'}"
    )


def _sqlite_path(url: str) -> Path | str:
    parts = urlsplit(url)
    if not url.startswith("sqlite:///") or parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(
            "An SQLite replay store URL is sqlite:///relative/path or sqlite:////absolute/path"
        )
    path = unquote(parts.path[1:])
    if not path or path.endswith("/"):
        raise ConfigurationError("The SQLite replay store URL names no file")
    return ":memory:" if path == ":memory:" else Path(path)

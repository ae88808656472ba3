"""Connections to the stores' SQL databases, SQLite and PostgreSQL; the SQL is the stores' own.

A store (the feedback store, the replay cache) holds one connector, which holds
one connection. What a connector guarantees:

Threads
    ``run`` and ``close`` are serialised by the connector's lock, so one
    connection serves every thread. SQLite admits one writer at a time anyway:
    per-thread connections would buy nothing but more file handles.
Forks
    A connection is used only by the process that opened it. After a fork
    (gunicorn with ``preload_app``) the child opens its own; the parent's is
    kept referenced, never used nor closed there (closing it would end the
    parent's PostgreSQL session; SQLite forbids carrying a connection across a
    fork). ``close`` closes only a connection its own process opened.
Closing
    After ``close``, ``run`` raises the owner's error: "<Label> is closed".
Errors
    A database error becomes the owner's 503 error with a generic message; the
    database's own message goes to the owner's log only.
SQLite
    The file's directory is created (ConfigurationError if it cannot be). WAL
    journal, so that readers never block the writer (the switch is retried
    while another process holds the lock: see ``enable_wal``), and
    ``busy_timeout``, so that worker processes share the file. Each ``run`` is
    one transaction, rolled back on failure: ``BEGIN IMMEDIATE`` for a write
    (the write lock is taken up front, where busy_timeout applies) with
    ``PRAGMA synchronous`` as the caller asks, ``FULL`` (fsync at every
    commit) or ``NORMAL`` (durable at the next checkpoint: a power cut can
    lose the last few commits, a process crash cannot); ``BEGIN`` for a read.
PostgreSQL
    psycopg 3 in autocommit mode (operations open their own transactions),
    ``CONNECT_TIMEOUT_S`` unless the URL sets ``connect_timeout``. When the
    connection turns out broken, ``run`` reconnects and runs the operation once
    more, so operations must be idempotent.

Statements are written with psycopg's ``%(name)s`` parameters;
``sqlite_placeholders`` turns them into SQLite's ``:name``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from cds_service.errors import ConfigurationError, ServiceError

SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a writer waits for another process's write lock before failing."""
CONNECT_TIMEOUT_S = 5

_T = TypeVar("_T")
PgConnection = psycopg.Connection[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Owner:
    """The store a connector serves: its words in messages, its 503 error, its logger."""

    label: str
    """In logs, and capitalised in "<Label> is closed": "feedback store"."""
    database: str
    """In configuration errors: "feedback database"."""
    error: type[ServiceError]
    unavailable_message: str
    logger: logging.Logger

    def unavailable(self, error: Exception) -> ServiceError:
        """The caller sees a generic message; the log gets the database's."""
        self.logger.error("%s error: %s: %s", self.label, type(error).__name__, error)
        return self.error(self.unavailable_message)


class _Closable(Protocol):
    def close(self) -> None: ...


_C = TypeVar("_C", bound=_Closable)


class _Connector(Generic[_C]):
    def __init__(self, owner: Owner) -> None:
        self._owner = owner
        self._lock = threading.Lock()
        self._closed = False
        self._connection: _C | None = None
        self._pid = os.getpid()
        self._inherited: list[_C] = []

    def _current(self) -> _C | None:
        """This process's connection, if any (a parent's is set aside); raises once closed."""
        if self._closed:
            raise self._owner.error(f"{self._owner.label.capitalize()} is closed")
        if self._connection is not None and self._pid != os.getpid():
            self._inherited.append(self._connection)
            self._connection = None
        return self._connection

    def _opened(self, connection: _C) -> _C:
        self._connection, self._pid = connection, os.getpid()
        return connection

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None


# --- SQLite ------------------------------------------------------------------------------


def enable_wal(connection: sqlite3.Connection) -> str:
    """Switch to WAL; return the journal mode now in force.

    The switch takes an exclusive lock without waiting in the busy handler, so
    workers opening a new database together retry here until the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            (mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
        else:
            return str(mode)


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def sqlite_placeholders(statement: str) -> str:
    """psycopg's ``%(name)s`` parameters, as SQLite's ``:name``."""
    return _PLACEHOLDER.sub(r":\1", statement)


class SqliteConnector(_Connector[sqlite3.Connection]):
    def __init__(self, path: Path | str, owner: Owner) -> None:
        if isinstance(path, Path):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ConfigurationError(
                    f"Cannot create the {owner.database} directory {path.parent}: {error}"
                ) from None
        super().__init__(owner)
        self._path = path
        self._synchronous = ""

    def run(
        self,
        operation: Callable[[sqlite3.Connection], _T],
        *,
        synchronous: Literal["FULL", "NORMAL"] | None,
    ) -> _T:
        """``operation`` in one transaction: a write at ``synchronous``, or a read (None)."""
        with self._lock:
            try:
                connection = self._connect()
                if synchronous is not None and synchronous != self._synchronous:
                    connection.execute(f"PRAGMA synchronous = {synchronous}")
                    self._synchronous = synchronous
                connection.execute("BEGIN" if synchronous is None else "BEGIN IMMEDIATE")
                try:
                    result = operation(connection)
                    connection.execute("COMMIT")
                except BaseException:
                    if connection.in_transaction:
                        connection.rollback()
                    raise
            except sqlite3.Error as error:
                raise self._owner.unavailable(error) from error
            return result

    def _connect(self) -> sqlite3.Connection:
        connection = self._current()
        if connection is not None:
            return connection
        connection = sqlite3.connect(
            self._path,
            timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,  # transactions are explicit
            check_same_thread=False,  # shared by threads, under self._lock
        )
        try:
            connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            mode = enable_wal(connection)
            if mode != "wal" and self._path != ":memory:":
                self._owner.logger.warning(
                    "%s: SQLite journal mode is %s, not WAL", self._owner.label, mode
                )
        except sqlite3.Error:
            connection.close()
            raise
        self._synchronous = ""
        return self._opened(connection)


def sqlite_path(url: str, database: str) -> Path | str:
    """The file of ``sqlite:///relative/path`` or ``sqlite:////absolute/path`` (or ":memory:")."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if not url.startswith("sqlite:///") or parts is None or parts.query or parts.fragment:
        raise ConfigurationError(
            f"An SQLite {database} URL is sqlite:///relative/path or sqlite:////absolute/path"
        )
    path = unquote(parts.path[1:])
    if not path or path.endswith("/"):
        raise ConfigurationError(f"The SQLite {database} URL names no file")
    return ":memory:" if path == ":memory:" else Path(path)


# --- PostgreSQL --------------------------------------------------------------------------


class PostgresConnector(_Connector[PgConnection]):
    def __init__(self, url: str, owner: Owner) -> None:
        super().__init__(owner)
        self._url = url

    def run(self, operation: Callable[[PgConnection], _T]) -> _T:
        """``operation`` on the connection; once more on a new one if the connection broke."""
        with self._lock:
            for attempt in (1, 2):
                connection: PgConnection | None = None
                try:
                    connection = self._connect()
                    return operation(connection)
                except psycopg.OperationalError as error:
                    if attempt == 1 and connection is not None and connection.closed:
                        self._owner.logger.warning(
                            "%s: PostgreSQL connection lost; reconnecting", self._owner.label
                        )
                        continue  # idempotent operations: safe to run again
                    raise self._owner.unavailable(error) from error
                except psycopg.Error as error:
                    raise self._owner.unavailable(error) from error
            raise AssertionError("unreachable")  # pragma: no cover

    def create_schema(self, lock_name: bytes, statements: Sequence[str]) -> None:
        """Run the DDL in one transaction under an advisory lock named ``lock_name``.

        CREATE TABLE IF NOT EXISTS is not safe against itself running
        concurrently, as it does when workers start together.
        """
        key = int.from_bytes(hashlib.sha256(lock_name).digest()[:8], "big") >> 1  # > 0, bigint

        def create(connection: PgConnection) -> None:
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": key})
                for ddl in statements:
                    connection.execute(ddl)

        self.run(create)

    def _connect(self) -> PgConnection:
        connection = self._current()
        if connection is not None and not connection.closed:
            return connection
        options: dict[str, Any] = {}
        if "connect_timeout" not in conninfo_to_dict(self._url):
            options["connect_timeout"] = CONNECT_TIMEOUT_S
        return self._opened(psycopg.connect(self._url, autocommit=True, **options))


def check_postgres_url(url: str, database: str) -> str:
    """``url``, once psycopg has parsed it; else ConfigurationError."""
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise ConfigurationError(f"The {database} URL is not a valid PostgreSQL URL") from None
    return url


def describe_postgres_url(url: str) -> str:
    """user@host:port/dbname, for logs and messages: never the password."""
    params = conninfo_to_dict(url)
    user = params.get("user", "")
    where = f"{params.get('host', '')}:{params.get('port', 5432)}/{params.get('dbname', '')}"
    return f"{user}@{where}" if user else where

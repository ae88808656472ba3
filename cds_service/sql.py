"""The stores' SQL databases, SQLite and PostgreSQL, through SQLAlchemy Core and Alembic.

A store (the feedback store, the replay cache) holds one ``Database``. What it
guarantees:

Lazy, re-opened connections
    Nothing connects when a store is made: a worker boots whether or not its
    database answers. The first operation opens the engine's pool; a pooled
    connection is pinged before use (``pool_pre_ping``) and replaced when dead,
    so a database that comes back is used again without a restart.
Bounded waits
    Every connection has a connect timeout, TCP keepalives and, on
    PostgreSQL, a ``statement_timeout`` (``StoreSettings``). A server that
    stops answering altogether (frozen, network partition) gives no error for
    the server-side timeout to raise, so a watchdog thread also bounds each
    operation: past ``statement_timeout_s`` it shuts the socket of the
    connection the operation uses, the driver fails at once and the pool
    discards the connection (and opens no other for that operation). An
    operation therefore waits at most the connect timeout (when it must open a
    connection) plus the statement timeout.
Errors
    Any database error (or the watchdog) becomes the owner's 503 error with a
    generic message; the database's own message goes to the owner's log only.
Schema
    Versioned by Alembic (``cds_service/migrations/<store>/``), one version
    table per store. ``migrate`` brings a database to the current revision;
    with ``StoreSettings.auto_migrate`` each process does so at its first use
    of the database (under a PostgreSQL advisory lock, or SQLite's write lock,
    so that workers starting together do not race); without it, the deploy
    runs ``python -m cds_service migrate``. A process first reads the version
    table without Alembic: at the head revision already (every start but the
    first after a deploy), it does not import Alembic at all (about 0.1 s of
    CPU and 11 MB of each worker).
Forks
    After a fork (gunicorn with ``preload_app``) the child replaces the pool
    without closing the parent's connections (SQLAlchemy's
    ``dispose(close=False)``).
SQLite
    The file's directory is created (ConfigurationError if it cannot be). WAL
    journal, so that readers never block the writer (the switch is retried
    while another process holds the lock: ``enable_wal``), and
    ``busy_timeout`` (the statement timeout), so that worker processes share
    the file. A write is ``BEGIN IMMEDIATE`` (the write lock taken up front,
    where busy_timeout applies) at ``PRAGMA synchronous`` ``FULL`` (fsync at
    every commit) or ``NORMAL`` (``relaxed``: durable at the next checkpoint;
    a power cut can lose the last few commits, a process crash cannot).
PostgreSQL
    psycopg 3, the URL passed to libpq as it is. ``relaxed`` writes commit
    with ``synchronous_commit = off``, the same trade as SQLite's NORMAL.
    psycopg is imported only for a PostgreSQL URL (about 50 ms of a worker's
    start otherwise spent for nothing).

Statements are ``sqlalchemy.text`` with ``:name`` parameters, the same for both.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import hashlib
import heapq
import importlib
import itertools
import logging
import math
import os
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

from sqlalchemy import (
    Connection,
    Engine,
    column,
    create_engine,
    event,
    inspect,
    select,
    table,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool, StaticPool
from sqlalchemy.sql.expression import ColumnClause

from cds_service.errors import ConfigurationError, ServiceError
from cds_service.settings import StoreSettings

if TYPE_CHECKING:
    import psycopg

_T = TypeVar("_T")

SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long ``enable_wal`` retries the switch to WAL while another process holds the lock."""


@dataclass(frozen=True, slots=True)
class Owner:
    """The store a database serves: its words in messages, its 503 error, its logger."""

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


# --- The watchdog --------------------------------------------------------------------------


class _Guard:
    """One operation's deadline, and the connection it is using."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self.done = False
        self._lock = threading.Lock()
        self._connection: object | None = None

    def attach(self, dbapi_connection: object) -> None:
        with self._lock:
            self._connection = dbapi_connection
            if not self.fired:
                return
        _cut(dbapi_connection)

    def fire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.fired = True
            connection = self._connection
        if connection is not None:
            _cut(connection)


def _driver_errors(*others: type[Exception]) -> tuple[type[Exception], ...]:
    """``others`` and psycopg's base error, once a PostgreSQL store has imported psycopg
    (before, nothing can raise one)."""
    driver = sys.modules.get("psycopg")
    return others if driver is None else (*others, driver.Error)


def _cut(dbapi_connection: object) -> None:
    """Shut the connection's socket down: a read blocked on it returns at once."""
    fileno = getattr(dbapi_connection, "fileno", None)
    if not callable(fileno):
        return  # SQLite: a local file, bounded by its busy timeout
    try:
        duplicate = os.dup(fileno())
    except _driver_errors(OSError):
        return
    with contextlib.suppress(OSError), socket.socket(fileno=duplicate) as sock:
        sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One thread per process firing guards whose deadline passed."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, _Guard]] = []
        self._sequence = itertools.count()
        self._pid = 0

    @contextlib.contextmanager
    def guard(self, seconds: float) -> Iterator[_Guard]:
        guard = _Guard(time.monotonic() + seconds)
        with self._condition:
            if self._pid != os.getpid():  # first use, or a forked child: no thread here yet
                self._pid = os.getpid()
                self._heap = []
                threading.Thread(target=self._loop, name="cds-store-watchdog", daemon=True).start()
            heapq.heappush(self._heap, (guard.deadline, next(self._sequence), guard))
            self._condition.notify()
        previous = getattr(_current, "guard", None)
        _current.guard = guard
        try:
            yield guard
        finally:
            _current.guard = previous
            with guard._lock:
                guard.done = True

    def _loop(self) -> None:
        while True:
            due: list[_Guard] = []
            with self._condition:
                now = time.monotonic()
                while self._heap and (self._heap[0][0] <= now or self._heap[0][2].done):
                    guard = heapq.heappop(self._heap)[2]
                    if not guard.done:
                        due.append(guard)
                if not due:
                    wait = self._heap[0][0] - now if self._heap else None
                    self._condition.wait(wait)
                    continue
            for guard in due:
                guard.fire()


_WATCHDOG = _Watchdog()
_current = threading.local()


def _current_guard_fired() -> bool:
    guard: _Guard | None = getattr(_current, "guard", None)
    return guard is not None and guard.fired


def _attach_to_current_guard(dbapi_connection: object) -> None:
    guard: _Guard | None = getattr(_current, "guard", None)
    if guard is not None:
        guard.attach(dbapi_connection)


# --- Databases -----------------------------------------------------------------------------

_DIALECT_MODULES = {
    "sqlite": "sqlalchemy.dialects.sqlite.pysqlite",
    "postgresql": "sqlalchemy.dialects.postgresql.psycopg",
}


class Database:
    """One database of one store: an engine made at first use, migrated, guarded."""

    def __init__(
        self,
        *,
        dialect: Literal["sqlite", "postgresql"],
        location: Path | str,
        owner: Owner,
        settings: StoreSettings,
        migrations: str,
        version_table: str,
    ) -> None:
        """``location``: the SQLite file (or ":memory:") or the libpq URL.

        ``migrations``: the Alembic script location, "cds_service:migrations/<store>";
        ``version_table``: the table its ``env.py`` records the revision in.
        """
        if dialect == "sqlite" and isinstance(location, Path):
            try:
                location.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ConfigurationError(
                    f"Cannot create the {owner.database} directory {location.parent}: {error}"
                ) from None
        self.dialect = dialect
        # The dialect's module now, when the store is made (gunicorn's master, before the
        # fork: shared by the workers and frozen), not when each worker makes its engine.
        importlib.import_module(_DIALECT_MODULES[dialect])
        self._location = location
        self._owner = owner
        self._settings = settings
        self._migrations = migrations
        self._version_table = version_table
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._pid = os.getpid()
        self._closed = False
        self._migrated = not settings.auto_migrate
        self._serial = contextlib.nullcontext() if location != ":memory:" else threading.Lock()
        """SQLite in memory is one connection (StaticPool): one operation at a time."""

    # The interface

    def run(
        self,
        operation: Callable[[Connection], _T],
        *,
        write: bool = False,
        relaxed: bool = False,
    ) -> _T:
        """``operation`` in one transaction: a write (``relaxed`` or fully durable) or a read.

        Raises the owner's 503 error when the database cannot answer in time.
        """
        engine = self._engine_here()
        with self._serial, _WATCHDOG.guard(self._settings.statement_timeout_s) as guard:
            try:
                if not self._migrated:
                    if not self._at_head(engine):
                        self._upgrade(engine)
                    self._migrated = True
                with engine.connect() as connection:
                    connection.execution_options(cds_write=write, cds_relaxed=relaxed)
                    with connection.begin():
                        if relaxed and self.dialect == "postgresql":
                            connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
                        return operation(connection)
            except _driver_errors(SQLAlchemyError, sqlite3.Error) as error:
                if guard.fired:
                    self._owner.logger.error(
                        "%s: no answer within %ss; connection cut",
                        self._owner.label,
                        self._settings.statement_timeout_s,
                    )
                    raise self._owner.error(self._owner.unavailable_message) from error
                raise self._owner.unavailable(error) from error

    def ping(self) -> bool:
        """True when the database answers within the timeouts; never raises."""
        try:
            self.run(lambda connection: connection.exec_driver_sql("SELECT 1").scalar())
        except ServiceError:
            return False
        return True

    def migrate(self) -> None:
        """Bring the schema to the current revision now (the deploy command)."""
        engine = self._engine_here()
        try:
            self._upgrade(engine, bounded=False)  # an index on a large table takes its time
        except _driver_errors(SQLAlchemyError, sqlite3.Error) as error:
            raise self._owner.unavailable(error) from error
        self._migrated = True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._engine is not None and self._pid == os.getpid():
                self._engine.dispose()
            self._engine = None

    # Engines

    def _engine_here(self) -> Engine:
        with self._lock:
            if self._closed:
                raise self._owner.error(f"{self._owner.label.capitalize()} is closed")
            if self._engine is not None and self._pid != os.getpid():
                self._engine.dispose(close=False)  # the parent's connections stay the parent's
                self._pid = os.getpid()
            if self._engine is None:
                self._engine = (
                    self._sqlite_engine() if self.dialect == "sqlite" else self._postgres_engine()
                )
                self._pid = os.getpid()
            return self._engine

    def _pool_options(self) -> dict[str, Any]:
        return {
            "pool_pre_ping": True,
            "pool_size": self._settings.pool_size,
            "max_overflow": self._settings.pool_size,
            "pool_timeout": self._settings.statement_timeout_s,
            "pool_recycle": 3600,
        }

    def _sqlite_engine(self) -> Engine:
        path = self._location
        busy_s = self._settings.statement_timeout_s

        def connect() -> sqlite3.Connection:
            connection = sqlite3.connect(
                path,
                timeout=busy_s,
                isolation_level=None,  # transactions are explicit: see _begin
                check_same_thread=False,  # pooled: used by one thread at a time
            )
            try:
                connection.execute(f"PRAGMA busy_timeout = {math.ceil(busy_s * 1000)}")
                mode = enable_wal(connection)
            except sqlite3.Error:
                connection.close()
                raise
            if mode != "wal" and path != ":memory:":
                self._owner.logger.warning(
                    "%s: SQLite journal mode is %s, not WAL", self._owner.label, mode
                )
            return connection

        if path == ":memory:":
            engine = create_engine("sqlite+pysqlite://", creator=connect, poolclass=StaticPool)
        else:
            engine = create_engine(
                "sqlite+pysqlite://", creator=connect, poolclass=QueuePool, **self._pool_options()
            )

        @event.listens_for(engine, "begin")
        def begin(connection: Connection) -> None:
            options = connection.get_execution_options()
            write = bool(options.get("cds_write"))
            if write:
                wanted = "NORMAL" if options.get("cds_relaxed") else "FULL"
                info = connection.connection.info  # lives as long as the DBAPI connection
                if info.get("synchronous") != wanted:
                    connection.exec_driver_sql(f"PRAGMA synchronous = {wanted}")
                    info["synchronous"] = wanted
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def _postgres_engine(self) -> Engine:
        import psycopg  # noqa: PLC0415 - only a PostgreSQL store needs the driver
        from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

        url = self._location
        settings = self._settings
        options: dict[str, Any] = {
            "keepalives": 1,
            "keepalives_idle": max(1, round(settings.keepalive_s)),
            "keepalives_interval": max(1, round(settings.keepalive_s / 3)),
            "keepalives_count": 3,
            "tcp_user_timeout": math.ceil(settings.statement_timeout_s * 1000),
        }
        if "connect_timeout" not in conninfo_to_dict(str(url)):
            options["connect_timeout"] = max(1, math.ceil(settings.connect_timeout_s))
        statement_ms = math.ceil(settings.statement_timeout_s * 1000)

        def connect() -> psycopg.Connection[tuple[Any, ...]]:
            if _current_guard_fired():  # e.g. the pre-ping was cut: no new connection now
                raise psycopg.OperationalError("store operation timed out")
            connection = psycopg.connect(str(url), **options)
            _attach_to_current_guard(connection)
            try:
                connection.execute(f"SET statement_timeout = {statement_ms}")
                connection.execute(f"SET idle_in_transaction_session_timeout = {statement_ms * 2}")
                connection.execute(f"SET lock_timeout = {statement_ms}")
                connection.commit()
            except psycopg.Error:
                connection.close()
                raise
            return connection

        engine = create_engine("postgresql+psycopg://", creator=connect, **self._pool_options())
        original_ping = engine.dialect.do_ping

        def guarded_ping(dbapi_connection: Any) -> bool:
            _attach_to_current_guard(dbapi_connection)
            return original_ping(dbapi_connection)

        # The pool pings before the checkout event: attach the connection to the guard here too.
        setattr(engine.dialect, "do_ping", guarded_ping)  # noqa: B010

        @event.listens_for(engine, "checkout")
        def checkout(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
            _attach_to_current_guard(dbapi_connection)

        return engine

    # Migrations

    def _at_head(self, engine: Engine) -> bool:
        """The version table holds the head revision of the scripts already (read without
        Alembic; False when unsure: Alembic then decides, as without this check)."""
        head = head_revision(self._migrations)
        if head is None:
            return False
        with engine.connect() as connection:
            if not inspect(connection).has_table(self._version_table):
                return False
            version: ColumnClause[str] = column("version_num")
            recorded = connection.execute(select(version).select_from(table(self._version_table)))
            return list(recorded.scalars()) == [head]

    def _upgrade(self, engine: Engine, *, bounded: bool = True) -> None:
        """Alembic ``upgrade head`` on one connection, one process at a time.

        ``bounded``: within the statement timeout (a process's first use); else
        without (the deploy command; the connection is then discarded, not pooled).
        """
        with engine.connect() as connection:
            if not bounded and self.dialect == "postgresql":
                connection.exec_driver_sql("SET statement_timeout = 0")
                connection.exec_driver_sql("SET lock_timeout = 0")
                connection.commit()
            try:
                with self._migration_lock(connection):
                    from alembic import command  # noqa: PLC0415 - only when migrating
                    from alembic.config import Config  # noqa: PLC0415

                    config = Config()
                    config.set_main_option("script_location", self._migrations)
                    config.attributes["connection"] = connection
                    command.upgrade(config, "head")
                    connection.commit()
            finally:
                if not bounded and self.dialect == "postgresql":
                    connection.invalidate()

    @contextlib.contextmanager
    def _migration_lock(self, connection: Connection) -> Iterator[None]:
        if self.dialect == "postgresql":
            digest = hashlib.sha256(self._migrations.encode()).digest()
            key = int.from_bytes(digest[:8], "big") >> 1  # > 0, a bigint
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            connection.commit()
            try:
                yield
            finally:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
        elif isinstance(self._location, Path):
            lock_path = self._location.with_name(self._location.name + ".migrate-lock")
            with lock_path.open("a") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)
        else:
            yield


@cache
def head_revision(migrations: str) -> str | None:
    """The one head revision of a history ("cds_service:migrations/<store>"), read from the
    ``revision`` and ``down_revision`` of its scripts without importing them (they import
    Alembic); None when it is not a single line of plain revisions."""
    package, _, folder = migrations.partition(":")
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in resources.files(package).joinpath(folder, "versions").iterdir():
        if not script.name.endswith(".py") or script.name == "__init__.py":
            continue
        values: dict[str, object] = {}
        for statement in ast.parse(script.read_text(encoding="utf-8")).body:
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target, value = statement.targets[0], statement.value
            elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
                target, value = statement.target, statement.value
            else:
                continue
            if isinstance(target, ast.Name):
                values[target.id] = value.value if isinstance(value, ast.Constant) else value
        revision, parent = values.get("revision"), values.get("down_revision")
        if not isinstance(revision, str) or not (parent is None or isinstance(parent, str)):
            return None  # a merge, a computed value: left to Alembic
        revisions.add(revision)
        if parent is not None:
            parents.add(parent)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


# --- SQLite --------------------------------------------------------------------------------


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


# --- PostgreSQL ----------------------------------------------------------------------------


def check_postgres_url(url: str, database: str) -> str:
    """``url``, once psycopg has parsed it; else ConfigurationError."""
    import psycopg  # noqa: PLC0415 - only a PostgreSQL URL needs the driver
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        raise ConfigurationError(f"The {database} URL is not a valid PostgreSQL URL") from None
    return url


def describe_postgres_url(url: str) -> str:
    """user@host:port/dbname, for logs and messages: never the password."""
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415 - a PostgreSQL URL only

    params = conninfo_to_dict(url)
    user = params.get("user", "")
    where = f"{params.get('host', '')}:{params.get('port', 5432)}/{params.get('dbname', '')}"
    return f"{user}@{where}" if user else where

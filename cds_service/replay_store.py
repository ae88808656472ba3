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
    Table ``cds_seen_jti`` (primary key ``jti_key``; schema history in
    ``cds_service/migrations/replay``). One statement,
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

Nothing connects when the cache is made (a worker boots while the store is
down); connections are opened at first use and re-opened after failures, with
the connect, statement (socket) and keepalive timeouts of ``StoreSettings``
(SQL: ``cds_service.sql``; Redis: socket timeouts, no retries, so a call waits
at most the connect plus the statement timeout). A store that cannot be
reached fails closed: the request is refused with 503 (``ReplayStoreUnavailable``),
never let through unchecked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import urlsplit

from sqlalchemy import Connection, text

from cds_service.errors import ConfigurationError, ServiceError
from cds_service.settings import StoreSettings
from cds_service.sql import (
    Database,
    Owner,
    check_postgres_url,
    describe_postgres_url,
    sqlite_path,
)

__all__ = ["ReplayCache", "ReplayStoreUnavailable", "open_replay_cache", "replay_key"]

if TYPE_CHECKING:
    import redis

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

    def ping(self) -> bool:
        """True when the store answers within the timeouts (for /readyz); never raises."""

    def migrate(self) -> None:
        """Bring an SQL store's schema to the current revision. Raises ReplayStoreUnavailable."""

    def close(self) -> None: ...


def replay_key(issuer: str, jti: str) -> str:
    identity = json.dumps([issuer, jti], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


# --- SQL (SQLite and PostgreSQL) ---------------------------------------------------------

_FIRST_USE = """
    INSERT INTO cds_seen_jti (jti_key, expires_at) VALUES (:key, :expires_at)
    ON CONFLICT (jti_key) DO UPDATE SET expires_at = excluded.expires_at
    WHERE cds_seen_jti.expires_at <= :now
"""

_PURGE = "DELETE FROM cds_seen_jti WHERE expires_at <= :now"


class SqlReplayCache:
    """SQLite or PostgreSQL; expired ids purged at most every ``PURGE_EVERY_S`` per process."""

    def __init__(
        self,
        dialect: Literal["sqlite", "postgresql"],
        location: Path | str,
        settings: StoreSettings | None = None,
    ) -> None:
        self._db = Database(
            dialect=dialect,
            location=location,
            owner=_OWNER,
            settings=settings or StoreSettings(),
            migrations="cds_service:migrations/replay",
            version_table="cds_replay_schema_version",
        )
        self._purged_at = 0.0

    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        key = replay_key(issuer, jti)
        now = time.time()
        purge = now - self._purged_at >= PURGE_EVERY_S

        def record(connection: Connection) -> int:
            if purge:
                connection.execute(text(_PURGE), {"now": now})
            params = {"key": key, "expires_at": expires_at, "now": now}
            return connection.execute(text(_FIRST_USE), params).rowcount

        changed = self._db.run(record, write=True, relaxed=True)
        if purge:
            self._purged_at = now
        return changed == 1

    def ping(self) -> bool:
        return self._db.ping()

    def migrate(self) -> None:
        self._db.migrate()

    def close(self) -> None:
        self._db.close()


# --- Redis -------------------------------------------------------------------------------


class RedisReplayCache:
    PREFIX = "cds:jti:"

    def __init__(self, url: str, settings: StoreSettings | None = None) -> None:
        # Imported here, not at module level: a worker without a Redis replay store does
        # not pay for importing redis (about 0.1 s of every worker's start).
        import redis  # noqa: PLC0415
        from redis.backoff import NoBackoff  # noqa: PLC0415
        from redis.retry import Retry  # noqa: PLC0415

        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)
        settings = settings or StoreSettings()
        self._where = _describe_redis_url(url)
        keepalive = max(1, round(settings.keepalive_s))
        self._client: redis.Redis = redis.Redis.from_url(
            url,
            socket_timeout=settings.statement_timeout_s,
            socket_connect_timeout=settings.connect_timeout_s,
            socket_keepalive=True,
            socket_keepalive_options={
                socket.TCP_KEEPIDLE: keepalive,
                socket.TCP_KEEPINTVL: max(1, keepalive // 3),
                socket.TCP_KEEPCNT: 3,
            },
            health_check_interval=max(1, keepalive),
            retry=Retry(NoBackoff(), 0),  # the caller gets its 503 now, not after backoffs
        )
        logger.info("replay store: Redis at %s", self._where)

    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        seconds_left = max(1, math.ceil(expires_at - time.time()))
        try:
            stored = self._client.set(
                self.PREFIX + replay_key(issuer, jti), b"1", nx=True, ex=seconds_left
            )
        except self._errors as error:
            raise _OWNER.unavailable(error) from error
        return bool(stored)

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except self._errors:
            return False

    def migrate(self) -> None:
        """Nothing to migrate: keys expire by themselves."""

    def close(self) -> None:
        self._client.close()


def _describe_redis_url(url: str) -> str:
    """host:port/db, for logs: never the password."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


# --- Opening by URL ----------------------------------------------------------------------


def open_replay_cache(url: str, settings: StoreSettings | None = None) -> ReplayCache:
    """The replay store ``url`` names; nothing is connected yet (see the module docstring).

    Raises ConfigurationError for an unsupported or malformed URL.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        path = sqlite_path(url, _OWNER.database)
        logger.info("replay store: SQLite at %s", path)
        return SqlReplayCache("sqlite", path, settings)
    if scheme in {"postgresql", "postgres"}:
        checked = check_postgres_url(url, _OWNER.database)
        logger.info("replay store: PostgreSQL at %s", describe_postgres_url(checked))
        return SqlReplayCache("postgresql", checked, settings)
    if scheme in {"redis", "rediss"}:
        return RedisReplayCache(url, settings)
    raise ConfigurationError(
        "The replay store URL (CDS_REPLAY_STORE_URL) must start with sqlite:///, "
        f"postgresql:// or redis://, not {scheme + '://' if scheme else 'a bare path'}"
    )

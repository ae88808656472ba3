"""The shared record of seen JWT ids: one use per (issuer, jti), across processes.

SQLite always; PostgreSQL and Redis as CI has them (127.0.0.1:5432, 127.0.0.1:6379):
deselect with ``-m "not postgres and not redis"`` to run without them.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cds_service.errors import ConfigurationError
from cds_service.feedback_store import open_feedback_store
from cds_service.replay_store import (
    ReplayStoreUnavailable,
    SqlReplayCache,
    open_replay_cache,
    replay_key,
)
from cds_service.settings import StoreSettings
from tests.postgres import isolated_postgres_url

REDIS_URL = os.environ.get("CDS_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
ISSUER = "https://ehr.example.org"


def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({error}). The tests marked 'redis' need"
            " it (CI runs one): start it, set CDS_TEST_REDIS_URL, or deselect with -m 'not redis'.",
            pytrace=False,
        )
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'replay.sqlite3'}"
    elif request.param == "postgresql":
        with isolated_postgres_url() as url:
            yield url
    else:
        yield redis_url()


def later(seconds: float = 60) -> float:
    return time.time() + seconds


def test_a_jti_is_admitted_once(store_url: str) -> None:
    jti = str(uuid.uuid4())
    cache = open_replay_cache(store_url)
    try:
        assert cache.first_use(ISSUER, jti, later())
        assert not cache.first_use(ISSUER, jti, later())
        assert cache.first_use("https://other.example.org", jti, later())  # per issuer
    finally:
        cache.close()
    reopened = open_replay_cache(store_url)  # a restart forgets nothing
    try:
        assert not reopened.first_use(ISSUER, jti, later())
    finally:
        reopened.close()


PATIENT = StoreSettings(connect_timeout_s=10, statement_timeout_s=30)
"""Timeouts for the race: six processes making the tables and trying the jti at once on a
loaded 2-core machine may wait seconds on each other; what the test shows is that exactly
one admits the jti, not how fast."""


def use_once(url: str, jti: str) -> bool:
    """In a child process: open the store and try the jti."""
    cache = open_replay_cache(url, PATIENT)
    try:
        return cache.first_use(ISSUER, jti, later())
    finally:
        cache.close()


def test_processes_racing_on_one_jti_admit_exactly_one(store_url: str) -> None:
    jti = str(uuid.uuid4())
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        admitted = pool.starmap(use_once, [(store_url, jti)] * 6)
    assert sorted(admitted) == [False] * 5 + [True]


@pytest.mark.parametrize(
    "url_kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_an_expired_record_no_longer_blocks_its_jti(url_kind: str, tmp_path: Path) -> None:
    """A record lasts the token's lifetime (exp plus leeway), no longer."""

    def check(url: str) -> None:
        cache = open_replay_cache(url)
        try:
            assert cache.first_use(ISSUER, "j", time.time() - 1)
            assert cache.first_use(ISSUER, "j", later())
            assert not cache.first_use(ISSUER, "j", later())
        finally:
            cache.close()

    if url_kind == "sqlite":
        check(f"sqlite:///{tmp_path / 'replay.sqlite3'}")
    else:
        with isolated_postgres_url() as url:
            check(url)


def test_expired_records_are_purged(tmp_path: Path) -> None:
    path = tmp_path / "replay.sqlite3"
    cache = SqlReplayCache("sqlite", path)
    try:
        cache.first_use(ISSUER, "old", time.time() - 1)
        cache.first_use(ISSUER, "current", later())
        cache._purged_at = 0.0  # as if the purge interval had passed
        cache.first_use(ISSUER, "new", later())
    finally:
        cache.close()
    with sqlite3.connect(path) as connection:
        keys = {key for (key,) in connection.execute("SELECT jti_key FROM cds_seen_jti")}
    connection.close()
    assert keys == {replay_key(ISSUER, "current"), replay_key(ISSUER, "new")}


def test_by_default_it_shares_the_feedback_database_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
    feedback, replay = open_feedback_store(url), open_replay_cache(url)
    try:
        assert replay.first_use(ISSUER, "j", later())
        assert feedback.ping()
    finally:
        feedback.close()
        replay.close()
    with sqlite3.connect(tmp_path / "feedback.sqlite3") as connection:
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
    connection.close()
    assert {"cds_feedback", "cds_seen_jti"} <= tables


@pytest.mark.redis
def test_redis_expires_the_record_with_the_token() -> None:
    url = redis_url()
    jti = str(uuid.uuid4())
    cache = open_replay_cache(url)
    client = redis.Redis.from_url(url)
    try:
        assert cache.first_use(ISSUER, jti, later(120))
        ttl = client.ttl(f"cds:jti:{replay_key(ISSUER, jti)}")
        assert 110 <= int(ttl) <= 120
    finally:
        cache.close()
        client.close()


def test_an_unreachable_store_fails_closed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cache = open_replay_cache(f"redis://127.0.0.1:{port}/0")  # opens lazily: a worker boots
    try:
        with pytest.raises(ReplayStoreUnavailable) as refused:
            cache.first_use(ISSUER, "j", later())
        assert refused.value.status == 503
        assert cache.ping() is False
    finally:
        cache.close()


@pytest.mark.parametrize(
    "url", ["mysql://db/x", "sqlite://relative.db", "/var/replay.sqlite3", "sqlite:///dir/"]
)
def test_an_unsupported_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError):
        open_replay_cache(url)

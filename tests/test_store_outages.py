"""Store outages against real processes: PostgreSQL behind a proxy we freeze or kill, Redis.

What is shown (issue 11): a store that is down or stops answering never takes
the service down. Nothing connects at start-up, so the app (and a gunicorn
worker) boots with every store unreachable; a call that needs a store gets a 503
OperationOutcome within the connect plus the statement timeout, however the
store fails; hook calls never wait on the feedback store; a store that comes
back is used again without a restart.

PostgreSQL is the shared test server (``tests.postgres``) reached through
``tests.tcp_proxy``, a process of the test's own: SIGSTOP freezes it (the kernel
still accepts and buffers, nobody answers: a hung server), killing it is an
outage. Redis is a private ``redis-server`` on a free port, frozen or killed
likewise.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.errors import ServiceError
from cds_service.feedback_store import FeedbackStoreUnavailable, open_feedback_store
from cds_service.replay_store import ReplayStoreUnavailable, open_replay_cache
from cds_service.settings import Profile, Settings, StoreSettings
from cds_service.wire import FeedbackItem
from demo.fhir_server import free_port
from tests.conftest import FIXED_TODAY
from tests.postgres import isolated_postgres_url
from tests.processes import Gunicorn, RedisServer, TcpProxy
from tests.requests import spec_example
from tests.test_auth import EC_ISSUER, Signer, bearer, clean_environment, es384_key, jwks

SERVICE = "her2-nsclc-patient-view"
TIMEOUTS = StoreSettings(connect_timeout_s=2.0, statement_timeout_s=1.0, keepalive_s=5.0)
BOUND_S = TIMEOUTS.connect_timeout_s + TIMEOUTS.statement_timeout_s + 1.5
"""Longest a store operation may take: connect plus statement timeout, plus scheduling slack
(psycopg waits at least 2 s to connect)."""


def feedback_item(card: str) -> FeedbackItem:
    return FeedbackItem.model_validate(
        {
            "card": card,
            "outcome": "overridden",
            "overrideReason": {"reason": {"system": "urn:x", "code": "c"}},
            "outcomeTimestamp": "2026-11-21T09:31:00Z",
        }
    )


def through(url: str, port: int) -> str:
    """``url`` with its host and port replaced by 127.0.0.1:``port`` (the proxy)."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


def target_of(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5432


def with_feedback_tables(url: str) -> str:
    """``url``'s schema brought to the current revision directly, with generous timeouts:
    on a loaded 2-core machine that can take more than the 1 s statement timeout under test,
    and what the tests show is an outage, not a migration."""
    schema = open_feedback_store(url, StoreSettings(connect_timeout_s=10, statement_timeout_s=30))
    try:
        schema.migrate()
    finally:
        schema.close()
    return url


@pytest.fixture
def postgres_behind_proxy() -> Iterator[tuple[str, TcpProxy]]:
    with isolated_postgres_url() as url:
        with_feedback_tables(url)
        proxy = TcpProxy(target_of(url))
        try:
            yield through(url, proxy.port), proxy
        finally:
            proxy.kill()


def timed(call: object, *args: object) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        call(*args)  # type: ignore[operator]
    except BaseException as error:  # the caller asserts on it
        return time.monotonic() - started, error
    return time.monotonic() - started, None


# --- PostgreSQL ----------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_frozen_postgres_costs_at_most_the_timeouts_and_is_used_again_once_back(
    postgres_behind_proxy: tuple[str, TcpProxy], caplog: pytest.LogCaptureFixture
) -> None:
    url, proxy = postgres_behind_proxy
    store = open_feedback_store(url, TIMEOUTS.model_copy(update={"issued_cards_queue": 10}))
    try:
        assert store.record(SERVICE, [feedback_item("card-before")]) == 1
        proxy.freeze()

        elapsed, error = timed(store.record, SERVICE, [feedback_item("card-frozen")])
        assert isinstance(error, FeedbackStoreUnavailable)
        assert error.status == 503
        # A pooled connection: its ping is cut at the statement timeout, no new one is tried.
        assert elapsed < TIMEOUTS.statement_timeout_s + 1.5, elapsed
        elapsed, _ = timed(store.ping)
        assert store.ping() is False
        assert elapsed < BOUND_S, elapsed

        # Remembering cards never waits: queued, and past the queue's bound dropped and
        # counted. The drops prove it: a call that waited for room (or wrote itself) would
        # drop nothing. The time bound is loose: 20 waits on the database would take 20 s.
        started = time.monotonic()
        for n in range(20):
            store.remember_cards(SERVICE, [(f"card-{n}", "rule")])
        assert time.monotonic() - started < 10 * TIMEOUTS.statement_timeout_s
        assert store.issued_cards_dropped >= 20 - 10 - 1  # 10 queued, 1 being written
        assert "issued cards not recorded" in caplog.text

        proxy.thaw()
        deadline = time.monotonic() + 15
        while store.record(SERVICE, [feedback_item("card-after")]) != 1:  # pragma: no cover
            assert time.monotonic() < deadline
        assert {row.card_uuid for row in store.feedback_rows()} == {"card-before", "card-after"}
    finally:
        store.close()


@pytest.mark.postgres
def test_a_postgres_that_goes_down_gives_503_then_serves_again_when_back(
    postgres_behind_proxy: tuple[str, TcpProxy],
) -> None:
    url, proxy = postgres_behind_proxy
    store = open_feedback_store(url, TIMEOUTS)
    try:
        assert store.record(SERVICE, [feedback_item("card-1")]) == 1
        port = proxy.port
        proxy.kill()
        elapsed, error = timed(store.record, SERVICE, [feedback_item("card-2")])
        assert isinstance(error, FeedbackStoreUnavailable)
        assert elapsed < BOUND_S

        with isolated_postgres_url() as other:  # only for the server's address
            revived = TcpProxy(target_of(other), port)
        try:
            assert store.record(SERVICE, [feedback_item("card-2")]) == 1
            assert store.ping()
        finally:
            revived.kill()
    finally:
        store.close()


@pytest.mark.postgres
def test_the_app_boots_without_its_database_and_hook_calls_do_not_wait_on_it(
    postgres_behind_proxy: tuple[str, TcpProxy], tmp_path: Path
) -> None:
    """Feedback gets a 503 OperationOutcome; the hook answers at once, its cards dropped."""
    url, proxy = postgres_behind_proxy
    proxy.freeze()
    stores = TIMEOUTS.model_copy(update={"statement_timeout_s": 5.0})  # a wait on it would show
    settings = Settings(
        profile=Profile.DEVELOPMENT,
        feedback_database_url=url,
        stores=stores,
        fhir_request_timeout_s=2.0,
        fhir_deadline_s=3.0,
    )
    app = create_app(settings, today=lambda: FIXED_TODAY)  # no connection made: boots
    client: FlaskClient = app.test_client()
    try:
        for _ in range(3):
            started = time.monotonic()
            hook = client.post(f"/cds-services/{SERVICE}", json=spec_example("patient-view"))
            assert hook.status_code == 200
            # never the 5 s of a wait on the database (a loaded machine: seconds, not five)
            assert time.monotonic() - started < stores.statement_timeout_s - 1.5

        started = time.monotonic()
        feedback = client.post(
            f"/cds-services/{SERVICE}/feedback",
            json={"feedback": [feedback_item("card-x").model_dump(mode="json")]},
        )
        # Waits for the queued cards (at most 5 s), then its own write (at most 2 + 5 s).
        assert time.monotonic() - started < 2 * stores.statement_timeout_s + 2.0 + 1.5
        assert feedback.status_code == 503
        outcome = feedback.get_json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "transient"
    finally:
        proxy.thaw()
        parts = app.extensions["cds_service"]
        parts.resolver.close()
        parts.store.close()


# --- Redis ---------------------------------------------------------------------------------


def test_a_frozen_or_stopped_redis_fails_closed_within_the_timeouts(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    cache = open_replay_cache(server.url, TIMEOUTS)
    try:
        assert cache.first_use(EC_ISSUER, "jti-1", time.time() + 60)
        server.freeze()
        elapsed, error = timed(cache.first_use, EC_ISSUER, "jti-2", time.time() + 60)
        assert isinstance(error, ReplayStoreUnavailable)
        assert error.status == 503
        assert elapsed < TIMEOUTS.statement_timeout_s + 1.5, elapsed
        assert cache.ping() is False

        server.thaw()
        assert cache.first_use(EC_ISSUER, "jti-fresh", time.time() + 60)
        assert not cache.first_use(EC_ISSUER, "jti-1", time.time() + 60)  # still refused
        # The SET sent while Redis was frozen ran once it thawed: that token stays spent
        # (its call was refused with 503; the client retries with a new token).
        assert not cache.first_use(EC_ISSUER, "jti-2", time.time() + 60)

        port = server.port
        server.kill()
        elapsed, error = timed(cache.first_use, EC_ISSUER, "jti-3", time.time() + 60)
        assert isinstance(error, ServiceError)
        assert error.status == 503
        assert elapsed < BOUND_S

        server = RedisServer(tmp_path / "redis", port)
        assert cache.first_use(EC_ISSUER, "jti-3", time.time() + 60)
        assert cache.ping()
    finally:
        cache.close()
        server.kill()


# --- gunicorn ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_gunicorn_workers_boot_with_every_store_down_and_serve_once_they_are_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before issue 11 a worker opened its stores while booting, and gunicorn's master
    exited when they were down. Now: 503 OperationOutcomes (the replay check fails
    closed), then normal answers once PostgreSQL and Redis are up, without a restart."""
    caplog.set_level(logging.INFO)
    signer = Signer(EC_ISSUER, "ec-1", "ES384", es384_key())
    keys = tmp_path / "ehr-jwks.json"
    keys.write_text(json.dumps(jwks(signer)))
    public = "https://cds.example.org"
    redis_port, postgres_port = free_port(), free_port()
    with isolated_postgres_url() as url:
        with_feedback_tables(url)
        env = clean_environment(
            CDS_PROFILE="production",
            CDS_PUBLIC_BASE_URL=public,
            CDS_FEEDBACK_DATABASE_URL=through(url, postgres_port),
            CDS_REPLAY_STORE_URL=f"redis://127.0.0.1:{redis_port}/0",
            CDS_AUTH_ISSUERS=json.dumps([{"iss": EC_ISSUER, "jwks_file": str(keys)}]),
            CDS_STORE_CONNECT_TIMEOUT_S="2",
            CDS_STORE_STATEMENT_TIMEOUT_S="1",
        )
        server = Gunicorn(env, tmp_path / "gunicorn.log")
        redis_server: RedisServer | None = None
        proxy: TcpProxy | None = None
        try:
            server.wait_until_answering()
            path = f"/cds-services/{SERVICE}"
            down = requests.post(
                server.url + path,
                json=spec_example("patient-view"),
                headers=bearer(signer.token(path, aud=public + path)),
                timeout=10,
            )
            assert down.status_code == 503
            assert down.json()["resourceType"] == "OperationOutcome"
            assert server.process.poll() is None  # the master is still there

            redis_server = RedisServer(tmp_path / "redis", redis_port)
            proxy = TcpProxy(target_of(url), postgres_port)
            up = requests.post(
                server.url + path,
                json=spec_example("patient-view"),
                headers=bearer(signer.token(path, aud=public + path)),
                timeout=10,
            )
            assert up.status_code == 200
            feedback_path = path + "/feedback"
            stored = requests.post(
                server.url + feedback_path,
                json={"feedback": [feedback_item("card-up").model_dump(mode="json")]},
                headers=bearer(signer.token(feedback_path, aud=public + feedback_path)),
                timeout=10,
            )
            assert stored.status_code == 200
            assert stored.json() == {"stored": 1, "received": 1}
        finally:
            server.stop()
            if redis_server is not None:
                redis_server.kill()
            if proxy is not None:
                proxy.kill()
    log = (tmp_path / "gunicorn.log").read_text()
    assert "Worker failed to boot" not in log


def test_the_authenticator_reports_whether_its_replay_store_answers(tmp_path: Path) -> None:
    """For readiness: the replay store's own ping, bounded by the store timeouts."""
    from cds_service.auth import Authenticator
    from cds_service.settings import AuthSettings, IssuerSettings

    signer = Signer(EC_ISSUER, "ec-1", "ES384", es384_key())
    server = RedisServer(tmp_path / "redis")
    issuer = IssuerSettings(iss=EC_ISSUER, jwks_json=json.dumps(jwks(signer)))
    auth = AuthSettings(issuers=(issuer,))
    authenticator = Authenticator(auth, open_replay_cache(server.url, TIMEOUTS))
    try:
        assert authenticator.replay_store_answers() is True
        server.freeze()
        started = time.monotonic()
        assert authenticator.replay_store_answers() is False
        assert time.monotonic() - started < TIMEOUTS.statement_timeout_s + 1.5
    finally:
        server.kill()
        authenticator.close()

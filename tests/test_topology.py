"""The production topology on loopback: nginx (deploy/nginx.conf) -> two gunicorn instances
-> PostgreSQL (feedback) and Redis (replay store).

Started by the test: nginx (Debian's package, as a plain process with the shipped
configuration, its ports and paths rewritten: ``tests.processes.Nginx``), two
gunicorn instances of the production entry (2 workers x 4 threads each, sharing one
PostgreSQL schema and one private ``redis-server``). PostgreSQL is the shared test
server, in a schema of the test's own. Shown, in one run:

1. 64 slow connections (a request line, then nothing) do not stop discovery
   answering through nginx; the same 64 sent to a gunicorn instance directly starve
   it (what nginx is there for).
2. A token used at one instance is refused (401) at the other: the replay store is
   shared.
3. nginx's own refusals are OperationOutcomes: 413 (body), 431 (header), 414
   (request line).
4. One instance killed (SIGKILL to master and workers) during a burst of feedback
   through nginx loses no acknowledged item: every item answered 200 "stored" is
   in PostgreSQL; the other instance keeps serving.
5. With no instance left, nginx answers 502 with an OperationOutcome.

Time budget: about 20 s on an idle 2-core machine (start-up about 6 s, slow clients
about 4 s, burst about 6 s); the test fails past ``BUDGET_S``. Skipped, loudly (a
line at the end of the run), when nginx is not installed; ``.ci/run`` installs it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from tests.postgres import isolated_postgres_url
from tests.processes import Gunicorn, Nginx, RedisServer, nginx_executable
from tests.requests import spec_example
from tests.test_auth import EC_ISSUER, Signer, bearer, clean_environment, es384_key, jwks

pytestmark = [pytest.mark.topology, pytest.mark.postgres]

SKIP_REASON = (
    "TOPOLOGY TEST SKIPPED: nginx is not installed (Debian package nginx; .ci/run installs it)"
)
BUDGET_S = 120.0
PUBLIC = "https://cds.example.org"
DISCOVERY = "/cds-services"
SERVICE = "/cds-services/her2-nsclc-patient-view"
FEEDBACK = SERVICE + "/feedback"
SLOW_CLIENTS = 64


def signed(signer: Signer, path: str) -> dict[str, str]:
    return bearer(signer.token(path, aud=PUBLIC + path))


def feedback_body(card: str) -> dict[str, Any]:
    return {
        "feedback": [
            {
                "card": card,
                "outcome": "overridden",
                "overrideReason": {"reason": {"system": "urn:x", "code": "c"}},
                "outcomeTimestamp": "2026-11-21T09:31:00Z",
            }
        ]
    }


def assert_outcome(response: requests.Response, status: int) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    assert response.json()["resourceType"] == "OperationOutcome"


def slow_connections(port: int) -> list[socket.socket]:
    opened = []
    for _ in range(SLOW_CLIENTS):
        connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        connection.sendall(f"POST {SERVICE} HTTP/1.1\r\n".encode())
        opened.append(connection)
    return opened


def discovery_answers(url: str, signer: Signer, timeout_s: float) -> bool:
    try:
        answer = requests.get(url + DISCOVERY, headers=signed(signer, DISCOVERY), timeout=timeout_s)
    except requests.RequestException:
        return False
    return answer.status_code == 200


def test_the_production_topology(tmp_path: Path) -> None:
    nginx_path = nginx_executable()
    if nginx_path is None:
        pytest.skip(SKIP_REASON)
    started = time.monotonic()
    signer = Signer(EC_ISSUER, "ec-1", "ES384", es384_key())
    keys = tmp_path / "ehr-jwks.json"
    keys.write_text(json.dumps(jwks(signer)))
    redis_server = RedisServer(tmp_path / "redis")
    instances: list[Gunicorn] = []
    nginx: Nginx | None = None
    with isolated_postgres_url() as database:
        env = clean_environment(
            CDS_PROFILE="production",
            CDS_PUBLIC_BASE_URL=PUBLIC,
            CDS_FEEDBACK_DATABASE_URL=database,
            CDS_REPLAY_STORE_URL=redis_server.url,
            CDS_AUTH_ISSUERS=json.dumps([{"iss": EC_ISSUER, "jwks_file": str(keys)}]),
            GUNICORN_THREADS="4",
        )
        try:
            instances = [Gunicorn(env, tmp_path / f"gunicorn-{n}.log") for n in (1, 2)]
            for instance in instances:
                instance.wait_until_answering()
            first, second = instances
            nginx = Nginx(nginx_path, tmp_path / "nginx", [first.port, second.port])
            assert discovery_answers(nginx.url, signer, 10)

            slow_clients_wait_in_nginx(nginx, second, signer)
            a_token_is_used_once(first, second, signer)
            nginx_refusals_are_outcomes(nginx, signer)
            feedback_survives_a_killed_instance(nginx, first, second, signer, database)
            no_instance_left_is_a_502(nginx, second, signer)
        finally:
            if nginx is not None:
                nginx.stop()
            for instance in instances:
                if instance.process.poll() is None:
                    instance.stop()
            redis_server.kill()
    elapsed = time.monotonic() - started
    assert elapsed < BUDGET_S, f"the topology test took {elapsed:.0f} s (budget {BUDGET_S:.0f} s)"


def slow_clients_wait_in_nginx(nginx: Nginx, second: Gunicorn, signer: Signer) -> None:
    """Slow clients: nginx holds them; gunicorn alone is starved by them."""
    held = slow_connections(nginx.port)
    try:
        for _ in range(5):
            assert discovery_answers(nginx.url, signer, 3)
    finally:
        for connection in held:
            connection.close()
    held = slow_connections(second.port)
    try:
        assert not discovery_answers(second.url, signer, 2)
    finally:
        for connection in held:
            connection.close()


def a_token_is_used_once(first: Gunicorn, second: Gunicorn, signer: Signer) -> None:
    """A token used at one instance is refused at the other."""
    token = signed(signer, SERVICE)
    body = spec_example("patient-view")
    assert requests.post(first.url + SERVICE, json=body, headers=token, timeout=10).ok
    replayed = requests.post(second.url + SERVICE, json=body, headers=token, timeout=10)
    assert replayed.status_code == 401


def nginx_refusals_are_outcomes(nginx: Nginx, signer: Signer) -> None:
    """nginx's refusals are OperationOutcomes."""
    too_large = requests.post(
        nginx.url + FEEDBACK,
        data=b"{" + b" " * (6 * 1024 * 1024) + b"}",
        headers={**signed(signer, FEEDBACK), "Content-Type": "application/json"},
        timeout=10,
    )
    assert_outcome(too_large, 413)
    huge_header = {"Authorization": "Bearer " + "a" * 20_000}
    assert_outcome(requests.get(nginx.url + DISCOVERY, headers=huge_header, timeout=10), 431)
    long_line = requests.get(nginx.url + DISCOVERY + "?" + "a" * 9000, timeout=10)
    assert_outcome(long_line, 414)


class FeedbackBurst:
    """Feedback posted through nginx by several clients; what was acknowledged or refused."""

    def __init__(self, nginx: Nginx, signer: Signer) -> None:
        self.nginx, self.signer = nginx, signer
        self.acknowledged: set[str] = set()
        self.refused: list[str] = []
        self.lock = threading.Lock()

    def client(self, worker: int) -> None:
        with requests.Session() as session:
            for n in range(30):
                self.post(session, f"burst-{worker}-{n}-{uuid.uuid4()}")

    def post(self, session: requests.Session, card: str) -> None:
        try:
            answer = session.post(
                self.nginx.url + FEEDBACK,
                json=feedback_body(card),
                headers=signed(self.signer, FEEDBACK),
                timeout=15,
            )
        except requests.RequestException as error:
            with self.lock:
                self.refused.append(type(error).__name__)
            return
        with self.lock:
            if answer.status_code == 200 and answer.json()["stored"] == 1:
                self.acknowledged.add(card)
            else:
                self.refused.append(str(answer.status_code))


def feedback_survives_a_killed_instance(
    nginx: Nginx, first: Gunicorn, second: Gunicorn, signer: Signer, database: str
) -> None:
    """A burst of feedback through nginx; one instance killed in the middle."""
    burst = FeedbackBurst(nginx, signer)
    clients = [threading.Thread(target=burst.client, args=(n,)) for n in range(8)]
    for client in clients:
        client.start()
    while len(burst.acknowledged) < 40 and any(client.is_alive() for client in clients):
        time.sleep(0.01)
    first.kill_instance()
    acknowledged_before_kill = len(burst.acknowledged)
    for client in clients:
        client.join(timeout=60)
    assert acknowledged_before_kill >= 40
    assert len(burst.acknowledged) > acknowledged_before_kill + 100  # the other carried on
    with psycopg.connect(database) as server:
        rows = server.execute("SELECT card_uuid FROM cds_feedback").fetchall()
    stored = {card for (card,) in rows}
    assert burst.acknowledged <= stored, sorted(burst.acknowledged - stored)[:5]
    assert len(burst.refused) <= 16, burst.refused  # at most the calls in flight at the kill
    for _ in range(10):
        assert discovery_answers(nginx.url, signer, 5)
    assert discovery_answers(second.url, signer, 5)


def no_instance_left_is_a_502(nginx: Nginx, second: Gunicorn, signer: Signer) -> None:
    """No instance left: nginx's 502 is an OperationOutcome."""
    second.kill_instance()
    gone = requests.get(nginx.url + DISCOVERY, headers=signed(signer, DISCOVERY), timeout=10)
    assert_outcome(gone, 502)

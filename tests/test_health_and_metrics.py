"""Liveness, readiness and Prometheus metrics.

The defects (issue 11): ``/healthz`` said 200 while every call got 503 (the replay store
was down), and there were no metrics. Now ``/healthz`` is liveness only, ``/readyz``
answers 503 when the replay store (a real Redis process here, stopped mid-test) does not
answer, and ``/metrics`` exposes request, latency, card, FHIR, authentication and store
counters, with no patient data in any label, to loopback callers or token holders only;
under gunicorn the workers' metrics are added up (multiprocess mode).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import pytest
import redis
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from jwt.algorithms import ECAlgorithm
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from cds_service import gunicorn_hooks
from cds_service.app import create_app
from cds_service.settings import AuthSettings, IssuerSettings, Profile, Settings
from demo.fhir_server import Reply, ScriptedFhirServer, free_port
from tests.conftest import FIXED_TODAY, LiveServer
from tests.processes import Gunicorn

ROOT = Path(__file__).resolve().parents[1]
VIGNETTES = Path(__file__).resolve().parent / "vignettes"
BASE = "http://localhost"
PATIENT_VIEW = "/cds-services/her2-nsclc-patient-view"
ISSUER = "https://ehr.example.org"
SERVICE = {
    "patient-view": "her2-nsclc-patient-view",
    "order-select": "her2-nsclc-order-select",
    "order-sign": "her2-nsclc-order-sign",
}


def close(app: Flask) -> None:
    parts = app.extensions["cds_service"]
    parts.resolver.close()
    parts.store.close()
    if parts.authenticator is not None:
        parts.authenticator.close()


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample; fails on text that is not Prometheus format."""
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def value(text: str, name: str, **labels: str) -> float:
    return sum(v for n, ls, v in samples(text) if n == name and labels.items() <= ls.items())


# --- A real Redis for the replay store ------------------------------------------------------


@pytest.fixture
def own_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server process of this test alone (it is stopped mid-test)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed: the readiness outage test needs one")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url, socket_timeout=1).ping()
            break
        except redis.RedisError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    yield url, process
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def authenticated_settings(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey, replay_url: str | None = None, **more: Any
) -> Settings:
    jwk = {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1", "alg": "ES384"}
    return Settings(
        profile=Profile.PRODUCTION,
        public_base_url=BASE,
        feedback_database_url=f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        auth=AuthSettings(
            issuers=(IssuerSettings(iss=ISSUER, jwks_json=json.dumps({"keys": [jwk]})),),
            replay_store_url=replay_url,
        ),
        **more,
    )


def bearer(key: ec.EllipticCurvePrivateKey, path: str) -> dict[str, str]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": BASE + path,
        "exp": now + 60,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    token = jwt.encode(claims, key, algorithm="ES384", headers={"kid": "k1"})
    return {"Authorization": f"Bearer {token}"}


# --- Liveness and readiness -------------------------------------------------------------------


def test_readyz_is_503_while_the_replay_store_is_down_and_healthz_stays_200(
    tmp_path: Path,
    key: ec.EllipticCurvePrivateKey,
    own_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    """The attack on the old /healthz: replay store down, every call 503, /healthz 200."""
    url, process = own_redis
    app = create_app(authenticated_settings(tmp_path, key, url), today=lambda: FIXED_TODAY)
    try:
        client = app.test_client()
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.get_json() == {"status": "ready", "replayStore": "up", "feedbackStore": "up"}
        assert client.get("/cds-services", headers=bearer(key, "/cds-services")).status_code == 200

        process.terminate()
        process.wait(timeout=10)

        assert client.get("/cds-services", headers=bearer(key, "/cds-services")).status_code == 503
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.mimetype == "application/fhir+json"
        outcome = not_ready.get_json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "transient"
        assert "replay store" in outcome["issue"][0]["diagnostics"]
        assert client.get("/healthz").status_code == 200  # alive: do not restart it
        scraped = client.get("/metrics").get_data(as_text=True)
        assert value(scraped, "cds_store_failures_total", store="replay") >= 2
    finally:
        close(app)


def test_readyz_reports_the_feedback_store(client: FlaskClient) -> None:
    """Development without authentication: no replay store; the feedback store reported."""
    assert client.get("/readyz").get_json() == {
        "status": "ready",
        "replayStore": "not used",
        "feedbackStore": "up",
    }
    client.application.extensions["cds_service"].store.close()
    down = client.get("/readyz")
    assert down.status_code == 200  # hook calls do not need it
    assert down.get_json()["feedbackStore"] == "down"


# --- /metrics ----------------------------------------------------------------------------------


def vignette_requests() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(VIGNETTES.glob("*.json"))]


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for child in value.values():
            yield from _strings(child)
    elif isinstance(value, list):
        for child in value:
            yield from _strings(child)


def _prefetched_resources(request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The resources of every prefetch value (a Bundle's entries, or the resource itself)."""
    for value in (request.get("prefetch") or {}).values():
        if not value:
            continue
        if value.get("resourceType") != "Bundle":
            resources = [value]
        else:
            resources = [e.get("resource") for e in value.get("entry", [])]
        yield from (r for r in resources if isinstance(r, dict))


def patient_strings(request: dict[str, Any]) -> set[str]:
    """What identifies the patient or describes the findings: the patient id, and every
    string of the Patient resource and of every Observation (ids, names, birth date,
    variants, results)."""
    found = {request["context"]["patientId"], request["hookInstance"]}
    for resource in _prefetched_resources(request):
        if resource.get("resourceType") in {"Patient", "Observation"}:
            found.update(s for s in _strings(resource) if not s.startswith("http"))
        if resource.get("resourceType") == "Observation":
            # The vignettes name their Observations after what they measure ("lvef"),
            # as the rules are named: not patient data.
            found.discard(resource.get("id"))
    return {s for s in found if s}


def test_metrics_after_the_vignettes_count_everything_and_carry_no_patient_data(
    client: FlaskClient,
) -> None:
    requests_sent = vignette_requests()
    before = client.get("/metrics").get_data(as_text=True)  # the process's counters so far
    secrets: set[str] = set()
    cards = 0
    for request in requests_sent:
        response = client.post(f"/cds-services/{SERVICE[request['hook']]}", json=request)
        assert response.status_code == 200
        cards += len(response.get_json()["cards"])
        secrets |= patient_strings(request)
    assert client.post("/cds-services/nope", json={}).status_code == 404

    scrape = client.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.mimetype == "text/plain"
    text = scrape.get_data(as_text=True)
    parsed = samples(text)

    def delta(name: str, **labels: str) -> float:
        return value(text, name, **labels) - value(before, name, **labels)

    hook_calls = delta("cds_requests_total", endpoint="/cds-services/<service_id>")
    assert hook_calls == len(requests_sent) + 1
    patient_view = sum(1 for r in requests_sent if r["hook"] == "patient-view")
    assert patient_view > 0
    assert delta(
        "cds_requests_total",
        service="her2-nsclc-patient-view",
        hook="patient-view",
        status="200",
    ) == pytest.approx(patient_view)
    assert delta("cds_requests_total", service="", status="404") == 1  # "nope": no label
    assert delta("cds_cards_total") == cards > 0
    assert {ls["indicator"] for n, ls, _ in parsed if n == "cds_cards_total"} <= {
        "info",
        "warning",
        "critical",
    }
    assert delta("cds_request_duration_seconds_count") >= len(requests_sent)

    label_values = {v for _, labels, _ in parsed for v in labels.values()}
    leaked = {s for s in secrets if s in label_values or (len(s) >= 4 and s in text)}
    assert leaked == set()
    assert "nope" not in label_values


def test_authentication_and_fhir_failures_are_counted_by_fixed_reasons(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey
) -> None:
    app = create_app(authenticated_settings(tmp_path, key), today=lambda: FIXED_TODAY)
    try:
        client = app.test_client()
        client.get("/cds-services")
        client.get("/cds-services", headers={"Authorization": "Bearer not.a.token"})
        request = json.loads(sorted(VIGNETTES.glob("v01_*.json"))[0].read_text())
        del request["prefetch"]["conditions"]
        request["fhirServer"] = f"http://127.0.0.1:{free_port()}/fhir"  # nobody listens
        path = "/cds-services/her2-nsclc-patient-view"
        # This issuer lists no fhirServer: refused before any fetch.
        assert client.post(path, json=request, headers=bearer(key, path)).status_code == 412
        text = client.get("/metrics").get_data(as_text=True)
        assert value(text, "cds_auth_failures_total", reason="no bearer token") >= 1
        assert value(text, "cds_auth_failures_total", reason="malformed token") >= 1
        assert value(text, "cds_fhir_server_refused_total") >= 1
    finally:
        close(app)
    open_app = create_app(
        Settings(
            profile=Profile.DEVELOPMENT,
            feedback_database_url=f"sqlite:///{tmp_path / 'open.sqlite3'}",
        ),
        today=lambda: FIXED_TODAY,
    )
    try:
        client = open_app.test_client()
        assert client.post(path, json=request).status_code == 412
        text = client.get("/metrics").get_data(as_text=True)
        assert value(text, "cds_fhir_fetch_failures_total", kind="connection") >= 1
    finally:
        close(open_app)


def test_metrics_answer_loopback_callers_only_by_default(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 200
    remote = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert remote.status_code == 403
    assert remote.get_json()["resourceType"] == "OperationOutcome"
    for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
        proxied = client.get("/metrics", headers={header: "203.0.113.9"})
        assert proxied.status_code == 403, header  # a proxy on this machine forwarding


def test_metrics_over_real_http_from_loopback(live_server: LiveServer) -> None:
    response = requests.get(f"{live_server.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert "cds_requests_total" in response.text


def test_with_a_metrics_token_only_its_holders_get_metrics(tmp_path: Path) -> None:
    settings = Settings(
        profile=Profile.DEVELOPMENT,
        feedback_database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}",
        metrics_token="scrape-secret-1",
    )
    app = create_app(settings, today=lambda: FIXED_TODAY)
    try:
        client = app.test_client()
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        remote = {"REMOTE_ADDR": "10.1.2.3"}
        right = client.get(
            "/metrics",
            headers={"Authorization": "Bearer scrape-secret-1"},
            environ_base=remote,
        )
        assert right.status_code == 200
    finally:
        close(app)
    assert Settings.from_env({"CDS_METRICS_TOKEN": "t"}).metrics_token == "t"


# --- gunicorn: several workers, one set of metrics ----------------------------------------------


def test_prepare_multiprocess_dir_sets_the_variable_and_clears_stale_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "counter_999999.db"
    stale.write_bytes(b"old")
    monkeypatch.setenv(gunicorn_hooks.MULTIPROCESS_DIR_VARIABLE, str(tmp_path))
    assert gunicorn_hooks.prepare_multiprocess_dir() == tmp_path
    assert not stale.exists()
    monkeypatch.delenv(gunicorn_hooks.MULTIPROCESS_DIR_VARIABLE)
    made = gunicorn_hooks.prepare_multiprocess_dir()
    assert os.environ[gunicorn_hooks.MULTIPROCESS_DIR_VARIABLE] == str(made)
    made.rmdir()


def test_under_gunicorn_metrics_add_up_every_worker(tmp_path: Path) -> None:
    """Two sync workers share 4 slow hook calls (their FHIR server waits 0.5 s, so a busy
    worker leaves the next connection to the other) and 40 discovery calls; each worker
    counts its own; one scrape, whichever worker answers it, adds them up."""
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CDS_")},
        "CDS_PROFILE": "production",
        "CDS_AUTH_DISABLED": "true",
        "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path / 'f.sqlite3'}",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    log = tmp_path / "gunicorn.log"
    server = Gunicorn(env, log, extra_args=("--worker-class", "sync"))
    url = server.url
    try:
        server.wait_until_serving()

        def get(path: str) -> int:
            with requests.Session() as session:  # a new connection each time
                return session.get(url + path, timeout=10).status_code

        def slow_hook_call(_: int) -> int:
            with requests.Session() as session:
                return session.post(url + PATIENT_VIEW, json=request, timeout=20).status_code

        request = json.loads(sorted(VIGNETTES.glob("v01_*.json"))[0].read_text())
        del request["prefetch"]["conditions"]
        with ScriptedFhirServer() as fhir, ThreadPoolExecutor(max_workers=4) as pool:
            fhir.routes["/fhir/Condition"] = Reply(
                body={"resourceType": "Bundle", "entry": []}, delay_s=0.5
            )
            request["fhirServer"] = fhir.base_url
            hook_statuses = list(pool.map(slow_hook_call, range(4)))
            statuses = list(pool.map(get, ["/cds-services"] * 40))
        assert hook_statuses == [200] * 4
        assert statuses == [200] * 40

        def served(path: Path) -> float:
            """The calls one worker answered, from its own file."""
            return sum(
                number
                for key, number, *_ in MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
                if json.loads(key)[1] == "cds_requests_total"
                and json.loads(key)[2]["endpoint"] != "/healthz"  # the start-up probe
            )

        per_worker = {path.name: served(path) for path in metrics_dir.glob("counter_*.db")}
        assert sum(per_worker.values()) == 44
        assert len([n for n in per_worker.values() if n > 0]) == 2, per_worker
        for _ in range(4):  # whichever worker answers the scrape
            text = requests.get(f"{url}/metrics", timeout=10).text
            assert value(text, "cds_requests_total", endpoint="/cds-services") == 40
            hooks = value(text, "cds_requests_total", service="her2-nsclc-patient-view")
            assert hooks == 4
    finally:
        server.stop()

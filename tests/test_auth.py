"""JWT authentication of every call: discovery, hooks and feedback (cds-hooks_2.0@176).

Real keys: the tests make ES384 and RS384 key pairs, sign tokens with them and
call the app as a CDS client would. Issuers trusted here: an EHR whose ES384 key
set is configured inline, one whose RS384 set is a file, and one whose set is
served over HTTP by a real local server (``jku``). Every refusal is a bare 401
OperationOutcome; the reason is in the access log only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask.testing import FlaskClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from werkzeug.test import TestResponse

from cds_service.app import create_app
from cds_service.auth import Authenticator, open_authenticator
from cds_service.errors import ConfigurationError
from cds_service.replay_store import open_replay_cache
from cds_service.settings import (
    SANDBOX_JWKS_FILE,
    AuthSettings,
    IssuerSettings,
    Profile,
    Settings,
)
from tests.conftest import FIXED_TODAY
from tests.processes import Gunicorn
from tests.python_process import run_python
from tests.requests import spec_example

ROOT = Path(__file__).resolve().parents[1]
BASE = "http://localhost"  # the Flask test client's URL root
DISCOVERY = "/cds-services"
SERVICE = "/cds-services/her2-nsclc-patient-view"
FEEDBACK = "/cds-services/her2-nsclc-patient-view/feedback"

EC_ISSUER = "https://ehr.example.org"
RSA_ISSUER = "https://rsa-ehr.example.org"
URL_ISSUER = "https://remote-ehr.example.org"

SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"

BARE_401 = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "login", "diagnostics": "Authentication failed"}],
}


# --- Signing as a CDS client -----------------------------------------------------------------


@dataclass
class Signer:
    """A CDS client's key pair: signs tokens as ``iss`` with ``kid``."""

    iss: str
    kid: str
    alg: str
    private_key: Any

    @property
    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        if self.alg.startswith("ES"):
            jwk: dict[str, Any] = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.alg}

    @property
    def public_pem(self) -> bytes:
        pem: bytes = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem

    def token(self, path: str, *, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        """A token for a call to ``BASE + path``; ``claims`` override (None drops one)."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.iss,
            "aud": BASE + path,
            "exp": now + 300,
            "iat": now,
            "jti": str(uuid.uuid4()),
        }
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(
            payload,
            self.private_key,
            algorithm=self.alg,
            headers={"kid": self.kid, **(headers or {})},
        )


def es384_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def ec_signer() -> Signer:
    return Signer(EC_ISSUER, "ec-1", "ES384", es384_key())


@pytest.fixture(scope="module")
def rsa_signer() -> Signer:
    return Signer(RSA_ISSUER, "rsa-1", "RS384", rsa.generate_private_key(65537, 2048))


@pytest.fixture(scope="module")
def url_signer() -> Signer:
    return Signer(URL_ISSUER, "remote-1", "ES384", es384_key())


def jwks(*signers: Signer) -> dict[str, Any]:
    return {"keys": [signer.public_jwk for signer in signers]}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unsigned_token(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"


def claims_for(signer: Signer, path: str) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": signer.iss, "aud": BASE + path, "exp": now + 300, "iat": now, "jti": "j-1"}


# --- A real HTTP server publishing a JWK Set ---------------------------------------------------


@dataclass
class JwksServer:
    """Serves ``document`` at ``url`` on a free loopback port, counting the fetches."""

    document: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    fetches: int = 0

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                body = json.dumps(server.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_port}/jwks.json"
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def jwks_server(url_signer: Signer) -> Iterator[JwksServer]:
    server = JwksServer(jwks(url_signer))
    yield server
    server.stop()


# --- The app under test: production profile, three trusted issuers ---------------------------


def production_settings(tmp_path: Path, *issuers: IssuerSettings, **auth: Any) -> Settings:
    return Settings(
        profile=Profile.PRODUCTION,
        public_base_url=BASE,
        feedback_database_url=f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        cors_origins=("https://sandbox.cds-hooks.org",),
        auth=AuthSettings(issuers=issuers, **auth),
    )


@pytest.fixture
def settings(
    tmp_path: Path, ec_signer: Signer, rsa_signer: Signer, jwks_server: JwksServer
) -> Settings:
    """Overrides conftest's: the ``app`` and ``client`` here require JWTs."""
    rsa_file = tmp_path / "rsa-jwks.json"
    rsa_file.write_text(json.dumps(jwks(rsa_signer)))
    return production_settings(
        tmp_path,
        IssuerSettings(iss=EC_ISSUER, jwks_json=json.dumps(jwks(ec_signer))),
        IssuerSettings(iss=RSA_ISSUER, jwks_file=str(rsa_file)),
        IssuerSettings(iss=URL_ISSUER, jwks_url=jwks_server.url),
        jwks_min_refresh_s=0,
    )


def feedback_body() -> dict[str, Any]:
    return {
        "feedback": [
            {
                "card": str(uuid.uuid4()),
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-21T10:15:00Z",
            }
        ]
    }


def call(client: FlaskClient, path: str, token: str | None) -> TestResponse:
    headers = bearer(token) if token is not None else {}
    if path == DISCOVERY:
        return client.get(path, headers=headers)
    body = feedback_body() if path.endswith("/feedback") else spec_example("patient-view")
    return client.post(path, json=body, headers=headers)


def access_records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.__dict__["fields"] for r in caplog.records if r.name == "cds_service.access"]


def assert_refused(
    response: TestResponse, caplog: pytest.LogCaptureFixture, reason: str, token: str | None = None
) -> None:
    """A bare 401 OperationOutcome to the caller; the reason, and never the token, in the log."""
    assert response.status_code == 401
    assert response.mimetype == "application/fhir+json"
    assert response.headers["WWW-Authenticate"] == "Bearer"  # RFC 6750
    assert response.get_json() == BARE_401
    assert access_records(caplog)[-1]["error"] == reason
    if token is not None:
        logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
        assert token not in logged
        assert token.split(".")[1] not in logged  # not even the claims part


@pytest.fixture(autouse=True)
def _capture_access_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)


# --- Accepted --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [DISCOVERY, SERVICE, FEEDBACK])
def test_an_es384_token_for_the_url_called_is_accepted(
    client: FlaskClient, ec_signer: Signer, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    """A JWT signed with an out-of-band ES384 key set, on every endpoint.

    cds-hooks_2.0@176, cds-hooks_2.0@199, cds-hooks_2.0@205.
    """
    token = ec_signer.token(path)
    response = call(client, path, token)
    assert response.status_code == 200
    record = access_records(caplog)[-1]
    assert (record["iss"], record["kid"]) == (EC_ISSUER, "ec-1")
    assert "error" not in record


@pytest.mark.parametrize("path", [DISCOVERY, SERVICE, FEEDBACK])
def test_an_rs384_token_verified_with_a_key_set_file_is_accepted(
    client: FlaskClient, rsa_signer: Signer, path: str
) -> None:
    """cds-hooks_2.0@205: RS384, the other recommended algorithm."""
    assert call(client, path, rsa_signer.token(path)).status_code == 200


def test_cors_preflight_and_healthz_need_no_token(client: FlaskClient) -> None:
    """A browser's preflight carries no Authorization header; a health probe neither."""
    preflight = client.options(
        SERVICE,
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert client.get("/healthz").status_code == 200


def test_a_401_carries_cors_so_a_browser_client_can_read_it(client: FlaskClient) -> None:
    response = client.get(DISCOVERY, headers={"Origin": "https://sandbox.cds-hooks.org"})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == "https://sandbox.cds-hooks.org"


# --- Refused ---------------------------------------------------------------------------------


def test_no_authorization_header_is_refused(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """cds-hooks_2.0@177: every call needs a token, discovery included."""
    assert_refused(call(client, DISCOVERY, None), caplog, "no bearer token")


def test_unknown_urls_are_refused_before_they_are_routed(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """An unauthenticated caller does not learn which service ids exist."""
    response = client.post("/cds-services/no-such-service", json={})
    assert_refused(response, caplog, "no bearer token")


@pytest.mark.parametrize(
    "authorization", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "bearer  "]
)
def test_a_header_that_is_not_a_bearer_token_is_refused(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, authorization: str
) -> None:
    response = client.get(DISCOVERY, headers={"Authorization": authorization})
    assert_refused(response, caplog, "no bearer token")


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "eyJhbGciOiJFUzM4NCJ9.e30", "...."])
def test_a_malformed_token_is_refused(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, token: str
) -> None:
    assert_refused(call(client, DISCOVERY, token), caplog, "malformed token")


def test_a_signature_by_another_key_is_refused(
    client: FlaskClient, ec_signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """cds-hooks_2.0@176: the right iss and kid, but not the issuer's key."""
    forger = Signer(EC_ISSUER, "ec-1", "ES384", es384_key())
    token = forger.token(SERVICE)
    assert_refused(call(client, SERVICE, token), caplog, "bad signature", token)


def test_a_tampered_payload_is_refused(
    client: FlaskClient, ec_signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    header, _, signature = ec_signer.token(DISCOVERY).split(".")
    payload = b64url(json.dumps({**claims_for(ec_signer, SERVICE), "jti": "other"}).encode())
    token = f"{header}.{payload}.{signature}"
    assert_refused(call(client, SERVICE, token), caplog, "bad signature", token)


def test_an_unknown_issuer_is_refused(
    client: FlaskClient, ec_signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """cds-hooks_2.0@195: only allowlisted issuers."""
    token = ec_signer.token(DISCOVERY, iss="https://unknown.example.org")
    assert_refused(call(client, DISCOVERY, token), caplog, "unknown issuer", token)
    assert access_records(caplog)[-1]["iss"] == "https://unknown.example.org"


def test_an_unknown_kid_is_refused(
    client: FlaskClient, ec_signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    other = Signer(EC_ISSUER, "ec-unknown", "ES384", ec_signer.private_key)
    token = other.token(DISCOVERY)
    assert_refused(call(client, DISCOVERY, token), caplog, "unknown kid", token)


@pytest.mark.parametrize(
    ("aud", "path"),
    [
        (BASE + SERVICE, DISCOVERY),
        (BASE + DISCOVERY, SERVICE),
        (BASE + SERVICE, FEEDBACK),  # the service's token is not the feedback URL's
        (BASE + FEEDBACK, SERVICE),
        (BASE + "/cds-services/her2-nsclc-order-sign", SERVICE),
        ("https://other.example.org" + SERVICE, SERVICE),
        (BASE + SERVICE + "/", SERVICE),
        ("http://localhost:80" + SERVICE, SERVICE),
    ],
)
def test_aud_must_be_the_exact_url_called(
    client: FlaskClient, ec_signer: Signer, caplog: pytest.LogCaptureFixture, aud: str, path: str
) -> None:
    token = ec_signer.token(path, aud=aud)
    assert_refused(call(client, path, token), caplog, "wrong aud", token)


def test_aud_is_the_public_base_url_when_one_is_set(
    tmp_path: Path, ec_signer: Signer, settings: Settings
) -> None:
    behind_proxy = Settings(
        profile=Profile.PRODUCTION,
        public_base_url="https://cds.example.org/hooks/",
        feedback_database_url=settings.feedback_database_url,
        auth=settings.auth,
    )
    app = create_app(behind_proxy, today=lambda: FIXED_TODAY)
    try:
        client = app.test_client()
        public = ec_signer.token(DISCOVERY, aud="https://cds.example.org/hooks/cds-services")
        assert client.get(DISCOVERY, headers=bearer(public)).status_code == 200
        internal = ec_signer.token(DISCOVERY)  # aud http://localhost/cds-services
        assert client.get(DISCOVERY, headers=bearer(internal)).status_code == 401
    finally:
        close(app)


def test_an_expired_token_is_refused(
    client: FlaskClient, ec_signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    now = int(time.time())
    token = ec_signer.token(DISCOVERY, iat=now - 400, exp=now - 60)
    assert_refused(call(client, DISCOVERY, token), caplog, "expired", token)


def test_expiry_and_a_rounded_iat_within_the_leeway_are_accepted(
    client: FlaskClient, ec_signer: Signer
) -> None:
    """The sandbox rounds iat to the nearest second, and clocks drift: 10 s of leeway."""
    now = int(time.time())
    assert call(client, DISCOVERY, ec_signer.token(DISCOVERY, exp=now - 5)).status_code == 200
    assert call(client, DISCOVERY, ec_signer.token(DISCOVERY, iat=now + 5)).status_code == 200


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_token_not_yet_valid_is_refused(
    client: FlaskClient, ec_signer: Signer, caplog: pytest.LogCaptureFixture, claim: str
) -> None:
    early: dict[str, Any] = {claim: int(time.time()) + 60}
    token = ec_signer.token(DISCOVERY, **early)
    assert_refused(call(client, DISCOVERY, token), caplog, "not yet valid", token)


@pytest.mark.parametrize("claim", ["jti", "exp", "iat", "aud", "iss"])
def test_a_required_claim_missing_is_refused(
    client: FlaskClient, ec_signer: Signer, caplog: pytest.LogCaptureFixture, claim: str
) -> None:
    missing: dict[str, Any] = {claim: None}
    token = ec_signer.token(DISCOVERY, **missing)
    response = call(client, DISCOVERY, token)
    reason = "unknown issuer" if claim == "iss" else f"missing claim {claim}"
    assert_refused(response, caplog, reason, token)


def test_a_replayed_jti_is_refused(
    client: FlaskClient, ec_signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    token = ec_signer.token(SERVICE, jti="once-only")
    assert call(client, SERVICE, token).status_code == 200
    assert_refused(call(client, SERVICE, token), caplog, "jti replayed", token)
    assert access_records(caplog)[-1]["jti"] == "once-only"


def test_the_same_jti_from_another_issuer_is_its_own(
    client: FlaskClient, ec_signer: Signer, rsa_signer: Signer
) -> None:
    assert call(client, DISCOVERY, ec_signer.token(DISCOVERY, jti="same")).status_code == 200
    assert call(client, DISCOVERY, rsa_signer.token(DISCOVERY, jti="same")).status_code == 200


def test_alg_none_is_refused(
    client: FlaskClient, ec_signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """cds-hooks_2.0@201: an unsigned JWT is never accepted."""
    header = {"alg": "none", "typ": "JWT", "kid": "ec-1"}
    token = unsigned_token(header, claims_for(ec_signer, DISCOVERY)) + "."
    assert_refused(call(client, DISCOVERY, token), caplog, "algorithm not allowed", token)


def test_hs256_with_the_public_key_as_secret_is_refused(
    client: FlaskClient, ec_signer: Signer, rsa_signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """cds-hooks_2.0@203: the classic key-confusion attack, with each issuer's public key."""
    for signer in (ec_signer, rsa_signer):
        header = {"alg": "HS256", "typ": "JWT", "kid": signer.kid}
        signing_input = unsigned_token(header, claims_for(signer, DISCOVERY))
        mac = hmac.new(signer.public_pem, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{b64url(mac)}"
        assert_refused(call(client, DISCOVERY, token), caplog, "algorithm not allowed", token)


def test_an_asymmetric_algorithm_not_configured_is_refused(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """cds-hooks_2.0@205, cds-hooks_2.0@206: ES384 and RS384 by default; others only by setting."""
    signer = Signer(EC_ISSUER, "ec-1", "ES256", ec.generate_private_key(ec.SECP256R1()))
    token = signer.token(DISCOVERY)
    assert_refused(call(client, DISCOVERY, token), caplog, "algorithm not allowed", token)


def test_another_asymmetric_algorithm_is_accepted_when_configured(tmp_path: Path) -> None:
    """cds-hooks_2.0@206: CDS_AUTH_ALGORITHMS admits stronger or other asymmetric ones."""
    signer = Signer(EC_ISSUER, "p521", "ES512", ec.generate_private_key(ec.SECP521R1()))
    settings = production_settings(
        tmp_path,
        IssuerSettings(iss=EC_ISSUER, jwks_json=json.dumps(jwks(signer))),
        algorithms=("ES384", "RS384", "ES512"),
    )
    app = create_app(settings, today=lambda: FIXED_TODAY)
    try:
        response = app.test_client().get(DISCOVERY, headers=bearer(signer.token(DISCOVERY)))
        assert response.status_code == 200
    finally:
        close(app)


def test_a_token_for_an_algorithm_its_key_is_not_for_is_refused(
    client: FlaskClient, ec_signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """The JWK says ES384; an RS384 token under the same kid fails whatever its signature."""
    imposter = Signer(EC_ISSUER, "ec-1", "RS384", rsa.generate_private_key(65537, 2048))
    token = imposter.token(DISCOVERY)
    assert_refused(call(client, DISCOVERY, token), caplog, "key is for another algorithm", token)


def test_the_tenant_is_checked_when_the_issuer_lists_tenants(
    tmp_path: Path, ec_signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = production_settings(
        tmp_path,
        IssuerSettings(
            iss=EC_ISSUER, jwks_json=json.dumps(jwks(ec_signer)), tenants=("hospital-a",)
        ),
    )
    app = create_app(settings, today=lambda: FIXED_TODAY)
    try:
        client = app.test_client()
        good = ec_signer.token(DISCOVERY, tenant="hospital-a")
        assert client.get(DISCOVERY, headers=bearer(good)).status_code == 200
        for tenant in ("hospital-b", None):
            token = ec_signer.token(DISCOVERY, tenant=tenant)
            response = client.get(DISCOVERY, headers=bearer(token))
            assert_refused(response, caplog, "tenant not allowed", token)
    finally:
        close(app)


# --- jku and fetched key sets ------------------------------------------------------------------


def test_a_jku_not_on_the_allowlist_is_refused_and_never_fetched(
    client: FlaskClient, url_signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """cds-hooks_2.0@195: an attacker's key set URL is not fetched, let alone trusted."""
    attacker = Signer(URL_ISSUER, "attacker", "ES384", es384_key())
    evil = JwksServer(jwks(attacker))
    try:
        token = attacker.token(DISCOVERY, headers={"jku": evil.url})
        assert_refused(call(client, DISCOVERY, token), caplog, "jku not on the allowlist", token)
        assert evil.fetches == 0
    finally:
        evil.stop()


def test_a_pinned_issuer_refuses_any_jku_it_does_not_list(
    client: FlaskClient,
    ec_signer: Signer,
    jwks_server: JwksServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = ec_signer.token(DISCOVERY, headers={"jku": jwks_server.url})
    assert_refused(call(client, DISCOVERY, token), caplog, "jku not on the allowlist", token)


def test_keys_come_from_an_allowlisted_jku_and_are_refetched_for_a_new_kid(
    client: FlaskClient, url_signer: Signer, jwks_server: JwksServer
) -> None:
    """cds-hooks_2.0@195: the allowlisted jku is served by a real HTTP server; keys rotate."""
    headers = {"jku": jwks_server.url}
    assert call(client, DISCOVERY, url_signer.token(DISCOVERY, headers=headers)).status_code == 200
    assert call(client, SERVICE, url_signer.token(SERVICE, headers=headers)).status_code == 200
    assert jwks_server.fetches == 1  # cached

    rotated = Signer(URL_ISSUER, "remote-2", "ES384", es384_key())
    jwks_server.document = jwks(url_signer, rotated)
    assert call(client, FEEDBACK, rotated.token(FEEDBACK, headers=headers)).status_code == 200
    assert jwks_server.fetches == 2  # refreshed once, on the unknown kid

    without_jku = rotated.token(DISCOVERY)  # the issuer's jwks_url is used
    assert call(client, DISCOVERY, without_jku).status_code == 200
    assert jwks_server.fetches == 2


def test_refetching_for_unknown_kids_is_rate_limited(
    tmp_path: Path, url_signer: Signer, jwks_server: JwksServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = production_settings(
        tmp_path, IssuerSettings(iss=URL_ISSUER, jwks_url=jwks_server.url), jwks_min_refresh_s=3600
    )
    app = create_app(settings, today=lambda: FIXED_TODAY)
    try:
        client = app.test_client()
        assert client.get(DISCOVERY, headers=bearer(url_signer.token(DISCOVERY))).status_code == 200
        for n in range(5):
            unknown = Signer(URL_ISSUER, f"random-{n}", "ES384", url_signer.private_key)
            token = unknown.token(DISCOVERY)
            assert_refused(client.get(DISCOVERY, headers=bearer(token)), caplog, "unknown kid")
        assert jwks_server.fetches == 1
        assert client.get(DISCOVERY, headers=bearer(url_signer.token(DISCOVERY))).status_code == 200
    finally:
        close(app)


# --- The CDS Hooks sandbox ---------------------------------------------------------------------


def test_the_sandbox_key_set_ships_with_the_service_as_an_es384_p384_key() -> None:
    document = json.loads(SANDBOX_JWKS_FILE.read_text())
    (key,) = document["keys"]
    assert (key["kid"], key["alg"], key["crv"], key["use"]) == (
        SANDBOX_KID,
        "ES384",
        "P-384",
        "sig",
    )
    public = jwt.PyJWK(key).key
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert isinstance(public.curve, ec.SECP384R1)
    assert "d" not in key  # public only


def test_a_sandbox_shaped_token_reaches_the_signature_check(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The sandbox's iss, kid and jku are trusted, with its pinned key set.

    cds-hooks_2.0@195, cds-hooks_2.0@199.

    We cannot sign as the sandbox: a token of its exact shape, signed with
    another P-384 key, gets past issuer, jku and kid and fails on the signature.
    """
    settings = Settings.from_env(
        {
            "CDS_PROFILE": "development",
            "CDS_PUBLIC_BASE_URL": BASE,
            "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
            "CDS_AUTH_TRUST_SANDBOX": "true",
        }
    )
    app = create_app(settings, today=lambda: FIXED_TODAY)
    try:
        client = app.test_client()
        lookalike = Signer(SANDBOX_ISSUER, SANDBOX_KID, "ES384", es384_key())
        token = lookalike.token(DISCOVERY, headers={"jku": SANDBOX_JKU, "typ": "JWT"})
        assert_refused(client.get(DISCOVERY, headers=bearer(token)), caplog, "bad signature")
        elsewhere = lookalike.token(DISCOVERY, headers={"jku": "https://evil.example/jwks.json"})
        assert_refused(
            client.get(DISCOVERY, headers=bearer(elsewhere)), caplog, "jku not on the allowlist"
        )
    finally:
        close(app)


# --- Settings and start-up -------------------------------------------------------------------


@pytest.mark.parametrize("algorithms", ["HS256", "ES384,HS384", "none", "RS384,None"])
def test_none_and_hmac_are_refused_whatever_the_settings_say(algorithms: str) -> None:
    """cds-hooks_2.0@201, cds-hooks_2.0@203."""
    with pytest.raises(ConfigurationError, match="never none or HMAC"):
        Settings.from_env({"CDS_AUTH_ALGORITHMS": algorithms})


def test_the_authenticator_refuses_hmac_even_from_hand_made_settings(
    tmp_path: Path, ec_signer: Signer
) -> None:
    """cds-hooks_2.0@203."""
    auth = AuthSettings(
        issuers=(IssuerSettings(iss=EC_ISSUER, jwks_json=json.dumps(jwks(ec_signer))),),
        algorithms=("ES384", "HS256"),
    )
    replay = open_replay_cache("sqlite:///:memory:")
    try:
        with pytest.raises(ConfigurationError, match="never none or HMAC"):
            Authenticator(auth, replay)
    finally:
        replay.close()


def test_a_symmetric_key_in_a_trusted_key_set_is_refused_at_start_up(tmp_path: Path) -> None:
    secret = {"kty": "oct", "kid": "k", "k": b64url(b"0123456789abcdef0123456789abcdef")}
    settings = production_settings(
        tmp_path, IssuerSettings(iss=EC_ISSUER, jwks_json=json.dumps({"keys": [secret]}))
    )
    with pytest.raises(ConfigurationError, match="symmetric or private"):
        create_app(settings)


def test_issuers_are_read_from_the_environment(tmp_path: Path) -> None:
    issuers = [
        {"iss": "https://a.example.org", "jwks_file": "/etc/cds/a.json", "tenants": ["t1"]},
        {"iss": "https://b.example.org", "jwks_url": "https://b.example.org/jwks.json"},
        {"iss": "https://c.example.org", "jwks": {"keys": []}, "jku": ["https://c.example/k"]},
    ]
    settings = Settings.from_env(
        {
            "CDS_PROFILE": "development",
            "CDS_AUTH_ISSUERS": json.dumps(issuers),
            "CDS_AUTH_TRUST_SANDBOX": "yes",
            "CDS_AUTH_LEEWAY_S": "5",
            "CDS_REPLAY_STORE_URL": "redis://127.0.0.1:6379/0",
        }
    )
    a, b, c, sandbox = settings.auth.issuers
    assert (a.jwks_file, a.tenants) == ("/etc/cds/a.json", ("t1",))
    assert b.allowed_jku == ("https://b.example.org/jwks.json",)
    assert c.jwks_json == '{"keys": []}'
    assert (sandbox.iss, sandbox.jku) == (SANDBOX_ISSUER, (SANDBOX_JKU,))
    assert sandbox.jwks_file == str(SANDBOX_JWKS_FILE)
    assert (settings.auth.leeway_s, settings.auth.algorithms) == (5, ("ES384", "RS384"))
    assert settings.auth.replay_store_url == "redis://127.0.0.1:6379/0"
    assert settings.authentication_required


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "JSON array"),
        ('{"iss": "x"}', "JSON array"),
        ('[{"iss": "https://a"}]', "exactly one of"),
        ('[{"iss": "https://a", "jwks_file": "f", "jwks_url": "https://a/k"}]', "exactly one of"),
        ('[{"iss": "https://a", "jwks_url": "http://a.example.org/k"}]', "must be https"),
        ('[{"iss": "https://a", "jwks_file": "f", "jku": ["ftp://x"]}]', "must be https"),
        ('[{"iss": "https://a", "jwks_file": "f", "kid": "x"}]', "unknown fields"),
        (
            '[{"iss": "https://a", "jwks_file": "f"}, {"iss": "https://a", "jwks_file": "g"}]',
            "twice",
        ),
    ],
)
def test_bad_issuer_settings_are_refused_at_start_up(value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({"CDS_AUTH_ISSUERS": value})


def test_authentication_is_on_in_production_and_off_in_development_without_issuers() -> None:
    assert Settings.from_env({}).authentication_required
    assert not Settings.from_env({"CDS_AUTH_DISABLED": "true"}).authentication_required
    assert not Settings.from_env({"CDS_PROFILE": "development"}).authentication_required
    with_sandbox = {"CDS_PROFILE": "development", "CDS_AUTH_TRUST_SANDBOX": "true"}
    assert Settings.from_env(with_sandbox).authentication_required


def test_production_refuses_to_start_without_a_trusted_issuer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = production_settings(tmp_path)
    with pytest.raises(ConfigurationError, match="CDS_AUTH_DISABLED=true"):
        create_app(settings)
    assert any(
        r.levelname == "CRITICAL" and "No trusted JWT issuer" in r.message for r in caplog.records
    )


def clean_environment(**variables: str) -> dict[str, str]:
    """This process's environment without CDS_* settings, plus ``variables``."""
    kept = {name: value for name, value in os.environ.items() if not name.startswith("CDS_")}
    return {**kept, **variables}


def test_the_production_entry_refuses_to_start_without_an_issuer_and_says_why(
    tmp_path: Path,
) -> None:
    env = clean_environment(CDS_FEEDBACK_DATABASE_URL=f"sqlite:///{tmp_path / 'f.sqlite3'}")
    for profile in ("production", "development"):  # gunicorn never serves open by default
        run = run_python("import cds_service.wsgi", env={**env, "CDS_PROFILE": profile})
        assert run.returncode != 0
        assert "ConfigurationError" in run.stderr
        assert "No trusted JWT issuer" in run.stderr
        assert "CDS_AUTH_DISABLED=true" in run.stderr


def test_the_production_entry_starts_open_only_when_told_and_says_so(tmp_path: Path) -> None:
    env = clean_environment(
        CDS_PROFILE="production",
        CDS_AUTH_DISABLED="true",
        CDS_FEEDBACK_DATABASE_URL=f"sqlite:///{tmp_path / 'f.sqlite3'}",
    )
    run = run_python("import cds_service.wsgi", env=env)
    assert run.returncode == 0, run.stderr
    assert "AUTHENTICATION DISABLED (CDS_AUTH_DISABLED=true)" in run.stderr


def test_the_development_server_says_whether_authentication_is_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from cds_service.__main__ import announce

    announce(Settings(profile=Profile.DEVELOPMENT))
    assert "AUTHENTICATION OFF (no trusted issuer)" in caplog.text
    assert "not implemented" not in caplog.text
    caplog.clear()
    announce(Settings.from_env({"CDS_PROFILE": "development", "CDS_AUTH_TRUST_SANDBOX": "1"}))
    assert f"JWT authentication on: trusted issuers {SANDBOX_ISSUER}" in caplog.text


def test_development_without_issuers_opens_no_authenticator(tmp_path: Path) -> None:
    development = Settings(profile=Profile.DEVELOPMENT)
    assert open_authenticator(development) is None


def test_a_replay_store_that_cannot_answer_fails_closed(
    app: Any, client: FlaskClient, ec_signer: Signer
) -> None:
    """Not let through unchecked: 503, an OperationOutcome."""
    app.extensions["cds_service"].authenticator._replay.close()
    response = call(client, DISCOVERY, ec_signer.token(DISCOVERY))
    assert response.status_code == 503
    assert response.get_json()["resourceType"] == "OperationOutcome"


def close(app: Any) -> None:
    parts = app.extensions["cds_service"]
    parts.resolver.close()
    parts.store.close()
    if parts.authenticator is not None:
        parts.authenticator.close()


# --- Replay across worker processes: real gunicorn servers --------------------------------------


def test_a_token_replayed_to_another_worker_process_is_refused(
    tmp_path: Path, ec_signer: Signer
) -> None:
    """Two gunicorn servers (2 workers each) share the SQLite replay store: one use per jti."""
    keys = tmp_path / "ehr-jwks.json"
    keys.write_text(json.dumps(jwks(ec_signer)))
    public = "https://cds.example.org"
    env = clean_environment(
        CDS_PROFILE="production",
        CDS_PUBLIC_BASE_URL=public,  # one aud for both servers
        CDS_FEEDBACK_DATABASE_URL=f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        CDS_AUTH_ISSUERS=json.dumps([{"iss": EC_ISSUER, "jwks_file": str(keys)}]),
    )
    first, second = Gunicorn(env, tmp_path / "first.log"), Gunicorn(env, tmp_path / "second.log")
    try:
        first.wait_until_serving()
        second.wait_until_serving()
        token = ec_signer.token(SERVICE, aud=public + SERVICE)
        body = spec_example("patient-view")
        answers = [
            requests.post(server.url + SERVICE, json=body, headers=bearer(token), timeout=10)
            for server in (first, second, first)
        ]
        assert [answer.status_code for answer in answers] == [200, 401, 401]
        assert answers[1].json() == BARE_401
        fresh = ec_signer.token(SERVICE, aud=public + SERVICE)
        again = requests.post(second.url + SERVICE, json=body, headers=bearer(fresh), timeout=10)
        assert again.status_code == 200
    finally:
        first.stop()
        second.stop()
    second_log = (tmp_path / "second.log").read_text()
    assert '"error": "jti replayed"' in second_log
    assert token not in second_log + (tmp_path / "first.log").read_text()


def test_the_production_profile_refuses_to_trust_the_sandbox() -> None:
    """The sandbox's private key is published: trusting it in production lets anyone in."""
    for environment in (
        {"CDS_AUTH_TRUST_SANDBOX": "true"},
        {"CDS_PROFILE": "production", "CDS_AUTH_TRUST_SANDBOX": "1"},
    ):
        with pytest.raises(ConfigurationError) as refused:
            Settings.from_env(environment)
        assert "CDS_AUTH_TRUST_SANDBOX=true is refused in the production profile" in str(
            refused.value
        )
        assert "published" in str(refused.value)


def test_the_development_profile_trusts_the_sandbox_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.from_env(
        {
            "CDS_PROFILE": "development",
            "CDS_AUTH_TRUST_SANDBOX": "true",
            "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        }
    )
    assert [issuer.iss for issuer in settings.auth.issuers] == [SANDBOX_ISSUER]
    caplog.set_level(logging.WARNING)
    authenticator = open_authenticator(settings)
    assert authenticator is not None
    authenticator.close()
    assert "TRUSTING THE CDS HOOKS SANDBOX" in caplog.text
    assert "anyone can sign" in caplog.text


# --- Hardening (issue 11): errors, key types, claim types, lifetimes, aud --------------------


def bare_jwk(signer: Signer) -> dict[str, Any]:
    """The signer's public JWK without ``alg``: nothing says which algorithm it is for."""
    return {k: v for k, v in signer.public_jwk.items() if k != "alg"}


@pytest.fixture
def bare_key_client(tmp_path: Path, ec_signer: Signer, rsa_signer: Signer) -> Iterator[FlaskClient]:
    """Two issuers whose trusted keys carry no ``alg``: one EC (P-384), one RSA."""
    settings = production_settings(
        tmp_path,
        IssuerSettings(iss=EC_ISSUER, jwks_json=json.dumps({"keys": [bare_jwk(ec_signer)]})),
        IssuerSettings(iss=RSA_ISSUER, jwks_json=json.dumps({"keys": [bare_jwk(rsa_signer)]})),
    )
    app = create_app(settings, today=lambda: FIXED_TODAY)
    yield app.test_client()
    close(app)


@pytest.mark.parametrize("swap", ["rsa-token-for-ec-key", "ec-token-for-rsa-key"])
def test_a_header_alg_of_the_other_key_type_is_a_401_not_a_500(
    bare_key_client: FlaskClient,
    ec_signer: Signer,
    rsa_signer: Signer,
    caplog: pytest.LogCaptureFixture,
    swap: str,
) -> None:
    """The attack: the trusted key has no ``alg``; the token names the other key type's
    algorithm (PyJWT raised TypeError on it: 500). Now refused before PyJWT sees the key."""
    if swap == "rsa-token-for-ec-key":  # signed with an RSA key, claiming the EC issuer's kid
        forger = Signer(EC_ISSUER, ec_signer.kid, "RS384", rsa_signer.private_key)
    else:
        forger = Signer(RSA_ISSUER, rsa_signer.kid, "ES384", ec_signer.private_key)
    token = forger.token(DISCOVERY)
    assert_refused(
        call(bare_key_client, DISCOVERY, token), caplog, "key does not fit the algorithm"
    )


def test_the_keys_without_alg_still_verify_their_own_algorithm(
    bare_key_client: FlaskClient, ec_signer: Signer, rsa_signer: Signer
) -> None:
    for signer in (ec_signer, rsa_signer):
        assert call(bare_key_client, DISCOVERY, signer.token(DISCOVERY)).status_code == 200


def test_an_ec_key_on_another_curve_than_alg_names_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A P-256 key (no ``alg`` in its JWK) cannot verify an ES384 token."""
    p256 = Signer(EC_ISSUER, "p256", "ES256", ec.generate_private_key(ec.SECP256R1()))
    settings = production_settings(
        tmp_path,
        IssuerSettings(iss=EC_ISSUER, jwks_json=json.dumps({"keys": [bare_jwk(p256)]})),
        algorithms=("ES256", "ES384"),
    )
    app = create_app(settings, today=lambda: FIXED_TODAY)
    try:
        forged = Signer(EC_ISSUER, "p256", "ES384", es384_key()).token(DISCOVERY)
        response = call(app.test_client(), DISCOVERY, forged)
        assert_refused(response, caplog, "key does not fit the algorithm")
        assert call(app.test_client(), DISCOVERY, p256.token(DISCOVERY)).status_code == 200
    finally:
        close(app)


def test_any_exception_while_authenticating_is_a_401(
    client: FlaskClient,
    ec_signer: Signer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever a library raises on the way (here PyJWT's header parser, made to raise the
    TypeError it raised on a mismatched key), the caller gets the bare 401, never a 500."""

    def broken(token: str) -> dict[str, Any]:
        raise TypeError("Expecting a PEM-formatted key.")

    monkeypatch.setattr(jwt, "get_unverified_header", broken)
    token = ec_signer.token(DISCOVERY)
    assert_refused(
        call(client, DISCOVERY, token), caplog, "error while authenticating (TypeError)", token
    )


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": "9999999999"}, "invalid claim exp"),
        ({"exp": True}, "invalid claim exp"),
        ({"exp": [1]}, "invalid claim exp"),
        ({"iat": "0"}, "invalid claim iat"),
        ({"iat": {"a": 1}}, "invalid claim iat"),
    ],
)
def test_exp_and_iat_must_be_numbers(
    client: FlaskClient,
    ec_signer: Signer,
    caplog: pytest.LogCaptureFixture,
    claims: dict[str, Any],
    reason: str,
) -> None:
    token = ec_signer.token(DISCOVERY, **claims)
    assert_refused(call(client, DISCOVERY, token), caplog, reason, token)


def test_a_token_living_longer_than_the_maximum_lifetime_is_refused(
    client: FlaskClient, ec_signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """The attack: ``exp`` ten years ahead (its replay row would have lived ten years)."""
    now = int(time.time())
    token = ec_signer.token(DISCOVERY, iat=now, exp=now + 10 * 365 * 86400)
    assert_refused(call(client, DISCOVERY, token), caplog, "lifetime too long", token)
    longest = ec_signer.token(DISCOVERY, iat=now, exp=now + 300 + 10)  # maximum + leeway
    assert call(client, DISCOVERY, longest).status_code == 200


def test_replay_rows_live_at_most_the_maximum_lifetime(
    client: FlaskClient, ec_signer: Signer, settings: Settings
) -> None:
    """The longest token accepted, issued at the edge of the leeway: its ``jti`` is kept no
    longer than the maximum lifetime plus the leeway from now."""
    now = int(time.time())
    leeway, lifetime = settings.auth.leeway_s, settings.auth.max_token_lifetime_s
    token = ec_signer.token(DISCOVERY, iat=now + leeway - 1, exp=now + lifetime + 2 * leeway - 1)
    assert call(client, DISCOVERY, token).status_code == 200
    database = settings.feedback_database_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        (kept_until,) = connection.execute("SELECT MAX(expires_at) FROM cds_seen_jti").fetchone()
    assert kept_until <= time.time() + lifetime + leeway


def test_the_maximum_lifetime_is_a_setting() -> None:
    env = {"CDS_AUTH_MAX_TOKEN_LIFETIME_S": "120"}
    assert Settings.from_env(env).auth.max_token_lifetime_s == 120
    assert Settings.from_env({}).auth.max_token_lifetime_s == 300


def test_production_refuses_to_start_without_a_public_base_url(
    tmp_path: Path, ec_signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = production_settings(
        tmp_path, IssuerSettings(iss=EC_ISSUER, jwks_json=json.dumps(jwks(ec_signer)))
    ).model_copy(update={"public_base_url": None})
    with pytest.raises(ConfigurationError, match="CDS_PUBLIC_BASE_URL"):
        create_app(settings)
    assert any(r.levelname == "CRITICAL" for r in caplog.records)
    open_without_auth = settings.model_copy(
        update={"auth": settings.auth.model_copy(update={"disabled": True})}
    )
    close(create_app(open_without_auth))  # nothing to check aud against: starts


def test_aud_never_follows_the_host_header(
    client: FlaskClient, ec_signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """The attacker picks the Host header and signs nothing new: a token minted for another
    service (aud https://evil.example/...) is refused even with ``Host: evil.example``."""
    token = ec_signer.token(DISCOVERY, aud="http://evil.example" + DISCOVERY)
    response = client.get(DISCOVERY, headers={**bearer(token), "Host": "evil.example"})
    assert_refused(response, caplog, "wrong aud", token)


def test_in_development_aud_is_the_configured_host_and_port_never_the_host_header(
    tmp_path: Path, ec_signer: Signer
) -> None:
    settings = Settings(
        profile=Profile.DEVELOPMENT,
        port=8123,
        feedback_database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}",
        auth=AuthSettings(
            issuers=(IssuerSettings(iss=EC_ISSUER, jwks_json=json.dumps(jwks(ec_signer))),)
        ),
    )
    app = create_app(settings, today=lambda: FIXED_TODAY)
    try:
        client = app.test_client()
        from_host = ec_signer.token(DISCOVERY, aud="http://attacker.example" + DISCOVERY)
        headers = {**bearer(from_host), "Host": "attacker.example"}
        assert client.get(DISCOVERY, headers=headers).status_code == 401
        configured = ec_signer.token(DISCOVERY, aud="http://localhost:8123" + DISCOVERY)
        assert client.get(DISCOVERY, headers=bearer(configured)).status_code == 200
    finally:
        close(app)


def test_a_token_over_8_kb_is_a_clean_401_outcome(
    client: FlaskClient, ec_signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """An oversized header reaching the service is refused as a 401 OperationOutcome."""
    token = ec_signer.token(DISCOVERY, padding="x" * 20_000)
    assert len(token) > 8192
    assert_refused(call(client, DISCOVERY, token), caplog, "token too large")


URL_ISSUER_AT_START = """
import sys
from cds_service.auth import Authenticator
from cds_service.replay_store import open_replay_cache
from cds_service.settings import AuthSettings, IssuerSettings

before = "jwt" in sys.modules
issuer = IssuerSettings(iss="https://ehr.example.org", jwks_url="https://ehr.example.org/jwks")
Authenticator(AuthSettings(issuers=(issuer,)), open_replay_cache("sqlite:///:memory:"))
print(before, "jwt" in sys.modules, "cryptography.hazmat.primitives.asymmetric.ec" in sys.modules)
"""


def test_the_jwt_libraries_are_imported_at_start_up_even_for_a_key_set_fetched_later() -> None:
    """Imported in gunicorn's master (before the fork), not by each worker's first call;
    and not at all with authentication off (tests/test_wsgi.py)."""
    run = run_python(URL_ISSUER_AT_START, env=clean_environment(PYTHONPATH=str(ROOT)))
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "True", "True"]

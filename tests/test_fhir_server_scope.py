"""No server-side request forgery, no wrong-patient data (cds-hooks.md, Security).

The attacks: a CDS client (or anyone holding one of its tokens) names a ``fhirServer`` of
its choosing, and the service sends requests, with the client's access token, wherever it
points; a prefetch or a FHIR server answer carries resources about another patient, and
the cards are computed from them. Now each trusted issuer lists the ``fhirServer`` bases
it may name (a call naming another gets 412, and the server named gets no request), and
resources about another patient than ``context.patientId`` are dropped and reported in
the data-quality extension.
"""

from __future__ import annotations

import copy
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from jwt.algorithms import ECAlgorithm

from cds_service.app import create_app
from cds_service.errors import ConfigurationError
from cds_service.pipeline import DATA_QUALITY_EXTENSION
from cds_service.settings import AuthSettings, IssuerSettings, Profile, Settings
from demo.fhir_server import Reply, ScriptedFhirServer
from fhir_mappings.build import build_patient
from fhir_mappings.patient_scope import FOREIGN_PATIENT_REASON
from tests.conftest import FIXED_TODAY

VIGNETTES = Path(__file__).resolve().parent / "vignettes"
BASE = "http://localhost"
PATIENT_VIEW = "/cds-services/her2-nsclc-patient-view"
ORDER_SELECT = "/cds-services/her2-nsclc-order-select"
ISSUER = "https://ehr.example.org"
OTHER_ISSUER = "https://other-ehr.example.org"
FHIR_TOKEN = "fhir-access-token-4f1e"


def vignette(name: str) -> dict[str, Any]:
    found = sorted(VIGNETTES.glob(f"{name}_*.json"))
    loaded: dict[str, Any] = json.loads(found[0].read_text())
    return loaded


def close(app: Flask) -> None:
    parts = app.extensions["cds_service"]
    parts.resolver.close()
    parts.store.close()
    if parts.authenticator is not None:
        parts.authenticator.close()


# --- fhirServer allowlist -------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def token(key: ec.EllipticCurvePrivateKey, iss: str, path: str) -> str:
    now = int(time.time())
    claims = {"iss": iss, "aud": BASE + path, "exp": now + 60, "iat": now, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": "k1"})


@pytest.fixture
def ehr_fhir() -> Iterator[ScriptedFhirServer]:
    """The issuer's own FHIR server."""
    with ScriptedFhirServer() as server:
        yield server


@pytest.fixture
def target() -> Iterator[ScriptedFhirServer]:
    """A server the attacker wants the service to call (an internal service, say)."""
    with ScriptedFhirServer() as server:
        yield server


@pytest.fixture
def guarded(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey, ehr_fhir: ScriptedFhirServer
) -> Iterator[FlaskClient]:
    """Production, two issuers: one may name the EHR's FHIR base, the other lists none."""
    jwk = {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1", "alg": "ES384"}
    keys = json.dumps({"keys": [jwk]})
    settings = Settings(
        profile=Profile.PRODUCTION,
        public_base_url=BASE,
        feedback_database_url=f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        auth=AuthSettings(
            issuers=(
                IssuerSettings(iss=ISSUER, jwks_json=keys, fhir_servers=(ehr_fhir.base_url,)),
                IssuerSettings(iss=OTHER_ISSUER, jwks_json=keys),
            )
        ),
    )
    app = create_app(settings, today=lambda: FIXED_TODAY)
    yield app.test_client()
    close(app)


def hook_call(fhir_server: str, *, prefetch: bool) -> dict[str, Any]:
    request = vignette("v01")
    request["fhirServer"] = fhir_server
    request["fhirAuthorization"] = {"access_token": FHIR_TOKEN, "token_type": "Bearer"}
    if not prefetch:
        del request["prefetch"]["conditions"]
    return request


def test_the_issuers_own_fhir_server_is_used(
    guarded: FlaskClient, key: ec.EllipticCurvePrivateKey, ehr_fhir: ScriptedFhirServer
) -> None:
    ehr_fhir.routes["/fhir/Condition"] = Reply(body={"resourceType": "Bundle", "entry": []})
    response = guarded.post(
        PATIENT_VIEW,
        json=hook_call(ehr_fhir.base_url, prefetch=False),
        headers={"Authorization": f"Bearer {token(key, ISSUER, PATIENT_VIEW)}"},
    )
    assert response.status_code == 200
    assert [r.path for r in ehr_fhir.requests] == ["/fhir/Condition"]


@pytest.mark.parametrize("prefetch", [False, True])
def test_a_fhir_server_the_issuer_may_not_name_is_412_and_gets_no_request(
    guarded: FlaskClient,
    key: ec.EllipticCurvePrivateKey,
    target: ScriptedFhirServer,
    caplog: pytest.LogCaptureFixture,
    prefetch: bool,
) -> None:
    """Whether or not a fetch is needed: the call names a server it may not name."""
    caplog.set_level(logging.INFO)
    named = f"{target.base_url}?_secret=query-part-77"
    response = guarded.post(
        PATIENT_VIEW,
        json=hook_call(named, prefetch=prefetch),
        headers={"Authorization": f"Bearer {token(key, ISSUER, PATIENT_VIEW)}"},
    )
    assert response.status_code == 412
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["fhirServer"]
    assert target.requests == []
    refusals = [r for r in caplog.records if "fhirServer refused" in r.getMessage()]
    assert len(refusals) == 1
    assert refusals[0].__dict__["fields"]["fhirServer"] == target.base_url  # no query
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "query-part-77" not in logged
    assert FHIR_TOKEN not in logged


@pytest.mark.parametrize(
    "variant",
    ["{base}/../other", "{base}/%2e%2e/other", "{base}/Patient", "{origin}", "{base}x"],
)
def test_a_variant_of_the_allowed_base_is_not_the_allowed_base(
    guarded: FlaskClient,
    key: ec.EllipticCurvePrivateKey,
    ehr_fhir: ScriptedFhirServer,
    variant: str,
) -> None:
    named = variant.format(base=ehr_fhir.base_url, origin=ehr_fhir.origin)
    response = guarded.post(
        PATIENT_VIEW,
        json=hook_call(named, prefetch=False),
        headers={"Authorization": f"Bearer {token(key, ISSUER, PATIENT_VIEW)}"},
    )
    assert response.status_code == 412
    assert ehr_fhir.requests == []


def test_an_issuer_that_lists_no_fhir_server_may_name_none(
    guarded: FlaskClient, key: ec.EllipticCurvePrivateKey, ehr_fhir: ScriptedFhirServer
) -> None:
    response = guarded.post(
        PATIENT_VIEW,
        json=hook_call(ehr_fhir.base_url, prefetch=False),
        headers={"Authorization": f"Bearer {token(key, OTHER_ISSUER, PATIENT_VIEW)}"},
    )
    assert response.status_code == 412
    assert ehr_fhir.requests == []


def test_without_authentication_cds_fhir_servers_applies(
    tmp_path: Path, ehr_fhir: ScriptedFhirServer, target: ScriptedFhirServer
) -> None:
    """Development with authentication off: CDS_FHIR_SERVERS, when set, is the allowlist."""
    settings = Settings.from_env(
        {
            "CDS_PROFILE": "development",
            "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path / 'f.sqlite3'}",
            "CDS_FHIR_SERVERS": ehr_fhir.base_url,
        }
    )
    ehr_fhir.routes["/fhir/Condition"] = Reply(body={"resourceType": "Bundle", "entry": []})
    app = create_app(settings, today=lambda: FIXED_TODAY)
    try:
        client = app.test_client()
        refused = client.post(PATIENT_VIEW, json=hook_call(target.base_url, prefetch=False))
        assert refused.status_code == 412
        assert target.requests == []
        allowed = client.post(PATIENT_VIEW, json=hook_call(ehr_fhir.base_url, prefetch=False))
        assert allowed.status_code == 200
    finally:
        close(app)


def test_without_authentication_or_allowlist_any_server_is_used_and_start_up_says_so(
    tmp_path: Path, target: ScriptedFhirServer, caplog: pytest.LogCaptureFixture
) -> None:
    target.routes["/fhir/Condition"] = Reply(body={"resourceType": "Bundle", "entry": []})
    settings = Settings(
        profile=Profile.DEVELOPMENT,
        feedback_database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}",
    )
    app = create_app(settings, today=lambda: FIXED_TODAY)
    try:
        assert "CDS_FHIR_SERVERS is empty" in caplog.text
        response = app.test_client().post(
            PATIENT_VIEW, json=hook_call(target.base_url, prefetch=False)
        )
        assert response.status_code == 200
    finally:
        close(app)


def test_fhir_servers_are_read_from_the_issuer_settings() -> None:
    issuers = json.dumps(
        [{"iss": ISSUER, "jwks_url": "https://ehr.example.org/jwks", "fhir_servers": [BASE]}]
    )
    settings = Settings.from_env({"CDS_AUTH_ISSUERS": issuers})
    assert settings.auth.issuers[0].fhir_servers == (BASE,)
    sandbox = Settings.from_env(
        {
            "CDS_PROFILE": "development",
            "CDS_AUTH_TRUST_SANDBOX": "true",
            "CDS_FHIR_SERVERS": "https://fhir.example.org/r4",
        }
    )
    assert sandbox.auth.issuers[0].fhir_servers == ("https://fhir.example.org/r4",)


@pytest.mark.parametrize(
    "bad", ["ftp://x.example/fhir", "https://x.example/fhir?a=1", "https://u@x.example/f", "x"]
)
def test_bad_fhir_server_bases_are_refused_at_start_up(bad: str) -> None:
    issuers = json.dumps(
        [{"iss": ISSUER, "jwks_url": "https://e.example/j", "fhir_servers": [bad]}]
    )
    with pytest.raises(ConfigurationError, match="fhir_servers"):
        Settings.from_env({"CDS_AUTH_ISSUERS": issuers})
    with pytest.raises(ConfigurationError, match="CDS_FHIR_SERVERS"):
        Settings.from_env({"CDS_FHIR_SERVERS": bad})


# --- Resources about another patient ----------------------------------------------------------


@pytest.fixture
def open_app(tmp_path: Path) -> Iterator[FlaskClient]:
    settings = Settings(
        profile=Profile.DEVELOPMENT,
        feedback_database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}",
    )
    app = create_app(settings, today=lambda: FIXED_TODAY)
    yield app.test_client()
    close(app)


def with_observations_of(request: dict[str, Any], source: dict[str, Any], subject: str) -> None:
    """Add ``source``'s Observations (its ERBB2 results) to ``request``, about ``subject``.
    Their ids get a ``v01-`` prefix: a resource whose type and id are already in the request
    is the same resource, kept once."""
    added = copy.deepcopy(source["prefetch"]["observations"]["entry"])
    for entry in added:
        entry["resource"]["subject"] = {"reference": subject}
        entry["resource"]["id"] = f"v01-{entry['resource']['id']}"
    request["prefetch"]["observations"]["entry"].extend(added)


def cards_of(client: FlaskClient, request: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    response = client.post(ORDER_SELECT, json=request)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    rules = sorted(card["source"]["topic"]["code"] for card in body["cards"])
    return rules, body.get("extension", {}).get(DATA_QUALITY_EXTENSION, {})


def test_another_patients_results_do_not_change_the_cards_and_are_reported(
    open_app: FlaskClient,
) -> None:
    """v08 has no molecular results; v01's ERBB2 exon 20 results, about patient p1, would
    change its cards. The same results about another patient change nothing and are
    listed in the data-quality extension."""
    plain = vignette("v08")
    baseline, _ = cards_of(open_app, plain)

    own = copy.deepcopy(plain)
    with_observations_of(own, vignette("v01"), "Patient/p1")
    changed, _ = cards_of(open_app, own)
    assert changed != baseline  # the results matter when they are this patient's

    for subject in ("Patient/p2", "https://ehr.example.org/fhir/Patient/p2/_history/3"):
        foreign = copy.deepcopy(plain)
        with_observations_of(foreign, vignette("v01"), subject)
        rules, quality = cards_of(open_app, foreign)
        assert rules == baseline
        dropped = [i for i in quality["issues"] if i["reason"] == FOREIGN_PATIENT_REASON]
        added = vignette("v01")["prefetch"]["observations"]["entry"]
        assert sorted(i["id"] for i in dropped) == sorted(
            f"v01-{e['resource']['id']}" for e in added
        )
        assert {i["resourceType"] for i in dropped} == {"Observation"}


def test_another_patients_resources_fetched_from_the_fhir_server_are_dropped(
    open_app: FlaskClient, target: ScriptedFhirServer
) -> None:
    """The same through a fetch: the FHIR server answers the Condition search with one
    Condition of this patient and one of another."""
    request = hook_call(target.base_url, prefetch=False)
    condition = vignette("v01")["prefetch"]["conditions"]["entry"][0]["resource"]
    mine = {**condition, "id": "mine", "subject": {"reference": "Patient/p1"}}
    theirs = {**condition, "id": "theirs", "subject": {"reference": "Patient/p9"}}
    target.routes["/fhir/Condition"] = Reply(
        body={
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": mine}, {"resource": theirs}],
        }
    )
    response = open_app.post(PATIENT_VIEW, json=request)
    assert response.status_code == 200
    issues = response.get_json()["extension"][DATA_QUALITY_EXTENSION]["issues"]
    dropped = [i for i in issues if i["reason"] == FOREIGN_PATIENT_REASON]
    assert dropped == [
        {"resourceType": "Condition", "id": "theirs", "reason": FOREIGN_PATIENT_REASON}
    ]


def test_a_patient_resource_of_another_id_is_dropped() -> None:
    model = build_patient(
        [
            {"resourceType": "Patient", "id": "p2", "gender": "male"},
            {"resourceType": "Patient", "id": "p1", "gender": "female"},
        ],
        as_of=FIXED_TODAY,
        patient_id="p1",
    )
    assert [(i.resource_type, i.resource_id, i.reason) for i in model.data_issues] == [
        ("Patient", "p2", FOREIGN_PATIENT_REASON)
    ]

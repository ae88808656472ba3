"""The patient model in production: the app's SMART access token, checked by its server.

A real FHIR server that requires a bearer token (SEKMET, ``tests.fhir_server``) decides
whether the token the app sends may read the launch's patient; a scripted server plays
the answers a real one will not give on demand (errors, redirects, another patient) and
counts the checks, so that the cache is seen to work (keyed by a hash, never the token).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service import errors
from cds_service.app import create_app
from cds_service.settings import Profile, Settings, SmartSettings
from cds_service.smart.tokens import TokenChecker
from demo.fhir_server import RecordedRequest, Reply, ScriptedFhirServer
from tests.conftest import FIXED_TODAY
from tests.fhir_server import SekmetServer, sekmet_fhir_server_fixture
from tests.smart_support import PATIENT_MODEL, journey_bundle, patient_id_of
from tests.test_hostile_input import assert_answer

sekmet_fhir_server = sekmet_fhir_server_fixture()


def production(settings: Settings, *issuers: str, **smart: Any) -> Settings:
    chosen = settings.model_copy(
        update={"profile": Profile.PRODUCTION, "smart": SmartSettings(issuers=issuers, **smart)}
    )
    auth = chosen.auth.model_copy(update={"disabled": True})  # no CDS client JWTs
    return chosen.model_copy(update={"auth": auth})


@pytest.fixture
def make_app(settings: Settings) -> Iterator[Any]:
    made: list[Flask] = []

    def make(*issuers: str, **smart: Any) -> FlaskClient:
        app = create_app(production(settings, *issuers, **smart), today=lambda: FIXED_TODAY)
        made.append(app)
        return app.test_client()

    yield make
    for app in made:
        parts = app.extensions["cds_service"]
        parts.resolver.close()
        parts.store.close()


def smart_headers(token: str | None, iss: str, patient: str) -> dict[str, str]:
    headers = {"X-SMART-Iss": iss, "X-SMART-Patient": patient}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def read_record(server: SekmetServer) -> dict[str, Any]:
    """What the app does with its token: read the patient's resources, one Bundle."""
    patient = server.get(f"Patient/{server.patient_id}")
    conditions = server.get(f"Condition?patient={server.patient_id}")
    entries = [{"resource": patient}] + [
        {"resource": e["resource"]} for e in conditions.get("entry", [])
    ]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def assert_outcome(response: Any, status: int) -> None:
    assert response.status_code == status, response.get_json()
    assert_answer(status, response.mimetype or "", response.get_data(), hook_call=False)
    assert response.headers["Cache-Control"] == "no-store"


# --- Against SEKMET ---------------------------------------------------------------------


@pytest.mark.fhir_server
def test_the_apps_token_for_its_patient_gets_the_model(
    make_app: Any, sekmet_fhir_server: SekmetServer
) -> None:
    server = sekmet_fhir_server
    client = make_app(server.base_url)
    response = client.post(
        PATIENT_MODEL,
        json=read_record(server),
        headers=smart_headers(server.access_token, server.base_url, server.patient_id),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["resources_received"] == {"Condition": 3, "Patient": 1}
    assert body["patient"]["cancer"]["nsclc"] is True
    assert body["patient"]["cancer"]["sources"] == ["Condition/nsclc-dx", "Condition/brain-mets"]
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.fhir_server
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-the-token", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "bearer \x7f"],
)
def test_without_a_token_the_server_accepts_the_answer_is_a_bare_401(
    make_app: Any, sekmet_fhir_server: SekmetServer, authorization: str | None
) -> None:
    server = sekmet_fhir_server
    headers = smart_headers(None, server.base_url, server.patient_id)
    if authorization is not None:
        headers["Authorization"] = authorization
    response = make_app(server.base_url).post(
        PATIENT_MODEL, json=read_record(server), headers=headers
    )
    assert_outcome(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json()["issue"][0]["diagnostics"] == "Authentication failed"


@pytest.mark.fhir_server
def test_a_token_is_good_only_for_a_patient_it_can_read(
    make_app: Any, sekmet_fhir_server: SekmetServer
) -> None:
    """The server has no Patient/not-there: the token cannot stand for that patient."""
    server = sekmet_fhir_server
    response = make_app(server.base_url).post(
        PATIENT_MODEL,
        json=read_record(server),
        headers=smart_headers(server.access_token, server.base_url, "not-there"),
    )
    assert_outcome(response, 401)


@pytest.mark.fhir_server
def test_a_bundle_with_another_patients_resources_is_422_even_with_a_good_token(
    make_app: Any, sekmet_fhir_server: SekmetServer
) -> None:
    server = sekmet_fhir_server
    bundle = read_record(server)
    bundle["entry"].append({"resource": {"resourceType": "Patient", "id": "someone-else"}})
    response = make_app(server.base_url).post(
        PATIENT_MODEL,
        json=bundle,
        headers=smart_headers(server.access_token, server.base_url, server.patient_id),
    )
    assert_outcome(response, 422)


@pytest.mark.fhir_server
@pytest.mark.parametrize("spelling", ["trailing slash", "upper-case scheme", "empty segment"])
def test_the_issuer_is_compared_as_a_server_reads_it(
    make_app: Any, sekmet_fhir_server: SekmetServer, spelling: str
) -> None:
    server = sekmet_fhir_server
    iss = {
        "trailing slash": server.base_url + "/",
        "upper-case scheme": server.base_url.replace("http://", "HTTP://"),
        "empty segment": server.base_url.replace("/fhir", "//fhir"),
    }[spelling]
    response = make_app(server.base_url).post(
        PATIENT_MODEL,
        json=read_record(server),
        headers=smart_headers(server.access_token, iss, server.patient_id),
    )
    assert response.status_code == 200, response.get_json()


@pytest.mark.fhir_server
@pytest.mark.parametrize(
    "iss",
    [
        "https://evil.example.net/fhir",
        "{base}/../fhir",
        "{base}/%2e%2e/fhir",
        "{base}/Patient",
        "http://user@{host}/fhir",
        "not a url",
    ],
)
def test_an_issuer_not_on_the_allowlist_is_403(
    make_app: Any, sekmet_fhir_server: SekmetServer, iss: str
) -> None:
    server = sekmet_fhir_server
    given = iss.format(base=server.base_url, host=server.base_url.split("/")[2])
    response = make_app(server.base_url).post(
        PATIENT_MODEL,
        json=read_record(server),
        headers=smart_headers(server.access_token, given, server.patient_id),
    )
    assert_outcome(response, 403)


@pytest.mark.fhir_server
def test_with_no_issuer_allowed_every_call_is_403(
    make_app: Any, sekmet_fhir_server: SekmetServer
) -> None:
    server = sekmet_fhir_server
    response = make_app().post(
        PATIENT_MODEL,
        json=read_record(server),
        headers=smart_headers(server.access_token, server.base_url, server.patient_id),
    )
    assert_outcome(response, 403)
    assert "CDS_SMART_ISSUERS" in response.get_json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("missing", ["X-SMART-Iss", "X-SMART-Patient"])
def test_production_needs_the_issuer_and_the_patient(make_app: Any, missing: str) -> None:
    headers = smart_headers("token", "https://fhir.example.org/r4", "p1")
    del headers[missing]
    response = make_app("https://fhir.example.org/r4").post(
        PATIENT_MODEL, json=journey_bundle(), headers=headers
    )
    assert_outcome(response, 400)


# --- Against a scripted server ------------------------------------------------------------

TOKEN = "a-token.of_the-app~1+/="


def patient_reply(patient_id: str, token: str = TOKEN) -> Any:
    def reply(request: RecordedRequest) -> Reply:
        if request.headers.get("authorization") != f"Bearer {token}":
            return Reply(401, {"resourceType": "OperationOutcome", "issue": []})
        return Reply(200, {"resourceType": "Patient", "id": patient_id})

    return reply


@pytest.fixture
def scripted() -> Iterator[ScriptedFhirServer]:
    patient = patient_id_of(journey_bundle())
    with ScriptedFhirServer({f"/fhir/Patient/{patient}": patient_reply(patient)}) as server:
        yield server


def post(client: FlaskClient, server: ScriptedFhirServer, token: str = TOKEN) -> Any:
    bundle = journey_bundle()
    return client.post(
        PATIENT_MODEL,
        json=bundle,
        headers=smart_headers(token, server.base_url, patient_id_of(bundle)),
    )


def test_a_checked_token_is_remembered_and_another_is_checked(
    make_app: Any, scripted: ScriptedFhirServer
) -> None:
    client = make_app(scripted.base_url)
    path = f"/fhir/Patient/{patient_id_of(journey_bundle())}"
    assert post(client, scripted).status_code == 200
    assert post(client, scripted).status_code == 200
    (check,) = scripted.requests_to(path)
    assert check.headers["authorization"] == f"Bearer {TOKEN}"
    assert check.headers["accept"] == "application/fhir+json"
    assert post(client, scripted, token="another-token").status_code == 401
    assert len(scripted.requests_to(path)) == 2
    assert post(client, scripted, token="another-token").status_code == 401
    assert len(scripted.requests_to(path)) == 3  # a refusal is never remembered


def test_an_issuer_not_on_the_allowlist_is_never_called(
    make_app: Any, scripted: ScriptedFhirServer
) -> None:
    response = post(make_app("https://fhir.example.org/r4"), scripted)
    assert_outcome(response, 403)
    assert scripted.requests == []


def test_with_no_cache_every_call_is_checked(make_app: Any, scripted: ScriptedFhirServer) -> None:
    client = make_app(scripted.base_url, token_cache_s=0)
    for _ in range(3):
        assert post(client, scripted).status_code == 200
    assert len(scripted.requests_to(f"/fhir/Patient/{patient_id_of(journey_bundle())}")) == 3


def test_a_remembered_token_expires(settings: Settings, scripted: ScriptedFhirServer) -> None:
    now = [1000.0]
    checker = TokenChecker(
        production(settings, scripted.base_url, token_cache_s=60), clock=lambda: now[0]
    )
    patient = patient_id_of(journey_bundle())
    for at in (1000.0, 1059.0, 1061.0):
        now[0] = at
        checker.check(f"Bearer {TOKEN}", scripted.base_url, patient)
    assert len(scripted.requests_to(f"/fhir/Patient/{patient}")) == 2


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (Reply(500, {"resourceType": "OperationOutcome"}), 503),
        (Reply(200, b"<html>not json</html>", content_type="text/html"), 503),
        (Reply(200, {"resourceType": "Patient", "id": "someone-else"}), 401),
        (Reply(200, {"resourceType": "Bundle", "type": "searchset"}), 401),
        (Reply(200, b"x" * (1024 * 1024 + 10)), 503),
        (Reply(403, {"resourceType": "OperationOutcome"}), 401),
        (Reply(302, None, headers=(("Location", "http://127.0.0.1:9/elsewhere"),)), 503),
        # A byte every 50 ms of an announced megabyte: cut at CDS_FHIR_DEADLINE_S (3 s here).
        (Reply(200, trickle_s=0.05), 503),
        # Compressed although the service asked for identity: not read as JSON.
        (
            Reply(
                200,
                gzip.compress(b'{"resourceType": "Patient", "id": "p1"}'),
                headers=(("Content-Encoding", "gzip"),),
            ),
            503,
        ),
    ],
)
def test_what_the_fhir_server_answers_decides_never_a_500(
    make_app: Any, reply: Reply, status: int
) -> None:
    patient = patient_id_of(journey_bundle())
    with ScriptedFhirServer({f"/fhir/Patient/{patient}": reply}) as server:
        response = post(make_app(server.base_url), server)
        assert server.requests_to("/elsewhere") == []
    assert response.status_code == status
    assert response.mimetype == "application/fhir+json"
    assert response.headers["Cache-Control"] == "no-store"


def test_an_fhir_server_that_does_not_answer_is_503(make_app: Any) -> None:
    with ScriptedFhirServer() as server:
        base = server.base_url  # then closed: nothing listens there any more
    client = make_app(base)
    response = client.post(
        PATIENT_MODEL, json=journey_bundle(), headers=smart_headers(TOKEN, base, "p1")
    )
    assert response.status_code == 503
    assert response.mimetype == "application/fhir+json"


def test_the_checker_raises_service_errors_only(settings: Settings) -> None:
    checker = TokenChecker(production(settings, "https://fhir.example.org/r4"))
    with pytest.raises(errors.Unauthorized):
        checker.check(None, "https://fhir.example.org/r4", "p1")
    with pytest.raises(errors.BadRequest):
        checker.check(f"Bearer {TOKEN}", "https://fhir.example.org/r4", "a/b")

"""No patient data or token in any log line, across every vignette and rule fixture.

Each request is sent at DEBUG with a recognisable patient id, name, birth date and
access token added, and with the ERBB2 variant notations it carries; every captured
log line, formatted as the service writes it, is searched for each of them. The same
records go to the SMART app's patient model too, with the token as the app sends it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.logging_setup import JsonFormatter
from cds_service.settings import AuthSettings, Profile, Settings, SmartSettings
from demo.fhir_server import RecordedRequest, Reply, ScriptedFhirServer
from tests.conftest import FIXED_TODAY
from tests.smart_support import PATIENT_MODEL, bundle_of

TESTS = Path(__file__).resolve().parent
REQUESTS = sorted((TESTS / "vignettes").glob("*.json")) + sorted(
    (TESTS / "rules" / "fixtures").glob("*.json")
)
PATIENT_ID = "pt-7d41c2-phi"
FAMILY, GIVEN, BIRTH_DATE = "Zamorska", "Ilinka", "1958-02-17"
ACCESS_TOKEN = "at-93be1f0c-secret"
HGVS = re.compile(r"(?:^|:)[pc]\.\(?[A-Z*0-9]")


def with_identifiers(raw: str) -> dict[str, Any]:
    request: dict[str, Any] = json.loads(raw)
    old_id = request["context"]["patientId"]
    text = raw.replace(f'"Patient/{old_id}"', f'"Patient/{PATIENT_ID}"')
    request = json.loads(text)
    request["context"]["patientId"] = PATIENT_ID
    patient = (request.get("prefetch") or {}).get("patient")
    if isinstance(patient, dict):
        patient.update(
            id=PATIENT_ID, name=[{"family": FAMILY, "given": [GIVEN]}], birthDate=BIRTH_DATE
        )
    request["fhirAuthorization"] = {
        "access_token": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "her2-nsclc-cds",
    }
    return request


def variant_notations(request: dict[str, Any]) -> set[str]:
    """p. and c. notations anywhere in the request's observations."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and HGVS.search(value):
            found.add(value)

    walk((request.get("prefetch") or {}).get("observations"))
    return found


@pytest.mark.parametrize("path", REQUESTS, ids=[p.stem for p in REQUESTS])
def test_no_patient_data_or_token_is_logged(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, path: Path
) -> None:
    request = with_identifiers(path.read_text(encoding="utf-8"))
    service = f"her2-nsclc-{request['hook']}"
    caplog.set_level(logging.DEBUG)
    response = client.post(f"/cds-services/{service}", json=request)
    assert response.status_code == 200
    formatter = JsonFormatter()
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    assert "cds_service.access" in logged
    secrets = {PATIENT_ID, FAMILY, GIVEN, BIRTH_DATE, ACCESS_TOKEN, *variant_notations(request)}
    leaked = sorted(secret for secret in secrets if secret in logged)
    assert leaked == []


# --- The SMART app's patient model --------------------------------------------------------


@pytest.fixture(scope="module")
def smart_fhir_server() -> Iterator[ScriptedFhirServer]:
    """Accepts ACCESS_TOKEN for Patient/PATIENT_ID only, as a SMART app's server would."""

    def patient(request: RecordedRequest) -> Reply:
        if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
            return Reply(401, {"resourceType": "OperationOutcome", "issue": []})
        return Reply(200, {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": BIRTH_DATE})

    with ScriptedFhirServer({f"/fhir/Patient/{PATIENT_ID}": patient}) as server:
        yield server


@pytest.fixture(scope="module")
def smart_client(
    tmp_path_factory: pytest.TempPathFactory, smart_fhir_server: ScriptedFhirServer
) -> Iterator[FlaskClient]:
    """The production profile: the token is sent on to the FHIR server, and checked."""
    database = tmp_path_factory.mktemp("smart") / "feedback.sqlite3"
    settings = Settings(
        profile=Profile.PRODUCTION,
        feedback_database_url=f"sqlite:///{database}",
        auth=AuthSettings(disabled=True),
        smart=SmartSettings(issuers=(smart_fhir_server.base_url,), token_cache_s=0),
    )
    app = create_app(settings, today=lambda: FIXED_TODAY)
    yield app.test_client()
    parts = app.extensions["cds_service"]
    parts.resolver.close()
    parts.store.close()


@pytest.mark.parametrize("path", REQUESTS, ids=[p.stem for p in REQUESTS])
def test_the_patient_model_logs_no_patient_data_or_token(
    smart_client: FlaskClient,
    smart_fhir_server: ScriptedFhirServer,
    caplog: pytest.LogCaptureFixture,
    path: Path,
) -> None:
    """The record as the app posts it: answered (200), refused for a wrong token (401) and
    for another patient's resource (422); nothing of it or of the token in any log line."""
    request = with_identifiers(path.read_text(encoding="utf-8"))
    bundle = bundle_of(request)
    headers = {
        "Authorization": f"Bearer {ACCESS_TOKEN}",
        "X-SMART-Iss": smart_fhir_server.base_url,
        "X-SMART-Patient": PATIENT_ID,
    }
    stranger = {"resourceType": "Patient", "id": GIVEN}
    another_patient = dict(bundle, entry=[*bundle["entry"], {"resource": stranger}])
    caplog.set_level(logging.DEBUG)
    # As ``logging_setup.configure_logging`` has it at every level: urllib3's DEBUG lines
    # carry request paths (here ``Patient/{id}``), so the service keeps them at WARNING.
    urllib3_logger = logging.getLogger("urllib3")
    level = urllib3_logger.level
    urllib3_logger.setLevel(logging.WARNING)
    try:
        answered = smart_client.post(PATIENT_MODEL, json=bundle, headers=headers)
        wrong_token = smart_client.post(
            PATIENT_MODEL, json=bundle, headers=headers | {"Authorization": f"Bearer {FAMILY}"}
        )
        mixed = smart_client.post(PATIENT_MODEL, json=another_patient, headers=headers)
    finally:
        urllib3_logger.setLevel(level)
    assert answered.status_code == 200
    assert wrong_token.status_code == 401
    assert mixed.status_code == 422
    formatter = JsonFormatter()
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    assert logged.count('"endpoint": "/smart/patient-model"') == 3
    secrets = {PATIENT_ID, FAMILY, GIVEN, BIRTH_DATE, ACCESS_TOKEN, *variant_notations(request)}
    leaked = sorted(secret for secret in secrets if secret in logged)
    assert leaked == []

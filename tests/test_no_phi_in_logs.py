"""No patient data or token in any log line, across every vignette and rule fixture.

Each request is sent at DEBUG with a recognisable patient id, name, birth date and
access token added, and with the ERBB2 variant notations it carries; every captured
log line, formatted as the service writes it, is searched for each of them.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.logging_setup import JsonFormatter

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

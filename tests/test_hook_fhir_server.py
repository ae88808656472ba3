"""Hook calls that fetch their data from a real FHIR server (cds-hooks_2.0@34, @54, @60, @61)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.selfcheck import check_response
from tests.fhir_server import SekmetServer, sekmet_fhir_server_fixture
from tests.requests import full_prefetch

sekmet_fhir_server = sekmet_fhir_server_fixture()

pytestmark = pytest.mark.fhir_server


def patient_view(server: SekmetServer, token: str, prefetch: Any = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "8f0b8a7e-43a5-4f0e-8a4f-2a7d0c9b1d11",
        "fhirServer": server.base_url,
        "fhirAuthorization": {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "her2-nsclc-cds",
        },
        "context": {"userId": "Practitioner/1", "patientId": server.patient_id},
    }
    if prefetch is not None:
        request["prefetch"] = prefetch
    return request


def test_no_prefetch_fetches_everything_from_the_fhir_server(
    client: FlaskClient, sekmet_fhir_server: SekmetServer
) -> None:
    """cds-hooks_2.0@34, @60, @61: no prefetch, so every key is read with the bearer token."""
    server = sekmet_fhir_server
    response = client.post(
        "/cds-services/her2-nsclc-patient-view",
        json=patient_view(server, server.access_token),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert check_response(body) == []
    assert "extension" not in body  # every key was read and every resource understood
    # NSCLC with brain metastases (advanced) and no ERBB2 result on the server.
    rules = [card["source"]["topic"]["code"] for card in body["cards"]]
    assert "test-broad-ngs" in rules


def test_a_rejected_token_is_412_not_500(
    client: FlaskClient, sekmet_fhir_server: SekmetServer
) -> None:
    """cds-hooks_2.0@54: the server refuses the token, so required data cannot be had."""
    response = client.post(
        "/cds-services/her2-nsclc-patient-view",
        json=patient_view(sekmet_fhir_server, "not-the-token"),
    )
    assert response.status_code == 412
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "not-the-token" not in outcome["issue"][0]["diagnostics"]


def test_partial_prefetch_is_completed_from_the_fhir_server(
    client: FlaskClient, sekmet_fhir_server: SekmetServer
) -> None:
    """cds-hooks_2.0@28, @34: prefetched keys are used, absent keys fetched."""
    server = sekmet_fhir_server
    prefetch = full_prefetch(server.patient_id)
    for key in ("conditions", "observationsLaboratory", "medicationRequests"):
        del prefetch[key]
    response = client.post(
        "/cds-services/her2-nsclc-patient-view",
        json=patient_view(server, server.access_token, prefetch),
    )
    assert response.status_code == 200, response.get_json()
    assert check_response(response.get_json()) == []

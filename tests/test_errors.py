"""Every error answers with a FHIR OperationOutcome and the right status (cds-hooks.md, Errors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cds_service.app import create_app
from cds_service.settings import Profile, Settings
from tests.conftest import FIXED_TODAY
from tests.requests import full_prefetch, spec_example

ORDERS = "/cds-services/her2-nsclc-order-sign"
ORDER_SELECT = "/cds-services/her2-nsclc-order-select"
PATIENT_VIEW = "/cds-services/her2-nsclc-patient-view"


def assert_outcome(response: TestResponse, status: int, *expression: str) -> str:
    assert response.status_code == status
    assert response.mimetype == "application/fhir+json"
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    (issue,) = body["issue"]
    assert issue["severity"] == "error"
    assert issue["code"]
    assert issue["diagnostics"]
    for path in expression:
        assert path in issue["expression"], issue
    diagnostics: str = issue["diagnostics"]
    return diagnostics


def patient_view(**changes: Any) -> dict[str, Any]:
    request = spec_example("patient-view")
    for key, value in changes.items():
        if value is None:
            request.pop(key, None)
        else:
            request[key] = value
    return request


def test_malformed_json_is_400(client: FlaskClient) -> None:
    response = client.post(PATIENT_VIEW, data=b'{"hook": ', content_type="application/json")
    assert "not valid JSON" in assert_outcome(response, 400)


def test_invalid_utf8_is_400(client: FlaskClient) -> None:
    response = client.post(PATIENT_VIEW, data=b'{"hook": "\xff"}', content_type="application/json")
    assert "UTF-8" in assert_outcome(response, 400)


def test_a_json_array_is_400(client: FlaskClient) -> None:
    response = client.post(PATIENT_VIEW, data=b"[]", content_type="application/json")
    assert "JSON object" in assert_outcome(response, 400)


@pytest.mark.parametrize("missing", ["hook", "hookInstance", "context"])
def test_missing_required_field_is_400(client: FlaskClient, missing: str) -> None:
    response = client.post(PATIENT_VIEW, json=patient_view(**{missing: None}))
    assert f"{missing}: required" in assert_outcome(response, 400, missing)


def test_hook_not_served_by_that_id_is_400(client: FlaskClient) -> None:
    response = client.post(ORDERS, json=patient_view())
    assert "serves order-sign" in assert_outcome(response, 400, "hook")


def test_unknown_hook_is_400(client: FlaskClient) -> None:
    response = client.post(PATIENT_VIEW, json=patient_view(hook="encounter-start"))
    assert_outcome(response, 400, "hook")


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("patientId", 1288992, "must be a string"),
        ("patientId", "", "must not be empty"),
        ("userId", ["Practitioner/1"], "must be a string"),
    ],
)
def test_context_field_of_the_wrong_type_is_400(
    client: FlaskClient, field: str, value: Any, problem: str
) -> None:
    request = patient_view()
    request["context"][field] = value
    diagnostics = assert_outcome(client.post(PATIENT_VIEW, json=request), 400, f"context.{field}")
    assert problem in diagnostics
    assert str(value) not in diagnostics or value == ""


def test_order_select_without_selections_is_400(client: FlaskClient) -> None:
    request = spec_example("order-select")
    del request["context"]["selections"]
    assert_outcome(client.post(ORDER_SELECT, json=request), 400, "context.selections")


def test_order_sign_with_draft_orders_not_an_object_is_400(client: FlaskClient) -> None:
    request = spec_example("order-sign")
    request["context"]["draftOrders"] = "MedicationRequest/1"
    assert_outcome(client.post(ORDERS, json=request), 400, "context.draftOrders")


def test_hook_instance_of_the_wrong_type_is_400(client: FlaskClient) -> None:
    assert_outcome(client.post(PATIENT_VIEW, json=patient_view(hookInstance=7)), 400)


def test_fhir_authorization_without_token_is_400(client: FlaskClient) -> None:
    request = patient_view(fhirAuthorization={"token_type": "Bearer"})
    assert_outcome(client.post(PATIENT_VIEW, json=request), 400, "fhirAuthorization.access_token")


def test_unknown_service_is_404(client: FlaskClient) -> None:
    response = client.post("/cds-services/no-such-service", json=patient_view())
    assert_outcome(response, 404)


def test_unknown_path_is_404(client: FlaskClient) -> None:
    assert_outcome(client.get("/no-such-path"), 404)


def test_unknown_service_feedback_is_404(client: FlaskClient) -> None:
    response = client.post("/cds-services/nope/feedback", json={"feedback": []})
    assert_outcome(response, 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", PATIENT_VIEW), ("PUT", PATIENT_VIEW), ("POST", "/cds-services"), ("DELETE", ORDERS)],
)
def test_wrong_method_is_405(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(path, method=method)
    assert_outcome(response, 405)
    assert response.headers["Allow"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_non_json_content_type_is_415(client: FlaskClient, content_type: str) -> None:
    body = json.dumps(patient_view())
    response = client.post(PATIENT_VIEW, data=body, content_type=content_type)
    assert_outcome(response, 415)


def test_missing_content_type_is_415(client: FlaskClient) -> None:
    response = client.post(PATIENT_VIEW, data=json.dumps(patient_view()))
    assert_outcome(response, 415)


def test_fhir_json_content_type_is_accepted(client: FlaskClient) -> None:
    body = json.dumps(patient_view())
    response = client.post(PATIENT_VIEW, data=body, content_type="application/fhir+json")
    assert response.status_code == 200


def test_body_over_the_limit_is_413(settings: Settings, tmp_path: Path) -> None:
    small = create_app(
        Settings(
            profile=Profile.DEVELOPMENT,  # no issuers: authentication off, as in `settings`
            feedback_database_url=f"sqlite:///{tmp_path / 'small.sqlite3'}",
            max_body_bytes=2048,
        ),
        today=lambda: FIXED_TODAY,
    )
    request = patient_view()
    request["prefetch"]["observationsLaboratory"]["entry"] = [
        {"resource": {"resourceType": "Observation", "id": f"o{i}"}} for i in range(100)
    ]
    response = small.test_client().post(PATIENT_VIEW, json=request)
    assert_outcome(response, 413)
    parts = small.extensions["cds_service"]
    parts.resolver.close()
    parts.store.close()


def test_no_prefetch_and_no_fhir_server_is_412(client: FlaskClient) -> None:
    """cds-hooks_2.0@54."""
    response = client.post(PATIENT_VIEW, json=patient_view(prefetch=None))
    assert "could not" in assert_outcome(response, 412)


def test_partial_prefetch_without_fhir_server_is_412(client: FlaskClient) -> None:
    request = spec_example("patient-view", in_scope=True)
    del request["prefetch"]["medicationRequests"]
    diagnostics = assert_outcome(client.post(PATIENT_VIEW, json=request), 412)
    assert "medicationRequests" in diagnostics


def test_operation_outcome_prefetch_without_fhir_server_is_412(client: FlaskClient) -> None:
    """cds-hooks_2.0@52: prefetched OperationOutcomes are checked."""
    request = patient_view()
    request["prefetch"]["conditions"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    diagnostics = assert_outcome(client.post(PATIENT_VIEW, json=request), 412)
    assert "conditions" in diagnostics


def test_optional_prefetch_missing_is_reported_not_fatal(client: FlaskClient) -> None:
    request = patient_view(prefetch=full_prefetch(in_scope=True))
    del request["prefetch"]["procedures"]
    response = client.post(PATIENT_VIEW, json=request)
    assert response.status_code == 200
    body = response.get_json()
    assert body["extension"]["her2-nsclc-cds.data-quality"]["unavailable"] == ["procedures"]


def test_unexpected_errors_are_a_500_outcome_without_details(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("cds_service.app.run_hook", explode)
    request = spec_example("patient-view", in_scope=True)
    diagnostics = assert_outcome(client.post(PATIENT_VIEW, json=request), 500)
    assert "secret" not in diagnostics

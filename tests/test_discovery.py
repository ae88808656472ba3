"""Discovery: GET /cds-services (cds-hooks_2.0@4-@13, @29, @36, @55-@59, @211)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from flask.testing import FlaskClient

TOKEN = re.compile(r"\{\{([^}]*)\}\}")
ALLOWED_TOKENS = {
    "context.patientId",
    "context.encounterId",
    "context.userId",
    "userPractitionerId",
    "userPractitionerRoleId",
    "userPatientId",
    "userRelatedPersonId",
}
RESOURCE_TYPES = {
    "Patient",
    "Condition",
    "Observation",
    "MedicationStatement",
    "MedicationRequest",
    "MedicationAdministration",
    "Procedure",
    "DiagnosticReport",
}


def services(client: FlaskClient) -> list[dict[str, Any]]:
    response = client.get("/cds-services")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"services"}
    found: list[dict[str, Any]] = body["services"]
    return found


def test_discovery_lists_the_three_hooks_with_required_fields(client: FlaskClient) -> None:
    """cds-hooks_2.0@4, @5, @6, @7, @8, @9, @10, @12, @13."""
    listed = services(client)
    assert sorted((s["hook"], s["id"]) for s in listed) == [
        ("order-select", "her2-nsclc-orders"),
        ("order-sign", "her2-nsclc-orders"),
        ("patient-view", "her2-nsclc-patient-view"),
    ]
    for service in listed:
        for field in ("hook", "id", "title", "description", "usageRequirements"):
            assert isinstance(service[field], str)
            assert service[field].strip()


def test_order_hooks_share_one_id_so_sign_replaces_select(client: FlaskClient) -> None:
    """cds-hooks_2.0@211: one id for order-select and order-sign."""
    ids = {s["hook"]: s["id"] for s in services(client)}
    assert ids["order-select"] == ids["order-sign"]
    assert ids["patient-view"] != ids["order-sign"]


def test_prefetch_templates_ask_for_what_the_rules_need(client: FlaskClient) -> None:
    """cds-hooks_2.0@11, @29, @36."""
    for service in services(client):
        prefetch = service["prefetch"]
        assert prefetch["patient"] == "Patient/{{context.patientId}}"
        assert prefetch["conditions"] == "Condition?patient={{context.patientId}}"
        assert prefetch["observations"] == "Observation?patient={{context.patientId}}"
        for kind in ("Statement", "Request", "Administration"):
            key = f"medication{kind}s"
            assert prefetch[key] == f"Medication{kind}?patient={{{{context.patientId}}}}"


def test_prefetch_templates_stay_in_the_restricted_grammar(client: FlaskClient) -> None:
    """cds-hooks_2.0@55, @56, @57, @58, @59: tokens, reads, type searches, reference params."""
    for service in services(client):
        for template in service["prefetch"].values():
            for token in TOKEN.findall(template):
                assert token in ALLOWED_TOKENS, token
            path, _, query = template.partition("?")
            resource_type, _, read_id = path.partition("/")
            assert resource_type in RESOURCE_TYPES
            if read_id:
                assert not query
                assert TOKEN.fullmatch(read_id)
            for name, value in parse_qsl(query, keep_blank_values=True):
                assert name in {"patient", "subject", "code", "_count", "_sort", "date"}, name
                assert ":" not in name or name.endswith(":in")
                if name == "_sort":
                    assert re.fullmatch(r"-?[a-z]+", value)

"""A valid hook call whose data is partly broken: the defects are listed, the rest is used.

The prefetch mixes sound resources (an adenocarcinoma of the lung, stage IV, and no
molecular result anywhere) with broken ones: a string where a resource belongs, a Bundle
entry without a resource, a resource without ``resourceType``, Conditions with an
impossible date and with elements of the wrong type, an Observation whose value has the
wrong type, and an optional key that is not FHIR at all. The answer must be a 200 whose
``her2-nsclc-cds.data-quality`` extension names each defect, and whose cards still come
from the sound data: ``test-broad-ngs`` (advanced NSCLC, no molecular results).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.selfcheck import check_response
from tests.requests import full_prefetch

PATIENT_VIEW = "/cds-services/her2-nsclc-patient-view"
ORDERS = "/cds-services/her2-nsclc-{hook}"
DATA_QUALITY = "her2-nsclc-cds.data-quality"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"

ADVANCED_ADENOCARCINOMA: dict[str, Any] = {
    "resourceType": "Condition",
    "id": "nsclc",
    "clinicalStatus": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active",
            }
        ]
    },
    "verificationStatus": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                "code": "confirmed",
            }
        ]
    },
    "code": {"coding": [{"system": SNOMED, "code": "254626006"}], "text": "Adenocarcinoma of lung"},
    "subject": {"reference": "Patient/1288992"},
    "onsetDateTime": "2026-09-02",
    "stage": [{"summary": {"text": "Stage IV"}}],
}

IMPOSSIBLE_DATE = {
    "resourceType": "Condition",
    "id": "impossible-date",
    "code": {"coding": [{"system": SNOMED, "code": "254637007"}]},
    "subject": {"reference": "Patient/1288992"},
    "onsetDateTime": "2026-02-30",
}
WRONG_TYPES_INSIDE = {
    "resourceType": "Condition",
    "id": "wrong-types",
    "code": {"coding": [{"system": SNOMED, "code": "254637007"}]},
    "clinicalStatus": "active",
    "subject": ["Patient/1288992"],
}
NO_RESOURCE_TYPE = {"id": "no-type", "status": "final"}
ANC_WITH_TEXT_VALUE = {
    "resourceType": "Observation",
    "id": "anc-text-quantity",
    "status": "final",
    "code": {"coding": [{"system": LOINC, "code": "751-8"}]},
    "subject": {"reference": "Patient/1288992"},
    "effectiveDateTime": "2026-11-01",
    "valueQuantity": "1.4 10*9/L",
}


def searchset(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": list(entries)}


def broken_prefetch() -> dict[str, Any]:
    prefetch = full_prefetch("1288992")
    prefetch["conditions"] = searchset(
        {"resource": ADVANCED_ADENOCARCINOMA},
        {"resource": "Condition/nsclc"},  # a string instead of an object
        {"fullUrl": "urn:uuid:7d1b4a55-1f6e-4a53-9c43-0a2b6f3f7e10"},  # no resource
        {"resource": NO_RESOURCE_TYPE},
        {"resource": IMPOSSIBLE_DATE},
        {"resource": WRONG_TYPES_INSIDE},
    )
    prefetch["observations"] = searchset({"resource": ANC_WITH_TEXT_VALUE})
    prefetch["procedures"] = "not a FHIR resource"  # optional key: unavailable, not a 412
    return prefetch


def hook_request(hook: str, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "hook": hook,
        "hookInstance": "5e8a1f0c-9a0e-4a52-b7b5-1c2d3e4f5a60",
        "context": {"userId": "Practitioner/abc", "patientId": "1288992", **context},
        "prefetch": broken_prefetch(),
    }


def issues_of(body: dict[str, Any]) -> dict[tuple[str, str | None], str]:
    quality = body["extension"][DATA_QUALITY]
    return {(i["resourceType"], i.get("id")): i["reason"] for i in quality["issues"]}


def rules_of(body: dict[str, Any]) -> list[str]:
    return [card["source"]["topic"]["code"] for card in body["cards"]]


def assert_resource_defects_listed(body: dict[str, Any]) -> None:
    issues = issues_of(body)
    assert issues[("(not a resource)", None)] == "not a JSON object"
    assert issues[("(unknown)", None)] == "no resourceType"  # the entry without a resource
    assert issues[("(unknown)", "no-type")] == "no resourceType"
    assert "onsetDateTime" in issues[("Condition", "impossible-date")]
    assert "failed R4B validation" in issues[("Condition", "wrong-types")]
    assert "valueQuantity" in issues[("Observation", "anc-text-quantity")]
    assert body["extension"][DATA_QUALITY]["unavailable"] == ["procedures"]


def test_patient_view_lists_each_defect_and_still_advises(client: FlaskClient) -> None:
    """cds-hooks_2.0@3, @74, @214, @215: 200, defects in the extension, cards from the rest."""
    response = client.post(PATIENT_VIEW, json=hook_request("patient-view", {}))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert check_response(body) == []
    assert_resource_defects_listed(body)
    assert "test-broad-ngs" in rules_of(body)


DRAFT_TDXD = {
    "resourceType": "MedicationRequest",
    "id": "tdxd-draft",
    "status": "draft",
    "intent": "order",
    "medicationCodeableConcept": {"text": "trastuzumab deruxtecan"},
    "subject": {"reference": "Patient/1288992"},
}
DRAFT_WRONG_TYPES = {
    "resourceType": "MedicationRequest",
    "id": "pembro-draft",
    "status": "draft",
    "intent": "order",
    "medicationCodeableConcept": {"text": "pembrolizumab"},
    "subject": "Patient/1288992",
    "dosageInstruction": [{"timing": "every 3 weeks"}],
}


@pytest.mark.parametrize("hook", ["order-sign", "order-select"])
def test_order_hooks_list_each_defect_and_still_advise(client: FlaskClient, hook: str) -> None:
    """cds-hooks_2.0@3, @74, @214: broken draft orders are data issues too; the sound draft
    still gets the testing card (no molecular results before an anticancer order)."""
    draft_orders = {
        "resourceType": "Bundle",
        "id": "drafts",
        "type": "collection",
        "entry": [
            {"resource": DRAFT_TDXD},
            {"resource": DRAFT_WRONG_TYPES},
            {"resource": ["not", "an", "order"]},
        ],
    }
    context: dict[str, Any] = {"draftOrders": draft_orders}
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/tdxd-draft"]
    response = client.post(ORDERS.format(hook=hook), json=hook_request(hook, context))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert check_response(body) == []
    assert_resource_defects_listed(body)
    issues = issues_of(body)
    assert issues[("Bundle", "drafts")] == "draft entry without resource"
    if hook == "order-sign":  # order-select reads only the selected draft
        assert ("MedicationRequest", "pembro-draft") in issues
    assert "test-broad-ngs" in rules_of(body)


def test_without_the_defects_the_extension_is_absent(client: FlaskClient) -> None:
    """The same sound data alone: the same advice and no data-quality extension."""
    request = hook_request("patient-view", {})
    request["prefetch"] = full_prefetch("1288992")
    request["prefetch"]["conditions"] = searchset({"resource": ADVANCED_ADENOCARCINOMA})
    response = client.post(PATIENT_VIEW, json=request)
    assert response.status_code == 200
    body = response.get_json()
    assert "extension" not in body
    assert "test-broad-ngs" in rules_of(body)

"""Tolerant parsing: R4B validation one resource at a time, known quirks fixed on purpose."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir_mappings.model import DataIssue
from fhir_mappings.parse import Resource, normalise_quirks, parse_date, validate


def _draft(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "draft-1",
        "status": "draft",
        "subject": {"reference": "Patient/p1"},
        **extra,
    }


def test_valid_resource_passes() -> None:
    result = validate(
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "1742-6"}]},
            "valueQuantity": {"value": 30, "unit": "U/L"},
        }
    )
    assert isinstance(result, Resource)
    assert result.reference == "Observation/o1"


def test_invalid_resource_is_a_data_issue_without_values() -> None:
    result = validate(
        {
            "resourceType": "Observation",
            "id": "o2",
            "status": "final",
            "code": {"text": "ALT"},
            "valueQuantity": {"value": "SECRET-VALUE-123", "unit": "U/L"},
        }
    )
    assert isinstance(result, DataIssue)
    assert (result.resource_type, result.resource_id) == ("Observation", "o2")
    assert "valueQuantity.value" in result.reason
    assert "SECRET-VALUE-123" not in result.reason


def test_category_object_is_normalised_to_a_list() -> None:
    raw = {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "active",
        "intent": "order",
        "category": {"text": "outpatient"},
        "medicationCodeableConcept": {"text": "zongertinib"},
        "subject": {"reference": "Patient/p1"},
    }
    result = validate(raw)
    assert isinstance(result, Resource)
    assert result.data["category"] == [{"text": "outpatient"}]


def test_dose_and_rate_object_and_loose_dose_quantity_are_normalised() -> None:
    fixed = normalise_quirks(
        _draft(
            dosageInstruction=[
                {"doseAndRate": {"doseQuantity": {"value": 5, "unit": "mL"}}},
                {"doseQuantity": {"value": 120, "unit": "mg"}},
            ]
        )
    )
    assert fixed["dosageInstruction"][0]["doseAndRate"] == [
        {"doseQuantity": {"value": 5, "unit": "mL"}}
    ]
    assert fixed["dosageInstruction"][1] == {
        "doseAndRate": [{"doseQuantity": {"value": 120, "unit": "mg"}}]
    }


def test_draft_without_intent_or_medication_validates_without_placeholders_leaking() -> None:
    result = validate(_draft(), draft_order=True)
    assert isinstance(result, Resource)
    assert "intent" not in result.data
    assert "medicationCodeableConcept" not in result.data


def test_active_order_without_intent_is_still_invalid() -> None:
    raw = _draft(status="active", medicationCodeableConcept={"text": "zongertinib"})
    result = validate(raw)
    assert isinstance(result, DataIssue)
    assert "intent" in result.reason


def test_partial_and_full_dates() -> None:
    assert parse_date("2024") == date(2024, 1, 1)
    assert parse_date("2024-05") == date(2024, 5, 1)
    assert parse_date("2024-05-17T10:00:00+02:00") == date(2024, 5, 17)
    assert parse_date("2024-13-01") is None
    assert parse_date("last tuesday") is None
    assert parse_date(20240517) is None

"""Body temperature (LOINC 8310-5): read in Cel, converted from [degF] with its offset."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhir_mappings.build import build_patient
from fhir_mappings.model import DataIssue, MeasurementKind


def _temperature(ident: str, value: float, unit: str, when: str = "2026-11-18") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
        "effectiveDateTime": when,
        "valueQuantity": {
            "value": value,
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        },
    }


def _temperatures(*resources: dict[str, Any]) -> list[tuple[float, str | None, date | None]]:
    patient = build_patient(list(resources), as_of=date(2026, 11, 21))
    return sorted(
        (m.value, m.unit, m.date)
        for m in patient.measurements
        if m.kind is MeasurementKind.TEMPERATURE
    )


def test_celsius_is_read_as_is() -> None:
    assert _temperatures(_temperature("t1", 38.6, "Cel")) == [(38.6, "Cel", date(2026, 11, 18))]


def test_fahrenheit_is_converted_with_the_offset() -> None:
    [(value, unit, _)] = _temperatures(_temperature("t1", 101.3, "[degF]"))
    assert unit == "Cel"
    assert value == pytest.approx(38.5)


def test_an_unknown_unit_is_a_data_issue_not_a_value() -> None:
    patient = build_patient([_temperature("t1", 311.0, "K")], as_of=date(2026, 11, 21))
    assert not [m for m in patient.measurements if m.kind is MeasurementKind.TEMPERATURE]
    assert [i.reason for i in patient.data_issues if isinstance(i, DataIssue)] == [
        "unit not recognised"
    ]

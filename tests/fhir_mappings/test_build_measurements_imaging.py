"""Measurements (normalised units, ULN) and imaging (chest CT, echocardiogram)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from fhir_mappings.build import MappingOptions, build_patient
from fhir_mappings.model import ImagingKind, MatchedBy, MeasurementKind
from tests.fhir_mappings.support import AS_OF, patient_from


def test_units_are_normalised_with_the_upper_limit() -> None:
    patient = patient_from("measurements_liver_anc_weight_ecog_lvef")
    alt = patient.latest(MeasurementKind.ALT)
    assert alt is not None
    assert (alt.value, alt.unit, alt.upper_limit, alt.date) == (
        132.0,
        "U/L",
        40.0,
        date(2025, 3, 1),
    )
    ast = patient.latest(MeasurementKind.AST)
    assert ast is not None
    assert (ast.value, ast.unit, ast.upper_limit) == (88.0, "U/L", None)
    bilirubin = patient.latest(MeasurementKind.BILIRUBIN)
    assert bilirubin is not None
    assert bilirubin.unit == "mg/dL"
    assert bilirubin.value == pytest.approx(1.5)
    assert bilirubin.upper_limit == pytest.approx(1.2)
    anc = patient.latest(MeasurementKind.ANC)
    assert anc is not None
    assert (anc.value, anc.unit, anc.sources) == (0.85, "10*9/L", ("Observation/anc-new",))
    weight = patient.latest(MeasurementKind.WEIGHT)
    assert weight is not None
    assert weight.value == pytest.approx(90.7185)
    assert weight.unit == "kg"


def test_ecog_and_lvef_shapes() -> None:
    patient = patient_from("measurements_liver_anc_weight_ecog_lvef")
    ecog = [(m.value, m.date) for m in patient.measurements if m.kind is MeasurementKind.ECOG]
    assert ecog == [(1.0, date(2025, 1, 10)), (2.0, date(2025, 3, 1))]
    lvef = patient.latest(MeasurementKind.LVEF)
    assert lvef is not None
    assert (lvef.value, lvef.unit, lvef.sources) == (45.0, "%", ("Observation/echo-panel",))


def test_observations_the_rules_never_read_are_skipped() -> None:
    patient = patient_from("measurements_liver_anc_weight_ecog_lvef")
    sources = {s for m in patient.measurements for s in m.sources}
    assert "Observation/cholesterol" not in sources
    assert len(patient.measurements) == 9


def _alt(ident: str, when: date, value: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "1742-6"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": when.isoformat(),
        "valueQuantity": {"value": value, "unit": "U/L"},
    }


def test_old_values_kept_are_the_latest_older_one_and_the_baseline() -> None:
    labs = [_alt(f"alt-{i}", date(2023, 1, 2) + timedelta(days=14 * i), 20 + i) for i in range(60)]
    tdxd = {
        "resourceType": "MedicationAdministration",
        "id": "tdxd",
        "status": "completed",
        "medicationCodeableConcept": {"text": "Enhertu"},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2023-06-20",
    }
    patient = build_patient(
        [*labs, tdxd],
        as_of=date(2025, 5, 1),
        options=MappingOptions(measurement_lookback_days=180),
    )
    dates = sorted(m.date for m in patient.measurements if m.date is not None)
    # Labs every 14 days from 2023-01-02 to 2025-04-07; the window starts 2024-11-02.
    assert dates[:3] == [
        date(2023, 6, 19),  # baseline: the latest value on or before the T-DXd start
        date(2024, 10, 21),  # the latest value before the window
        date(2024, 11, 4),  # the first value inside the window
    ]
    assert dates[-1] == date(2025, 4, 7)
    assert len(dates) == 2 + 12


def test_text_matched_measurement_is_recorded_as_text() -> None:
    raw = {
        "resourceType": "Observation",
        "id": "ef",
        "status": "final",
        "code": {"text": "LV ejection fraction (Simpson biplane)"},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2025-05-01",
        "valueQuantity": {"value": 48, "unit": "%"},
    }
    lvef = build_patient([raw], as_of=AS_OF).latest(MeasurementKind.LVEF)
    assert lvef is not None
    assert (lvef.value, lvef.matched_by) == (48.0, MatchedBy.TEXT)


def test_unknown_unit_on_a_coded_value_is_a_data_issue() -> None:
    raw = _alt("alt-odd", date(2025, 5, 1), 3.0)
    raw["valueQuantity"] = {"value": 3.0, "unit": "mmol/L", "code": "mmol/L"}
    patient = build_patient([raw], as_of=AS_OF)
    assert patient.measurements == ()
    assert [(d.resource_id, d.reason) for d in patient.data_issues] == [
        ("alt-odd", "unit not recognised")
    ]


def test_chest_ct_and_echo_by_text() -> None:
    imaging = patient_from("imaging_chest_ct_and_echo").imaging
    assert [(i.kind, i.date, i.sources, i.matched_by) for i in imaging] == [
        (ImagingKind.CHEST_CT, date(2025, 3, 10), ("DiagnosticReport/ct-chest",), MatchedBy.TEXT),
        (ImagingKind.CHEST_CT, date(2025, 4, 2), ("ImagingStudy/hrct-study",), MatchedBy.TEXT),
        (ImagingKind.ECHOCARDIOGRAM, date(2025, 3, 12), ("Procedure/tte",), MatchedBy.TEXT),
    ]

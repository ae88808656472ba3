"""A record with malformed resources mixed in: each one a data issue, the rest still used."""

from __future__ import annotations

from fhir_mappings.build import build_patient
from fhir_mappings.model import DataIssue, Drug, MeasurementKind
from tests.fhir_mappings.support import AS_OF, patient_from


def test_malformed_resources_become_issues_and_the_rest_is_used() -> None:
    patient = patient_from("malformed_resources_mixed_in")
    assert set(patient.data_issues) == {
        DataIssue("(not a resource)", None, "not a JSON object"),
        DataIssue("(unknown)", "no-type", "no resourceType"),
        DataIssue("Bundle", None, "entry without resource"),
        DataIssue(
            "Observation",
            "alt-value-not-number",
            "failed R4B validation: valueQuantity.value (value_error)",
        ),
        DataIssue(
            "MedicationAdministration",
            "tdxd-bad-date",
            "failed R4B validation: effectiveDateTime (value_error)",
        ),
        DataIssue(
            "Condition",
            "ild-code-list",
            "failed R4B validation: code.root (model_validation_format)",
        ),
    }
    assert len(patient.data_issues) == 6
    assert patient.cancer is not None
    assert patient.cancer.advanced is True
    alt = patient.latest(MeasurementKind.ALT)
    assert alt is not None
    assert alt.sources == ("Observation/alt-ok",)
    lvef = patient.latest(MeasurementKind.LVEF)
    assert lvef is not None
    assert lvef.value == 58.0  # its category object is a known quirk, not an issue
    assert [(e.drug, e.sources) for e in patient.exposures] == [
        (Drug.TRASTUZUMAB_DERUXTECAN, ("MedicationAdministration/tdxd-ok",))
    ]


def test_irrelevant_invalid_resources_are_not_validated_or_reported() -> None:
    patient = patient_from("malformed_resources_mixed_in")
    assert "cholesterol-bad" not in {d.resource_id for d in patient.data_issues}


def test_entered_in_error_is_ignored() -> None:
    patient = patient_from("malformed_resources_mixed_in")
    assert all(m.value != 900 for m in patient.measurements)


def test_anything_at_all_in_the_list() -> None:
    patient = build_patient(
        [None, "text", 3, [], {"resourceType": 5}, {"resourceType": "OperationOutcome"}],
        as_of=AS_OF,
    )
    # Identical issues (same type, id and reason) are reported once.
    assert patient.data_issues == (
        DataIssue("(not a resource)", None, "not a JSON object"),
        DataIssue("(unknown)", None, "no resourceType"),
    )
    assert patient.cancer is None

"""Version-2 facts: Patient sex and birth date, pregnancy tests, platelets, menopause /
hysterectomy (text only), CYP3A co-medications, trastuzumab as class `other`.

Codes are spelled out: LOINC 777-3 platelets (US Core example), 2106-3 urine hCG (HL7 IBCM
example)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir_mappings.build import build_patient
from fhir_mappings.model import (
    DRUG_CLASS,
    Cyp3aModulator,
    Drug,
    DrugClass,
    LineClass,
    MatchedBy,
    MeasurementKind,
    PregnancyResult,
    ReproductiveStatusKind,
    Sex,
)

AS_OF = date(2026, 11, 21)
LOINC = "http://loinc.org"
SUBJECT = {"reference": "Patient/p1"}


def observation(ident: str, code: dict[str, Any], **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "code": code,
        "subject": SUBJECT,
        "effectiveDateTime": "2026-11-19",
        **value,
    }


def hcg(ident: str, result: str, code: str = "2106-3") -> dict[str, Any]:
    return observation(
        ident,
        {"coding": [{"system": LOINC, "code": code}]},
        valueCodeableConcept={"text": result},
    )


def test_patient_sex_and_birth_date() -> None:
    patient = build_patient(
        [{"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1986-05-02"}],
        as_of=AS_OF,
    )
    demographics = patient.demographics
    assert (demographics.sex, demographics.birth_date) == (Sex.FEMALE, date(1986, 5, 2))
    assert demographics.age_on(AS_OF) == 40
    assert demographics.sources == ("Patient/p1",)


def test_missing_patient_leaves_sex_and_age_unknown() -> None:
    patient = build_patient([], as_of=AS_OF)
    assert patient.demographics.sex is Sex.UNKNOWN
    assert patient.demographics.age_on(AS_OF) is None
    odd = build_patient([{"resourceType": "Patient", "id": "p1", "gender": "unknown"}], as_of=AS_OF)
    assert odd.demographics.sex is Sex.UNKNOWN


def test_pregnancy_tests_by_code_and_by_text_with_their_results() -> None:
    patient = build_patient(
        [
            hcg("urine", "Negative"),
            hcg("serum", "Detected", code="2118-8"),
            observation("text", {"text": "Serum beta hCG qualitative"}, valueString="not detected"),
            hcg("odd", "see comment"),
        ],
        as_of=AS_OF,
    )
    by_source = {t.sources[0]: t for t in patient.pregnancy_tests}
    assert by_source["Observation/urine"].result is PregnancyResult.NEGATIVE
    assert by_source["Observation/urine"].matched_by is MatchedBy.CODE
    assert by_source["Observation/serum"].result is PregnancyResult.POSITIVE
    assert by_source["Observation/text"].result is PregnancyResult.NEGATIVE
    assert by_source["Observation/text"].matched_by is MatchedBy.TEXT
    assert by_source["Observation/odd"].result is PregnancyResult.UNKNOWN
    assert all(t.date == date(2026, 11, 19) for t in patient.pregnancy_tests)


def test_platelets_by_loinc_777_3_in_10_9_per_l() -> None:
    patient = build_patient(
        [
            observation(
                "plt",
                {"coding": [{"system": LOINC, "code": "777-3"}]},
                valueQuantity={"value": 42, "unit": "10*3/uL", "code": "10*3/uL"},
            )
        ],
        as_of=AS_OF,
    )
    platelets = patient.latest(MeasurementKind.PLATELETS)
    assert platelets is not None
    assert (platelets.value, platelets.unit) == (42.0, "10*9/L")


def test_menopause_and_hysterectomy_by_text_never_negated() -> None:
    patient = build_patient(
        [
            {
                "resourceType": "Procedure",
                "id": "hyst",
                "status": "completed",
                "code": {"text": "Total abdominal hysterectomy"},
                "subject": SUBJECT,
                "performedDateTime": "2015-04-20",
            },
            {
                "resourceType": "Condition",
                "id": "meno",
                "code": {"text": "Postmenopausal state"},
                "subject": SUBJECT,
            },
            {
                "resourceType": "Procedure",
                "id": "not-done",
                "status": "not-done",
                "code": {"text": "Hysterectomy"},
                "subject": SUBJECT,
            },
            {
                "resourceType": "Condition",
                "id": "negated",
                "code": {"text": "No hysterectomy"},
                "subject": SUBJECT,
            },
        ],
        as_of=AS_OF,
    )
    found = {(r.kind, r.sources[0]) for r in patient.reproductive_status}
    assert found == {
        (ReproductiveStatusKind.HYSTERECTOMY, "Procedure/hyst"),
        (ReproductiveStatusKind.MENOPAUSE, "Condition/meno"),
    }
    assert all(r.matched_by is MatchedBy.TEXT for r in patient.reproductive_status)


def statement(ident: str, text: str, status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement",
        "id": ident,
        "status": status,
        "medicationCodeableConcept": {"text": text},
        "subject": SUBJECT,
        "effectiveDateTime": "2026-11-01",
    }


def test_cyp3a_co_medications_active_or_not() -> None:
    patient = build_patient(
        [
            statement("rif", "Rifampin 300 mg capsule"),
            statement("flu", "fluconazole 200 mg", status="completed"),
            statement("statin", "atorvastatin 20 mg"),
        ],
        as_of=AS_OF,
    )
    found = {(m.name, m.effect, m.active) for m in patient.co_medications}
    assert found == {
        ("rifampin", Cyp3aModulator.STRONG_INDUCER, True),
        ("fluconazole", Cyp3aModulator.MODERATE_INHIBITOR, False),
    }
    assert patient.exposures == ()  # not anticancer therapy


def test_a_draft_order_of_an_inhibitor_is_noted_on_the_order() -> None:
    draft = {
        "resourceType": "MedicationRequest",
        "id": "itra",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"text": "itraconazole 100 mg capsule"},
        "subject": SUBJECT,
    }
    patient = build_patient(
        [],
        as_of=AS_OF,
        draft_orders={
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": draft}],
        },
    )
    [order] = patient.draft_orders
    assert order.drug is None
    assert order.co_medication is not None
    assert (order.co_medication.name, order.co_medication.sources) == (
        "itraconazole",
        ("MedicationRequest/itra",),
    )


def test_trastuzumab_is_therapy_of_class_other_never_a_her2_adc_line() -> None:
    assert DRUG_CLASS[Drug.TRASTUZUMAB] is DrugClass.OTHER
    administration = {
        "resourceType": "MedicationAdministration",
        "id": "herceptin",
        "status": "completed",
        "medicationCodeableConcept": {"text": "trastuzumab (Herceptin) IV"},
        "subject": SUBJECT,
        "effectiveDateTime": "2026-06-01",
    }
    patient = build_patient([administration], as_of=AS_OF)
    [exposure] = patient.exposures
    assert exposure.drug is Drug.TRASTUZUMAB
    assert [line.line_class for line in patient.lines] == [LineClass.OTHER]

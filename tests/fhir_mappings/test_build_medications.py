"""Drug exposures from MedicationStatement, MedicationRequest and MedicationAdministration."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir_mappings.build import build_patient
from fhir_mappings.model import (
    Dose,
    DoseUnit,
    Drug,
    ExposureStatus,
    LineClass,
    StopReason,
)
from tests.fhir_mappings.support import AS_OF, patient_from

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _administration(ident: str, when: str, text: str = "Enhertu") -> dict[str, Any]:
    return {
        "resourceType": "MedicationAdministration",
        "id": ident,
        "status": "completed",
        "medicationCodeableConcept": {"text": text},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": when,
        "dosage": {"dose": {"value": 5.4, "unit": "mg/kg", "code": "mg/kg"}},
    }


def test_three_resource_types_merge_into_one_active_course() -> None:
    patient = patient_from("tdxd_three_medication_resource_types")
    assert len(patient.exposures) == 1
    exposure = patient.exposures[0]
    assert exposure.drug is Drug.TRASTUZUMAB_DERUXTECAN
    assert exposure.start == date(2025, 1, 6)
    assert exposure.active is True
    assert exposure.status is ExposureStatus.ACTIVE
    assert set(exposure.sources) == {
        "MedicationStatement/tdxd-statement",
        "MedicationRequest/tdxd-order",
        "MedicationAdministration/tdxd-adm-1",
        "MedicationAdministration/tdxd-adm-2",
    }
    assert exposure.last_dose == Dose(4.4, DoseUnit.MG_PER_KG)
    assert exposure.unverified_code_only is False


def test_maintenance_then_progression_then_docetaxel() -> None:
    patient = patient_from("carboplatin_pemetrexed_pembrolizumab_maintenance")
    drugs = [(e.drug, e.start, e.end) for e in patient.exposures]
    assert drugs == [
        (Drug.CARBOPLATIN, date(2024, 1, 8), date(2024, 3, 11)),
        (Drug.PEMBROLIZUMAB, date(2024, 1, 8), date(2024, 8, 26)),
        (Drug.PEMETREXED, date(2024, 1, 8), date(2024, 8, 26)),
        (Drug.DOCETAXEL, date(2024, 10, 1), date(2024, 11, 12)),
    ]
    assert all(not e.active for e in patient.exposures)
    first, second = patient.lines
    assert first.drugs == {Drug.CARBOPLATIN, Drug.PEMETREXED, Drug.PEMBROLIZUMAB}
    assert first.line_class is LineClass.PLATINUM
    assert (first.start, first.end) == (date(2024, 1, 8), date(2024, 8, 26))
    assert first.progressed is True
    assert first.progression_date == date(2024, 9, 20)
    assert first.progression_sources == ("Observation/status-pd",)
    assert second.drugs == {Drug.DOCETAXEL}
    assert second.line_class is LineClass.OTHER
    assert second.number == 2
    assert second.progressed is False


def test_supportive_drugs_are_not_exposures() -> None:
    patient = patient_from("carboplatin_pemetrexed_pembrolizumab_maintenance")
    sources = {s for e in patient.exposures for s in e.sources}
    assert not any("ondansetron" in s or "dex-" in s for s in sources)


def test_cisplatin_to_carboplatin_swap_stays_one_line() -> None:
    patient = patient_from("cisplatin_to_carboplatin_swap")
    first, second = patient.lines
    assert first.drugs == {Drug.CISPLATIN, Drug.CARBOPLATIN, Drug.PEMETREXED}
    assert first.line_class is LineClass.PLATINUM
    assert second.drugs == {Drug.TRASTUZUMAB_DERUXTECAN}
    assert second.line_class is LineClass.HER2_ADC
    assert second.active is True
    assert first.progressed is True
    # clinical-rules.md 9.1: inferred from the next line, dated by that line's start.
    assert first.progression_date == date(2024, 8, 5)
    assert first.progression_sources == ("MedicationStatement/tdxd-ms",)
    cisplatin = patient.exposures_to(Drug.CISPLATIN)[0]
    assert cisplatin.stop_reason is StopReason.TOXICITY
    carboplatin = patient.exposures_to(Drug.CARBOPLATIN)[0]
    assert carboplatin.unverified_code_only is False  # its display names it


def test_drug_known_only_by_an_unverified_code_is_flagged() -> None:
    raw = {
        **_administration("a1", "2025-04-01"),
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "40048"}]},
    }
    exposure = build_patient([raw], as_of=date(2025, 4, 2)).exposures[0]
    assert exposure.drug is Drug.CARBOPLATIN
    assert exposure.unverified_code_only is True


def test_adjuvant_course_excluded_and_ild_stop_is_toxicity() -> None:
    patient = patient_from("adjuvant_cisplatin_then_tdxd_stopped_for_ild")
    cisplatin = patient.exposures_to(Drug.CISPLATIN)[0]
    assert cisplatin.curative_intent is True
    assert [sorted(d.value for d in line.drugs) for line in patient.lines] == [
        ["carboplatin", "paclitaxel", "pembrolizumab"],
        ["trastuzumab deruxtecan"],
        ["zongertinib"],
    ]
    first, tdxd, zongertinib = patient.lines
    assert first.progression_date == date(2023, 11, 1)
    assert first.progression_sources == ("MedicationRequest/pembro-2023",)
    tdxd_exposure = patient.exposures_to(Drug.TRASTUZUMAB_DERUXTECAN)[0]
    assert tdxd_exposure.stop_reason is StopReason.TOXICITY
    assert tdxd_exposure.status is ExposureStatus.STOPPED
    assert tdxd.progressed is False
    assert zongertinib.line_class is LineClass.HER2_TKI
    assert zongertinib.active is True


def test_last_administration_within_two_cycles_is_active() -> None:
    resources = [_administration("a1", "2025-04-01"), _administration("a2", "2025-04-22")]
    within = build_patient(resources, as_of=date(2025, 6, 2))
    assert within.exposures[0].active is True
    assert within.exposures[0].end is None
    beyond = build_patient(resources, as_of=date(2025, 6, 4))
    assert beyond.exposures[0].active is False
    assert beyond.exposures[0].end == date(2025, 4, 22)


def test_a_stop_after_the_last_administration_ends_activity() -> None:
    stop = {
        "resourceType": "MedicationRequest",
        "id": "stop",
        "status": "stopped",
        "intent": "order",
        "medicationCodeableConcept": {"text": "Enhertu"},
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2025-04-01",
        "statusReason": {"text": "Disease progression"},
        "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"end": "2025-05-01"}}}}],
    }
    patient = build_patient([_administration("a1", "2025-04-22"), stop], as_of=date(2025, 5, 10))
    exposure = patient.exposures[0]
    assert exposure.active is False
    assert exposure.stop_reason is StopReason.PROGRESSION
    assert exposure.status is ExposureStatus.STOPPED


def test_statuses_that_are_not_exposures() -> None:
    not_given = [
        {**_administration("nd", "2025-04-01"), "status": "not-done"},
        {
            "resourceType": "MedicationRequest",
            "id": "plan",
            "status": "active",
            "intent": "plan",
            "medicationCodeableConcept": {"text": "zongertinib"},
            "subject": {"reference": "Patient/p1"},
        },
        {
            "resourceType": "MedicationStatement",
            "id": "intended",
            "status": "intended",
            "medicationCodeableConcept": {"text": "zongertinib"},
            "subject": {"reference": "Patient/p1"},
        },
    ]
    assert build_patient(not_given, as_of=date(2025, 5, 1)).exposures == ()


def test_same_drug_after_a_long_gap_is_a_new_course() -> None:
    resources = [
        _administration("a1", "2023-01-02", "pembrolizumab"),
        _administration("a2", "2023-01-23", "pembrolizumab"),
        _administration("a3", "2023-09-01", "pembrolizumab"),
    ]
    patient = build_patient(resources, as_of=date(2025, 1, 1))
    assert [(e.start, e.end) for e in patient.exposures] == [
        (date(2023, 1, 2), date(2023, 1, 23)),
        (date(2023, 9, 1), date(2023, 9, 1)),
    ]
    assert [line.line_class for line in patient.lines] == [LineClass.ICI, LineClass.ICI]


def test_medication_reference_to_an_unsent_medication_uses_its_display() -> None:
    raw = {
        "resourceType": "MedicationStatement",
        "id": "ms",
        "status": "active",
        "medicationReference": {"reference": "Medication/elsewhere", "display": "Hernexeos"},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2025-05-01",
    }
    patient = build_patient([raw], as_of=date(2025, 5, 10))
    assert [(e.drug, e.active) for e in patient.exposures] == [(Drug.ZONGERTINIB, True)]


# --- Site order catalog codes identify recorded medications too (9.1) -------------------------

_SITE = "https://ehr.example.org/fhir/CodeSystem/orderables"


def _site_zongertinib_record() -> list[dict[str, object]]:
    """An active zongertinib order under a site code, and a pneumonitis adverse event whose
    suspect entity is that order (its display names no drug)."""
    return [
        {
            "resourceType": "MedicationRequest",
            "id": "zong-rx",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "authoredOn": "2025-03-01",
            "medicationCodeableConcept": {
                "coding": [{"system": _SITE, "code": "EX-MED-ZONG-120"}],
                "text": "zongertinib 120 mg tablet",
            },
        },
        {
            "resourceType": "AdverseEvent",
            "id": "ae-pneumonitis",
            "actuality": "actual",
            "subject": {"reference": "Patient/p1"},
            "event": {
                "coding": [
                    {
                        "system": "http://snomed.info/sct",
                        "code": "427046006",
                        "display": "Drug-induced pneumonitis",
                    }
                ]
            },
            "date": "2025-04-20",
            "suspectEntity": [
                {"instance": {"reference": "MedicationRequest/zong-rx", "display": "order 1"}}
            ],
        },
    ]


def test_a_recorded_order_under_a_site_code_is_an_exposure_and_an_ild_suspect() -> None:
    from fhir_mappings.build import MappingOptions
    from fhir_mappings.terminology import site_drug_codes

    record = _site_zongertinib_record()
    plain = build_patient(record, as_of=AS_OF)
    assert plain.exposures == ()
    assert [i.reason for i in plain.data_issues] == [
        "medication code not recognised; its text names zongertinib"
    ]
    (unattributed,) = plain.ild_episodes
    assert Drug.ZONGERTINIB not in unattributed.attributed_drugs

    options = MappingOptions(
        site_drug_codes=site_drug_codes([(_SITE, "EX-MED-ZONG-120", Drug.ZONGERTINIB)])
    )
    site = build_patient(record, as_of=AS_OF, options=options)
    (exposure,) = site.exposures
    assert (exposure.drug, exposure.active, exposure.unverified_code_only) == (
        Drug.ZONGERTINIB,
        True,
        False,
    )
    assert site.data_issues == ()
    (episode,) = site.ild_episodes
    assert Drug.ZONGERTINIB in episode.attributed_drugs

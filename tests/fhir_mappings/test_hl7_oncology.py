"""mCODE 4.0.0 and FHIR R4 core shapes other than genomics (issue 9): intent, stage,
radiotherapy course, adverse events, drug identity, report dates and plausible values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from fhir_mappings.build import build_patient
from fhir_mappings.model import (
    ComorbidityKind,
    Drug,
    DrugClass,
    LineClass,
    MatchedBy,
    MeasurementKind,
)
from tests.fhir_mappings.hl7 import AS_OF, example, patient_of, reasons_for

MCODE = "mcode-4.0.0"
NSCLC = f"{MCODE}/Condition-primary-cancer-condition-nsclc"


def test_curative_intent_extension_keeps_the_egfr_tki_but_makes_no_line() -> None:
    model = patient_of(f"{MCODE}/MedicationRequest-cancer-related-medication-request-gefitinib")
    (exposure,) = model.exposures
    assert exposure.drug is Drug.GEFITINIB
    assert exposure.curative_intent
    assert model.lines == ()


def test_palliative_intent_extension_wins_over_adjuvant_words() -> None:
    raw = example(f"{MCODE}/MedicationRequest-cancer-related-medication-request-gefitinib")
    raw["extension"][0]["valueCodeableConcept"]["coding"][0].update(
        {"code": "363676003", "display": "Palliative - procedure intent"}
    )
    raw["note"] = [{"text": "after adjuvant chemotherapy"}]
    model = build_patient([raw], as_of=AS_OF)
    assert not model.exposures[0].curative_intent
    assert len(model.lines) == 1


def test_cm1_category_makes_the_lung_cancer_advanced_cm0_does_not() -> None:
    m0 = patient_of(NSCLC, f"{MCODE}/Observation-tnm-clinical-distant-metastases-category-cM0")
    assert m0.cancer is not None
    assert m0.cancer.advanced is None
    model = patient_of(NSCLC, "edited/Observation-tnm-clinical-distant-metastases-category-cm1")
    assert model.cancer is not None
    assert model.cancer.advanced is True
    assert "Observation/tnm-clinical-distant-metastases-category-cm1" in model.cancer.sources


def test_radiotherapy_course_summary_to_the_chest_is_prior_thoracic_radiation() -> None:
    model = patient_of(f"{MCODE}/Procedure-radiotherapy-treatment-summary-chest-wall-jenny-m")
    (comorbidity,) = model.comorbidities
    assert comorbidity.kind is ComorbidityKind.THORACIC_RADIATION
    assert comorbidity.onset == date(2018, 8, 15)


def test_ctcae_grade_2_adverse_event_is_an_ild_episode_attributed_to_its_suspect() -> None:
    model = patient_of("edited/AdverseEvent-example-pneumonitis-grade2")
    (episode,) = model.ild_episodes
    assert episode.grade == 2
    assert episode.onset == date(2026, 11, 1)
    assert episode.attributed_drugs == {Drug.TRASTUZUMAB_DERUXTECAN}


def test_ctcae_grade_0_adverse_event_did_not_occur() -> None:
    assert patient_of("edited/AdverseEvent-example-pneumonitis-grade0").ild_episodes == ()


def test_a_drug_stopped_for_pneumonitis_is_attributed_the_episode() -> None:
    condition = {
        "resourceType": "Condition",
        "id": "ild",
        "subject": {"reference": "Patient/p"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "205237003"}]},
        "onsetDateTime": "2026-09-01",
    }
    order = {
        "resourceType": "MedicationRequest",
        "id": "zongertinib",
        "subject": {"reference": "Patient/p"},
        "status": "stopped",
        "intent": "order",
        "statusReason": {"text": "pneumonitis"},
        "medicationCodeableConcept": {"text": "zongertinib 120 mg tablet"},
        "authoredOn": "2026-06-01",
        "dosageInstruction": [
            {"timing": {"repeat": {"boundsPeriod": {"start": "2026-06-01", "end": "2026-09-03"}}}}
        ],
    }
    (episode,) = build_patient([condition, order], as_of=AS_OF).ild_episodes
    assert episode.attributed_drugs == {Drug.ZONGERTINIB}


def test_coded_medication_with_an_unknown_code_is_a_data_issue_not_a_text_match() -> None:
    raw = {
        "resourceType": "MedicationRequest",
        "id": "enhertu-scd",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.698288", "code": "99999"}],
            "text": "fam-trastuzumab deruxtecan-nxki 100 MG injection",
        },
        "authoredOn": "2026-11-01",
    }
    model = build_patient([raw], as_of=AS_OF)
    assert model.exposures == ()
    assert reasons_for(model, "enhertu-scd") == [
        "medication code not recognised; its text names trastuzumab deruxtecan"
    ]


DOXORUBICIN = f"{MCODE}/MedicationRequest-cancer-related-medication-request-doxorubicin-jenny-m"
NSCLC_REASON = [{"coding": [{"system": "http://snomed.info/sct", "code": "254637007"}]}]


def test_cancer_related_medication_for_another_cancer_is_reported_not_a_line() -> None:
    model = patient_of(DOXORUBICIN)  # its reasonCode is a breast cancer
    assert model.exposures == ()
    assert reasons_for(model, "cancer-related-medication-request-doxorubicin-jenny-m") == [
        "cancer-related medication for another condition: not counted"
    ]
    prednisone = patient_of(
        f"{MCODE}/MedicationRequest-cancer-related-medication-request-prednisone-brian-l"
    )
    assert prednisone.exposures == ()
    assert prednisone.data_issues == ()  # a supportive drug (9.3)


def test_cancer_related_medication_outside_the_list_is_therapy_of_class_other() -> None:
    raw = example(DOXORUBICIN)
    raw["reasonCode"] = NSCLC_REASON
    (exposure,) = build_patient([raw], as_of=AS_OF).exposures
    assert exposure.drug is Drug.OTHER_ANTICANCER
    assert exposure.drug_class is DrugClass.OTHER
    assert exposure.name == "DOXOrubicin"
    assert exposure.curative_intent  # the example's procedure-intent extension
    raw.pop("extension")
    model = build_patient([raw], as_of=AS_OF)
    (line,) = model.lines
    assert line.line_class is LineClass.OTHER
    assert line.drugs == {Drug.OTHER_ANTICANCER}


def test_a_medication_for_the_lung_cancer_is_kept_as_other_therapy() -> None:
    order = _order(
        "tucatinib-like",
        "investigational agent XY-123",
        "2026-05-01",
        status="active",
        reasonCode=[{"coding": [{"system": "http://snomed.info/sct", "code": "254637007"}]}],
    )
    (exposure,) = build_patient([order], as_of=AS_OF).exposures
    assert exposure.drug is Drug.OTHER_ANTICANCER
    assert exposure.name == "investigational agent XY-123"
    ondansetron = _order(
        "ondansetron",
        "ondansetron 8 mg",
        "2026-05-01",
        status="active",
        reasonCode=[{"coding": [{"system": "http://snomed.info/sct", "code": "254637007"}]}],
    )
    assert build_patient([ondansetron], as_of=AS_OF).exposures == ()


def _draft_bundle(medication: Mapping[str, object]) -> dict[str, object]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "MedicationRequest",
                    "id": "draft-1",
                    "status": "draft",
                    "intent": "order",
                    "medicationReference": {"reference": "Medication/med-1"},
                }
            },
            {"resource": medication},
        ],
    }


def test_draft_medication_reference_resolves_in_the_draft_orders_bundle() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "med-1",
        "code": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "2267581"}]
        },
    }
    model = build_patient([], as_of=AS_OF, draft_orders=_draft_bundle(medication))
    order = next(o for o in model.draft_orders if o.reference == "MedicationRequest/draft-1")
    assert order.drug is Drug.TRASTUZUMAB_DERUXTECAN
    assert order.matched_by is MatchedBy.CODE


def test_draft_identified_by_text_only_says_so() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "med-1",
        "code": {"text": "Enhertu 100 mg vial"},
    }
    model = build_patient([], as_of=AS_OF, draft_orders=_draft_bundle(medication))
    order = next(o for o in model.draft_orders if o.reference == "MedicationRequest/draft-1")
    assert order.drug is Drug.TRASTUZUMAB_DERUXTECAN
    assert order.matched_by is MatchedBy.TEXT


def test_undated_lab_value_takes_the_date_of_its_report() -> None:
    alt = {
        "resourceType": "Observation",
        "id": "alt-undated",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "1742-6"}]},
        "valueQuantity": {
            "value": 250,
            "unit": "U/L",
            "system": "http://unitsofmeasure.org",
            "code": "U/L",
        },
    }
    older = {
        **alt,
        "id": "alt-older",
        "effectiveDateTime": "2026-10-01",
        "valueQuantity": {
            "value": 20,
            "unit": "U/L",
            "system": "http://unitsofmeasure.org",
            "code": "U/L",
        },
    }
    report = {
        "resourceType": "DiagnosticReport",
        "id": "panel",
        "status": "final",
        "code": {"text": "Hepatic function panel"},
        "effectiveDateTime": "2026-11-20",
        "result": [{"reference": "Observation/alt-undated"}],
    }
    latest = build_patient([older, alt, report], as_of=AS_OF).latest(MeasurementKind.ALT)
    assert latest is not None
    assert (latest.value, latest.date) == (250.0, date(2026, 11, 20))


def test_implausible_lab_value_is_a_data_issue_never_a_fact() -> None:
    model = patient_of(f"{MCODE}/Observation-us-core-observation-lab-neutrophils-jenny-m")
    assert model.measurements == ()
    assert reasons_for(model, "us-core-observation-lab-neutrophils-jenny-m") == [
        "implausible anc value"
    ]


def test_lvef_under_another_lv_ejection_fraction_code() -> None:
    raw = {
        "resourceType": "Observation",
        "id": "ef",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "18043-0"}]},
        "effectiveDateTime": "2026-11-02",
        "valueQuantity": {
            "value": 55,
            "unit": "%",
            "system": "http://unitsofmeasure.org",
            "code": "%",
        },
    }
    lvef = build_patient([raw], as_of=AS_OF).latest(MeasurementKind.LVEF)
    assert lvef is not None
    assert (lvef.value, lvef.matched_by) == (55.0, MatchedBy.CODE)


def _order(ident: str, text: str, authored: str, **extra: object) -> dict[str, object]:
    return {
        "resourceType": "MedicationRequest",
        "id": ident,
        "subject": {"reference": "Patient/p"},
        "intent": "order",
        "medicationCodeableConcept": {"text": text},
        "authoredOn": authored,
        **extra,
    }


def test_progression_date_is_never_the_start_of_the_stopped_order() -> None:
    stopped = _order(
        "carbo",
        "carboplatin",
        "2026-01-05",
        status="stopped",
        statusReason={"text": "disease progression"},
    )
    following = _order("tdxd", "Enhertu", "2026-04-01", status="active")
    first, second = build_patient([stopped, following], as_of=AS_OF).lines
    assert first.progressed
    assert first.progression_date == date(2026, 4, 1)
    assert second.start == date(2026, 4, 1)


def test_completed_cycle_order_ends_after_its_counted_cycles_not_on_its_first_date() -> None:
    order = _order(
        "carbo-cycles",
        "carboplatin",
        "2026-01-05",
        status="completed",
        dosageInstruction=[{"timing": {"repeat": {"count": 4, "period": 21, "periodUnit": "d"}}}],
    )
    (exposure,) = build_patient([order], as_of=AS_OF).exposures
    assert exposure.start == date(2026, 1, 5)
    assert exposure.end == date(2026, 3, 9)  # the fourth cycle, 63 days after the first


def test_stopped_order_without_an_end_ends_its_line_at_the_next_line() -> None:
    stopped = _order("carbo", "carboplatin", "2026-01-05", status="stopped")
    following = _order("tdxd", "Enhertu", "2026-04-01", status="active")
    first, _ = build_patient([stopped, following], as_of=AS_OF).lines
    assert first.end == date(2026, 4, 1)


def test_heart_failure_counts_from_its_onset_not_when_it_was_recorded() -> None:
    undated = patient_of(f"{MCODE}/Condition-john-anyperson-chf")
    (comorbidity,) = undated.comorbidities
    assert comorbidity.kind is ComorbidityKind.HEART_FAILURE
    assert comorbidity.onset is None  # asserted 2019-04-01: not an onset
    dated = example(f"{MCODE}/Condition-john-anyperson-chf")
    dated["onsetDateTime"] = "2018-06-01"
    dated["recordedDate"] = "2019-04-01"
    (comorbidity,) = build_patient([dated], as_of=AS_OF).comorbidities
    assert comorbidity.onset == date(2018, 6, 1)


def test_without_congestive_heart_failure_is_not_heart_failure() -> None:
    model = patient_of(f"{MCODE}/Condition-us-core-condition-hypertension-jenny-m")
    assert model.comorbidities == ()

"""Cancer, ILD / pneumonitis episodes and comorbidities."""

from __future__ import annotations

from datetime import date

from fhir_mappings.build import build_patient
from fhir_mappings.model import ComorbidityKind, Drug, Histology, IldCause
from tests.fhir_mappings.support import AS_OF, patient_from


def test_adenocarcinoma_stage_iva_is_advanced_non_squamous_nsclc() -> None:
    cancer = patient_from("exon20_insertion_mcode_tissue").cancer
    assert cancer is not None
    assert cancer.nsclc is True
    assert cancer.histology is Histology.NON_SQUAMOUS
    assert cancer.advanced is True
    assert cancer.diagnosis_date == date(2023, 11, 2)
    assert cancer.brain_metastases is None
    assert cancer.sources == ("Condition/dx1",)


def test_stage_not_stated_is_unknown_not_early() -> None:
    cancer = patient_from("erbb2_negative_plasma_only").cancer
    assert cancer is not None
    assert cancer.advanced is None


def test_squamous_icd10_with_brain_and_leptomeningeal_disease() -> None:
    cancer = patient_from("squamous_stage_iv_brain_and_leptomeningeal").cancer
    assert cancer is not None
    assert cancer.nsclc is True
    assert cancer.histology is Histology.SQUAMOUS
    assert cancer.advanced is True
    assert cancer.brain_metastases is True
    assert cancer.brain_metastases_treated is True
    assert cancer.leptomeningeal is True
    assert "Procedure/srs" in cancer.sources


def test_c34_without_histology_and_m1b_observation() -> None:
    cancer = patient_from("lung_cancer_unspecified_m1b_observation").cancer
    assert cancer is not None
    assert cancer.nsclc is True
    assert cancer.histology is Histology.UNKNOWN
    assert cancer.advanced is True
    assert cancer.diagnosis_date == date(2024, 7, 1)
    assert cancer.sources == ("Condition/lung-ca", "Observation/m-cat")


def test_small_cell_lung_cancer_is_not_nsclc() -> None:
    raw = {
        "resourceType": "Condition",
        "id": "sclc",
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C34.90"}],
            "text": "Small cell lung cancer, extensive stage",
        },
        "subject": {"reference": "Patient/p1"},
    }
    cancer = build_patient([raw], as_of=AS_OF).cancer
    assert cancer is not None
    assert cancer.nsclc is False


def test_no_cancer_condition_means_no_cancer_fact() -> None:
    assert build_patient([], as_of=AS_OF).cancer is None


def test_ild_grade_1_on_tdxd() -> None:
    (episode,) = patient_from("ild_grade1_on_tdxd").ild_episodes
    assert episode.onset == date(2025, 4, 28)
    assert episode.recorded == date(2025, 4, 30)
    assert episode.grade == 1
    assert episode.active is True
    assert episode.resolved is None
    assert episode.on_tdxd is True
    assert episode.cause is IldCause.DRUG
    assert episode.cause_drug is Drug.TRASTUZUMAB_DERUXTECAN
    assert episode.hypoxia is False
    assert episode.sources == ("Condition/ild-g1",)


def test_pneumonitis_without_a_grade_with_oxygen_and_its_adverse_event() -> None:
    first, undated = patient_from("pneumonitis_grade_not_recorded").ild_episodes
    assert first.grade is None
    assert first.hypoxia is True
    assert first.on_tdxd is True
    assert first.cause is IldCause.DRUG
    assert first.cause_drug is Drug.TRASTUZUMAB_DERUXTECAN
    assert first.sources == ("Condition/pneumonitis-nograde", "AdverseEvent/ae-pneumonitis")
    assert undated.onset is None
    assert undated.on_tdxd is None
    assert undated.recorded == date(2025, 6, 1)
    assert undated.cause is IldCause.UNKNOWN


def test_resolved_ici_pneumonitis_and_comorbidities() -> None:
    patient = patient_from("ici_pneumonitis_resolved_with_comorbidities")
    (episode,) = patient.ild_episodes
    assert episode.active is False
    assert episode.resolved == date(2024, 6, 20)
    assert episode.grade == 2
    assert episode.cause is IldCause.ICI
    assert episode.cause_drug is Drug.PEMBROLIZUMAB
    assert episode.on_tdxd is False
    kinds = {c.kind: c.sources for c in patient.comorbidities}
    assert kinds == {
        ComorbidityKind.COPD: ("Condition/copd",),
        ComorbidityKind.HEART_FAILURE: ("Condition/hf",),
        ComorbidityKind.RENAL_IMPAIRMENT: ("Condition/ckd",),
        ComorbidityKind.THORACIC_RADIATION: ("Procedure/sbrt",),
    }
    assert patient.has_comorbidity(ComorbidityKind.COPD)
    assert not patient.has_comorbidity(ComorbidityKind.LV_DYSFUNCTION)


def test_severity_words_are_not_turned_into_a_grade() -> None:
    raw = {
        "resourceType": "Condition",
        "id": "p",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "205237003"}]},
        "severity": {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "24484000", "display": "Severe"}
            ]
        },
        "subject": {"reference": "Patient/p1"},
        "onsetDateTime": "2025-01-01",
    }
    (episode,) = build_patient([raw], as_of=AS_OF).ild_episodes
    assert episode.grade is None
    assert episode.on_tdxd is False


def test_radiation_pneumonitis_counts_as_prior_thoracic_radiation() -> None:
    raw = {
        "resourceType": "Condition",
        "id": "rp",
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "J70.0"}]},
        "subject": {"reference": "Patient/p1"},
        "onsetDateTime": "2024-02-01",
    }
    patient = build_patient([raw], as_of=AS_OF)
    assert patient.ild_episodes[0].cause is IldCause.RADIATION
    assert patient.has_comorbidity(ComorbidityKind.THORACIC_RADIATION)

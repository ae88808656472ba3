"""6.1 Testing rules: a positive case and one case per exclusion each."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from cds_service.rules.base import Request, Service
from cds_service.settings import ClinicalSettings
from cds_service.wire import Hook, Indicator, SelectionBehavior
from fhir_mappings.model import (
    Drug,
    DrugClass,
    DrugExposure,
    EgfrStatus,
    ExposureStatus,
    Her2Status,
    LineClass,
    PatientModel,
    StopReason,
    TherapyLine,
)
from tests.rules.patients import (
    AMPLIFIED,
    CARBO_PEM_PEMBRO_LINE,
    EARLY_STAGE,
    EXON20_DUP,
    IHC_1PLUS,
    IHC_3PLUS,
    NSCLC_STAGE_IV,
    OS,
    PLASMA_NEGATIVE,
    PV,
    S310F,
    SG,
    STATIN,
    TISSUE_NEGATIVE,
    TODAY,
    VUS,
    findings_of,
    order,
    rule_ids,
)

NO_MOLECULAR = PatientModel(as_of=TODAY, cancer=NSCLC_STAGE_IV)


# --- test-broad-ngs ---------------------------------------------------------------------


def test_broad_ngs_fires_on_patient_view_as_info_with_tissue_and_plasma() -> None:
    [finding] = findings_of("test-broad-ngs", NO_MOLECULAR, PV)
    assert finding.indicator is Indicator.INFO
    assert finding.summary.startswith("No molecular results: ")
    services = [a.service for p in finding.proposals for a in p.actions if isinstance(a, Request)]
    assert services == [Service.NGS_TISSUE, Service.CTDNA_PLASMA]
    assert finding.selection is SelectionBehavior.ANY


@pytest.mark.parametrize("hook", [OS, SG])
def test_broad_ngs_warns_when_carboplatin_is_ordered(hook: Hook) -> None:
    patient = replace(NO_MOLECULAR, draft_orders=(order(Drug.CARBOPLATIN, "carbo"),))
    [finding] = findings_of("test-broad-ngs", patient, hook)
    assert finding.indicator is Indicator.WARNING
    assert finding.order_refs == ("MedicationRequest/carbo",)


@pytest.mark.parametrize("hook", [PV, SG])
def test_broad_ngs_with_an_egfr_result_says_no_erbb2_result(hook: Hook) -> None:
    patient = replace(
        NO_MOLECULAR,
        egfr=EgfrStatus(mutated=False, sensitising=False, sources=("Observation/egfr",)),
        draft_orders=(order(Drug.CARBOPLATIN, "carbo"),),
    )
    [finding] = findings_of("test-broad-ngs", patient, hook)
    assert finding.summary.startswith("No ERBB2 result")
    assert "molecular results" not in finding.summary


def test_broad_ngs_with_her2_ihc_only_says_no_erbb2_mutation_result() -> None:
    patient = replace(NO_MOLECULAR, her2=Her2Status(ihc=(IHC_1PLUS,)))
    [finding] = findings_of("test-broad-ngs", patient, PV)
    assert finding.summary.startswith("No ERBB2 mutation result: ")


def test_broad_ngs_silent_for_a_statin_order() -> None:
    patient = replace(NO_MOLECULAR, draft_orders=(STATIN,))
    assert rule_ids(patient, SG) == []


@pytest.mark.parametrize(
    "her2",
    [
        Her2Status(mutations=(EXON20_DUP,)),
        Her2Status(negative_results=(TISSUE_NEGATIVE,)),
        Her2Status(negative_results=(PLASMA_NEGATIVE,)),
        Her2Status(mutations=(VUS,)),
    ],
    ids=["mutation", "tissue-negative", "plasma-negative", "vus"],
)
def test_broad_ngs_silent_once_any_erbb2_result_exists(her2: Her2Status) -> None:
    assert "test-broad-ngs" not in rule_ids(replace(NO_MOLECULAR, her2=her2), PV)


def test_broad_ngs_silent_for_early_stage_disease() -> None:
    assert "test-broad-ngs" not in rule_ids(replace(NO_MOLECULAR, cancer=EARLY_STAGE), PV)


def test_broad_ngs_silent_without_an_nsclc_diagnosis() -> None:
    assert "test-broad-ngs" not in rule_ids(PatientModel(as_of=TODAY), PV)


def test_broad_ngs_fires_when_stage_is_not_stated_and_says_so() -> None:
    patient = replace(NO_MOLECULAR, cancer=replace(NSCLC_STAGE_IV, advanced=None))
    [finding] = findings_of("test-broad-ngs", patient, PV)
    assert any("does not state that the disease is advanced" in u for u in finding.uncertainties)


# --- test-tissue-after-plasma -----------------------------------------------------------------

PLASMA_ONLY = replace(NO_MOLECULAR, her2=Her2Status(negative_results=(PLASMA_NEGATIVE,)))


def test_tissue_after_plasma_fires_for_plasma_negative_only() -> None:
    [finding] = findings_of("test-tissue-after-plasma", PLASMA_ONLY, PV)
    assert [a for p in finding.proposals for a in p.actions] == [Request(Service.NGS_TISSUE)]


@pytest.mark.parametrize(
    "her2",
    [
        Her2Status(negative_results=(PLASMA_NEGATIVE, TISSUE_NEGATIVE)),
        Her2Status(negative_results=(PLASMA_NEGATIVE,), mutations=(EXON20_DUP,)),
        Her2Status(negative_results=(TISSUE_NEGATIVE,)),
    ],
    ids=["tissue-also-negative", "tissue-mutation", "tissue-only"],
)
def test_tissue_after_plasma_silent_with_a_tissue_result(her2: Her2Status) -> None:
    assert "test-tissue-after-plasma" not in rule_ids(replace(NO_MOLECULAR, her2=her2), PV)


def test_tissue_after_plasma_runs_on_patient_view_only() -> None:
    patient = replace(PLASMA_ONLY, draft_orders=(order(Drug.CARBOPLATIN, "carbo"),))
    assert "test-tissue-after-plasma" not in rule_ids(patient, SG)


# --- test-her2-ihc ------------------------------------------------------------------------

AFTER_FIRST_LINE_NO_DRIVER = replace(
    NO_MOLECULAR,
    her2=Her2Status(negative_results=(TISSUE_NEGATIVE,)),
    lines=(CARBO_PEM_PEMBRO_LINE,),
)


def test_her2_ihc_fires_after_progression_on_first_line() -> None:
    [finding] = findings_of("test-her2-ihc", AFTER_FIRST_LINE_NO_DRIVER, PV)
    assert [a for p in finding.proposals for a in p.actions] == [Request(Service.HER2_IHC)]
    assert finding.show_lines
    assert any(
        "no satisfactory alternative treatment options" in g and g.endswith("[L]")
        for g in finding.guidance
    )


def test_her2_ihc_silent_when_ihc_exists() -> None:
    patient = replace(
        AFTER_FIRST_LINE_NO_DRIVER, her2=replace(AFTER_FIRST_LINE_NO_DRIVER.her2, ihc=(IHC_1PLUS,))
    )
    assert "test-her2-ihc" not in rule_ids(patient, PV)


def test_her2_ihc_silent_with_an_activating_mutation() -> None:
    patient = replace(AFTER_FIRST_LINE_NO_DRIVER, her2=Her2Status(mutations=(S310F,)))
    assert "test-her2-ihc" not in rule_ids(patient, PV)


def test_her2_ihc_silent_without_progression_on_first_line() -> None:
    ongoing = replace(CARBO_PEM_PEMBRO_LINE, progressed=False, progression_date=None, active=True)
    patient = replace(AFTER_FIRST_LINE_NO_DRIVER, lines=(ongoing,))
    assert "test-her2-ihc" not in rule_ids(patient, PV)


def test_her2_ihc_silent_before_any_line() -> None:
    assert "test-her2-ihc" not in rule_ids(replace(AFTER_FIRST_LINE_NO_DRIVER, lines=()), PV)


# --- test-retest-on-resistance ---------------------------------------------------------------

OSIMERTINIB_LINE = TherapyLine(
    number=1,
    drugs=frozenset({Drug.OSIMERTINIB}),
    line_class=LineClass.EGFR_TKI,
    start=date(2025, 3, 1),
    end=date(2026, 9, 15),
    progressed=True,
    progression_date=date(2026, 9, 15),
    progression_sources=("Observation/progression-osi",),
    sources=("MedicationRequest/osi",),
)
OSIMERTINIB = DrugExposure(
    Drug.OSIMERTINIB,
    date(2025, 3, 1),
    date(2026, 9, 15),
    ExposureStatus.STOPPED,
    stop_reason=StopReason.PROGRESSION,
    sources=("MedicationRequest/osi",),
)
EGFR_RESISTANCE = replace(
    NO_MOLECULAR,
    her2=Her2Status(negative_results=(replace(TISSUE_NEGATIVE, date=date(2025, 2, 10)),)),
    exposures=(OSIMERTINIB,),
    lines=(OSIMERTINIB_LINE,),
)


def test_retest_fires_after_egfr_tki_progression_with_only_older_her2_tests() -> None:
    [finding] = findings_of("test-retest-on-resistance", EGFR_RESISTANCE, PV)
    services = [a.service for p in finding.proposals for a in p.actions if isinstance(a, Request)]
    assert services == [Service.REBIOPSY_NGS, Service.CTDNA_ERBB2, Service.HER2_IHC]
    assert "re-biopsy tissue" in finding.proposals[2].label
    assert finding.selection is SelectionBehavior.ANY
    assert OSIMERTINIB.drug_class is DrugClass.EGFR_TKI


def test_retest_replaces_her2_ihc_card_and_carries_its_ihc_suggestion() -> None:
    ids = rule_ids(EGFR_RESISTANCE, PV)
    assert "test-her2-ihc" not in ids
    [finding] = findings_of("test-retest-on-resistance", EGFR_RESISTANCE, PV)
    assert "test-her2-ihc" in finding.supersedes
    assert Request(Service.HER2_IHC) in [a for p in finding.proposals for a in p.actions]
    # without the re-test card, the same patient gets the HER2 IHC card
    without = ClinicalSettings(disabled_rules=frozenset({"test-retest-on-resistance"}))
    assert "test-her2-ihc" in rule_ids(EGFR_RESISTANCE, PV, without)


def test_retest_silent_when_her2_was_tested_after_progression() -> None:
    patient = replace(
        EGFR_RESISTANCE,
        her2=Her2Status(amplification=(replace(AMPLIFIED, date=date(2026, 10, 1)),)),
    )
    assert "test-retest-on-resistance" not in rule_ids(patient, PV)


def test_retest_silent_without_egfr_tki_progression() -> None:
    no_progression = replace(OSIMERTINIB_LINE, progressed=False, progression_date=None)
    patient = replace(
        EGFR_RESISTANCE,
        lines=(no_progression,),
        exposures=(replace(OSIMERTINIB, stop_reason=None, active=True),),
    )
    assert "test-retest-on-resistance" not in rule_ids(patient, PV)


# --- test-vus ----------------------------------------------------------------------------

VUS_ONLY = replace(NO_MOLECULAR, her2=Her2Status(mutations=(VUS,)))


VUS_ON_TDM1 = replace(
    VUS_ONLY,
    exposures=(
        DrugExposure(
            Drug.TRASTUZUMAB_EMTANSINE,
            date(2026, 10, 1),
            status=ExposureStatus.ACTIVE,
            active=True,
            sources=("MedicationRequest/tdm1-course",),
        ),
    ),
)


def test_vus_fires_on_patient_view_as_info_while_a_her2_drug_is_active() -> None:
    [finding] = findings_of("test-vus", VUS_ON_TDM1, PV)
    assert finding.indicator is Indicator.INFO
    assert finding.proposals == ()
    assert any("T-DM1 (active" in f.text for f in finding.facts)


def test_vus_silent_on_patient_view_without_an_active_her2_drug() -> None:
    assert "test-vus" not in rule_ids(VUS_ONLY, PV)
    stopped = replace(
        VUS_ON_TDM1,
        exposures=(replace(VUS_ON_TDM1.exposures[0], active=False, status=ExposureStatus.STOPPED),),
    )
    assert "test-vus" not in rule_ids(stopped, PV)


def test_vus_warns_when_t_dm1_is_ordered() -> None:
    patient = replace(VUS_ONLY, draft_orders=(order(Drug.TRASTUZUMAB_EMTANSINE, "tdm1", dose=3.6),))
    [finding] = findings_of("test-vus", patient, OS)
    assert finding.indicator is Indicator.WARNING
    assert finding.summary.startswith("T-DM1 ordered")
    assert finding.order_refs == ("MedicationRequest/tdm1",)


def test_vus_silent_on_orders_without_a_her2_directed_drug() -> None:
    patient = replace(VUS_ONLY, draft_orders=(order(Drug.CARBOPLATIN, "carbo"),))
    assert "test-vus" not in rule_ids(patient, SG)


@pytest.mark.parametrize(
    "her2",
    [
        Her2Status(mutations=(VUS, EXON20_DUP)),
        Her2Status(mutations=(VUS,), ihc=(IHC_3PLUS,)),
        Her2Status(mutations=(VUS,), amplification=(AMPLIFIED,)),
    ],
    ids=["with-activating-mutation", "with-ihc-3plus", "with-amplification"],
)
def test_vus_silent_when_another_her2_finding_exists(her2: Her2Status) -> None:
    assert "test-vus" not in rule_ids(replace(VUS_ON_TDM1, her2=her2), PV)

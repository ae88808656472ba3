"""6.4 Other safety and dose checks: a positive case and one case per exclusion each."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from cds_service.rules.base import CancelOrder, ChangeDose, Request, Service
from cds_service.settings import ClinicalSettings
from cds_service.wire import Indicator
from fhir_mappings.model import (
    ComorbidityKind,
    Dose,
    DoseUnit,
    DraftOrder,
    Drug,
    Measurement,
    MeasurementKind,
)
from tests.rules.patients import (
    ALT_NORMAL,
    ANC_NORMAL,
    AST_NORMAL,
    BILI_NORMAL,
    LIVER_NORMAL,
    LVEF_60,
    OS,
    PV,
    SG,
    WEIGHT_72,
    WEIGHT_95,
    comorbidity,
    exon20_after_platinum,
    findings_of,
    on_tdxd_second_line,
    order,
    rule_ids,
    tdxd_course,
    untreated_exon20,
    zongertinib_course,
    zongertinib_line,
)

TDXD = Drug.TRASTUZUMAB_DERUXTECAN
ZONG = Drug.ZONGERTINIB


def zongertinib_order(mg: float) -> DraftOrder:
    return order(ZONG, "zong", dose=mg, unit=DoseUnit.MG)


# --- dose-tdxd ------------------------------------------------------------------------------


def test_dose_tdxd_6_4_is_updated_to_5_4() -> None:
    patient = on_tdxd_second_line(draft_orders=(order(TDXD, "tdxd", dose=6.4),))
    [finding] = findings_of("dose-tdxd", patient, OS)
    assert finding.indicator is Indicator.WARNING
    assert finding.summary == "T-DXd 6.4 mg/kg is not an NSCLC dose level: use 5.4 mg/kg"
    [change] = finding.proposals[0].actions
    assert isinstance(change, ChangeDose)
    assert change.order_ref == "MedicationRequest/tdxd"
    assert change.dosage.dose == Dose(5.4, DoseUnit.MG_PER_KG)


def test_dose_tdxd_no_re_escalation_after_a_reduction() -> None:
    course = tdxd_course(doses=((date(2026, 8, 4), 5.4), (date(2026, 10, 20), 4.4)))
    patient = on_tdxd_second_line(
        exposures=(course,), draft_orders=(order(TDXD, "tdxd", dose=5.4),)
    )
    [finding] = findings_of("dose-tdxd", patient, SG)
    assert "no re-escalation" in finding.summary
    [change] = finding.proposals[0].actions
    assert isinstance(change, ChangeDose)
    assert change.dosage.dose == Dose(4.4, DoseUnit.MG_PER_KG)


def test_dose_tdxd_in_mg_is_converted_with_the_weight() -> None:
    patient = on_tdxd_second_line(draft_orders=(order(TDXD, "tdxd", dose=461, unit=DoseUnit.MG),))
    [finding] = findings_of("dose-tdxd", patient, SG)
    assert "6.4 mg/kg" in finding.summary


def test_dose_tdxd_in_mg_without_weight_says_it_cannot_check() -> None:
    patient = on_tdxd_second_line(
        measurements=(LVEF_60,), draft_orders=(order(TDXD, "tdxd", dose=389, unit=DoseUnit.MG),)
    )
    [finding] = findings_of("dose-tdxd", patient, SG)
    assert finding.indicator is Indicator.INFO
    assert finding.proposals == ()


@pytest.mark.parametrize("dose", [5.4, 5.5, 4.4, 3.2])
def test_dose_tdxd_silent_at_a_label_level(dose: float) -> None:
    patient = on_tdxd_second_line(draft_orders=(order(TDXD, "tdxd", dose=dose),))
    assert "dose-tdxd" not in rule_ids(patient, SG)


# --- dose-zongertinib -------------------------------------------------------------------------


def test_dose_zongertinib_120_mg_at_95_kg_is_updated_to_180() -> None:
    patient = untreated_exon20(
        measurements=(WEIGHT_95, LVEF_60, *LIVER_NORMAL), draft_orders=(zongertinib_order(120),)
    )
    [finding] = findings_of("dose-zongertinib", patient, OS)
    assert finding.indicator is Indicator.WARNING
    [suggestion] = finding.proposals
    assert suggestion.recommended
    [change] = suggestion.actions
    assert isinstance(change, ChangeDose)
    assert change.dosage.dose == Dose(180.0, DoseUnit.MG)


def test_dose_zongertinib_without_weight_is_info_without_update() -> None:
    patient = untreated_exon20(measurements=(LVEF_60,), draft_orders=(zongertinib_order(120),))
    [finding] = findings_of("dose-zongertinib", patient, OS)
    assert finding.indicator is Indicator.INFO
    assert finding.proposals == ()
    assert "no weight is recorded" in finding.summary


def test_dose_zongertinib_with_raised_liver_tests_is_not_recommended() -> None:
    alt = replace(ALT_NORMAL, value=160.0)
    patient = untreated_exon20(
        measurements=(WEIGHT_95, LVEF_60, alt, AST_NORMAL, BILI_NORMAL),
        draft_orders=(zongertinib_order(120),),
    )
    [finding] = findings_of("dose-zongertinib", patient, OS)
    assert not finding.proposals[0].recommended


@pytest.mark.parametrize(("weight", "mg"), [(WEIGHT_72, 120), (WEIGHT_95, 180)])
def test_dose_zongertinib_silent_at_the_weight_band(weight: Measurement, mg: float) -> None:
    patient = untreated_exon20(measurements=(weight,), draft_orders=(zongertinib_order(mg),))
    assert "dose-zongertinib" not in rule_ids(patient, SG)


def test_dose_zongertinib_silent_continuing_a_reduced_dose() -> None:
    patient = untreated_exon20(
        measurements=(WEIGHT_72,),
        exposures=(zongertinib_course(),),
        lines=(zongertinib_line(progressed=False),),
        draft_orders=(zongertinib_order(60),),
    )
    assert "dose-zongertinib" not in rule_ids(patient, SG)


# --- cardiac-lvef ---------------------------------------------------------------------------


def test_cardiac_no_recent_lvef_before_first_t_dxd() -> None:
    old = replace(LVEF_60, date=date(2026, 5, 1))
    patient = exon20_after_platinum(
        measurements=(WEIGHT_72, old), draft_orders=(order(TDXD, "t", dose=5.4),)
    )
    [finding] = findings_of("cardiac-lvef", patient, OS)
    assert finding.indicator is Indicator.WARNING
    assert "no LVEF in the last 90 days" in finding.summary
    assert "normal" not in finding.summary.lower()
    assert [a for p in finding.proposals for a in p.actions] == [Request(Service.ECHOCARDIOGRAM)]


def test_cardiac_low_lvef_for_zongertinib() -> None:
    low = replace(LVEF_60, value=45.0)
    patient = untreated_exon20(
        measurements=(WEIGHT_72, low, *LIVER_NORMAL), draft_orders=(zongertinib_order(120),)
    )
    [finding] = findings_of("cardiac-lvef", patient, SG)
    assert "LVEF 45 %" in finding.summary


def test_cardiac_heart_failure_on_record() -> None:
    patient = exon20_after_platinum(
        comorbidities=(comorbidity(ComorbidityKind.HEART_FAILURE),),
        draft_orders=(order(TDXD, "t", dose=5.4),),
    )
    [finding] = findings_of("cardiac-lvef", patient, SG)
    assert "heart failure" in finding.summary


def test_cardiac_lvef_drop_on_t_dxd_is_critical_and_interrupts() -> None:
    baseline = replace(LVEF_60, date=date(2026, 7, 20))
    now = Measurement(
        MeasurementKind.LVEF, 38.0, "%", date(2026, 11, 12), sources=("Observation/lvef-now",)
    )
    patient = on_tdxd_second_line(
        measurements=(WEIGHT_72, baseline, now, ANC_NORMAL),
        draft_orders=(order(TDXD, "t", dose=5.4),),
    )
    [finding] = findings_of("cardiac-lvef", patient, SG)
    assert finding.indicator is Indicator.CRITICAL
    assert finding.proposals[0].actions == (CancelOrder("MedicationRequest/t", TDXD),)


def test_cardiac_on_patient_view_for_active_t_dxd_without_baseline() -> None:
    patient = on_tdxd_second_line(measurements=(WEIGHT_72,))
    [finding] = findings_of("cardiac-lvef", patient, PV)
    assert "no LVEF from 90 days before the first dose onward" in finding.summary


def test_cardiac_silent_with_a_recent_normal_lvef() -> None:
    patient = exon20_after_platinum(draft_orders=(order(TDXD, "t", dose=5.4),))
    assert "cardiac-lvef" not in rule_ids(patient, SG)


def test_cardiac_silent_for_sevabertinib() -> None:
    patient = exon20_after_platinum(
        measurements=(WEIGHT_72,),
        draft_orders=(order(Drug.SEVABERTINIB, "s", dose=20, unit=DoseUnit.MG),),
    )
    assert "cardiac-lvef" not in rule_ids(patient, SG)


# --- hepatic-tki ------------------------------------------------------------------------------


def test_hepatic_alt_4x_uln_warns() -> None:
    alt = replace(ALT_NORMAL, value=160.0)
    patient = untreated_exon20(
        measurements=(WEIGHT_72, LVEF_60, alt, AST_NORMAL, BILI_NORMAL),
        draft_orders=(zongertinib_order(120),),
    )
    [finding] = findings_of("hepatic-tki", patient, OS)
    assert finding.indicator is Indicator.WARNING
    assert "ALT/AST above 3 x ULN" in finding.summary
    assert any("[?]" in u for u in finding.uncertainties)


def test_hepatic_with_bilirubin_above_2x_is_critical() -> None:
    alt = replace(ALT_NORMAL, value=160.0)
    bili = replace(BILI_NORMAL, value=3.0)
    patient = untreated_exon20(
        measurements=(WEIGHT_72, LVEF_60, alt, AST_NORMAL, bili),
        draft_orders=(zongertinib_order(120),),
    )
    [finding] = findings_of("hepatic-tki", patient, SG)
    assert finding.indicator is Indicator.CRITICAL
    assert isinstance(finding.proposals[0].actions[0], CancelOrder)


def test_hepatic_no_recent_panel_before_first_dose() -> None:
    old = tuple(replace(m, date=date(2026, 9, 1)) for m in LIVER_NORMAL)
    patient = untreated_exon20(
        measurements=(WEIGHT_72, LVEF_60, *old), draft_orders=(zongertinib_order(120),)
    )
    [finding] = findings_of("hepatic-tki", patient, SG)
    assert "no liver panel in the last 30 days" in finding.summary


def test_hepatic_ungraded_without_reference_range() -> None:
    alt = replace(ALT_NORMAL, upper_limit=None)
    patient = untreated_exon20(
        measurements=(WEIGHT_72, LVEF_60, alt, AST_NORMAL, BILI_NORMAL),
        draft_orders=(zongertinib_order(120),),
    )
    [finding] = findings_of("hepatic-tki", patient, SG)
    assert "could not be graded" in finding.summary


def test_hepatic_silent_with_recent_normal_tests() -> None:
    patient = untreated_exon20(draft_orders=(zongertinib_order(120),))
    assert "hepatic-tki" not in rule_ids(patient, SG)


def test_hepatic_is_switchable() -> None:
    alt = replace(ALT_NORMAL, value=160.0)
    patient = untreated_exon20(
        measurements=(WEIGHT_72, LVEF_60, alt), draft_orders=(zongertinib_order(120),)
    )
    settings = ClinicalSettings(disabled_rules=frozenset({"hepatic-tki"}))
    assert "hepatic-tki" not in rule_ids(patient, SG, settings)


# --- neutropenia-tdxd ----------------------------------------------------------------------------


def test_neutropenia_holds_t_dxd() -> None:
    low = replace(ANC_NORMAL, value=0.8)
    patient = on_tdxd_second_line(
        measurements=(WEIGHT_72, LVEF_60, low), draft_orders=(order(TDXD, "t", dose=5.4),)
    )
    [finding] = findings_of("neutropenia-tdxd", patient, SG)
    assert finding.proposals[0].actions == (CancelOrder("MedicationRequest/t", TDXD),)


@pytest.mark.parametrize("anc", [1.0, 2.4])
def test_neutropenia_silent_at_or_above_1(anc: float) -> None:
    patient = on_tdxd_second_line(
        measurements=(WEIGHT_72, LVEF_60, replace(ANC_NORMAL, value=anc)),
        draft_orders=(order(TDXD, "t", dose=5.4),),
    )
    assert "neutropenia-tdxd" not in rule_ids(patient, SG)


def test_neutropenia_silent_without_a_t_dxd_order() -> None:
    patient = on_tdxd_second_line(measurements=(WEIGHT_72, LVEF_60, replace(ANC_NORMAL, value=0.8)))
    assert "neutropenia-tdxd" not in rule_ids(patient, PV)

"""6.4 Other safety and dose checks: a positive case and one case per exclusion each."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from cds_service.rules import Finding, labels
from cds_service.rules.base import CancelOrder, ChangeDose, Request, Service
from cds_service.settings import ClinicalSettings
from cds_service.wire import Indicator
from fhir_mappings.model import (
    Comorbidity,
    ComorbidityKind,
    Dose,
    DoseRecord,
    DoseUnit,
    DraftOrder,
    Drug,
    DrugExposure,
    ExposureStatus,
    Measurement,
    MeasurementKind,
    NyhaStatement,
    PatientModel,
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

WEIGHT_85_AT_START = Measurement(
    MeasurementKind.WEIGHT, 85.0, "kg", date(2026, 2, 20), sources=("Observation/weight-start",)
)
WEIGHT_95_AT_START = replace(WEIGHT_85_AT_START, value=95.0)


def zong_running(*, doses: tuple[tuple[date, float], ...] = ()) -> DrugExposure:
    course = zongertinib_course()
    if not doses:
        return course
    return replace(
        course,
        doses=tuple(
            DoseRecord(Dose(mg, DoseUnit.MG), when, f"MedicationRequest/zong-{i}")
            for i, (when, mg) in enumerate(doses)
        ),
    )


def test_dose_zongertinib_first_order_at_a_reduction_level_is_info_not_recommended() -> None:
    patient = untreated_exon20(
        measurements=(WEIGHT_95, LVEF_60, *LIVER_NORMAL), draft_orders=(zongertinib_order(120),)
    )
    [finding] = findings_of("dose-zongertinib", patient, OS)
    assert finding.indicator is Indicator.INFO
    assert "reduction level" in finding.summary
    [suggestion] = finding.proposals
    assert not suggestion.recommended
    [change] = suggestion.actions
    assert isinstance(change, ChangeDose)
    assert change.dosage.dose == Dose(180.0, DoseUnit.MG)


def test_dose_zongertinib_above_the_band_is_a_warning_with_a_recommended_update() -> None:
    patient = untreated_exon20(draft_orders=(zongertinib_order(180),))
    [finding] = findings_of("dose-zongertinib", patient, OS)
    assert finding.indicator is Indicator.WARNING
    assert finding.summary == (
        "Zongertinib 180 mg is above the dose for 72 kg: label dose is 120 mg daily"
    )
    assert finding.proposals[0].recommended


def test_dose_zongertinib_off_the_ladder_is_a_warning() -> None:
    patient = untreated_exon20(draft_orders=(zongertinib_order(100),))
    [finding] = findings_of("dose-zongertinib", patient, SG)
    assert finding.indicator is Indicator.WARNING
    assert "is not a label dose level" in finding.summary


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
        draft_orders=(zongertinib_order(100),),
    )
    [finding] = findings_of("dose-zongertinib", patient, OS)
    assert finding.indicator is Indicator.WARNING
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


@pytest.mark.parametrize("mg", [180, 120, 60])
def test_dose_zongertinib_label_reductions_of_a_running_course_are_never_flagged(
    mg: float,
) -> None:
    patient = untreated_exon20(
        measurements=(WEIGHT_95_AT_START, WEIGHT_95),
        exposures=(zong_running(doses=((date(2026, 3, 2), 180),)),),
        draft_orders=(zongertinib_order(mg),),
    )
    assert "dose-zongertinib" not in rule_ids(patient, SG)


def test_dose_zongertinib_is_judged_on_the_weight_at_the_course_start() -> None:
    # Started at 85 kg on 120 mg; now 95 kg: 120 mg stays valid, the crossing is info only.
    patient = untreated_exon20(
        measurements=(WEIGHT_85_AT_START, WEIGHT_95),
        exposures=(zong_running(),),
        draft_orders=(zongertinib_order(120),),
    )
    [finding] = findings_of("dose-zongertinib", patient, SG)
    assert finding.indicator is Indicator.INFO
    assert finding.proposals == ()
    assert finding.summary.startswith("Weight now 95 kg (85 kg at the start of zongertinib)")
    assert any(u.startswith("[?]") for u in finding.uncertainties)


def test_dose_zongertinib_above_the_start_band_after_a_weight_gain_is_not_recommended() -> None:
    patient = untreated_exon20(
        measurements=(WEIGHT_85_AT_START, WEIGHT_95),
        exposures=(zong_running(),),
        draft_orders=(zongertinib_order(180),),
    )
    [finding] = findings_of("dose-zongertinib", patient, SG)
    assert finding.indicator is Indicator.WARNING
    assert not finding.proposals[0].recommended


def test_dose_zongertinib_no_re_escalation_after_a_reduction() -> None:
    patient = untreated_exon20(
        measurements=(WEIGHT_95_AT_START, WEIGHT_95),
        exposures=(zong_running(doses=((date(2026, 3, 2), 180), (date(2026, 6, 1), 120))),),
        draft_orders=(zongertinib_order(180),),
    )
    [finding] = findings_of("dose-zongertinib", patient, SG)
    assert "no re-escalation" in finding.summary


# --- cardiac-lvef ---------------------------------------------------------------------------


def lvef(value: float, when: date, ident: str = "lvef-now") -> Measurement:
    return Measurement(MeasurementKind.LVEF, value, "%", when, sources=(f"Observation/{ident}",))


BASELINE_60 = lvef(60.0, date(2026, 7, 20), "lvef-baseline")
ON_TDXD = date(2026, 11, 12)


def on_tdxd_with_lvef(*values: Measurement, **changes: object) -> list[Finding]:
    patient = on_tdxd_second_line(
        measurements=(WEIGHT_72, *values, ANC_NORMAL),
        draft_orders=(order(TDXD, "t", dose=5.4),),
        **changes,
    )
    return findings_of("cardiac-lvef", patient, SG)


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


def test_cardiac_low_lvef_before_first_zongertinib_is_a_warning_without_echo() -> None:
    low = replace(LVEF_60, value=45.0)
    patient = untreated_exon20(
        measurements=(WEIGHT_72, low, *LIVER_NORMAL), draft_orders=(zongertinib_order(120),)
    )
    [finding] = findings_of("cardiac-lvef", patient, SG)
    assert finding.indicator is Indicator.WARNING
    assert "LVEF 45 %" in finding.summary
    assert finding.proposals == ()  # a recent LVEF exists: no echocardiogram suggested


def test_cardiac_heart_failure_on_record() -> None:
    patient = exon20_after_platinum(
        comorbidities=(comorbidity(ComorbidityKind.HEART_FAILURE),),
        draft_orders=(order(TDXD, "t", dose=5.4),),
    )
    [finding] = findings_of("cardiac-lvef", patient, SG)
    assert "heart failure" in finding.summary


def test_cardiac_lvef_below_40_on_t_dxd_is_critical_with_a_dated_repeat() -> None:
    [finding] = on_tdxd_with_lvef(BASELINE_60, lvef(38.0, ON_TDXD))
    assert finding.indicator is Indicator.CRITICAL
    assert finding.halts_drug
    assert finding.summary == (
        "LVEF 38 % on 2026-11-12, 22 points below baseline: interrupt T-DXd, "
        "repeat LVEF within 3 weeks"
    )
    hold, repeat = finding.proposals
    assert hold.actions == (CancelOrder("MedicationRequest/t", TDXD),)
    assert repeat.actions == (Request(Service.ECHOCARDIOGRAM, date(2026, 12, 3)),)
    assert repeat.label == "Repeat LVEF (echocardiogram) by 2026-12-03"


@pytest.mark.parametrize(
    ("baseline", "now", "indicator"),
    [
        (60.0, 44.0, Indicator.CRITICAL),  # 40-45 %, drop 16: interrupt
        (60.0, 40.0, Indicator.CRITICAL),  # 40 % and a 20-point drop: both inclusive
        (55.0, 45.0, Indicator.CRITICAL),  # 45 % inclusive, drop 10 inclusive
        (52.0, 45.0, Indicator.WARNING),  # 40-45 %, drop 7: continue, repeat
        (68.0, 47.0, Indicator.CRITICAL),  # drop 21 (> 20): interrupt
        (66.0, 46.0, None),  # above 45 % with a 20-point drop: continue, no card
        (60.0, 39.9, Indicator.CRITICAL),  # less than 40 %
    ],
)
def test_cardiac_t_dxd_lvef_table_boundaries(
    baseline: float, now: float, indicator: Indicator | None
) -> None:
    findings = on_tdxd_with_lvef(lvef(baseline, date(2026, 7, 20), "b"), lvef(now, ON_TDXD))
    assert [f.indicator for f in findings] == ([indicator] if indicator else [])


def test_cardiac_40_45_with_10_20_drop_says_recovery_within_10_percent() -> None:
    [finding] = on_tdxd_with_lvef(BASELINE_60, lvef(44.0, ON_TDXD))
    assert any("recovered to within 10 % from baseline" in g for g in finding.guidance)


def test_cardiac_without_baseline_only_absolute_thresholds_apply() -> None:
    [finding] = on_tdxd_with_lvef(lvef(44.0, ON_TDXD))
    assert finding.indicator is Indicator.WARNING
    assert any("only the absolute thresholds apply" in u for u in finding.uncertainties)
    [critical] = on_tdxd_with_lvef(lvef(38.0, ON_TDXD))
    assert critical.indicator is Indicator.CRITICAL


def test_cardiac_heart_failure_after_t_dxd_start_means_discontinue() -> None:
    hf = Comorbidity(ComorbidityKind.HEART_FAILURE, date(2026, 10, 1), ("Condition/hf",))
    [finding] = on_tdxd_with_lvef(BASELINE_60, comorbidities=(hf,))
    assert finding.indicator is Indicator.CRITICAL
    assert finding.permanent
    assert "permanently discontinue T-DXd" in finding.summary


def nyha(functional_class: int, when: date | None) -> NyhaStatement:
    return NyhaStatement(functional_class, when, (f"Observation/nyha-{functional_class}",))


def test_cardiac_nyha_class_ii_to_iv_after_t_dxd_start_means_discontinue() -> None:
    """clinical-rules.md 9.3: an NYHA class II-IV statement dated after the start is
    symptomatic heart failure, as a heart-failure diagnosis with onset after it is."""
    for functional_class, roman in ((2, "II"), (3, "III"), (4, "IV")):
        stated = (nyha(functional_class, date(2026, 10, 1)),)
        [finding] = on_tdxd_with_lvef(BASELINE_60, nyha_statements=stated)
        assert finding.indicator is Indicator.CRITICAL
        assert finding.permanent
        assert finding.summary == (
            f"Symptomatic heart failure (NYHA class {roman}) stated after the start of T-DXd: "
            "permanently discontinue T-DXd"
        )
        assert any(f.sources == (f"Observation/nyha-{functional_class}",) for f in finding.facts)


def test_cardiac_nyha_class_i_undated_or_before_the_start_is_not_symptomatic_hf() -> None:
    for stated in (
        nyha(1, date(2026, 10, 1)),  # class I: no symptoms
        nyha(3, date(2026, 7, 1)),  # before the first T-DXd dose (2026-08-04)
        nyha(3, date(2026, 8, 4)),  # on the day of the start: not after it
        nyha(3, None),  # undated: never "after the start"
    ):
        assert on_tdxd_with_lvef(BASELINE_60, nyha_statements=(stated,)) == [], stated


def test_cardiac_nyha_after_zongertinib_start_withholds_it() -> None:
    patient = untreated_exon20(
        exposures=(zongertinib_course(),),
        measurements=(WEIGHT_72, LVEF_60),
        nyha_statements=(nyha(2, date(2026, 11, 1)),),
    )
    [finding] = findings_of("cardiac-lvef", patient, PV)
    assert finding.indicator is Indicator.CRITICAL
    assert finding.summary.startswith("Symptomatic heart failure (NYHA class II) stated")
    assert "zongertinib" in finding.summary


def test_cardiac_t_dxd_table_is_never_applied_to_t_dm1() -> None:
    course = DrugExposure(
        drug=Drug.TRASTUZUMAB_EMTANSINE,
        start=date(2026, 8, 4),
        status=ExposureStatus.ACTIVE,
        active=True,
        sources=("MedicationRequest/tdm1",),
    )
    patient = exon20_after_platinum(
        exposures=(course,),
        measurements=(WEIGHT_72, BASELINE_60, lvef(44.0, ON_TDXD)),
        draft_orders=(order(Drug.TRASTUZUMAB_EMTANSINE, "k", dose=3.6),),
    )
    # T-DM1's own LVEF table speaks (tdm1-safety, which replaces cardiac-lvef here)
    assert findings_of("cardiac-lvef", patient, SG) == []
    [finding] = findings_of("tdm1-safety", patient, SG)
    assert "T-DXd" not in finding.summary
    assert finding.indicator is Indicator.CRITICAL  # Kadcyla: 40-45 % with a fall >= 10 points


def test_cardiac_zongertinib_40_50_with_a_10_19_drop_interrupts_unverified() -> None:
    patient = untreated_exon20(
        exposures=(zongertinib_course(),),
        measurements=(WEIGHT_72, lvef(62.0, date(2026, 2, 20), "b"), lvef(48.0, ON_TDXD)),
        draft_orders=(zongertinib_order(120),),
    )
    [finding] = findings_of("cardiac-lvef", patient, SG)
    assert finding.indicator is Indicator.CRITICAL
    assert "unverified" in finding.summary
    assert any(u.startswith("[?]") for u in finding.uncertainties)


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


def test_hepatic_before_first_dose_states_raised_values_without_a_threshold() -> None:
    alt = replace(ALT_NORMAL, value=160.0)
    patient = untreated_exon20(
        measurements=(WEIGHT_72, LVEF_60, alt, AST_NORMAL, BILI_NORMAL),
        draft_orders=(zongertinib_order(120),),
    )
    [finding] = findings_of("hepatic-tki", patient, OS)
    assert finding.indicator is Indicator.WARNING
    assert finding.summary == "Zongertinib ordered with raised baseline liver tests (ALT 4.0 x ULN)"
    assert "3 x ULN" not in finding.summary
    assert finding.proposals == ()  # a recent panel exists
    assert any("no liver threshold for starting" in g for g in finding.guidance)


def test_hepatic_no_recent_panel_before_first_dose_asks_for_baseline() -> None:
    old = tuple(replace(m, date=date(2026, 9, 1)) for m in LIVER_NORMAL)
    patient = untreated_exon20(
        measurements=(WEIGHT_72, LVEF_60, *old), draft_orders=(zongertinib_order(120),)
    )
    [finding] = findings_of("hepatic-tki", patient, SG)
    assert "no liver tests in 30 days; baseline needed" in finding.summary
    assert [a for p in finding.proposals for a in p.actions] == [Request(Service.LIVER_PANEL)]


def liver_on(
    day: date, alt_value: float = 30.0, bili_value: float = 0.6
) -> tuple[Measurement, ...]:
    return (
        replace(ALT_NORMAL, value=alt_value, date=day),
        replace(AST_NORMAL, date=day),
        replace(BILI_NORMAL, value=bili_value, date=day),
    )


def on_zongertinib(*labs: Measurement, start: date = date(2026, 3, 2)) -> PatientModel:
    return untreated_exon20(
        measurements=(WEIGHT_72, LVEF_60, *labs),
        exposures=(replace(zongertinib_course(), start=start),),
        lines=(zongertinib_line(progressed=False),),
    )


def test_hepatic_on_zongertinib_alt_4x_uln_warns_without_panel_when_recent() -> None:
    [finding] = findings_of("hepatic-tki", on_zongertinib(*liver_on(date(2026, 11, 14), 160.0)), PV)
    assert finding.indicator is Indicator.WARNING
    assert "ALT/AST above 3 x ULN" in finding.summary
    assert finding.proposals == ()
    assert any("[?]" in u for u in finding.uncertainties)


def test_hepatic_on_zongertinib_with_bilirubin_above_2x_is_critical() -> None:
    patient = replace(
        on_zongertinib(*liver_on(date(2026, 11, 14), 160.0, 3.0)),
        draft_orders=(zongertinib_order(120),),
    )
    [finding] = findings_of("hepatic-tki", patient, SG)
    assert finding.indicator is Indicator.CRITICAL
    assert isinstance(finding.proposals[0].actions[0], CancelOrder)


def test_hepatic_zongertinib_first_12_weeks_every_2_weeks() -> None:
    labs = liver_on(date(2026, 11, 1))  # 20 days ago, started 2026-10-01
    [finding] = findings_of("hepatic-tki", on_zongertinib(*labs, start=date(2026, 10, 1)), PV)
    assert finding.indicator is Indicator.INFO
    assert finding.summary == ("Zongertinib: liver tests due (last 2026-11-01; every 14 days now)")
    assert [a for p in finding.proposals for a in p.actions] == [Request(Service.LIVER_PANEL)]


def test_hepatic_zongertinib_after_12_weeks_monthly() -> None:
    assert "hepatic-tki" not in rule_ids(on_zongertinib(*liver_on(date(2026, 11, 1))), PV)
    [finding] = findings_of("hepatic-tki", on_zongertinib(*liver_on(date(2026, 10, 10))), PV)
    assert finding.indicator is Indicator.INFO
    assert "every 31 days" in finding.summary


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


def anc(value: float, when: date = date(2026, 11, 19), ident: str = "anc") -> Measurement:
    return Measurement(
        MeasurementKind.ANC, value, "10*9/L", when, sources=(f"Observation/{ident}",)
    )


def temperature(value: float, when: date = date(2026, 11, 19), ident: str = "temp") -> Measurement:
    return Measurement(
        MeasurementKind.TEMPERATURE, value, "Cel", when, sources=(f"Observation/{ident}",)
    )


def neutropenia(*labs: Measurement, dose: float = 5.4) -> list[Finding]:
    patient = on_tdxd_second_line(
        measurements=(WEIGHT_72, LVEF_60, *labs), draft_orders=(order(TDXD, "t", dose=dose),)
    )
    return findings_of("neutropenia-tdxd", patient, SG)


def test_neutropenia_holds_t_dxd_and_shows_the_date() -> None:
    [finding] = neutropenia(anc(0.8))
    assert finding.indicator is Indicator.WARNING
    assert finding.summary == "ANC 0.8 x10^9/L on 2026-11-19: hold T-DXd until ANC is 1.0 or more"
    assert finding.proposals[0].actions == (CancelOrder("MedicationRequest/t", TDXD),)


def test_neutropenia_below_0_5_is_critical() -> None:
    [finding] = neutropenia(anc(0.4))
    assert finding.indicator is Indicator.CRITICAL
    assert finding.halts_drug


def test_febrile_neutropenia_is_critical() -> None:
    [finding] = neutropenia(anc(0.8), temperature(38.6))
    assert finding.indicator is Indicator.CRITICAL
    assert "with fever" in finding.summary


def test_a_single_38_1_reading_is_possible_fever_only() -> None:
    [finding] = neutropenia(anc(0.8), temperature(38.1))
    assert finding.indicator is Indicator.WARNING
    assert any("lasted over an hour" in u for u in finding.uncertainties)


def test_two_readings_of_38_on_one_day_count_as_sustained_fever() -> None:
    [finding] = neutropenia(anc(0.8), temperature(38.1), temperature(38.0, ident="temp-2"))
    assert finding.indicator is Indicator.CRITICAL


def test_an_old_low_anc_never_holds_and_a_cbc_is_asked_for() -> None:
    [finding] = neutropenia(anc(0.8, date(2026, 11, 10)))
    assert finding.indicator is Indicator.INFO
    assert finding.summary == "No ANC in the 7 days before this T-DXd dose: check a CBC"
    assert not any(isinstance(a, CancelOrder) for p in finding.proposals for a in p.actions)
    assert [a for p in finding.proposals for a in p.actions] == [Request(Service.CBC)]


def test_no_anc_at_all_asks_for_a_cbc() -> None:
    [finding] = neutropenia()
    assert finding.indicator is Indicator.INFO
    assert finding.facts[-1].text == "No ANC on record"


def test_after_grade_4_since_the_last_dose_the_next_dose_is_one_level_down_unverified() -> None:
    [finding] = neutropenia(anc(0.4, date(2026, 9, 5), "anc-nadir"), anc(1.8))
    assert finding.indicator is Indicator.WARNING
    assert finding.summary == (
        "Grade 4 neutropenia since the last T-DXd dose: next dose 4.4 mg/kg (unverified)"
    )
    [change] = finding.proposals
    assert not change.recommended
    assert change.actions == (ChangeDose("MedicationRequest/t", labels.tdxd_dosage(4.4)),)


def test_after_grade_4_an_order_already_one_level_down_is_silent() -> None:
    assert neutropenia(anc(0.4, date(2026, 9, 5), "anc-nadir"), anc(1.8), dose=4.4) == []


def test_grade_3_before_the_last_dose_is_not_judged_again() -> None:
    assert neutropenia(anc(0.4, date(2026, 8, 20), "anc-old"), anc(1.8)) == []


@pytest.mark.parametrize("value", [1.0, 2.4])
def test_neutropenia_silent_at_or_above_1(value: float) -> None:
    assert neutropenia(anc(value)) == []


def test_neutropenia_silent_without_a_t_dxd_order() -> None:
    patient = on_tdxd_second_line(measurements=(WEIGHT_72, LVEF_60, anc(0.8)))
    assert "neutropenia-tdxd" not in rule_ids(patient, PV)

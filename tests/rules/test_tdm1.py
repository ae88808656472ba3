"""9.2 `dose-tdm1` and `tdm1-safety`: T-DM1 judged by Kadcyla's own rows (values spelled out)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from cds_service.rules import Finding
from cds_service.rules.base import CancelOrder, ChangeDose, Request, Service
from cds_service.wire import Indicator
from fhir_mappings.model import (
    Comorbidity,
    ComorbidityKind,
    Dose,
    DoseRecord,
    DoseUnit,
    Drug,
    DrugExposure,
    ExposureStatus,
    IldCause,
    Measurement,
    MeasurementKind,
    NyhaStatement,
    PatientModel,
)
from tests.rules.patients import (
    LVEF_60,
    OS,
    PV,
    SG,
    WEIGHT_72,
    findings_of,
    ild,
    order,
    rule_ids,
    untreated_exon20,
    zongertinib_course,
    zongertinib_line,
)

TDM1 = Drug.TRASTUZUMAB_EMTANSINE


def lab(kind: MeasurementKind, value: float, when: date, uln: float | None = None) -> Measurement:
    unit = {MeasurementKind.PLATELETS: "10*9/L", MeasurementKind.LVEF: "%"}.get(kind, "U/L")
    return Measurement(kind, value, unit, when, uln, (f"Observation/{kind.value}-{when}",))


NORMAL_LABS = (
    lab(MeasurementKind.ALT, 30, date(2026, 11, 18), 40),
    lab(MeasurementKind.AST, 28, date(2026, 11, 18), 40),
    lab(MeasurementKind.BILIRUBIN, 0.6, date(2026, 11, 18), 1.2),
    lab(MeasurementKind.PLATELETS, 180, date(2026, 11, 18)),
)


def tdm1_course(*levels: float) -> DrugExposure:
    dates = [date(2026, 10, 13), date(2026, 11, 3)]
    return DrugExposure(
        drug=TDM1,
        start=date(2026, 10, 13),
        status=ExposureStatus.ACTIVE,
        active=True,
        doses=tuple(
            DoseRecord(Dose(v, DoseUnit.MG_PER_KG), d, f"MedicationAdministration/tdm1-{i}")
            for i, (d, v) in enumerate(zip(dates, levels, strict=False))
        ),
        sources=("MedicationRequest/tdm1",),
    )


def after_zongertinib(*, on_tdm1: tuple[float, ...] = (), **changes: object) -> PatientModel:
    """Zongertinib stopped for progression 2026-10-30; T-DM1 given at ``on_tdm1`` levels."""
    exposures = [zongertinib_course(active=False, progressed=True)]
    if on_tdm1:
        exposures.append(tdm1_course(*on_tdm1))
    defaults: dict[str, object] = {
        "exposures": tuple(exposures),
        "lines": (zongertinib_line(progressed=True),),
        "measurements": (WEIGHT_72, LVEF_60, *NORMAL_LABS),
    }
    return untreated_exon20(**{**defaults, **changes})


def tdm1_order(dose: float = 3.6, unit: DoseUnit = DoseUnit.MG_PER_KG) -> object:
    return order(TDM1, "tdm1", dose=dose, unit=unit)


def only(rule_id: str, patient: PatientModel, hook: object = SG) -> Finding:
    [finding] = findings_of(rule_id, patient, hook)  # type: ignore[arg-type]
    return finding


# --- dose-tdm1 -------------------------------------------------------------------------------


def test_dose_above_3_6_is_critical_with_no_tolerance() -> None:
    patient = after_zongertinib(draft_orders=(tdm1_order(3.7),))
    finding = only("dose-tdm1", patient)
    assert finding.indicator is Indicator.CRITICAL
    assert "greater than 3.6 mg/kg" in finding.summary
    [proposal] = finding.proposals
    [action] = proposal.actions
    assert isinstance(action, ChangeDose)
    assert action.dosage.dose == Dose(3.6, DoseUnit.MG_PER_KG)


def test_3_6_and_5_percent_below_are_the_start_level() -> None:
    for dose in (3.6, 3.45):
        patient = after_zongertinib(draft_orders=(tdm1_order(dose),))
        assert "dose-tdm1" not in rule_ids(patient, SG), dose


def test_a_dose_between_levels_goes_down_to_the_level_below_never_up() -> None:
    finding = only("dose-tdm1", after_zongertinib(draft_orders=(tdm1_order(3.3),)))
    assert finding.indicator is Indicator.WARNING
    [action] = finding.proposals[0].actions
    assert isinstance(action, ChangeDose)
    assert action.dosage.dose.value == 3.0


def test_below_2_4_offers_no_dose_change() -> None:
    finding = only("dose-tdm1", after_zongertinib(draft_orders=(tdm1_order(2.0),)))
    assert finding.proposals == ()
    assert any("discontinue" in u for u in finding.uncertainties)


def test_no_reescalation_after_a_reduction_to_3() -> None:
    patient = after_zongertinib(on_tdm1=(3.6, 3.0), draft_orders=(tdm1_order(3.6),))
    finding = only("dose-tdm1", patient)
    assert "no re-escalation" in finding.summary
    [action] = finding.proposals[0].actions
    assert isinstance(action, ChangeDose)
    assert action.dosage.dose.value == 3.0


def test_mg_dose_converted_with_weight_and_without_weight_is_info() -> None:
    assert "dose-tdm1" not in rule_ids(
        after_zongertinib(draft_orders=(tdm1_order(259, DoseUnit.MG),)), SG
    )  # 259 mg / 72 kg = 3.6 mg/kg
    no_weight = after_zongertinib(
        measurements=(LVEF_60, *NORMAL_LABS), draft_orders=(tdm1_order(259, DoseUnit.MG),)
    )
    assert only("dose-tdm1", no_weight).indicator is Indicator.INFO


def test_dose_tdm1_silent_on_patient_view_and_for_other_drugs() -> None:
    assert "dose-tdm1" not in rule_ids(after_zongertinib(on_tdm1=(3.6,)), PV)
    other = after_zongertinib(draft_orders=(order(Drug.TRASTUZUMAB_DERUXTECAN, "t", dose=6.4),))
    assert "dose-tdm1" not in rule_ids(other, SG)


# --- tdm1-safety -----------------------------------------------------------------------------


def with_labs(*labs: Measurement, on_tdm1: tuple[float, ...] = (3.6, 3.6)) -> PatientModel:
    kinds = {m.kind for m in labs}
    kept = tuple(m for m in NORMAL_LABS if m.kind not in kinds)
    return after_zongertinib(
        on_tdm1=on_tdm1,
        measurements=(WEIGHT_72, LVEF_60, *kept, *labs),
        draft_orders=(tdm1_order(),),
    )


def test_silent_on_tdm1_with_recent_normal_labs() -> None:
    assert "tdm1-safety" not in rule_ids(with_labs(), SG)
    assert "tdm1-safety" not in rule_ids(after_zongertinib(on_tdm1=(3.6,)), PV)


def test_ast_grade3_holds_then_one_level_down() -> None:
    finding = only("tdm1-safety", with_labs(lab(MeasurementKind.AST, 240, date(2026, 11, 18), 40)))
    assert finding.indicator is Indicator.CRITICAL
    assert finding.halts_drug
    assert not finding.permanent
    assert "grade 3" in finding.summary
    cancel = finding.proposals[0].actions[0]
    assert isinstance(cancel, CancelOrder)
    assert finding.proposals[0].recommended


def test_recovered_grade3_asks_for_one_level_down() -> None:
    patient = with_labs(
        lab(MeasurementKind.AST, 240, date(2026, 11, 10), 40),
        lab(MeasurementKind.AST, 60, date(2026, 11, 18), 40),
    )
    finding = only("tdm1-safety", patient)
    assert finding.indicator is Indicator.WARNING
    changes = [a for p in finding.proposals for a in p.actions if isinstance(a, ChangeDose)]
    assert [c.dosage.dose.value for c in changes] == [3.0]


def test_ast_grade4_discontinues_permanently() -> None:
    finding = only("tdm1-safety", with_labs(lab(MeasurementKind.ALT, 900, date(2026, 11, 18), 40)))
    assert finding.indicator is Indicator.CRITICAL
    assert finding.permanent
    assert "grade 4" in finding.summary


def test_hys_law_row_transaminases_3x_with_bilirubin_2x() -> None:
    patient = with_labs(
        lab(MeasurementKind.ALT, 140, date(2026, 11, 18), 40),
        lab(MeasurementKind.BILIRUBIN, 2.6, date(2026, 11, 18), 1.2),
    )
    finding = only("tdm1-safety", patient)
    assert finding.permanent
    assert any("above 3 x ULN with total bilirubin above 2 x ULN" in g for g in finding.guidance)


def test_ild_diagnosed_on_tdm1_discontinues() -> None:
    patient = replace(
        with_labs(), ild_episodes=(ild(date(2026, 11, 10), cause=IldCause.DRUG, cause_drug=TDM1),)
    )
    finding = only("tdm1-safety", patient)
    assert finding.indicator is Indicator.CRITICAL
    assert finding.permanent
    assert "ILD/pneumonitis diagnosed on T-DM1" in finding.summary


def test_resolved_ild_before_tdm1_is_not_a_discontinuation() -> None:
    patient = replace(with_labs(), ild_episodes=(ild(date(2026, 5, 1), resolved=date(2026, 6, 1)),))
    assert "tdm1-safety" not in rule_ids(patient, SG)


def lvef_patient(value: float, baseline: float | None) -> PatientModel:
    values = [lab(MeasurementKind.LVEF, value, date(2026, 11, 17))]
    if baseline is not None:
        values.append(lab(MeasurementKind.LVEF, baseline, date(2026, 10, 5)))
    kept = tuple(m for m in NORMAL_LABS)
    return after_zongertinib(
        on_tdm1=(3.6, 3.6), measurements=(WEIGHT_72, *kept, *values), draft_orders=(tdm1_order(),)
    )


def test_lvef_table_of_kadcyla() -> None:
    below_40 = only("tdm1-safety", lvef_patient(38, 60))
    assert below_40.indicator is Indicator.CRITICAL
    assert not below_40.permanent
    drop_10 = only("tdm1-safety", lvef_patient(44, 54))
    assert drop_10.indicator is Indicator.CRITICAL
    assert "decrease of 10 points" in drop_10.summary
    small_drop = only("tdm1-safety", lvef_patient(44, 50))
    assert small_drop.indicator is Indicator.WARNING
    assert "repeat LVEF within 3 weeks" in small_drop.summary
    assert "tdm1-safety" not in rule_ids(lvef_patient(46, 60), SG)  # > 45 %: continue
    no_baseline = only("tdm1-safety", lvef_patient(43, None))
    assert no_baseline.indicator is Indicator.WARNING
    assert "no baseline" in no_baseline.summary
    services = [a.service for p in drop_10.proposals for a in p.actions if isinstance(a, Request)]
    assert services == [Service.ECHOCARDIOGRAM]


def test_its_lvef_card_replaces_cardiac_lvef_unless_heart_failure_is_on_record() -> None:
    ids = rule_ids(lvef_patient(44, 54), PV)
    assert "tdm1-safety" in ids
    assert "cardiac-lvef" not in ids
    with_hf = replace(
        lvef_patient(44, 50),
        comorbidities=(Comorbidity(ComorbidityKind.HEART_FAILURE, date(2020, 1, 1)),),
    )
    assert {"tdm1-safety", "cardiac-lvef"} <= set(rule_ids(with_hf, PV))


def test_heart_failure_after_the_start_discontinues() -> None:
    patient = replace(
        with_labs(),
        comorbidities=(
            Comorbidity(ComorbidityKind.HEART_FAILURE, date(2026, 11, 15), ("Condition/hf",)),
        ),
    )
    assert only("tdm1-safety", patient).permanent


def test_nyha_class_ii_to_iv_after_the_start_discontinues() -> None:
    """9.3: an NYHA II-IV statement dated after T-DM1's start (2026-10-13) is symptomatic
    heart failure: the same cards as a heart-failure diagnosis with onset on that day."""
    stated = NyhaStatement(3, date(2026, 11, 15), ("Observation/nyha",))
    patient = replace(with_labs(), nyha_statements=(stated,))
    finding = only("tdm1-safety", patient)
    assert finding.permanent
    assert finding.indicator is Indicator.CRITICAL
    assert any(f.sources == ("Observation/nyha",) for f in finding.facts)
    diagnosed = replace(
        with_labs(),
        comorbidities=(
            Comorbidity(ComorbidityKind.HEART_FAILURE, date(2026, 11, 15), ("Condition/hf",)),
        ),
    )
    assert rule_ids(patient, SG) == rule_ids(diagnosed, SG)
    assert finding.summary == only("tdm1-safety", diagnosed).summary


def test_nyha_class_i_or_before_the_start_does_not_discontinue() -> None:
    for stated in (
        NyhaStatement(1, date(2026, 11, 15), ("Observation/nyha",)),
        NyhaStatement(3, date(2026, 9, 1), ("Observation/nyha",)),
        NyhaStatement(3, None, ("Observation/nyha",)),
    ):
        patient = replace(with_labs(), nyha_statements=(stated,))
        assert "tdm1-safety" not in rule_ids(patient, SG), stated
        assert "cardiac-lvef" not in rule_ids(patient, SG), stated


def test_platelets_grade3_hold_until_75_then_same_dose() -> None:
    finding = only("tdm1-safety", with_labs(lab(MeasurementKind.PLATELETS, 40, date(2026, 11, 19))))
    assert finding.indicator is Indicator.CRITICAL
    assert "then the same dose" in finding.summary
    recovered = with_labs(
        lab(MeasurementKind.PLATELETS, 40, date(2026, 11, 10)),
        lab(MeasurementKind.PLATELETS, 90, date(2026, 11, 19)),
    )
    assert "tdm1-safety" not in rule_ids(recovered, SG)


def test_platelets_grade4_recovered_means_one_level_down() -> None:
    patient = with_labs(
        lab(MeasurementKind.PLATELETS, 20, date(2026, 11, 8)),
        lab(MeasurementKind.PLATELETS, 90, date(2026, 11, 19)),
    )
    finding = only("tdm1-safety", patient)
    assert "one level down, 3 mg/kg" in " ".join(finding.guidance)


def test_liver_tests_and_platelets_before_each_dose_are_asked_for() -> None:
    old = after_zongertinib(
        on_tdm1=(3.6, 3.6),
        measurements=(WEIGHT_72, LVEF_60),
        draft_orders=(tdm1_order(),),
    )
    finding = only("tdm1-safety", old)
    assert finding.indicator is Indicator.INFO
    services = [a.service for p in finding.proposals for a in p.actions if isinstance(a, Request)]
    assert services == [Service.LIVER_PANEL, Service.CBC]
    assert "tdm1-safety" not in rule_ids(replace(old, draft_orders=()), PV)


def test_patient_view_hold_is_a_warning_without_delete() -> None:
    patient = replace(
        with_labs(lab(MeasurementKind.AST, 240, date(2026, 11, 18), 40)), draft_orders=()
    )
    finding = only("tdm1-safety", patient, PV)
    assert finding.indicator is Indicator.WARNING
    assert not any(isinstance(a, CancelOrder) for p in finding.proposals for a in p.actions)


def test_silent_without_tdm1() -> None:
    assert "tdm1-safety" not in rule_ids(after_zongertinib(), PV)
    assert "tdm1-safety" not in rule_ids(
        after_zongertinib(draft_orders=(order(Drug.TRASTUZUMAB_DERUXTECAN, "t", dose=5.4),)), OS
    )


def test_liver_tests_without_a_reference_range_are_named_not_graded() -> None:
    no_uln = Measurement(
        MeasurementKind.AST, 900, "U/L", date(2026, 11, 18), None, ("Observation/ast-no-uln",)
    )
    [finding] = findings_of("tdm1-safety", with_labs(no_uln), SG)
    assert finding.indicator is Indicator.INFO
    assert "AST without a reference range" in finding.summary

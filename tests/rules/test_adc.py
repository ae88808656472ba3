"""9.2 `her2-adc-not-interchangeable` and `thrombocytopenia-tdxd`."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from cds_service.rules.base import CancelOrder, ChangeDose
from cds_service.wire import Indicator
from fhir_mappings.model import (
    Dose,
    DoseRecord,
    DoseUnit,
    Drug,
    Measurement,
    MeasurementKind,
    PatientModel,
    StopReason,
)
from tests.rules.patients import (
    OS,
    PV,
    SG,
    exon20_after_platinum,
    findings_of,
    on_tdxd_second_line,
    order,
    rule_ids,
    tdxd_course,
)

TDXD, TDM1, TRASTUZUMAB = (
    Drug.TRASTUZUMAB_DERUXTECAN,
    Drug.TRASTUZUMAB_EMTANSINE,
    Drug.TRASTUZUMAB,
)
RULE = "her2-adc-not-interchangeable"


def test_tdm1_drafted_while_tdxd_active_warns() -> None:
    patient = on_tdxd_second_line(draft_orders=(order(TDM1, "tdm1", dose=3.6),))
    [finding] = findings_of(RULE, patient, OS)
    assert finding.indicator is Indicator.WARNING
    assert finding.summary.startswith("T-DM1 with T-DXd")
    assert finding.proposals == ()


def test_two_drafts_of_a_pair_give_one_card() -> None:
    patient = exon20_after_platinum(
        draft_orders=(order(TDXD, "tdxd", dose=5.4), order(TRASTUZUMAB, "herceptin", dose=6))
    )
    [finding] = findings_of(RULE, patient, SG)
    assert set(finding.order_refs) == {"MedicationRequest/tdxd", "MedicationRequest/herceptin"}


def test_tdm1_with_trastuzumab_also_warns() -> None:
    patient = exon20_after_platinum(
        draft_orders=(order(TDM1, "tdm1", dose=3.6), order(TRASTUZUMAB, "herceptin", dose=6))
    )
    assert RULE in rule_ids(patient, SG)


def test_planned_switch_after_progression_is_not_a_substitution() -> None:
    patient = on_tdxd_second_line(
        lines=(
            *on_tdxd_second_line().lines[:1],
            replace(on_tdxd_second_line().lines[1], progressed=True),
        ),
        draft_orders=(order(TDM1, "tdm1", dose=3.6),),
    )
    assert RULE not in rule_ids(patient, OS)


def test_stopped_tdxd_is_not_a_substitution() -> None:
    stopped = tdxd_course(active=False, stop_reason=StopReason.TOXICITY, end=date(2026, 9, 1))
    patient = exon20_after_platinum(
        exposures=(stopped,), draft_orders=(order(TDM1, "tdm1", dose=3.6),)
    )
    assert RULE not in rule_ids(patient, OS)


def test_single_product_and_patient_view_are_silent() -> None:
    assert RULE not in rule_ids(on_tdxd_second_line(draft_orders=(order(TDXD, "t", dose=5.4),)), SG)
    assert RULE not in rule_ids(on_tdxd_second_line(), PV)
    two_trastuzumab = exon20_after_platinum(
        draft_orders=(order(TRASTUZUMAB, "a", dose=6), order(TRASTUZUMAB, "b", dose=6))
    )
    assert RULE not in rule_ids(two_trastuzumab, SG)


# --- thrombocytopenia-tdxd -------------------------------------------------------------------

PLT = "thrombocytopenia-tdxd"


def platelets(value: float, when: date) -> Measurement:
    return Measurement(
        MeasurementKind.PLATELETS, value, "10*9/L", when, None, (f"Observation/plt-{when}",)
    )


def next_cycle(*counts: Measurement) -> PatientModel:
    """On T-DXd, last dose 2026-08-25; ordering the next cycle on 2026-11-21."""
    base = on_tdxd_second_line(draft_orders=(order(TDXD, "tdxd", dose=5.4),))
    return replace(base, measurements=(*base.measurements, *counts))


def test_grade3_latest_holds_as_warning() -> None:
    [finding] = findings_of(PLT, next_cycle(platelets(40, date(2026, 11, 19))), SG)
    assert finding.indicator is Indicator.WARNING
    assert "2026-11-19" in finding.summary
    assert isinstance(finding.proposals[0].actions[0], CancelOrder)


def test_grade4_latest_is_critical() -> None:
    [finding] = findings_of(PLT, next_cycle(platelets(20, date(2026, 11, 19))), SG)
    assert finding.indicator is Indicator.CRITICAL
    assert finding.halts_drug


def test_grade3_recovered_to_75_keeps_the_dose_silently() -> None:
    patient = next_cycle(platelets(45, date(2026, 10, 1)), platelets(80, date(2026, 11, 19)))
    assert PLT not in rule_ids(patient, SG)


def test_grade3_recovered_only_to_60_still_holds() -> None:
    patient = next_cycle(platelets(45, date(2026, 10, 1)), platelets(60, date(2026, 11, 19)))
    [finding] = findings_of(PLT, patient, SG)
    assert "hold T-DXd" in finding.summary


def test_fall_with_no_recent_count_holds_and_asks_for_a_cbc() -> None:
    patient = next_cycle(platelets(45, date(2026, 10, 1)))
    [finding] = findings_of(PLT, patient, SG)
    assert "no recent count" in finding.summary


def test_grade4_recovered_is_a_warning_without_an_unverified_dose_change() -> None:
    patient = next_cycle(platelets(20, date(2026, 10, 1)), platelets(110, date(2026, 11, 19)))
    [finding] = findings_of(PLT, patient, SG)
    assert finding.indicator is Indicator.WARNING
    assert not any(isinstance(a, ChangeDose) for p in finding.proposals for a in p.actions)
    assert any("[?]" in u for u in finding.uncertainties)


def test_a_low_count_before_the_last_dose_is_not_used() -> None:
    course = replace(
        tdxd_course(),
        doses=(
            DoseRecord(Dose(5.4, DoseUnit.MG_PER_KG), date(2026, 10, 13), "MA/1"),
            DoseRecord(Dose(5.4, DoseUnit.MG_PER_KG), date(2026, 11, 3), "MA/2"),
        ),
    )
    patient = replace(
        next_cycle(platelets(30, date(2026, 10, 20)), platelets(150, date(2026, 11, 19))),
        exposures=(course,),
    )
    assert PLT not in rule_ids(patient, SG)


def test_no_platelet_count_is_silent_here_and_other_drugs_too() -> None:
    assert PLT not in rule_ids(next_cycle(), SG)
    zong = replace(
        next_cycle(platelets(30, date(2026, 11, 19))),
        draft_orders=(order(Drug.ZONGERTINIB, "z", dose=120, unit=DoseUnit.MG),),
    )
    assert PLT not in rule_ids(zong, SG)


def test_first_order_judged_on_the_last_week() -> None:
    patient = exon20_after_platinum(
        measurements=(platelets(40, date(2026, 11, 18)),),
        draft_orders=(order(TDXD, "tdxd", dose=5.4),),
    )
    assert PLT in rule_ids(patient, SG)

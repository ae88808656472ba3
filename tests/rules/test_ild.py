"""6.3 ILD / pneumonitis rules: a positive case and one case per exclusion each."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from cds_service.rules.base import CancelOrder, ChangeDose, Prescribe, Proposal, Request, Service
from cds_service.rules.ild import attributed_to
from cds_service.settings import ClinicalSettings
from cds_service.wire import Hook, Indicator
from fhir_mappings.model import ComorbidityKind, Dose, DoseUnit, Drug, IldCause
from tests.rules.patients import (
    CHEST_CT_RECENT,
    OS,
    PV,
    SG,
    STATIN,
    comorbidity,
    exon20_after_platinum,
    findings_of,
    ild,
    on_tdxd_second_line,
    order,
    rule_ids,
    tdxd_course,
    untreated_exon20,
    zongertinib_course,
    zongertinib_line,
)

TDXD = Drug.TRASTUZUMAB_DERUXTECAN
NEXT_CYCLE = order(TDXD, "tdxd-cycle3", dose=5.4)


def actions(proposal: Proposal) -> list[object]:
    return list(proposal.actions)


# --- ild-suspected-on-tdxd --------------------------------------------------------------------

NEW_PNEUMONITIS = ild(date(2026, 9, 10), on_tdxd=True)  # two cycles in, grade not recorded


def test_suspected_on_tdxd_at_sign_holds_the_order() -> None:
    patient = on_tdxd_second_line(ild_episodes=(NEW_PNEUMONITIS,), draft_orders=(NEXT_CYCLE,))
    findings = findings_of("ild-suspected-on-tdxd", patient, SG)
    [finding] = findings
    assert finding.indicator is Indicator.CRITICAL
    hold, ct, pulmonology = finding.proposals
    assert actions(hold) == [CancelOrder("MedicationRequest/tdxd-cycle3", TDXD)]
    assert hold.recommended
    assert actions(ct) == [Request(Service.CHEST_CT)]
    assert actions(pulmonology) == [Request(Service.PULMONOLOGY)]


def test_suspected_on_tdxd_is_the_only_t_dxd_card() -> None:
    patient = on_tdxd_second_line(
        ild_episodes=(NEW_PNEUMONITIS,),
        comorbidities=(comorbidity(ComorbidityKind.COPD),),
        draft_orders=(NEXT_CYCLE,),
    )
    assert rule_ids(patient, SG) == ["ild-suspected-on-tdxd"]


def test_suspected_on_tdxd_on_patient_view_without_delete() -> None:
    patient = on_tdxd_second_line(ild_episodes=(NEW_PNEUMONITIS,))
    [finding] = findings_of("ild-suspected-on-tdxd", patient, PV)
    assert not any(isinstance(a, CancelOrder) for p in finding.proposals for a in p.actions)


def test_suspected_with_undated_onset_is_read_as_possibly_on_tdxd() -> None:
    patient = on_tdxd_second_line(ild_episodes=(ild(None),), draft_orders=(NEXT_CYCLE,))
    [finding] = findings_of("ild-suspected-on-tdxd", patient, SG)
    assert any("onset date is not recorded" in u for u in finding.uncertainties)


@pytest.mark.parametrize(
    "episode",
    [
        ild(date(2026, 9, 10), on_tdxd=True, resolved=date(2026, 10, 1)),
        ild(date(2026, 9, 10), on_tdxd=True, grade=1),
        ild(date(2026, 3, 1), on_tdxd=False, cause=IldCause.ICI),
    ],
    ids=["resolved", "graded", "before-tdxd"],
)
def test_suspected_on_tdxd_exclusions(episode: object) -> None:
    patient = on_tdxd_second_line(ild_episodes=(episode,), draft_orders=(NEXT_CYCLE,))
    assert "ild-suspected-on-tdxd" not in rule_ids(patient, SG)


def test_suspected_on_tdxd_silent_for_a_statin_order() -> None:
    patient = on_tdxd_second_line(ild_episodes=(NEW_PNEUMONITIS,), draft_orders=(STATIN,))
    assert rule_ids(patient, OS) == []


# --- ild-grade1-tdxd ----------------------------------------------------------------------------


def test_grade1_resolved_after_35_days_requires_4_4_mg_per_kg() -> None:
    episode = ild(date(2026, 9, 10), grade=1, resolved=date(2026, 10, 15), on_tdxd=True)
    patient = on_tdxd_second_line(ild_episodes=(episode,), draft_orders=(NEXT_CYCLE,))
    [finding] = findings_of("ild-grade1-tdxd", patient, SG)
    assert finding.indicator is Indicator.WARNING
    assert (
        finding.summary
        == "Grade 1 ILD on T-DXd resolved after 35 days: dose must be 4.4 mg/kg, not 5.4"
    )
    [update] = finding.proposals
    [change] = update.actions
    assert isinstance(change, ChangeDose)
    assert change.order_ref == "MedicationRequest/tdxd-cycle3"
    assert change.dosage.dose == Dose(4.4, DoseUnit.MG_PER_KG)


def test_grade1_resolved_within_28_days_keeps_the_dose() -> None:
    episode = ild(date(2026, 9, 10), grade=1, resolved=date(2026, 9, 30), on_tdxd=True)
    patient = on_tdxd_second_line(ild_episodes=(episode,), draft_orders=(NEXT_CYCLE,))
    [finding] = findings_of("ild-grade1-tdxd", patient, SG)
    assert finding.proposals == ()
    assert finding.indicator is Indicator.INFO  # uneventful resolution, right dose
    assert finding.summary == (
        "Grade 1 ILD on T-DXd resolved after 20 days: dose 5.4 mg/kg is right; never re-escalate"
    )


def test_grade1_resolved_in_time_without_a_dose_is_a_warning() -> None:
    episode = ild(date(2026, 9, 10), grade=1, resolved=date(2026, 9, 30), on_tdxd=True)
    patient = on_tdxd_second_line(ild_episodes=(episode,), draft_orders=(order(TDXD, "tdxd"),))
    [finding] = findings_of("ild-grade1-tdxd", patient, SG)
    assert finding.indicator is Indicator.WARNING
    assert "The draft order states no dose to compare." in finding.uncertainties


def test_grade1_resolved_late_on_patient_view_still_at_5_4_is_a_warning() -> None:
    episode = ild(date(2026, 9, 10), grade=1, resolved=date(2026, 10, 15), on_tdxd=True)
    course = tdxd_course(doses=((date(2026, 8, 4), 5.4), (date(2026, 10, 27), 5.4)))
    patient = on_tdxd_second_line(ild_episodes=(episode,), exposures=(course,))
    [finding] = findings_of("ild-grade1-tdxd", patient, PV)
    assert finding.indicator is Indicator.WARNING
    assert finding.summary.endswith("next dose 4.4 mg/kg, not 5.4")


def test_grade1_card_absorbs_vigilance_and_names_the_risk_factor() -> None:
    episode = ild(date(2026, 9, 10), grade=1, resolved=date(2026, 9, 30), on_tdxd=True)
    patient = on_tdxd_second_line(
        ild_episodes=(episode,),
        comorbidities=(comorbidity(ComorbidityKind.COPD),),
        draft_orders=(NEXT_CYCLE,),
    )
    assert [i for i in rule_ids(patient, SG) if i.startswith("ild-")] == ["ild-grade1-tdxd"]
    [finding] = findings_of("ild-grade1-tdxd", patient, SG)
    assert "ILD risk factors present: COPD" in " ".join(finding.guidance)


def test_grade1_unresolved_is_critical_at_sign_and_interrupts() -> None:
    episode = ild(date(2026, 11, 1), grade=1, on_tdxd=True)
    patient = on_tdxd_second_line(ild_episodes=(episode,), draft_orders=(NEXT_CYCLE,))
    [finding] = findings_of("ild-grade1-tdxd", patient, SG)
    assert finding.indicator is Indicator.CRITICAL
    assert actions(finding.proposals[0]) == [CancelOrder("MedicationRequest/tdxd-cycle3", TDXD)]
    [at_select] = findings_of("ild-grade1-tdxd", patient, OS)
    assert at_select.indicator is Indicator.WARNING


def test_grade1_never_re_escalates_above_the_last_level() -> None:
    episode = ild(date(2026, 9, 10), grade=1, resolved=date(2026, 9, 25), on_tdxd=True)
    course = tdxd_course(doses=((date(2026, 8, 4), 5.4), (date(2026, 10, 20), 4.4)))
    patient = on_tdxd_second_line(
        ild_episodes=(episode,),
        exposures=(course,),
        draft_orders=(NEXT_CYCLE,),
    )
    [finding] = findings_of("ild-grade1-tdxd", patient, SG)
    [update] = finding.proposals
    [change] = update.actions
    assert isinstance(change, ChangeDose)
    assert change.dosage.dose == Dose(4.4, DoseUnit.MG_PER_KG)


def test_grade1_at_3_2_resolved_late_means_discontinue() -> None:
    episode = ild(date(2026, 9, 10), grade=1, resolved=date(2026, 10, 30), on_tdxd=True)
    course = tdxd_course(doses=((date(2026, 9, 1), 3.2),))
    patient = on_tdxd_second_line(
        ild_episodes=(episode,), exposures=(course,), draft_orders=(order(TDXD, "tdxd", dose=3.2),)
    )
    [finding] = findings_of("ild-grade1-tdxd", patient, SG)
    assert finding.indicator is Indicator.CRITICAL
    assert "discontinue" in finding.summary


def test_grade1_supersedes_dose_tdxd_when_it_changes_the_dose() -> None:
    episode = ild(date(2026, 9, 10), grade=1, resolved=date(2026, 10, 15), on_tdxd=True)
    patient = on_tdxd_second_line(
        ild_episodes=(episode,), draft_orders=(order(TDXD, "tdxd", dose=6.4),)
    )
    ids = rule_ids(patient, SG)
    assert "ild-grade1-tdxd" in ids
    assert "dose-tdxd" not in ids


@pytest.mark.parametrize(
    "episode",
    [
        ild(date(2026, 9, 10), grade=2, resolved=date(2026, 10, 15), on_tdxd=True),
        ild(date(2026, 3, 1), grade=1, resolved=date(2026, 3, 20), on_tdxd=False),
    ],
    ids=["grade-2", "before-tdxd"],
)
def test_grade1_exclusions(episode: object) -> None:
    patient = on_tdxd_second_line(ild_episodes=(episode,), draft_orders=(NEXT_CYCLE,))
    assert "ild-grade1-tdxd" not in rule_ids(patient, SG)


# --- ild-grade2-tdxd ---------------------------------------------------------------------------


def test_grade2_discontinues_and_deletes_the_order() -> None:
    episode = ild(date(2026, 9, 10), grade=2, resolved=date(2026, 10, 15), on_tdxd=True)
    patient = on_tdxd_second_line(ild_episodes=(episode,), draft_orders=(NEXT_CYCLE,))
    [finding] = findings_of("ild-grade2-tdxd", patient, OS)
    assert finding.indicator is Indicator.CRITICAL
    assert finding.permanent
    assert actions(finding.proposals[0]) == [CancelOrder("MedicationRequest/tdxd-cycle3", TDXD)]


def test_grade_unknown_with_hypoxia_counts_as_grade2_and_supersedes_the_hold() -> None:
    episode = ild(date(2026, 9, 10), on_tdxd=True, hypoxia=True)
    patient = on_tdxd_second_line(ild_episodes=(episode,), draft_orders=(NEXT_CYCLE,))
    assert rule_ids(patient, SG) == ["ild-grade2-tdxd"]


def test_grade2_on_patient_view_while_t_dxd_is_active() -> None:
    episode = ild(date(2026, 9, 10), grade=3, on_tdxd=True)
    [finding] = findings_of("ild-grade2-tdxd", on_tdxd_second_line(ild_episodes=(episode,)), PV)
    assert "Grade 3+" in finding.summary


def test_grade2_steroid_advice_only_while_unresolved() -> None:
    resolved = ild(date(2026, 9, 10), grade=2, resolved=date(2026, 10, 15), on_tdxd=True)
    patient = on_tdxd_second_line(ild_episodes=(resolved,), draft_orders=(NEXT_CYCLE,))
    [finding] = findings_of("ild-grade2-tdxd", patient, SG)
    assert not any("corticosteroid" in g for g in finding.guidance)
    assert any("stays permanent" in g for g in finding.guidance)
    unresolved = ild(date(2026, 11, 10), grade=2, on_tdxd=True)
    patient = on_tdxd_second_line(ild_episodes=(unresolved,), draft_orders=(NEXT_CYCLE,))
    [finding] = findings_of("ild-grade2-tdxd", patient, SG)
    assert any("corticosteroids promptly" in g for g in finding.guidance)


def test_grade2_silent_when_it_predates_t_dxd() -> None:
    episode = ild(date(2026, 3, 1), grade=2, resolved=date(2026, 4, 1), on_tdxd=False)
    patient = on_tdxd_second_line(ild_episodes=(episode,), draft_orders=(NEXT_CYCLE,))
    assert "ild-grade2-tdxd" not in rule_ids(patient, SG)


# --- ild-history-before-tdxd ---------------------------------------------------------------------

PEMBRO_PNEUMONITIS = ild(
    date(2026, 5, 2),
    grade=2,
    resolved=date(2026, 6, 10),
    cause=IldCause.ICI,
    cause_drug=Drug.PEMBROLIZUMAB,
)
FIRST_TDXD = order(TDXD, "tdxd", dose=5.4)


def test_history_before_tdxd_warns_with_ct_and_alternatives() -> None:
    patient = exon20_after_platinum(ild_episodes=(PEMBRO_PNEUMONITIS,), draft_orders=(FIRST_TDXD,))
    ids = rule_ids(patient, SG)
    assert "ild-history-before-tdxd" in ids
    for superseded in ("seq-after-platinum", "ild-baseline-imaging", "ild-vigilance"):
        assert superseded not in ids
    [finding] = findings_of("ild-history-before-tdxd", patient, SG)
    assert finding.indicator is Indicator.WARNING
    keep, zongertinib, sevabertinib = finding.proposals
    assert actions(keep) == [Request(Service.CHEST_CT)]
    assert [type(a) for a in zongertinib.actions] == [CancelOrder, Prescribe]
    assert [type(a) for a in sevabertinib.actions] == [CancelOrder, Prescribe]
    assert not any(p.recommended for p in finding.proposals)


def test_history_before_tdxd_with_recent_ct_offers_alternatives_only() -> None:
    patient = exon20_after_platinum(
        ild_episodes=(PEMBRO_PNEUMONITIS,), imaging=(CHEST_CT_RECENT,), draft_orders=(FIRST_TDXD,)
    )
    [finding] = findings_of("ild-history-before-tdxd", patient, SG)
    assert len(finding.proposals) == 2


def test_history_before_tdxd_says_both_tkis_share_the_ild_warning() -> None:
    patient = exon20_after_platinum(ild_episodes=(PEMBRO_PNEUMONITIS,), draft_orders=(FIRST_TDXD,))
    [finding] = findings_of("ild-history-before-tdxd", patient, SG)
    assert any("Both HER2 TKIs" in g and "ILD/pneumonitis warning" in g for g in finding.guidance)


def test_history_before_tdxd_unresolved_episode_is_critical_without_keep() -> None:
    unresolved = ild(date(2026, 3, 1), cause=IldCause.RADIATION)
    patient = exon20_after_platinum(
        ild_episodes=(unresolved,), imaging=(CHEST_CT_RECENT,), draft_orders=(FIRST_TDXD,)
    )
    [finding] = findings_of("ild-history-before-tdxd", patient, SG)
    assert finding.indicator is Indicator.CRITICAL
    assert finding.halts_drug
    assert finding.summary == (
        "T-DXd ordered with unresolved pneumonitis/ILD (radiation): do not start"
    )
    [stop] = finding.proposals  # nothing that keeps T-DXd, no TKI while ILD is active
    assert actions(stop) == [CancelOrder("MedicationRequest/tdxd", TDXD)]
    assert stop.recommended
    assert any("[E]" in g for g in finding.guidance)


def test_history_before_tdxd_recent_episode_is_critical_then_warning_after_the_window() -> None:
    recent = ild(
        date(2026, 9, 1),
        grade=2,
        resolved=date(2026, 10, 1),
        cause=IldCause.ICI,
        cause_drug=Drug.PEMBROLIZUMAB,
    )
    patient = exon20_after_platinum(ild_episodes=(recent,), draft_orders=(FIRST_TDXD,))
    [finding] = findings_of("ild-history-before-tdxd", patient, SG)
    assert finding.indicator is Indicator.CRITICAL
    assert finding.summary == (
        "T-DXd ordered 81 days after pneumonitis/ILD onset (pembrolizumab): "
        "do not start until resolved"
    )
    assert "The 90-day window for a recent episode is a setting." in finding.uncertainties
    shorter = ClinicalSettings(recent_ild_episode_days=60)
    [finding] = findings_of("ild-history-before-tdxd", patient, SG, shorter)
    assert finding.indicator is Indicator.WARNING


def test_history_before_tdxd_names_other_risk_factors_in_one_card() -> None:
    patient = exon20_after_platinum(
        ild_episodes=(PEMBRO_PNEUMONITIS,),
        comorbidities=(comorbidity(ComorbidityKind.COPD),),
        draft_orders=(FIRST_TDXD,),
    )
    ild_cards = [i for i in rule_ids(patient, SG) if i.startswith("ild-")]
    assert ild_cards == ["ild-history-before-tdxd"]
    [finding] = findings_of("ild-history-before-tdxd", patient, SG)
    assert "Condition/copd" in [src for f in finding.facts for src in f.sources]
    assert any("COPD, prior ICI pneumonitis" in g for g in finding.guidance)


def test_history_before_tdxd_silent_without_ild_history() -> None:
    patient = exon20_after_platinum(draft_orders=(FIRST_TDXD,))
    assert "ild-history-before-tdxd" not in rule_ids(patient, SG)


def test_history_before_tdxd_silent_once_on_t_dxd() -> None:
    patient = on_tdxd_second_line(ild_episodes=(PEMBRO_PNEUMONITIS,), draft_orders=(NEXT_CYCLE,))
    assert "ild-history-before-tdxd" not in rule_ids(patient, SG)


def test_history_before_tdxd_runs_on_orders_only() -> None:
    patient = exon20_after_platinum(ild_episodes=(PEMBRO_PNEUMONITIS,))
    assert "ild-history-before-tdxd" not in rule_ids(patient, PV)


# --- ild-on-tki -----------------------------------------------------------------------------


def test_on_tki_with_active_pneumonitis_is_critical_and_deletes() -> None:
    patient = untreated_exon20(
        ild_episodes=(ild(date(2026, 11, 10)),),
        draft_orders=(order(Drug.ZONGERTINIB, "zong", dose=120, unit=DoseUnit.MG),),
    )
    [finding] = findings_of("ild-on-tki", patient, SG)
    assert finding.indicator is Indicator.CRITICAL
    assert actions(finding.proposals[0]) == [
        CancelOrder("MedicationRequest/zong", Drug.ZONGERTINIB)
    ]
    assert "boxed" not in " ".join(finding.guidance).lower()


def test_on_tki_with_prior_pneumonitis_warns_on_patient_view() -> None:
    patient = untreated_exon20(
        ild_episodes=(PEMBRO_PNEUMONITIS,),
        exposures=(zongertinib_course(),),
        lines=(zongertinib_line(progressed=False),),
    )
    [finding] = findings_of("ild-on-tki", patient, PV)
    assert finding.indicator is Indicator.WARNING
    assert "labeled warning" in finding.summary


ZONG_ORDER = order(Drug.ZONGERTINIB, "zong", dose=120, unit=DoseUnit.MG)


def test_on_tki_grade2_attributed_to_the_tki_is_critical_even_resolved() -> None:
    episode = ild(
        date(2026, 6, 1),
        grade=2,
        resolved=date(2026, 7, 1),
        cause=IldCause.DRUG,
        cause_drug=Drug.ZONGERTINIB,
    )
    patient = untreated_exon20(
        ild_episodes=(episode,),
        exposures=(zongertinib_course(),),
        lines=(zongertinib_line(progressed=False),),
    )
    [finding] = findings_of("ild-on-tki", patient, PV)
    assert finding.indicator is Indicator.CRITICAL
    assert finding.summary == "Grade 2+ ILD/pneumonitis with zongertinib: withhold zongertinib"


def test_on_tki_unknown_grade_with_hypoxia_unresolved_is_critical() -> None:
    episode = ild(date(2026, 11, 1), cause=IldCause.RADIATION, hypoxia=True)
    patient = untreated_exon20(ild_episodes=(episode,), draft_orders=(ZONG_ORDER,))
    [finding] = findings_of("ild-on-tki", patient, OS)
    assert finding.indicator is Indicator.CRITICAL
    assert finding.summary.startswith("Grade 2+")


def test_on_tki_re_ordered_after_ild_attributed_to_it_is_critical() -> None:
    episode = ild(
        date(2026, 4, 1),
        grade=1,
        resolved=date(2026, 4, 20),
        cause=IldCause.DRUG,
        cause_drug=Drug.ZONGERTINIB,
    )
    patient = untreated_exon20(
        ild_episodes=(episode,),
        exposures=(zongertinib_course(active=False),),
        draft_orders=(ZONG_ORDER,),
    )
    [finding] = findings_of("ild-on-tki", patient, SG)
    assert finding.indicator is Indicator.CRITICAL
    assert finding.summary == "Zongertinib re-ordered after ILD/pneumonitis attributed to it"
    assert actions(finding.proposals[0]) == [
        CancelOrder("MedicationRequest/zong", Drug.ZONGERTINIB)
    ]


def test_on_tki_grade1_is_a_warning_per_the_labels_table_unverified() -> None:
    episode = ild(date(2026, 4, 1), grade=1, resolved=date(2026, 4, 20), cause=IldCause.RADIATION)
    patient = untreated_exon20(ild_episodes=(episode,), draft_orders=(ZONG_ORDER,))
    [finding] = findings_of("ild-on-tki", patient, SG)
    assert finding.indicator is Indicator.WARNING
    assert "per the label's table (unverified)" in finding.summary
    assert any(u.startswith("[?]") for u in finding.uncertainties)


def test_on_tki_sevabertinib_says_per_its_label() -> None:
    patient = exon20_after_platinum(
        ild_episodes=(PEMBRO_PNEUMONITIS,),
        draft_orders=(order(Drug.SEVABERTINIB, "seva", dose=20, unit=DoseUnit.MG),),
    )
    [finding] = findings_of("ild-on-tki", patient, SG)
    assert finding.indicator is Indicator.WARNING  # grade 2 of another cause, resolved
    assert any("manage per its label" in g for g in finding.guidance)


def test_attribution_is_read_from_the_cause_drug() -> None:
    episode = ild(date(2026, 4, 1), grade=2, cause_drug=Drug.ZONGERTINIB)
    assert attributed_to(episode, Drug.ZONGERTINIB)
    assert not attributed_to(episode, Drug.SEVABERTINIB)


def test_on_tki_silent_without_ild() -> None:
    patient = untreated_exon20(
        draft_orders=(order(Drug.ZONGERTINIB, "zong", dose=120, unit=DoseUnit.MG),)
    )
    assert "ild-on-tki" not in rule_ids(patient, SG)


def test_on_tki_silent_without_a_tki() -> None:
    assert "ild-on-tki" not in rule_ids(untreated_exon20(ild_episodes=(PEMBRO_PNEUMONITIS,)), PV)


# --- ild-baseline-imaging -------------------------------------------------------------------


def test_baseline_imaging_first_t_dxd_order_without_recent_ct() -> None:
    patient = exon20_after_platinum(draft_orders=(FIRST_TDXD,))
    [finding] = findings_of("ild-baseline-imaging", patient, OS)
    assert finding.indicator is Indicator.INFO
    assert actions(finding.proposals[0]) == [Request(Service.CHEST_CT)]


def test_baseline_imaging_silent_with_a_recent_ct() -> None:
    patient = exon20_after_platinum(imaging=(CHEST_CT_RECENT,), draft_orders=(FIRST_TDXD,))
    assert "ild-baseline-imaging" not in rule_ids(patient, OS)


def test_baseline_imaging_silent_for_a_later_cycle() -> None:
    patient = on_tdxd_second_line(imaging=(), draft_orders=(NEXT_CYCLE,))
    assert "ild-baseline-imaging" not in rule_ids(patient, OS)


def test_baseline_imaging_counts_an_old_ct_as_missing() -> None:
    old = replace(CHEST_CT_RECENT, date=date(2026, 6, 1))
    patient = exon20_after_platinum(imaging=(old,), draft_orders=(FIRST_TDXD,))
    assert "ild-baseline-imaging" in rule_ids(patient, OS)


# --- ild-vigilance ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [ComorbidityKind.COPD, ComorbidityKind.THORACIC_RADIATION, ComorbidityKind.RENAL_IMPAIRMENT],
)
def test_vigilance_for_each_risk_factor(kind: ComorbidityKind) -> None:
    patient = on_tdxd_second_line(comorbidities=(comorbidity(kind),))
    [finding] = findings_of("ild-vigilance", patient, PV)
    assert finding.indicator is Indicator.INFO


def test_vigilance_on_t_dxd_order_with_copd() -> None:
    patient = on_tdxd_second_line(
        comorbidities=(comorbidity(ComorbidityKind.COPD),), draft_orders=(NEXT_CYCLE,)
    )
    assert "ild-vigilance" in rule_ids(patient, Hook.ORDER_SELECT)


def test_vigilance_on_a_first_order_carries_the_baseline_ct_in_one_card() -> None:
    patient = exon20_after_platinum(
        comorbidities=(comorbidity(ComorbidityKind.RENAL_IMPAIRMENT),), draft_orders=(FIRST_TDXD,)
    )
    ids = [i for i in rule_ids(patient, OS) if i.startswith("ild-")]
    assert ids == ["ild-vigilance"]
    [finding] = findings_of("ild-vigilance", patient, OS)
    assert finding.summary == (
        "First T-DXd order with moderate renal impairment: higher ILD risk; baseline chest CT"
    )
    assert actions(finding.proposals[0]) == [Request(Service.CHEST_CT)]
    assert any("moderate renal impairment. [L]" in g for g in finding.guidance)


def test_vigilance_names_only_the_factors_present() -> None:
    patient = on_tdxd_second_line(comorbidities=(comorbidity(ComorbidityKind.COPD),))
    [finding] = findings_of("ild-vigilance", patient, PV)
    assert finding.summary == "T-DXd with COPD: higher ILD risk, monitor closely"
    assert not any("renal" in g for g in finding.guidance)


def test_vigilance_silent_without_risk_factors() -> None:
    assert "ild-vigilance" not in rule_ids(on_tdxd_second_line(), PV)


def test_vigilance_silent_without_t_dxd() -> None:
    patient = exon20_after_platinum(comorbidities=(comorbidity(ComorbidityKind.COPD),))
    assert "ild-vigilance" not in rule_ids(patient, PV)


def test_baseline_imaging_says_unknown_when_imaging_could_not_be_read() -> None:
    patient = exon20_after_platinum(
        draft_orders=(FIRST_TDXD,), unavailable_data=("diagnosticReports",)
    )
    [finding] = findings_of("ild-baseline-imaging", patient, OS)
    assert "chest imaging unreadable" in finding.summary
    assert finding.facts[0].text.startswith("Chest CT in the last 90 days: unknown")


def test_onset_unknown_but_recorded_before_tdxd_is_not_on_tdxd() -> None:
    episode = replace(ild(None, grade=2), recorded=date(2026, 3, 1))
    patient = on_tdxd_second_line(ild_episodes=(episode,), draft_orders=(NEXT_CYCLE,))
    assert "ild-grade2-tdxd" not in rule_ids(patient, SG)

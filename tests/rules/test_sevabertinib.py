"""9.2 `start-sevabertinib` (replaces `gi-sevabertinib`) and `dose-sevabertinib`."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from cds_service.rules.base import ChangeDose
from cds_service.rules.sevabertinib import doses_per_day
from cds_service.wire import Indicator
from fhir_mappings.model import (
    Dose,
    DoseRecord,
    DoseUnit,
    DraftOrder,
    Drug,
    DrugExposure,
    ExposureStatus,
)
from tests.rules.patients import (
    OS,
    PV,
    SG,
    exon20_after_platinum,
    findings_of,
    order,
    rule_ids,
    untreated_exon20,
)

SEVA = Drug.SEVABERTINIB


def seva(mg: float = 20, frequency: str | None = "twice daily") -> DraftOrder:
    return replace(order(SEVA, "seva", dose=mg, unit=DoseUnit.MG), frequency=frequency)


def test_start_card_names_the_dose_and_every_labeled_warning() -> None:
    [finding] = findings_of("start-sevabertinib", exon20_after_platinum(draft_orders=(seva(),)), OS)
    assert finding.indicator is Indicator.INFO
    text = " ".join(finding.guidance)
    for word in (
        "20 mg orally twice daily with food",
        "Diarrhea",
        "Hepatotoxicity",
        "Interstitial lung disease",
        "Ocular",
        "Pancreatic",
        "Embryo-fetal",
    ):
        assert word in text, word
    assert "boxed" not in text


def test_start_card_silent_for_zongertinib_and_on_patient_view() -> None:
    zong = untreated_exon20(
        draft_orders=(order(Drug.ZONGERTINIB, "z", dose=120, unit=DoseUnit.MG),)
    )
    assert "start-sevabertinib" not in rule_ids(zong, OS)
    assert "start-sevabertinib" not in rule_ids(exon20_after_platinum(), PV)
    assert "gi-sevabertinib" not in rule_ids(exon20_after_platinum(draft_orders=(seva(),)), OS)


def test_doses_per_day_from_frequency_text() -> None:
    assert doses_per_day("twice daily") == 2
    assert doses_per_day("every 12 hours") == 2
    assert doses_per_day("once daily") == 1
    assert doses_per_day("every 3 weeks") is None
    assert doses_per_day(None) is None


def test_label_levels_are_not_flagged() -> None:
    for mg, frequency in ((20, "twice daily"), (10, "twice daily"), (10, "once daily")):
        patient = exon20_after_platinum(draft_orders=(seva(mg, frequency),))
        assert "dose-sevabertinib" not in rule_ids(patient, SG), (mg, frequency)


def test_20_mg_once_daily_is_updated_to_twice_daily() -> None:
    [finding] = findings_of(
        "dose-sevabertinib", exon20_after_platinum(draft_orders=(seva(20, "once daily"),)), SG
    )
    assert finding.indicator is Indicator.WARNING
    [proposal] = finding.proposals
    assert proposal.recommended
    [action] = proposal.actions
    assert isinstance(action, ChangeDose)
    assert (action.dosage.dose, action.dosage.frequency) == (Dose(20, DoseUnit.MG), 2)
    assert action.dosage.with_food


def test_reescalation_after_a_recorded_10_mg_offers_both_reduced_levels_unrecommended() -> None:
    course = DrugExposure(
        drug=SEVA,
        start=date(2026, 9, 1),
        status=ExposureStatus.ACTIVE,
        active=True,
        doses=(DoseRecord(Dose(10, DoseUnit.MG), date(2026, 10, 15), "MedicationRequest/s1"),),
    )
    patient = exon20_after_platinum(exposures=(course,), draft_orders=(seva(),))
    [finding] = findings_of("dose-sevabertinib", patient, SG)
    assert "above the last recorded dose" in finding.summary
    assert [p.recommended for p in finding.proposals] == [False, False]
    levels = [
        (a.dosage.dose.value, a.dosage.frequency)
        for p in finding.proposals
        for a in p.actions
        if isinstance(a, ChangeDose)
    ]
    assert levels == [(10, 2), (10, 1)]


def test_unknown_frequency_is_info_without_a_dose_change() -> None:
    [finding] = findings_of(
        "dose-sevabertinib", exon20_after_platinum(draft_orders=(seva(20, None),)), SG
    )
    assert finding.indicator is Indicator.INFO
    assert finding.proposals == ()


def test_no_dose_or_a_mg_per_kg_dose_is_not_judged() -> None:
    no_dose = replace(order(SEVA, "s"), frequency="twice daily")
    assert "dose-sevabertinib" not in rule_ids(exon20_after_platinum(draft_orders=(no_dose,)), SG)

"""9.2 `interaction-cyp3a-tki`: HER2 TKIs with CYP3A inhibitors and inducers."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from cds_service.settings import ClinicalSettings
from cds_service.wire import Indicator
from fhir_mappings.model import (
    CoMedication,
    Cyp3aModulator,
    DoseUnit,
    DraftOrder,
    Drug,
    MatchedBy,
)
from tests.rules.patients import (
    OS,
    PV,
    SG,
    STATIN,
    exon20_after_platinum,
    findings_of,
    order,
    rule_ids,
    untreated_exon20,
    zongertinib_course,
)

RULE = "interaction-cyp3a-tki"


def med(name: str, effect: Cyp3aModulator, *, active: bool = True) -> CoMedication:
    return CoMedication(
        name, effect, active, date(2026, 11, 1), (f"MedicationRequest/{name}",), MatchedBy.TEXT
    )


ITRACONAZOLE = med("itraconazole", Cyp3aModulator.STRONG_INHIBITOR)
RIFAMPIN = med("rifampin", Cyp3aModulator.STRONG_INDUCER)
EFAVIRENZ = med("efavirenz", Cyp3aModulator.MODERATE_INDUCER)


def seva_order() -> DraftOrder:
    return order(Drug.SEVABERTINIB, "seva", dose=20, unit=DoseUnit.MG)


def zong_order() -> DraftOrder:
    return order(Drug.ZONGERTINIB, "zong", dose=120, unit=DoseUnit.MG)


def test_sevabertinib_with_an_active_strong_inhibitor() -> None:
    patient = exon20_after_platinum(co_medications=(ITRACONAZOLE,), draft_orders=(seva_order(),))
    [finding] = findings_of(RULE, patient, SG)
    assert finding.indicator is Indicator.WARNING
    assert "itraconazole" in finding.summary
    assert finding.proposals == ()
    assert any("[?]" in g for g in finding.guidance)


def test_sevabertinib_with_moderate_inducer_and_zongertinib_with_strong_inducer() -> None:
    seva = exon20_after_platinum(co_medications=(EFAVIRENZ,), draft_orders=(seva_order(),))
    assert RULE in rule_ids(seva, SG)
    zong = untreated_exon20(co_medications=(RIFAMPIN,), draft_orders=(zong_order(),))
    assert RULE in rule_ids(zong, SG)


def test_zongertinib_is_not_flagged_for_inhibitors_or_moderate_inducers() -> None:
    zong = untreated_exon20(co_medications=(ITRACONAZOLE, EFAVIRENZ), draft_orders=(zong_order(),))
    assert RULE not in rule_ids(zong, SG)


def test_inactive_co_medication_is_not_counted() -> None:
    stopped = replace(ITRACONAZOLE, active=False)
    patient = exon20_after_platinum(co_medications=(stopped,), draft_orders=(seva_order(),))
    assert RULE not in rule_ids(patient, SG)


def test_new_inducer_order_for_a_patient_on_zongertinib() -> None:
    rifampin_order = replace(STATIN, reference="MedicationRequest/rifampin", co_medication=RIFAMPIN)
    patient = untreated_exon20(exposures=(zongertinib_course(),), draft_orders=(rifampin_order,))
    [finding] = findings_of(RULE, patient, OS)
    assert "MedicationRequest/rifampin" in finding.order_refs


def test_unrelated_order_for_a_patient_on_zongertinib_with_rifampin_is_silent_at_orders() -> None:
    patient = untreated_exon20(
        exposures=(zongertinib_course(),), co_medications=(RIFAMPIN,), draft_orders=(STATIN,)
    )
    assert RULE not in rule_ids(patient, OS)
    assert RULE in rule_ids(patient, PV)


def test_can_be_switched_off() -> None:
    patient = exon20_after_platinum(co_medications=(ITRACONAZOLE,), draft_orders=(seva_order(),))
    settings = ClinicalSettings(disabled_rules=frozenset({RULE}))
    assert RULE not in rule_ids(patient, SG, settings)

"""The registry holds exactly the rules of clinical-rules.md section 6, with their hooks;
``evaluate`` orders and de-duplicates the findings."""

from __future__ import annotations

from datetime import date

from cds_service.rules import REGISTRY, evaluate
from cds_service.settings import ClinicalSettings
from cds_service.wire import Hook, Indicator
from fhir_mappings.model import DoseUnit, Drug
from tests.rules.patients import (
    SG,
    STATIN,
    exon20_after_platinum,
    ild,
    on_tdxd_second_line,
    order,
    rule_ids,
)

PV, OS = "patient-view", "order-select"
SIGN = "order-sign"
ALL = {PV, OS, SIGN}
ORDERS = {OS, SIGN}

SPEC_RULES: dict[str, set[str]] = {
    # 6.1 Testing
    "test-broad-ngs": ALL,
    "test-tissue-after-plasma": {PV},
    "test-her2-ihc": {PV},
    "test-retest-on-resistance": {PV},
    "test-vus": ALL,
    # 6.2 Sequencing
    "seq-first-line-tkd": ALL,
    "seq-first-line-cns": {PV},
    "seq-after-platinum": ALL,
    "seq-non-tkd": ALL,
    "seq-ihc3": ALL,
    "seq-amplification-only": {PV},
    "seq-after-zongertinib": ALL,
    "seq-after-tdxd": {PV},
    "seq-tki-after-tki": ORDERS,
    "seq-ici-monotherapy": ORDERS,
    "seq-adc-tki-together": ORDERS,
    "seq-not-her2-agent": ORDERS,
    "seq-off-label-tki": ORDERS,
    "seq-off-label-tdxd": ORDERS,
    # 6.3 ILD / pneumonitis
    "ild-suspected-on-tdxd": ALL,
    "ild-grade1-tdxd": ALL,
    "ild-grade2-tdxd": ALL,
    "ild-history-before-tdxd": ORDERS,
    "ild-on-tki": ALL,
    "ild-baseline-imaging": ORDERS,
    "ild-vigilance": ALL,
    # 6.4 Other safety and dose checks
    "dose-tdxd": ORDERS,
    "dose-zongertinib": ORDERS,
    "cardiac-lvef": ALL,
    "hepatic-tki": ALL,
    "neutropenia-tdxd": ORDERS,
    # 9.2 new checks (version 2), by module: tdm1, adc, pregnancy, interactions, sevabertinib
    "dose-tdm1": ORDERS,
    "tdm1-safety": ALL,
    "her2-adc-not-interchangeable": ORDERS,
    "thrombocytopenia-tdxd": ORDERS,
    "embryo-fetal": ORDERS,
    "interaction-cyp3a-tki": ALL,
    "start-sevabertinib": ORDERS,
    "dose-sevabertinib": ORDERS,
    # 9.1 drug identity: the safety net for coded orders no code identifies
    "order-drug-not-identified": ORDERS,
}


def test_registry_holds_exactly_the_spec_rules_in_spec_order() -> None:
    assert [r.id for r in REGISTRY] == list(SPEC_RULES)


def test_each_rule_serves_the_spec_hooks() -> None:
    for r in REGISTRY:
        assert {h.value for h in r.hooks} == SPEC_RULES[r.id], r.id


def test_each_rule_has_a_citation_title_and_confidence() -> None:
    for r in REGISTRY:
        assert r.citation.label, r.id
        assert r.title, r.id
        assert r.confidence, r.id
        assert r.indicators, r.id


def test_rules_with_unverified_rows_are_tagged() -> None:
    tagged = [r.id for r in REGISTRY if any(c.value == "?" for c in r.confidence)]
    assert tagged == [
        "ild-on-tki",
        "dose-zongertinib",
        "cardiac-lvef",
        "hepatic-tki",
        "neutropenia-tdxd",
        "thrombocytopenia-tdxd",
        "embryo-fetal",
        "interaction-cyp3a-tki",
    ]


def test_findings_are_ordered_critical_warning_info() -> None:
    patient = exon20_after_platinum(
        ild_episodes=(ild(date(2026, 5, 2), grade=2, resolved=date(2026, 6, 10)),),
        draft_orders=(
            order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=5.4),
            order(Drug.ZONGERTINIB, "zong", dose=120, unit=DoseUnit.MG),
        ),
    )
    urgencies = [
        f.indicator.urgency for f in evaluate(patient, Hook.ORDER_SIGN, ClinicalSettings())
    ]
    assert urgencies == sorted(urgencies, reverse=True)
    assert urgencies[0] >= Indicator.WARNING.urgency


def test_no_duplicate_cards() -> None:
    patient = on_tdxd_second_line(
        draft_orders=(order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=6.4),)
    )
    findings = evaluate(patient, SG, ClinicalSettings())
    keys = [(f.rule_id, f.order_refs) for f in findings]
    assert len(keys) == len(set(keys))


def test_non_oncology_orders_get_no_cards() -> None:
    assert rule_ids(on_tdxd_second_line(draft_orders=(STATIN,)), SG) == []


def test_order_select_speaks_about_the_selected_orders_only() -> None:
    unselected_tdxd = order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=6.4, selected=False)
    patient = on_tdxd_second_line(draft_orders=(unselected_tdxd, STATIN))
    assert rule_ids(patient, Hook.ORDER_SELECT) == []
    signed = on_tdxd_second_line(
        draft_orders=(order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=6.4), STATIN)
    )
    assert rule_ids(signed, Hook.ORDER_SIGN) == ["dose-tdxd"]

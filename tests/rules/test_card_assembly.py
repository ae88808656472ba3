"""Version 2 "all" rows (clinical-rules.md 9.1): identical cards once, a critical card never
hides a second reason to hold the same drug, no dose update on a drug identified by text."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from flask.testing import FlaskClient

from cds_service.cards import CardContext, render_cards
from cds_service.pipeline import card_identity
from cds_service.rules import TEXT_DOSE_NOTE, evaluate
from cds_service.rules.base import ChangeDose
from cds_service.settings import ClinicalSettings, Settings
from cds_service.wire import Hook, Indicator
from fhir_mappings.model import (
    ComorbidityKind,
    DoseUnit,
    Drug,
    MatchedBy,
    Measurement,
    MeasurementKind,
    PatientModel,
)
from tests.rules import fhir
from tests.rules.make_fixtures import ON_TDXD
from tests.rules.patients import (
    ANC_NORMAL,
    LVEF_60,
    SG,
    WEIGHT_72,
    comorbidity,
    findings_of,
    ild,
    on_tdxd_second_line,
    order,
    rule_ids,
    untreated_exon20,
)

TDXD = Drug.TRASTUZUMAB_DERUXTECAN
BASELINE = replace(LVEF_60, date=date(2026, 7, 20))
LVEF_38 = Measurement(
    MeasurementKind.LVEF, 38.0, "%", date(2026, 11, 12), sources=("Observation/lvef-now",)
)


def with_labs(*labs: Measurement, **changes: object) -> PatientModel:
    return on_tdxd_second_line(
        measurements=(WEIGHT_72, BASELINE, *labs),
        draft_orders=(order(TDXD, "t", dose=5.4),),
        **changes,
    )


def test_a_critical_lvef_hold_lists_the_low_anc_it_supersedes() -> None:
    patient = with_labs(LVEF_38, replace(ANC_NORMAL, value=0.8))
    ids = rule_ids(patient, SG)
    assert "cardiac-lvef" in ids
    assert "neutropenia-tdxd" not in ids  # superseded by the critical hold ...
    [card] = findings_of("cardiac-lvef", patient, SG)
    [reason] = card.other_reasons  # ... but named on it
    assert reason.text.startswith("ANC 0.8 x10^9/L on 2026-11-19: hold T-DXd")
    assert "`neutropenia-tdxd`" in reason.text
    assert "Observation/anc" in reason.sources


def test_two_critical_holds_of_the_same_drug_are_both_sent() -> None:
    patient = with_labs(LVEF_38, replace(ANC_NORMAL, value=0.4))
    findings = [f for f in evaluate(patient, SG, ClinicalSettings()) if f.drug is TDXD]
    critical = [f.rule_id for f in findings if f.indicator is Indicator.CRITICAL]
    assert sorted(critical) == ["cardiac-lvef", "neutropenia-tdxd"]


def test_a_permanent_discontinuation_lists_the_temporary_holds_it_supersedes() -> None:
    episode = ild(date(2026, 9, 10), grade=2, resolved=date(2026, 10, 15), on_tdxd=True)
    patient = with_labs(LVEF_38, ild_episodes=(episode,))
    ids = rule_ids(patient, SG)
    assert "ild-grade2-tdxd" in ids
    assert "cardiac-lvef" not in ids
    [card] = findings_of("ild-grade2-tdxd", patient, SG)
    assert [r.text.split(":")[0] for r in card.other_reasons] == [
        "LVEF 38 % on 2026-11-12, 22 points below baseline"
    ]


def test_reminders_are_not_listed_as_reasons() -> None:
    episode = ild(date(2026, 11, 10), on_tdxd=True)  # suspected: critical hold
    patient = with_labs(
        replace(ANC_NORMAL),
        ild_episodes=(episode,),
        comorbidities=(comorbidity(ComorbidityKind.COPD),),
    )
    [card] = findings_of("ild-suspected-on-tdxd", patient, SG)
    assert "ild-vigilance" not in rule_ids(patient, SG)
    assert card.other_reasons == ()


def test_identical_findings_are_sent_once_about_both_orders() -> None:
    patient = on_tdxd_second_line(
        comorbidities=(comorbidity(ComorbidityKind.COPD),),
        draft_orders=(order(TDXD, "a", dose=5.4), order(TDXD, "b", dose=5.4)),
    )
    [card] = findings_of("ild-vigilance", patient, SG)
    assert card.order_refs == ("MedicationRequest/a", "MedicationRequest/b")


def test_findings_with_different_suggestions_are_not_identical() -> None:
    patient = on_tdxd_second_line(
        measurements=(WEIGHT_72, BASELINE, replace(ANC_NORMAL, value=0.8)),
        draft_orders=(order(TDXD, "a", dose=5.4), order(TDXD, "b", dose=5.4)),
    )
    assert len(findings_of("neutropenia-tdxd", patient, SG)) == 2  # each deletes its own order


def test_no_dose_update_on_a_drug_identified_by_text() -> None:
    by_text = replace(
        order(Drug.ZONGERTINIB, "z", dose=180, unit=DoseUnit.MG), matched_by=MatchedBy.TEXT
    )
    [finding] = findings_of("dose-zongertinib", untreated_exon20(draft_orders=(by_text,)), SG)
    assert finding.indicator is Indicator.WARNING
    assert finding.proposals == ()
    assert finding.selection is None
    assert TEXT_DOSE_NOTE in finding.uncertainties


def test_a_coded_drug_keeps_its_dose_update() -> None:
    coded = order(Drug.ZONGERTINIB, "z", dose=180, unit=DoseUnit.MG)
    [finding] = findings_of("dose-zongertinib", untreated_exon20(draft_orders=(coded,)), SG)
    assert isinstance(finding.proposals[0].actions[0], ChangeDose)


def _render(patient: PatientModel, hook: Hook) -> list[dict[str, Any]]:
    settings = Settings()
    findings = evaluate(patient, hook, settings.clinical)
    context = CardContext(hook, "d1e6b1f4-6a0c-4f39-9c37-0c0b9c0f3a11", "p1")
    cards = render_cards(findings, context=context, settings=settings)
    return [c.model_dump(mode="json", exclude_none=True) for c in cards]


def test_the_card_detail_lists_the_other_reasons_and_the_repeat_has_a_due_date() -> None:
    [card] = [
        c
        for c in _render(with_labs(LVEF_38, replace(ANC_NORMAL, value=0.8)), SG)
        if c["source"]["topic"]["code"] == "cardiac-lvef"
    ]
    assert "**Other current reasons to hold or change this drug**" in card["detail"]
    assert "- ANC 0.8 x10^9/L on 2026-11-19" in card["detail"]
    [repeat] = [s for s in card["suggestions"] if s["label"].startswith("Repeat LVEF")]
    [action] = repeat["actions"]
    assert action["resource"]["occurrencePeriod"] == {"end": "2026-12-03"}
    assert action["description"] == "Draft request: Echocardiogram, by 2026-12-03"


def test_card_identity_ignores_uuids_only() -> None:
    card = {
        "uuid": "1",
        "summary": "s",
        "indicator": "info",
        "source": {"label": "x", "topic": {"code": "ild-vigilance"}},
        "suggestions": [{"label": "a", "uuid": "u1", "actions": []}],
    }
    twin = {**card, "uuid": "2", "suggestions": [{"label": "a", "uuid": "u2", "actions": []}]}
    other = {**card, "indicator": "warning"}
    assert card_identity(card) == card_identity(twin)
    assert card_identity(card) != card_identity(other)


def test_over_http_two_identical_t_dxd_drafts_get_one_vigilance_card(client: FlaskClient) -> None:
    body = fhir.request(
        "dup-1",
        "order-sign",
        [*ON_TDXD, fhir.copd()],
        drafts=[fhir.draft_tdxd("tdxd-a"), fhir.draft_tdxd("tdxd-b")],
    )
    response = client.post("/cds-services/her2-nsclc-order-sign", json=body)
    assert response.status_code == 200
    cards = response.get_json()["cards"]
    topics = [c["source"]["topic"]["code"] for c in cards]
    assert topics.count("ild-vigilance") == 1
    identities = [card_identity(c) for c in cards]
    assert len(identities) == len(set(identities))

"""Card rendering: wire shape, FHIR actions, stable uuids, citations and wording."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from cds_service.cards import CardContext, render_cards
from cds_service.rules import evaluate
from cds_service.selfcheck import check_response
from cds_service.settings import ClinicalSettings, OrderIntent, Settings
from cds_service.wire import Card, Hook
from fhir_mappings.model import DoseUnit, Drug, PatientModel
from tests.rules.patients import (
    exon20_after_platinum,
    ild,
    on_tdxd_second_line,
    order,
    untreated_exon20,
)

SETTINGS = Settings()
OVERRIDE_SYSTEM = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"
VERIFIED_OVERRIDE_CODES = {
    "cds-not-applicable": "PC CDS does not apply to patient",
    "patient-ineligible": "Patient does not meet eligibility for recommended action",
    "indication-order-exists": "Patient has indication/order for intended action",
    "action-completed": "Recommended action was already completed",
    "need-more-info": "Could not address recommended action due to need for more "
    "information/pending results/pending consult",
    "expert-contradicts": "Advice from expert contradicts the recommended action",
    "risk-benefit-ratio": "Recipient assessment of risk/benefit ratio",
    "prefers-alternative": "Patient prefers an alternative approach or treatment",
    "service-not-available": "Treatment or service is not practically available",
}

TDXD_DRAFT: dict[str, Any] = {
    "resourceType": "MedicationRequest",
    "id": "tdxd",
    "status": "draft",
    "intent": "order",
    "subject": {"reference": "Patient/p1"},
    "medicationCodeableConcept": {"text": "Enhertu"},
    "dosageInstruction": [
        {
            "text": "6.4 mg/kg IV every 3 weeks",
            "timing": {"repeat": {"frequency": 1, "period": 3, "periodUnit": "wk"}},
            "doseAndRate": [{"doseQuantity": {"value": 6.4, "unit": "mg/kg"}}],
        }
    ],
}


def render(
    patient: PatientModel,
    hook: Hook,
    *,
    drafts: dict[str, dict[str, Any]] | None = None,
    hook_instance: str = "d1e6b1f4-6a0c-4f39-9c37-0c0b9c0f3a11",
    settings: Settings = SETTINGS,
) -> list[dict[str, Any]]:
    """``drafts``: the draft orders as sent, by reference (the mapping keeps them on the
    model's draft orders, as ``DraftOrder.resource``)."""
    sent = drafts or {}
    orders = tuple(replace(o, resource=sent.get(o.reference)) for o in patient.draft_orders)
    findings = evaluate(replace(patient, draft_orders=orders), hook, settings.clinical)
    context = CardContext(hook, hook_instance, "p1")
    cards = render_cards(findings, context=context, settings=settings)
    return [c.model_dump(mode="json", exclude_none=True) for c in cards]


def card_for(cards: list[dict[str, Any]], rule_id: str) -> dict[str, Any]:
    [card] = [c for c in cards if c["source"]["topic"]["code"] == rule_id]
    return card


def all_actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for s in card.get("suggestions", []) for a in s["actions"]]


def test_first_line_card_shape() -> None:
    card = card_for(render(untreated_exon20(), Hook.PATIENT_VIEW), "seq-first-line-tkd")
    assert card["indicator"] == "info"
    assert card["source"]["topic"] == {
        "system": "urn:her2-nsclc-cds:rule-id",
        "code": "seq-first-line-tkd",
        "display": "First line for a HER2 TKD-activating mutation",
    }
    assert card["source"]["url"].startswith("https://dailymed.nlm.nih.gov/")
    assert card["selectionBehavior"] == "at-most-one"
    # version 2: the platinum doublet is named in the detail, never drafted
    assert [s.get("isRecommended", False) for s in card["suggestions"]] == [True]
    assert "platinum doublet" in card["detail"]
    zongertinib = card["suggestions"][0]["actions"][0]["resource"]
    assert zongertinib == {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "zongertinib (Hernexeos)"},
        "dosageInstruction": [
            {
                "text": "120 mg orally once daily",
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "route": {"text": "Oral"},
                "doseAndRate": [
                    {
                        "doseQuantity": {
                            "value": 120,
                            "unit": "mg",
                            "system": "http://unitsofmeasure.org",
                            "code": "mg",
                        }
                    }
                ],
            }
        ],
    }
    assert "Knowledge base as of 2026-04-06" in card["detail"]
    assert "`Observation/erbb2-variant`" in card["detail"]
    assert "confirm the ERBB2 mutation with an FDA-approved test" in card["detail"]


def test_order_intent_comes_from_settings() -> None:
    settings = SETTINGS.model_copy(
        update={"clinical": ClinicalSettings(order_intent=OrderIntent.ORDER)}
    )
    card = card_for(
        render(untreated_exon20(), Hook.PATIENT_VIEW, settings=settings), "seq-first-line-tkd"
    )
    assert {a["resource"]["intent"] for a in all_actions(card)} == {"order"}


def test_t_dxd_suggestion_carries_the_verified_rxnorm_codes_only() -> None:
    card = card_for(render(exon20_after_platinum(), Hook.PATIENT_VIEW), "seq-after-platinum")
    resources = [a["resource"] for a in all_actions(card)]
    tdxd = next(r for r in resources if "Enhertu" in r["medicationCodeableConcept"]["text"])
    assert tdxd["medicationCodeableConcept"]["coding"] == [
        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "2267576"},
        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "2267581"},
    ]
    assert tdxd["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 5.4
    others = [r for r in resources if r is not tdxd]
    assert all("coding" not in r["medicationCodeableConcept"] for r in others)
    sevabertinib = next(
        r for r in others if "sevabertinib" in r["medicationCodeableConcept"]["text"]
    )
    assert sevabertinib["dosageInstruction"][0]["text"] == "20 mg orally twice daily with food"
    assert sevabertinib["dosageInstruction"][0]["additionalInstruction"] == [
        {"text": "Take with food"}
    ]
    assert "**Lines of therapy, as derived from the record**" in card["detail"]
    assert "| 1 | T-DXd" not in card["detail"]
    assert "| 1 | carboplatin, pembrolizumab, pemetrexed | platinum |" in card["detail"]


def test_update_keeps_the_draft_as_sent_and_replaces_the_dose() -> None:
    patient = on_tdxd_second_line(
        draft_orders=(order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=6.4),)
    )
    cards = render(patient, Hook.ORDER_SIGN, drafts={"MedicationRequest/tdxd": TDXD_DRAFT})
    [action] = all_actions(card_for(cards, "dose-tdxd"))
    assert action["type"] == "update"
    expected = {**TDXD_DRAFT}
    expected["dosageInstruction"] = [
        {
            "text": "5.4 mg/kg intravenously every 3 weeks",
            "timing": {"repeat": {"frequency": 1, "period": 3, "periodUnit": "wk"}},
            "doseAndRate": [
                {
                    "doseQuantity": {
                        "value": 5.4,
                        "unit": "mg/kg",
                        "system": "http://unitsofmeasure.org",
                        "code": "mg/kg",
                    }
                }
            ],
            "route": {"text": "Intravenous"},
        }
    ]
    assert action["resource"] == expected
    assert TDXD_DRAFT["dosageInstruction"][0]["text"] == "6.4 mg/kg IV every 3 weeks"  # not mutated


def test_update_tolerates_dose_quantity_directly_under_the_dosage() -> None:
    draft = {**TDXD_DRAFT, "dosageInstruction": {"doseQuantity": {"value": 6.4, "unit": "mg/kg"}}}
    patient = on_tdxd_second_line(
        draft_orders=(order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=6.4),)
    )
    cards = render(patient, Hook.ORDER_SIGN, drafts={"MedicationRequest/tdxd": draft})
    [action] = all_actions(card_for(cards, "dose-tdxd"))
    [dosage] = action["resource"]["dosageInstruction"]
    assert "doseQuantity" not in dosage
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 5.4


def test_update_is_left_out_when_the_draft_was_not_sent() -> None:
    patient = on_tdxd_second_line(
        draft_orders=(order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=6.4),)
    )
    card = card_for(render(patient, Hook.ORDER_SIGN), "dose-tdxd")
    assert "suggestions" not in card
    assert "selectionBehavior" not in card


def test_delete_uses_resource_id_only() -> None:
    patient = on_tdxd_second_line(
        ild_episodes=(ild(date(2026, 9, 10), on_tdxd=True),),
        draft_orders=(order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=5.4),),
    )
    card = card_for(render(patient, Hook.ORDER_SIGN), "ild-suspected-on-tdxd")
    delete = card["suggestions"][0]["actions"][0]
    assert delete == {
        "type": "delete",
        "description": "Remove the draft T-DXd order (MedicationRequest/tdxd)",
        "resourceId": "MedicationRequest/tdxd",
    }
    assert card["indicator"] == "critical"
    requests = [a["resource"] for a in all_actions(card) if a["type"] == "create"]
    assert [r["code"] for r in requests] == [
        {"text": "CT chest (high resolution)"},
        {"text": "Pulmonology referral"},
    ]


def test_her2_ihc_request_carries_loinc_18474_7() -> None:
    from tests.rules.test_testing import AFTER_FIRST_LINE_NO_DRIVER

    card = card_for(render(AFTER_FIRST_LINE_NO_DRIVER, Hook.PATIENT_VIEW), "test-her2-ihc")
    [action] = all_actions(card)
    assert action["resource"]["code"] == {
        "text": "HER2 immunohistochemistry (tissue)",
        "coding": [{"system": "http://loinc.org", "code": "18474-7"}],
    }
    assert action["resource"]["status"] == "draft"


def test_uuids_are_stable_for_the_same_input_and_differ_across_hook_instances() -> None:
    first = render(exon20_after_platinum(), Hook.PATIENT_VIEW)
    again = render(exon20_after_platinum(), Hook.PATIENT_VIEW)
    other = render(exon20_after_platinum(), Hook.PATIENT_VIEW, hook_instance="another")
    assert [c["uuid"] for c in first] == [c["uuid"] for c in again]
    assert [s["uuid"] for c in first for s in c.get("suggestions", [])] == [
        s["uuid"] for c in again for s in c.get("suggestions", [])
    ]
    assert {c["uuid"] for c in first}.isdisjoint({c["uuid"] for c in other})


def test_override_reasons_are_verified_codes_with_their_displays() -> None:
    cards = render(
        exon20_after_platinum(
            draft_orders=(order(Drug.AMIVANTAMAB, "ami", dose=1050, unit=DoseUnit.MG),)
        ),
        Hook.ORDER_SIGN,
    )
    reasons = [r for c in cards for r in c.get("overrideReasons", [])]
    assert reasons
    for reason in reasons:
        assert reason["system"] == OVERRIDE_SYSTEM
        assert VERIFIED_OVERRIDE_CODES[reason["code"]] == reason["display"]


SCENARIOS: list[tuple[PatientModel, Hook]] = [
    (untreated_exon20(), Hook.PATIENT_VIEW),
    (exon20_after_platinum(), Hook.PATIENT_VIEW),
    (
        exon20_after_platinum(
            draft_orders=(order(Drug.DOCETAXEL, "d", dose=130, unit=DoseUnit.MG),)
        ),
        Hook.ORDER_SELECT,
    ),
    (
        exon20_after_platinum(
            draft_orders=(order(Drug.SEVABERTINIB, "s", dose=20, unit=DoseUnit.MG),)
        ),
        Hook.ORDER_SIGN,
    ),
    (
        exon20_after_platinum(
            draft_orders=(order(Drug.POZIOTINIB, "p", dose=16, unit=DoseUnit.MG),)
        ),
        Hook.ORDER_SIGN,
    ),
    (
        on_tdxd_second_line(
            ild_episodes=(
                ild(date(2026, 9, 10), grade=1, resolved=date(2026, 10, 15), on_tdxd=True),
            ),
            draft_orders=(order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=5.4),),
        ),
        Hook.ORDER_SIGN,
    ),
]


@pytest.mark.parametrize(("patient", "hook"), SCENARIOS)
def test_every_card_passes_the_self_check_and_the_wording_rules(
    patient: PatientModel, hook: Hook
) -> None:
    cards = render(patient, hook, drafts={"MedicationRequest/tdxd": TDXD_DRAFT})
    assert cards
    assert check_response({"cards": cards}) == []
    for card in cards:
        Card.model_validate(card)
        assert len(card["summary"]) < 140
        text = (card["summary"] + card["detail"]).lower()
        assert "boxed warning" not in text or "t-dxd" in text or "t-dm1" in text
        for action in all_actions(card):
            if (
                action["type"] == "create"
                and action["resource"]["resourceType"] == "MedicationRequest"
            ):
                name = action["resource"]["medicationCodeableConcept"]["text"].lower()
                assert not any(bad in name for bad in ("amivantamab", "mobocertinib", "poziotinib"))

"""The ten clinical vignettes of the rules issue, end to end through HTTP.

Each vignette (``tests/vignettes/*.json``) is a CDS Hooks request with the patient's FHIR
record in ``prefetch``; the live server runs the real app with today = 2026-11-21.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from cds_service.selfcheck import check_response
from tests.conftest import LiveServer
from tests.requests import with_empty_adverse_events

VIGNETTES = Path(__file__).resolve().parent / "vignettes"
SERVICE = {
    "patient-view": "her2-nsclc-patient-view",
    "order-select": "her2-nsclc-order-select",
    "order-sign": "her2-nsclc-order-sign",
}
ENHERTU_RXNORM = [
    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "2267576"},
    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "2267581"},
]


def call(server: LiveServer, name: str) -> list[dict[str, Any]]:
    request = with_empty_adverse_events(json.loads((VIGNETTES / f"{name}.json").read_text()))
    response = requests.post(
        f"{server.url}/cds-services/{SERVICE[request['hook']]}", json=request, timeout=10
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert check_response(body) == []
    cards: list[dict[str, Any]] = body["cards"]
    return cards


def rule_of(card: dict[str, Any]) -> str:
    return str(card["source"]["topic"]["code"])


def only(cards: list[dict[str, Any]], rule_id: str) -> dict[str, Any]:
    [card] = [c for c in cards if rule_of(c) == rule_id]
    return card


def actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for s in card.get("suggestions", []) for a in s["actions"]]


def medication_texts(card: dict[str, Any]) -> list[str]:
    return [
        a["resource"]["medicationCodeableConcept"]["text"]
        for a in actions(card)
        if a["type"] == "create" and a["resource"]["resourceType"] == "MedicationRequest"
    ]


def test_v01_exon20_untreated_gets_zongertinib_120_mg_first_line(live_server: LiveServer) -> None:
    cards = call(live_server, "v01_exon20_untreated_72kg_patient_view")
    assert [rule_of(c) for c in cards] == ["seq-first-line-tkd"]
    [card] = cards
    assert card["indicator"] == "info"
    # version 2: the platinum doublet is named in the detail, never drafted drug by drug
    assert [s["label"] for s in card["suggestions"]] == [
        "Zongertinib 120 mg once daily (weight 72 kg)"
    ]
    assert medication_texts(card) == ["zongertinib (Hernexeos)"]
    assert "platinum doublet" in card["detail"]
    assert "FDA-authorized test" in card["detail"]
    recommended = [s for s in card["suggestions"] if s.get("isRecommended")]
    assert [s["label"] for s in recommended] == ["Zongertinib 120 mg once daily (weight 72 kg)"]
    [create] = recommended[0]["actions"]
    dosage = create["resource"]["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 120
    assert dosage["timing"]["repeat"] == {"frequency": 1, "period": 1, "periodUnit": "d"}
    assert "2026-02-26" in card["detail"]


def test_v02_after_platinum_t_dxd_selected_gets_baseline_ct_and_no_instead_options(
    live_server: LiveServer,
) -> None:
    cards = call(live_server, "v02_exon20_after_platinum_order_select_tdxd")
    # version 2: T-DXd is a preferred choice after platinum, so seq-after-platinum is silent
    topics = [rule_of(c) for c in cards]
    assert "seq-after-platinum" not in topics
    assert "ild-baseline-imaging" in topics
    assert not any(c.get("suggestions") and "Instead" in str(c["suggestions"]) for c in cards)
    assert not any(rule_of(c).startswith("ild-") and c["indicator"] != "info" for c in cards)
    [ct] = actions(only(cards, "ild-baseline-imaging"))
    assert ct["resource"]["code"] == {"text": "CT chest (high resolution)"}


def test_v03_prior_pneumonitis_t_dxd_signed_gets_ild_history_warning(
    live_server: LiveServer,
) -> None:
    cards = call(live_server, "v03_prior_pembrolizumab_pneumonitis_order_sign_tdxd")
    card = only(cards, "ild-history-before-tdxd")
    assert card["indicator"] == "warning"
    assert "seq-after-platinum" not in [rule_of(c) for c in cards]  # alternatives are here
    labels = [s["label"] for s in card["suggestions"]]
    assert labels == [
        "Keep T-DXd and order a baseline chest CT",
        "Instead: Zongertinib 120 mg once daily (weight 72 kg)",
        "Instead: Sevabertinib 20 mg twice daily with food",
    ]
    assert card["selectionBehavior"] == "at-most-one"
    assert "`Condition/pneumonitis-pembro`" in card["detail"]
    assert "Both HER2 TKIs (zongertinib, sevabertinib) also carry" in card["detail"]


def test_v04_new_pneumonitis_on_t_dxd_holds_the_next_cycle(live_server: LiveServer) -> None:
    cards = call(live_server, "v04_new_pneumonitis_on_tdxd_order_sign_next_cycle")
    assert [rule_of(c) for c in cards] == ["ild-suspected-on-tdxd"]
    [card] = cards
    assert card["indicator"] == "critical"
    hold = card["suggestions"][0]
    assert hold["isRecommended"] is True
    assert hold["actions"] == [
        {
            "type": "delete",
            "description": "Remove the draft T-DXd order (MedicationRequest/tdxd-draft)",
            "resourceId": "MedicationRequest/tdxd-draft",
        }
    ]
    assert "grade not recorded" in card["summary"]


def test_v05_grade1_resolved_after_35_days_updates_the_dose_to_4_4(
    live_server: LiveServer,
) -> None:
    cards = call(live_server, "v05_grade1_ild_resolved_after_35_days_order_sign_5_4")
    card = only(cards, "ild-grade1-tdxd")
    assert card["summary"] == (
        "Grade 1 ILD on T-DXd resolved after 35 days: dose must be 4.4 mg/kg, not 5.4"
    )
    [update] = actions(card)
    assert update["type"] == "update"
    resource = update["resource"]
    assert resource["id"] == "tdxd-draft"
    assert resource["status"] == "draft"
    dose = resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
    assert (dose["value"], dose["code"]) == (4.4, "mg/kg")
    assert "dose-tdxd" not in [rule_of(c) for c in cards]


def test_v06_ihc3_patient_view_then_zongertinib_selected(live_server: LiveServer) -> None:
    [overview] = call(live_server, "v06a_her2_ihc3_after_chemotherapy_patient_view")
    assert rule_of(overview) == "seq-ihc3"
    [tdxd] = actions(overview)
    assert tdxd["resource"]["medicationCodeableConcept"]["coding"] == ENHERTU_RXNORM
    assert (
        tdxd["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 5.4
    )

    cards = call(live_server, "v06b_her2_ihc3_after_chemotherapy_order_select_zongertinib")
    warning = only(cards, "seq-off-label-tki")
    assert warning["indicator"] == "warning"
    assert medication_texts(warning) == ["T-DXd (fam-trastuzumab deruxtecan-nxki, Enhertu)"]


def test_v07_sevabertinib_after_zongertinib_progression(live_server: LiveServer) -> None:
    cards = call(live_server, "v07_progression_on_zongertinib_order_select_sevabertinib")
    assert [rule_of(c) for c in cards] == ["seq-tki-after-tki", "start-sevabertinib"]
    assert "seq-after-zongertinib" not in [rule_of(c) for c in cards]
    card = only(cards, "seq-tki-after-tki")
    assert card["indicator"] == "info"
    assert "no data" in card["summary"]
    assert "were not in the labeled study population" in card["detail"]
    assert [a["type"] for a in actions(card)] == ["delete", "delete", "create"]
    assert not any(s.get("isRecommended") for s in card["suggestions"])
    start = only(cards, "start-sevabertinib")  # 9.1: no longer silenced by seq-tki-after-tki
    assert start["indicator"] == "info"
    assert "20 mg twice daily with food" in start["summary"]


def test_v08_no_molecular_results_carboplatin_selected(live_server: LiveServer) -> None:
    cards = call(live_server, "v08_no_molecular_results_order_select_carboplatin")
    card = only(cards, "test-broad-ngs")
    assert card["indicator"] == "warning"
    requests_made = [a["resource"] for a in actions(card)]
    assert [r["resourceType"] for r in requests_made] == ["ServiceRequest", "ServiceRequest"]
    assert [r["code"]["text"] for r in requests_made] == [
        "Broad NGS panel (tissue)",
        "Plasma ctDNA NGS",
    ]
    assert {r["status"] for r in requests_made} == {"draft"}


def test_v09_t_dxd_at_6_4_is_updated_to_5_4(live_server: LiveServer) -> None:
    cards = call(live_server, "v09_tdxd_ordered_at_6_4_mg_per_kg")
    card = only(cards, "dose-tdxd")
    assert card["indicator"] == "warning"
    [update] = actions(card)
    assert update["type"] == "update"
    dose = update["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
    assert dose["value"] == 5.4


def test_v10_zongertinib_120_mg_at_95_kg_with_raised_alt(live_server: LiveServer) -> None:
    cards = call(live_server, "v10_zongertinib_120mg_at_95kg_with_alt_4x_uln")
    assert sorted(rule_of(c) for c in cards) == ["dose-zongertinib", "hepatic-tki"]
    dose = only(cards, "dose-zongertinib")
    # Version 2: 120 mg is a label reduction level, so a first order at it is info only.
    assert dose["indicator"] == "info"
    # The draft names zongertinib in text only (no drug code): no dose update (9.1).
    assert actions(dose) == []
    assert "identified from its text, not from a drug code" in dose["detail"]
    liver = only(cards, "hepatic-tki")
    # Before the first dose: the raised value is stated, no start threshold is invented.
    assert (
        liver["summary"] == "Zongertinib ordered with raised baseline liver tests (ALT 4.0 x ULN)"
    )
    assert "3 x ULN" not in liver["summary"]
    assert "suggestions" not in liver  # a recent panel exists
    for card in cards:
        assert "boxed warning" not in (card["summary"] + card["detail"]).lower()

"""The EHR capability profile (CDS_EHR_PROFILE): card shapes in ``standard`` and in
``single-action`` (what Epic honours), every card valid CDS Hooks in both.

The whole request corpus (golden fixtures and vignettes) is answered in both profiles.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.app import create_app
from cds_service.selfcheck import check_response
from cds_service.settings import EhrProfile, Settings
from tests.conftest import FIXED_TODAY
from tests.requests import with_empty_adverse_events

TESTS = Path(__file__).resolve().parent
REQUESTS = sorted((TESTS / "rules" / "fixtures").glob("*.json")) + sorted(
    (TESTS / "vignettes").glob("*.json")
)
DOSE_CHANGE = TESTS / "vignettes" / "v09_tdxd_ordered_at_6_4_mg_per_kg.json"


def profile_app(settings: Settings, profile: EhrProfile) -> Iterator[Flask]:
    app = create_app(
        settings.model_copy(update={"ehr_profile": profile}), today=lambda: FIXED_TODAY
    )
    yield app
    parts = app.extensions["cds_service"]
    parts.resolver.close()
    parts.store.close()


@pytest.fixture
def standard(settings: Settings) -> Iterator[Flask]:
    yield from profile_app(settings, EhrProfile.STANDARD)


@pytest.fixture
def single(settings: Settings) -> Iterator[Flask]:
    yield from profile_app(settings, EhrProfile.SINGLE_ACTION)


def answer(app: Flask, path: Path) -> dict[str, Any]:
    request = with_empty_adverse_events(json.loads(path.read_text()))
    response = app.test_client().post(f"/cds-services/her2-nsclc-{request['hook']}", json=request)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    assert check_response(body) == [], path.name
    return body


def suggesting(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [card for card in body["cards"] if card.get("suggestions")]


def test_the_profile_is_read_from_the_environment() -> None:
    assert Settings.from_env({}).ehr_profile is EhrProfile.STANDARD
    chosen = Settings.from_env({"CDS_EHR_PROFILE": "single-action"})
    assert chosen.ehr_profile is EhrProfile.SINGLE_ACTION


def test_single_action_cards_have_one_action_per_suggestion_any_and_no_update(
    single: Flask, standard: Flask
) -> None:
    """Epic's shape: one action per suggestion, selectionBehavior any, no update."""
    split = 0
    for path in REQUESTS:
        plain, flat = answer(standard, path), answer(single, path)
        assert [c["summary"] for c in flat["cards"]] == [c["summary"] for c in plain["cards"]]
        for card in suggesting(flat):
            assert card["selectionBehavior"] == "any", path.name
            for suggestion in card["suggestions"]:
                assert len(suggestion["actions"]) == 1, (path.name, suggestion["label"])
                assert suggestion["actions"][0]["type"] != "update", path.name
            uuids = [s["uuid"] for s in card["suggestions"]]
            assert len(set(uuids)) == len(uuids)
        split += sum(len(c["suggestions"]) for c in suggesting(flat)) > sum(
            len(c["suggestions"]) for c in suggesting(plain)
        )
        for before, after in zip(plain["cards"], flat["cards"], strict=True):
            # Nothing is lost: each removal once, each creation, and each update as a
            # removal and a creation.
            old, new = _actions(before), _actions(after)
            assert new["delete"] == old["delete"] | old["update"], path.name
            assert len(new["create"]) == len(old["create"]) + len(old["update"]), path.name
    assert split >= 3  # multi-action proposals of the corpus were split


def _actions(card: dict[str, Any]) -> dict[str, Any]:
    """A card's deletes and updates (as the references they touch) and its creates."""
    found: dict[str, Any] = {"delete": set(), "update": set(), "create": []}
    for suggestion in card.get("suggestions", []):
        for action in suggestion["actions"]:
            if action["type"] == "delete":
                found["delete"].add(action["resourceId"])
            elif action["type"] == "update":
                resource = action["resource"]
                found["update"].add(f"{resource['resourceType']}/{resource['id']}")
            else:
                found["create"].append(action["resource"])
    return found


def test_standard_cards_keep_several_actions_and_at_most_one(standard: Flask) -> None:
    shapes: set[str] = set()
    for path in REQUESTS:
        for card in suggesting(answer(standard, path)):
            shapes.add(card["selectionBehavior"])
            if card["selectionBehavior"] == "at-most-one":
                assert sum(bool(s.get("isRecommended")) for s in card["suggestions"]) <= 1
            for suggestion in card["suggestions"]:
                if len(suggestion["actions"]) > 1:
                    shapes.add("several actions")
                shapes.update(a["type"] for a in suggestion["actions"])
    assert {"at-most-one", "several actions", "update", "delete", "create"} <= shapes


def test_a_dose_change_becomes_a_delete_and_a_create_in_single_action(
    single: Flask, standard: Flask
) -> None:
    """T-DXd ordered at 6.4 mg/kg: standard updates the draft; single-action removes it
    and creates the same order at 5.4 mg/kg (no id: a new order)."""
    [update] = [
        a
        for c in suggesting(answer(standard, DOSE_CHANGE))
        for s in c["suggestions"]
        for a in s["actions"]
        if a["type"] == "update"
    ]
    draft_id = update["resource"]["id"]
    actions = [
        a
        for c in suggesting(answer(single, DOSE_CHANGE))
        for s in c["suggestions"]
        for a in s["actions"]
    ]
    deletes = [a for a in actions if a["type"] == "delete"]
    assert f"MedicationRequest/{draft_id}" in [a["resourceId"] for a in deletes]
    creates = [
        a["resource"]
        for a in actions
        if a["type"] == "create" and a["resource"].get("resourceType") == "MedicationRequest"
    ]
    same_order = [
        r for r in creates if r.get("dosageInstruction") == update["resource"]["dosageInstruction"]
    ]
    assert same_order
    assert all("id" not in r for r in same_order)
    assert (
        same_order[0]["medicationCodeableConcept"]
        == update["resource"]["medicationCodeableConcept"]
    )

"""The response self-check catches each CDS Hooks invariant it claims to."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cds_service.pipeline import _checked
from cds_service.selfcheck import check_card, check_response
from cds_service.wire import Card


def good_card() -> dict[str, Any]:
    return {
        "uuid": "6a1c9a2e-7b4f-4d64-9c45-2f2b8f7b0c11",
        "summary": "Hold T-DXd: suspected pneumonitis",
        "indicator": "critical",
        "source": {
            "label": "Enhertu prescribing information",
            "topic": {"system": "urn:her2-nsclc-cds:rule-id", "code": "ild-suspected-on-tdxd"},
        },
        "selectionBehavior": "at-most-one",
        "suggestions": [
            {
                "label": "Cancel the T-DXd order",
                "uuid": "0f0c1b8e-7d0d-4b53-8b61-0a3c9d6b1e22",
                "isRecommended": True,
                "actions": [
                    {
                        "type": "delete",
                        "description": "Remove the draft order",
                        "resourceId": "MedicationRequest/tdxd-cycle-3",
                    }
                ],
            }
        ],
        "overrideReasons": [
            {"system": "http://example.org/reasons", "code": "x", "display": "Reason"}
        ],
        "links": [{"label": "App", "url": "https://app.example.org", "type": "smart"}],
    }


def test_a_valid_response_has_no_violations() -> None:
    assert check_response({"cards": [good_card()]}) == []
    assert check_response({"cards": []}) == []


def broken(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    card = copy.deepcopy(good_card())
    target: Any = card
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return card


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("summary",), "x" * 140, "summary is 140 characters"),
        (("summary",), "two\nlines", "summary must be one line"),
        (("summary",), KeyError, "summary missing"),
        (("uuid",), KeyError, "uuid missing"),
        (("indicator",), "hard-stop", "indicator must be"),
        (("source",), {"url": "https://x.org"}, "source with a label"),
        (("detail",), "", "card.detail: null or empty"),
        (("links",), [], "card.links: null or empty"),
        (("source", "icon"), None, "card.source.icon: null or empty"),
        (("selectionBehavior",), KeyError, "selectionBehavior (at-most-one or any) is required"),
        (("suggestions", 0, "uuid"), KeyError, "suggestions[0]: uuid missing"),
        (
            ("suggestions", 0, "actions", 0, "resource"),
            {"resourceType": "MedicationRequest"},
            "delete must use resourceId",
        ),
        (("suggestions", 0, "actions", 0, "resourceId"), KeyError, "delete needs a resourceId"),
        (("suggestions", 0, "actions", 0, "type"), "create", "create needs a FHIR resource"),
        (("suggestions", 0, "actions", 0, "description"), KeyError, "description missing"),
        (("overrideReasons", 0, "display"), KeyError, "needs system, code and display"),
        (("links", 0, "type"), "absolute", None),
        (("links", 0, "appContext"), "ctx", None),
    ],
)
def test_each_invariant_is_caught(
    path: tuple[str | int, ...], value: Any, expected: str | None
) -> None:
    card = broken(path, value)
    problems = check_card(card)
    if expected is None:
        assert problems == []
    else:
        assert any(expected in problem for problem in problems), problems


def test_app_context_on_an_absolute_link_is_caught() -> None:
    card = broken(("links", 0), {"label": "a", "url": "https://a.org", "type": "absolute"})
    card["links"][0]["appContext"] = "ctx"
    assert check_card(card) == ["links[0]: appContext is only allowed on smart links"]


def test_two_recommended_suggestions_with_at_most_one_are_caught() -> None:
    card = good_card()
    second = copy.deepcopy(card["suggestions"][0])
    second["uuid"] = "another"
    card["suggestions"].append(second)
    assert check_card(card) == ["at-most-one with more than one recommended suggestion"]
    card["selectionBehavior"] = "any"
    assert check_card(card) == []


def test_empty_and_null_elements_are_caught_except_empty_cards() -> None:
    assert check_response({"cards": [], "extension": {}}) == ["$.extension: null or empty"]
    assert check_response({"cards": None}) == ["response must be an object with a cards array"]


def test_what_the_wire_models_refuse_is_caught() -> None:
    """A card must read back as the wire model it was built from (cds_service.wire.Card):
    an element the model does not know, or of the wrong type, is a violation too."""
    card = good_card()
    card["extra"] = "not a CDS Hooks card element"
    assert check_card(card) == ["extra: Extra inputs are not permitted"]
    card = good_card()
    card["source"]["url"] = 5
    assert check_card(card) == ["source.url: Input should be a valid string"]
    assert check_response({"cards": [good_card()], "extension": {"other": 1}}) == [
        "extension.other: Extra inputs are not permitted"
    ]


def test_each_null_or_empty_element_is_named_by_its_path() -> None:
    card = good_card()
    card["overrideReasons"][0]["display"] = ""
    card["suggestions"][0]["actions"][0]["resourceId"] = None
    card["links"][0]["appContext"] = {}
    assert check_card(card)[:3] == [
        "card.suggestions[0].actions[0].resourceId: null or empty",
        "card.overrideReasons[0].display: null or empty",
        "card.links[0].appContext: null or empty",
    ]
    response = {"cards": [good_card()], "extension": {"x": {"unavailable": []}}}
    assert check_response(response)[0] == "$.extension.x.unavailable: null or empty"


def test_zero_and_false_are_not_empty() -> None:
    card = good_card()
    card["suggestions"][0]["isRecommended"] = False
    card["suggestions"][0]["actions"][0]["resource"] = {"resourceType": "X", "n": 0, "f": 0.0}
    assert not any("null or empty" in problem for problem in check_card(card))


def test_a_card_built_as_a_wire_card_is_not_read_back() -> None:
    """``built_as_card``: the wire model validated the card when it was built, so only the
    read-back is skipped; every other check still runs."""
    card = good_card()
    card["extra"] = "not a CDS Hooks card element"
    assert check_card(card) == ["extra: Extra inputs are not permitted"]
    assert check_card(card, built_as_card=True) == []
    card["summary"] = "two\nlines"
    assert check_card(card, built_as_card=True) == ["summary must be one line"]


def test_the_pipeline_drops_a_card_the_self_check_refuses_and_sends_twins_once() -> None:
    good = Card.model_validate(good_card())
    twin = good.model_copy(update={"uuid": "another-uuid"})
    two_lines = Card.model_validate({**good_card(), "uuid": "u3", "summary": "two\nlines"})
    cards = [good, twin, two_lines]
    payloads = [c.model_dump(mode="json", exclude_none=True, by_alias=True) for c in cards]
    sent, issued, dropped = _checked(cards, payloads)
    assert sent == [payloads[0]]
    assert issued == ((good.uuid, "ild-suspected-on-tdxd"),)
    assert dropped == 1

"""Feedback input: bounded, and only text a database can hold, refused at the HTTP layer.

The attacks (issue 11): a lone surrogate (``\\ud800``) in an override reason gave 500; a
NUL gave 503 "retry later" on PostgreSQL for a request that will always fail; item counts
and sizes were unbounded. Now each is a 400 OperationOutcome naming the field, before any
store sees it, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.settings import Profile, Settings
from tests.conftest import FIXED_TODAY
from tests.postgres import postgres_url_fixture

FEEDBACK = "/cds-services/her2-nsclc-patient-view/feedback"
MAX_ITEMS = 5
MAX_CHARS = 40

postgres_url = postgres_url_fixture()


def item(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "card": "5d2e8a4c-3f1b-4c6d-9e7a-1b2c3d4e5f60",
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-21T10:15:00Z",
        "overrideReason": {
            "reason": {"system": "urn:x", "code": "declined", "display": "Declined"},
            "userComment": "ok",
        },
    }
    base.update(changes)
    return base


def make_app(url: str) -> Flask:
    settings = Settings(
        profile=Profile.DEVELOPMENT,
        feedback_database_url=url,
        feedback_max_items=MAX_ITEMS,
        feedback_max_text_chars=MAX_CHARS,
    )
    return create_app(settings, today=lambda: FIXED_TODAY)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def bounded(store_url: str) -> Iterator[FlaskClient]:
    app = make_app(store_url)
    yield app.test_client()
    parts = app.extensions["cds_service"]
    parts.resolver.close()
    parts.store.close()


def post_text(client: FlaskClient, text: str) -> Any:
    """Post raw JSON text (escapes such as \\ud800 kept as the client wrote them)."""
    return client.post(FEEDBACK, data=text, content_type="application/json")


def assert_400(response: Any, expression: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/fhir+json"
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == [expression]


def stored_rows(client: FlaskClient) -> int:
    return len(client.application.extensions["cds_service"].store.feedback_rows())


@pytest.mark.parametrize(
    ("placeholder", "escape", "expression"),
    [
        ("userComment", "\\ud800", "feedback[0].overrideReason.userComment"),
        ("userComment", "\\udfff tail", "feedback[0].overrideReason.userComment"),
        ("userComment", "a\\u0000b", "feedback[0].overrideReason.userComment"),
        ("card", "\\u0000", "feedback[0].card"),
        ("code", "\\ud83d", "feedback[0].overrideReason.reason.code"),
        ("display", "x\\u0000", "feedback[0].overrideReason.reason.display"),
    ],
)
def test_nul_and_lone_surrogates_are_400_before_the_store(
    bounded: FlaskClient, placeholder: str, escape: str, expression: str
) -> None:
    body = item()
    marker = "__MARKER__"
    if placeholder == "card":
        body["card"] = marker
    elif placeholder == "userComment":
        body["overrideReason"]["userComment"] = marker
    else:
        body["overrideReason"]["reason"][placeholder] = marker
    text = json.dumps({"feedback": [body]}).replace(marker, escape)
    assert_400(post_text(bounded, text), expression)
    assert stored_rows(bounded) == 0


def test_a_surrogate_pair_is_ordinary_text(bounded: FlaskClient) -> None:
    """An escaped pair is one character outside the BMP: stored like any other."""
    body = item()
    body["overrideReason"]["userComment"] = "__MARKER__"
    text = json.dumps({"feedback": [body]}).replace("__MARKER__", "\\ud83d\\udc4d")
    response = post_text(bounded, text)
    assert response.status_code == 200
    assert stored_rows(bounded) == 1


def test_more_items_than_allowed_is_400(bounded: FlaskClient) -> None:
    items = [item(card=f"card-{n}") for n in range(MAX_ITEMS + 1)]
    assert_400(bounded.post(FEEDBACK, json={"feedback": items}), "feedback")
    assert stored_rows(bounded) == 0
    response = bounded.post(FEEDBACK, json={"feedback": items[:MAX_ITEMS]})
    assert response.status_code == 200
    assert response.get_json() == {"stored": MAX_ITEMS, "received": MAX_ITEMS}


@pytest.mark.parametrize(
    ("field", "expression"),
    [
        ("card", "feedback[0].card"),
        ("userComment", "feedback[0].overrideReason.userComment"),
        ("code", "feedback[0].overrideReason.reason.code"),
        ("suggestion", "feedback[0].acceptedSuggestions[0].id"),
    ],
)
def test_a_string_longer_than_allowed_is_400(
    bounded: FlaskClient, field: str, expression: str
) -> None:
    long = "x" * (MAX_CHARS + 1)
    body = item()
    if field == "card":
        body["card"] = long
    elif field == "userComment":
        body["overrideReason"]["userComment"] = long
    elif field == "code":
        body["overrideReason"]["reason"]["code"] = long
    else:
        body = item(outcome="accepted", acceptedSuggestions=[{"id": long}])
        del body["overrideReason"]
    assert_400(bounded.post(FEEDBACK, json={"feedback": [body]}), expression)
    at_limit = json.loads(json.dumps(body).replace(long, "x" * MAX_CHARS))
    assert bounded.post(FEEDBACK, json={"feedback": [at_limit]}).status_code == 200


def test_the_bounds_are_settings() -> None:
    env = {"CDS_FEEDBACK_MAX_ITEMS": "7", "CDS_FEEDBACK_MAX_TEXT_CHARS": "99"}
    settings = Settings.from_env(env)
    assert (settings.feedback_max_items, settings.feedback_max_text_chars) == (7, 99)
    defaults = Settings.from_env({})
    assert (defaults.feedback_max_items, defaults.feedback_max_text_chars) == (100, 2000)

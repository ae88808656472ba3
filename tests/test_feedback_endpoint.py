"""Feedback over HTTP: validated, stored idempotently, surviving a restart (cds-hooks_2.0@148)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from cds_service.feedback_store import open_feedback_store
from demo.fhir_server import free_port
from tests.requests import full_prefetch

ROOT = Path(__file__).resolve().parents[1]
FEEDBACK = "/cds-services/her2-nsclc-patient-view/feedback"


def advanced_nsclc_without_molecular_results() -> dict[str, Any]:
    """A patient-view request that earns the broad NGS card."""
    prefetch = full_prefetch("p-ngs")
    prefetch["conditions"]["entry"] = [
        {
            "resource": {
                "resourceType": "Condition",
                "id": "nsclc",
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
                "code": {
                    "coding": [{"system": "http://snomed.info/sct", "code": "254637007"}],
                    "text": "Non-small cell lung cancer",
                },
                "stage": [{"summary": {"text": "Stage IV"}}],
                "subject": {"reference": "Patient/p-ngs"},
                "onsetDateTime": "2026-10-01",
            }
        }
    ]
    return {
        "hook": "patient-view",
        "hookInstance": "5b1e4c3a-2f2d-4a0e-9d51-7d1e8b1c0a01",
        "context": {"userId": "Practitioner/1", "patientId": "p-ngs"},
        "prefetch": prefetch,
    }


def overridden(card: str) -> dict[str, Any]:
    return {
        "feedback": [
            {
                "card": card,
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {
                        "system": "http://example.org/override-reasons",
                        "code": "patient-declined",
                        "display": "Patient declined",
                    },
                    "userComment": "Mrs Jones prefers to wait",
                },
                "outcomeTimestamp": "2026-11-21T10:15:00Z",
            }
        ]
    }


def accepted(card: str, suggestion: str) -> dict[str, Any]:
    return {
        "feedback": [
            {
                "card": card,
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": suggestion}],
                "outcomeTimestamp": "2026-11-21T10:16:00Z",
            }
        ]
    }


def test_accepted_feedback_on_an_issued_card_is_stored_with_its_rule(
    client: FlaskClient, settings: Any
) -> None:
    hook = client.post(
        "/cds-services/her2-nsclc-patient-view", json=advanced_nsclc_without_molecular_results()
    )
    card = hook.get_json()["cards"][0]
    rule = card["source"]["topic"]["code"]
    suggestion = card["suggestions"][0]["uuid"]

    response = client.post(FEEDBACK, json=accepted(card["uuid"], suggestion))
    assert response.status_code == 200
    assert response.get_json() == {"stored": 1, "received": 1}

    store = open_feedback_store(settings.feedback_database_url)
    try:
        (row,) = store.feedback_rows()
    finally:
        store.close()
    assert (row.card_uuid, row.rule_id, row.outcome) == (card["uuid"], rule, "accepted")
    assert row.accepted_suggestion_ids == (suggestion,)


def test_the_same_feedback_twice_is_stored_once(client: FlaskClient) -> None:
    first = client.post(FEEDBACK, json=overridden("card-1"))
    again = client.post(FEEDBACK, json=overridden("card-1"))
    assert first.get_json() == {"stored": 1, "received": 1}
    assert again.status_code == 200
    assert again.get_json() == {"stored": 0, "received": 1}


@pytest.mark.parametrize(
    ("change", "expression"),
    [
        (lambda f: f.pop("card"), "feedback[0].card"),
        (lambda f: f.update(outcome="ignored"), "feedback[0].outcome"),
        (lambda f: f.pop("outcomeTimestamp"), "feedback[0].outcomeTimestamp"),
        (lambda f: f.update(outcomeTimestamp="yesterday"), "feedback[0].outcomeTimestamp"),
        (  # no UTC equivalent: a 400, never an overflow in the store (found by hypothesis)
            lambda f: f.update(outcomeTimestamp="0001-01-01T00:00:00+01:00"),
            "feedback[0].outcomeTimestamp",
        ),
        (lambda f: f.update(outcome="accepted"), "feedback[0].acceptedSuggestions"),
        (
            lambda f: f.update(acceptedSuggestions=[{"uuid": "x"}]),
            "feedback[0].acceptedSuggestions[0].id",
        ),
    ],
)
def test_invalid_feedback_is_400(client: FlaskClient, change: Any, expression: str) -> None:
    body = copy.deepcopy(overridden("card-1"))
    change(body["feedback"][0])
    response = client.post(FEEDBACK, json=body)
    assert response.status_code == 400
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert expression in outcome["issue"][0]["expression"]


def test_empty_feedback_list_is_400(client: FlaskClient) -> None:
    response = client.post(FEEDBACK, json={"feedback": []})
    assert response.status_code == 400
    assert response.get_json()["resourceType"] == "OperationOutcome"


# --- Restart: a real server process, stopped and started again ----------------------


class ServiceProcess:
    """``python -m cds_service serve`` as a newcomer runs it (``make run``)."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "CDS_PROFILE": "development",
            "PORT": str(self.port),
            "CDS_FEEDBACK_DATABASE_URL": database_url,
        }
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cds_service", "serve"],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        self.stop()
        pytest.fail("the service did not start within 20 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def feedback_survives_a_restart(database_url: str, workdir: Path) -> None:
    service = ServiceProcess(database_url, workdir)
    url = f"{service.url}{FEEDBACK}"
    try:
        service.start()
        first = requests.post(url, json=overridden("card-restart"), timeout=5)
        assert first.json() == {"stored": 1, "received": 1}
        service.stop()
        service.start()
        again = requests.post(url, json=overridden("card-restart"), timeout=5)
        assert again.json() == {"stored": 0, "received": 1}
    finally:
        service.stop()
    store = open_feedback_store(database_url)
    try:
        rows = store.feedback_rows()
    finally:
        store.close()
    assert [(r.card_uuid, r.outcome) for r in rows] == [("card-restart", "overridden")]


def test_feedback_survives_a_restart_on_sqlite(tmp_path: Path) -> None:
    feedback_survives_a_restart(f"sqlite:///{tmp_path / 'restart.sqlite3'}", tmp_path)


@pytest.mark.postgres
def test_feedback_survives_a_restart_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    feedback_survives_a_restart(postgres_url, tmp_path)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    from tests.postgres import isolated_postgres_url

    with isolated_postgres_url() as url:
        yield url


def stored_reason(client: FlaskClient, settings: Any, item_changes: dict[str, Any]) -> Any:
    body = copy.deepcopy(overridden("card-ext"))
    item = body["feedback"][0]
    del item["overrideReason"]["reason"]
    for key, value in item_changes.items():
        if key == "overrideReason.extension":
            item["overrideReason"]["extension"] = value
        else:
            item[key] = value
    response = client.post(FEEDBACK, json=body)
    assert response.status_code == 200, response.get_json()
    store = open_feedback_store(settings.feedback_database_url)
    try:
        (row,) = store.feedback_rows()
    finally:
        store.close()
    return row


EPIC_LIKE = "http://open.epic.com/FHIR/StructureDefinition/extension/override-reason"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {
                "overrideReason.extension": {
                    "com.example.ehr.override-reason": {
                        "system": "http://example.org/override-reasons",
                        "code": "patient-declined",
                        "display": "Patient declined",
                    }
                }
            },
            ("http://example.org/override-reasons", "patient-declined", "Patient declined"),
        ),
        (
            {
                "extension": [
                    {
                        "url": EPIC_LIKE,
                        "valueCodeableConcept": {
                            "coding": [{"system": "urn:oid:1.2.840.114350", "code": "12"}],
                            "text": "Not appropriate for this patient",
                        },
                    }
                ]
            },
            ("urn:oid:1.2.840.114350", "12", None),
        ),
        (
            {"extension": {"com.example.ehr.overrideReason": "risk-benefit-ratio"}},
            (None, "risk-benefit-ratio", None),
        ),
    ],
)
def test_an_override_reason_given_in_an_extension_is_stored(
    client: FlaskClient, settings: Any, changes: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    """EHRs that do not send a ``reason`` Coding put it in an extension: what is there
    is stored (the Coding, or a bare code), never free text."""
    row = stored_reason(client, settings, changes)
    assert (row.override_system, row.override_code, row.override_display) == expected
    assert row.user_comment_given


def test_free_text_in_an_extension_is_not_stored(client: FlaskClient, settings: Any) -> None:
    changes = {"extension": {"com.example.ehr.overrideReason": "Mrs Jones prefers to wait"}}
    row = stored_reason(client, settings, changes)
    assert (row.override_system, row.override_code, row.override_display) == (None, None, None)

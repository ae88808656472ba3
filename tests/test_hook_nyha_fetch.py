"""The NYHA class is asked for by its LOINC code (optional key ``observationsNyha``): NYHA
statements are filed as exam or survey Observations, outside the category keys, so they
reach the rules only through that key (clinical-rules.md 9.3, symptomatic heart failure).

The request is the golden fixture ``cardiac-lvef__fires__nyha_class_iii_after_tdxd_start``
(on T-DXd since 2026-09-22, NYHA class III on 2026-11-01), with its Observations sent
under the category and code keys except the NYHA one, which the scripted FHIR server
answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from cds_service.discovery import PATIENT_DATA
from demo.fhir_server import Reply, ScriptedFhirServer
from tests.requests import with_empty_adverse_events

FIXTURE = (
    Path(__file__).resolve().parent
    / "rules"
    / "fixtures"
    / "cardiac-lvef__fires__nyha_class_iii_after_tdxd_start.json"
)
OBSERVATION_KEYS = [t.key for t in PATIENT_DATA if t.key.startswith("observations")]


def split_request(fhir_server: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fixture with the NYHA Observation left for the server, and that Observation."""
    request: dict[str, Any] = with_empty_adverse_events(json.loads(FIXTURE.read_text()))
    prefetch = request["prefetch"]
    whole = prefetch.pop("observations")
    (nyha,) = [e for e in whole["entry"] if e["resource"]["id"] == "nyha"]
    rest = {**whole, "entry": [e for e in whole["entry"] if e is not nyha]}
    for key in OBSERVATION_KEYS:
        if key != "observationsNyha":
            prefetch[key] = rest  # the same resources under every key are read once
    request["fhirServer"] = fhir_server
    searchset = {"resourceType": "Bundle", "type": "searchset", "entry": [nyha]}
    return request, searchset


def test_the_nyha_class_is_fetched_by_its_code_and_discontinues_t_dxd(
    client: FlaskClient,
) -> None:
    with ScriptedFhirServer() as fhir:
        request, searchset = split_request(fhir.base_url)
        fhir.routes["/fhir/Observation"] = Reply(body=searchset)
        response = client.post("/cds-services/her2-nsclc-order-sign", json=request)
        (search,) = fhir.requests_to("/fhir/Observation")
    assert response.status_code == 200, response.get_json()
    assert search.query["code"] == ["http://loinc.org|88020-3"]
    cards = response.get_json()["cards"]
    (card,) = [c for c in cards if c["source"]["topic"]["code"] == "cardiac-lvef"]
    assert card["indicator"] == "critical"
    assert card["summary"].startswith("Symptomatic heart failure (NYHA class III) stated")


def test_without_the_nyha_key_answered_the_class_is_unavailable_not_absent(
    client: FlaskClient,
) -> None:
    """A failed optional key is listed as unavailable; the call still answers."""
    with ScriptedFhirServer({"/fhir/Observation": Reply(500)}) as fhir:
        request, _ = split_request(fhir.base_url)
        response = client.post("/cds-services/her2-nsclc-order-sign", json=request)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    quality = body["extension"]["her2-nsclc-cds.data-quality"]
    assert "observationsNyha" in quality["unavailable"]
    assert "cardiac-lvef" not in [c["source"]["topic"]["code"] for c in body["cards"]]

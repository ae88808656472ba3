"""Golden files: each request fixture, answered by the real app, against its stored cards.

Fixtures (``tests/rules/fixtures``) are CDS Hooks requests with the FHIR record in
``prefetch``, named ``<rule-id>__fires__<scenario>`` or ``<rule-id>__silent__<scenario>``
(``none__silent__...``: no card at all); ``make_fixtures.py`` writes them. The whole
response is compared with ``tests/rules/golden/<name>.json``.

Rewrite the golden files after a deliberate change, then review them by eye:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/rules/test_golden.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.selfcheck import check_response
from tests.requests import with_empty_adverse_events

HERE = Path(__file__).resolve().parent
FIXTURES = sorted((HERE / "fixtures").glob("*.json"))
GOLDEN = HERE / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

SERVICE = {
    "patient-view": "her2-nsclc-patient-view",
    "order-select": "her2-nsclc-order-select",
    "order-sign": "her2-nsclc-order-sign",
}


def answer(client: FlaskClient, request: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/cds-services/{SERVICE[request['hook']]}", json=request)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert isinstance(body, dict)
    return body


def topics(body: dict[str, Any]) -> list[str]:
    return [card["source"]["topic"]["code"] for card in body["cards"]]


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_golden(client: FlaskClient, fixture: Path) -> None:
    rule_id, verdict, _scenario = fixture.stem.split("__")
    body = answer(client, with_empty_adverse_events(json.loads(fixture.read_text())))

    assert check_response(body) == []
    if rule_id == "none":
        assert body["cards"] == []
    elif verdict == "fires":
        assert rule_id in topics(body)
    else:
        assert verdict == "silent"
        assert rule_id not in topics(body)

    golden = GOLDEN / fixture.name
    if UPDATE or not golden.exists():
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        if not UPDATE:
            pytest.fail(f"golden file {golden.name} was missing and has been written: review it")
    assert body == json.loads(golden.read_text())


def test_every_rule_fires_in_a_golden_fixture_and_has_a_silent_one() -> None:
    from cds_service.rules import REGISTRY

    names = [f.stem.split("__") for f in FIXTURES]
    for rule in REGISTRY:
        assert [rule.id, "fires"] in [n[:2] for n in names], rule.id
        assert [rule.id, "silent"] in [n[:2] for n in names], rule.id


def test_no_orphan_golden_files() -> None:
    assert {g.name for g in GOLDEN.glob("*.json")} <= {f.name for f in FIXTURES}

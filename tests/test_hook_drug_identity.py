"""Drug identity at the hook (clinical-rules.md 9.1): a zongertinib draft coded with an
RxNorm code the service does not list is not identified, and says so with the
`order-drug-not-identified` card; once the site order catalog (CDS_ORDER_CATALOG) maps
that code to zongertinib, the same order is zongertinib and gets its own checks.

The request is the golden fixture of the rule (made by ``tests/rules/make_fixtures.py``),
with the draft's dose raised to 180 mg for a 72 kg patient, so that ``dose-zongertinib``
has something to say once the drug is identified.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask

from cds_service.app import create_app
from cds_service.settings import Settings
from tests.conftest import FIXED_TODAY
from tests.requests import with_empty_adverse_events

FIXTURE = (
    Path(__file__).resolve().parent
    / "rules"
    / "fixtures"
    / "order-drug-not-identified__fires__zongertinib_under_an_unknown_rxnorm_code.json"
)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PLACEHOLDER_SCD = "TEST-ZONG-120-SCD"
"""The fixture's stand-in for a site's RxNorm SCD of zongertinib (not a real RXCUI)."""
RULE = "order-drug-not-identified"


def zongertinib_180mg_request() -> dict[str, Any]:
    request: dict[str, Any] = with_empty_adverse_events(json.loads(FIXTURE.read_text()))
    (entry,) = request["context"]["draftOrders"]["entry"]
    concept = entry["resource"]["medicationCodeableConcept"]
    assert concept["coding"] == [
        {"system": RXNORM, "code": PLACEHOLDER_SCD, "display": "zongertinib 120 MG Oral Tablet"}
    ]
    dose = entry["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
    dose["value"] = 180
    return request


def started(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings, today=lambda: FIXED_TODAY)
    yield app
    parts = app.extensions["cds_service"]
    parts.resolver.close()
    parts.store.close()


def call(app: Flask, request: dict[str, Any]) -> dict[str, Any]:
    response = app.test_client().post(
        f"/cds-services/her2-nsclc-{request['hook']}", json=copy.deepcopy(request)
    )
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def topics(body: dict[str, Any]) -> list[str]:
    return [card["source"]["topic"]["code"] for card in body["cards"]]


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "catalog": "Test site",
                "orders": {
                    "medication:zongertinib@120mg": {
                        "codings": [{"system": RXNORM, "code": PLACEHOLDER_SCD}]
                    }
                },
            }
        ),
        encoding="utf-8",
    )
    return path


def test_without_a_catalog_the_order_is_not_identified_and_the_card_says_so(
    settings: Settings,
) -> None:
    for app in started(settings):
        body = call(app, zongertinib_180mg_request())
        fired = topics(body)
        assert RULE in fired
        assert "dose-zongertinib" not in fired  # the silence the card explains
        card = body["cards"][fired.index(RULE)]
        assert card["indicator"] == "warning"
        assert "zongertinib" in card["summary"].lower()
        assert RXNORM in card["detail"]
        assert "CDS_ORDER_CATALOG" in card["detail"]
        assert "suggestions" not in card
        issues = body["extension"]["her2-nsclc-cds.data-quality"]["issues"]
        assert any(i["id"] == "zong-draft" for i in issues)


def test_with_a_catalog_entry_for_the_code_the_order_gets_the_zongertinib_checks(
    settings: Settings, catalog: Path
) -> None:
    for app in started(settings.model_copy(update={"order_catalog": str(catalog)})):
        body = call(app, zongertinib_180mg_request())
        fired = topics(body)
        assert RULE not in fired
        assert "dose-zongertinib" in fired  # 72 kg: 120 mg once daily, not 180 mg
        assert "extension" not in body or not any(
            i.get("id") == "zong-draft"
            for i in body["extension"]["her2-nsclc-cds.data-quality"].get("issues", [])
        )


def test_the_catalog_drug_codes_are_built_once_at_start_up(
    settings: Settings, catalog: Path
) -> None:
    for app in started(settings.model_copy(update={"order_catalog": str(catalog)})):
        parts = app.extensions["cds_service"]
        options = parts.mapping_options
        assert options.site_drug_codes is parts.catalog.drug_codes
        assert len(options.site_drug_codes) == 1
        call(app, zongertinib_180mg_request())
        assert parts.mapping_options is options


def test_a_patient_without_lung_cancer_recorded_is_in_scope_for_the_card(
    settings: Settings,
) -> None:
    """Scope (cds_service.scope): an unidentified coded anticancer draft counts, so the
    card is never lost to an out-of-scope answer."""
    request = zongertinib_180mg_request()
    for bundle in request["prefetch"].values():
        if isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle":
            bundle["entry"] = [
                e for e in bundle["entry"] if e["resource"]["resourceType"] != "Condition"
            ]
    for app in started(settings):
        assert RULE in topics(call(app, request))

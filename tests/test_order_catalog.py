"""The site order catalog (CDS_ORDER_CATALOG): validated at start-up, carried by suggestions.

Valid and invalid files (YAML and JSON), the refusal to start naming the bad entry, the
shipped example catalog (every order the service can suggest; no invented standard
code), and suggestions that carry the site's codings, or text without an entry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cds_service.app import create_app
from cds_service.catalog import (
    known_order_keys,
    load_order_catalog,
    order_key_medication,
    order_key_service,
)
from cds_service.errors import ConfigurationError
from cds_service.rules.base import Service
from cds_service.selfcheck import check_response
from cds_service.settings import Settings
from fhir_mappings import terminology
from fhir_mappings.model import Dose, DoseUnit, Drug
from tests.conftest import FIXED_TODAY
from tests.requests import with_empty_adverse_events

REPOSITORY = Path(__file__).resolve().parents[1]
EXAMPLE = REPOSITORY / "demo" / "order-catalog.example.yaml"
VIGNETTES = REPOSITORY / "tests" / "vignettes"
SITE = "https://ehr.example.org/fhir/CodeSystem/orderables"
ORDER_SETS = "https://ehr.example.org/fhir/CodeSystem/order-sets"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

REQUIRED_KEYS = {
    "medication:trastuzumab-deruxtecan@5.4mg/kg",
    "medication:zongertinib@120mg",
    "medication:zongertinib@180mg",
    "medication:sevabertinib@20mg",
    "medication:ado-trastuzumab-emtansine",
    "service:chest-ct",
    "service:echocardiogram",
    "service:cbc",
    "service:liver-panel",
    "service:her2-ihc",
    "service:ngs-tissue",
    "service:ctdna-plasma",
    "service:pregnancy-test",
    "order-set:platinum-doublet",
}
"""The orders the integration issue names: each HER2 drug and dose, T-DM1, chest CT,
echocardiogram, CBC, liver panel, HER2 IHC, tissue and plasma NGS, pregnancy test, a
platinum doublet order set."""


def write(tmp_path: Path, document: Any, suffix: str = ".yaml") -> Path:
    path = tmp_path / f"catalog{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(document), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def entry(code: str = "X-1", system: str = SITE) -> dict[str, Any]:
    return {"codings": [{"system": system, "code": code}]}


# --- The example catalog ------------------------------------------------------------------


def test_the_example_catalog_is_valid_and_maps_every_named_order() -> None:
    catalog = load_order_catalog(str(EXAMPLE))
    assert set(catalog.entries) >= REQUIRED_KEYS
    assert catalog.name
    assert "example" in catalog.name.lower()


def test_the_example_catalog_invents_no_standard_code() -> None:
    """RxNorm and LOINC codes only where clinical-rules.md section 7 verifies them; every
    other coding is in the example site's own system under ehr.example.org."""
    verified_rxnorm = {c.code for info in terminology.DRUGS.values() for c in info.verified_codes}
    section_7_loinc = {"18474-7"}
    for key, item in load_order_catalog(str(EXAMPLE)).entries.items():
        for coding in item.codings:
            if coding.system == RXNORM:
                assert coding.code in verified_rxnorm, (key, coding.code)
            elif coding.system == terminology.LOINC:
                assert coding.code in section_7_loinc, (key, coding.code)
            else:
                assert coding.system.startswith("https://ehr.example.org/"), (key, coding)


def test_order_keys_are_stable_names() -> None:
    assert order_key_medication(Drug.TRASTUZUMAB_DERUXTECAN, Dose(5.4, DoseUnit.MG_PER_KG)) == (
        "medication:trastuzumab-deruxtecan@5.4mg/kg"
    )
    assert order_key_medication(Drug.ZONGERTINIB, Dose(120.0, DoseUnit.MG)) == (
        "medication:zongertinib@120mg"
    )
    assert order_key_medication(Drug.TRASTUZUMAB_EMTANSINE) == (
        "medication:ado-trastuzumab-emtansine"
    )
    assert order_key_service(Service.CHEST_CT) == "service:chest-ct"
    assert order_key_service(Service.NGS_TISSUE) == "service:ngs-tissue"
    drugs, services, order_sets = known_order_keys()
    assert {"trastuzumab-deruxtecan", "zongertinib", "sevabertinib"} <= drugs
    assert {"cbc", "pregnancy-test", "liver-panel", "her2-ihc"} <= services
    assert order_sets == {"platinum-doublet"}


def test_a_json_catalog_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, {"orders": {"service:cbc": entry("CBC-1")}}, ".json")
    catalog = load_order_catalog(str(path))
    assert catalog.entries["service:cbc"].codings[0].code == "CBC-1"


# --- Invalid files: a clear error naming the bad entry --------------------------------------


@pytest.mark.parametrize(
    ("orders", "message"),
    [
        ({"medication:lapatinib": entry()}, "orders['medication:lapatinib']: unknown drug"),
        ({"medication:zongertinib@120": entry()}, "the dose '120' must be"),
        ({"service:ct-chest": entry()}, "orders['service:ct-chest']: unknown service"),
        ({"order-set:folfox": entry()}, "unknown order set 'folfox'"),
        ({"drug:zongertinib": entry()}, "an order key is medication:"),
        ({"service:cbc": {"codings": []}}, "orders['service:cbc'].codings must be a non-empty"),
        ({"service:cbc": {"codings": [{"code": "1"}]}}, "codings[0].system must be an absolute"),
        ({"service:cbc": entry(system="rxnorm")}, "codings[0].system must be an absolute"),
        ({"service:cbc": {"codings": [{"system": SITE, "code": 17}]}}, "codings[0].code must"),
        ({"service:cbc": {"codes": []}}, "orders['service:cbc'] has unknown fields ['codes']"),
        ({"service:cbc": {"codings": [{"system": SITE, "code": "1", "url": "x"}]}}, "unknown"),
        ({"service:cbc": {"codings": [entry()["codings"][0]] * 2}}, "lists a coding twice"),
        ({"service:cbc": "CBC-1"}, "orders['service:cbc'] must be a mapping"),
        ({}, "`orders` must be a non-empty mapping"),
    ],
)
def test_an_invalid_entry_is_refused_with_its_name(
    tmp_path: Path, orders: dict[str, Any], message: str
) -> None:
    path = write(tmp_path, {"catalog": "Test site", "orders": orders})
    with pytest.raises(ConfigurationError) as refused:
        load_order_catalog(str(path))
    assert message in str(refused.value)
    assert "CDS_ORDER_CATALOG" in str(refused.value)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("catalog.yaml", "orders: [unclosed", "not valid YAML"),
        ("catalog.json", "{", "not valid JSON"),
        ("catalog.txt", "orders: {}", "must end in .yaml, .yml or .json"),
        ("catalog.yaml", "- a list", "must be a mapping"),
        ("catalog.yaml", "orders: {}\nextra: 1", "unknown top-level fields ['extra']"),
    ],
)
def test_an_unreadable_file_is_refused(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError) as refused:
        load_order_catalog(str(path))
    assert message in str(refused.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot be read"):
        load_order_catalog(str(tmp_path / "absent.yaml"))


def test_the_service_refuses_to_start_with_an_invalid_catalog(
    settings: Settings, tmp_path: Path
) -> None:
    path = write(tmp_path, {"orders": {"service:ct-chest": entry()}})
    with pytest.raises(ConfigurationError, match=r"orders\['service:ct-chest'\]"):
        create_app(
            settings.model_copy(update={"order_catalog": str(path)}), today=lambda: FIXED_TODAY
        )


def test_the_variable_is_read_from_the_environment() -> None:
    settings = Settings.from_env({"CDS_ORDER_CATALOG": str(EXAMPLE)})
    assert settings.order_catalog == str(EXAMPLE)


# --- Suggestions carry the site's codings ---------------------------------------------------


def created(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        action["resource"]
        for card in body["cards"]
        for suggestion in card.get("suggestions", [])
        for action in suggestion["actions"]
        if action["type"] == "create"
    ]


def answer(settings: Settings, vignette: str) -> dict[str, Any]:
    app = create_app(settings, today=lambda: FIXED_TODAY)
    try:
        request = with_empty_adverse_events(json.loads((VIGNETTES / vignette).read_text()))
        response = app.test_client().post(
            f"/cds-services/her2-nsclc-{request['hook']}", json=request
        )
        assert response.status_code == 200, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body
    finally:
        parts = app.extensions["cds_service"]
        parts.resolver.close()
        parts.store.close()


def test_suggestions_carry_the_site_codings_first_and_keep_their_text(settings: Settings) -> None:
    vignette = "v01_exon20_untreated_72kg_patient_view.json"  # suggests zongertinib
    plain = answer(settings, vignette)
    coded = answer(settings.model_copy(update={"order_catalog": str(EXAMPLE)}), vignette)
    drugs_plain = [r for r in created(plain) if r["resourceType"] == "MedicationRequest"]
    drugs_coded = [r for r in created(coded) if r["resourceType"] == "MedicationRequest"]
    assert drugs_plain
    assert len(drugs_plain) == len(drugs_coded)
    for before, after in zip(drugs_plain, drugs_coded, strict=True):
        concept_before = before["medicationCodeableConcept"]
        concept_after = after["medicationCodeableConcept"]
        assert concept_after["text"] == concept_before["text"]
        site = [c for c in concept_after["coding"] if c["system"] == SITE]
        assert site, concept_after
        assert concept_after["coding"][0]["system"] == SITE
        # The verified codes are still there, after the site's.
        for coding in concept_before.get("coding", []):
            assert coding in concept_after["coding"]
    zongertinib = next(
        r for r in drugs_coded if "zongertinib" in r["medicationCodeableConcept"]["text"]
    )  # 72 kg: 120 mg, so the dose-specific key is used
    assert zongertinib["medicationCodeableConcept"]["coding"][0]["code"] == "EX-MED-ZONG-120"


def test_a_service_request_carries_the_site_coding(settings: Settings) -> None:
    vignette = "v01_exon20_untreated_72kg_patient_view.json"
    coded = answer(settings.model_copy(update={"order_catalog": str(EXAMPLE)}), vignette)
    plain = answer(settings, vignette)
    services_plain = [r for r in created(plain) if r["resourceType"] == "ServiceRequest"]
    services_coded = [
        r
        for r in created(coded)
        if r["resourceType"] == "ServiceRequest" and r["code"]["coding"][0]["system"] != ORDER_SETS
    ]
    assert len(services_plain) == len(services_coded)
    for before, after in zip(services_plain, services_coded, strict=True):
        assert after["code"]["text"] == before["code"]["text"]
        if "coding" in after["code"]:
            assert after["code"]["coding"][0]["system"] == SITE


def test_without_an_entry_a_suggestion_stays_text(settings: Settings, tmp_path: Path) -> None:
    """A catalog that maps only a CBC changes nothing in a T-DXd suggestion."""
    path = write(tmp_path, {"orders": {"service:cbc": entry("CBC-1")}})
    vignette = "v02_exon20_after_platinum_order_select_tdxd.json"
    assert answer(settings.model_copy(update={"order_catalog": str(path)}), vignette) == answer(
        settings, vignette
    )


def test_a_platinum_doublet_is_suggested_only_as_the_sites_order_set(settings: Settings) -> None:
    """9.1 "no bare chemotherapy drafts": first line for an untreated exon 20 insertion names
    the platinum doublet; it becomes a suggestion only through the catalog's order set."""
    vignette = "v01_exon20_untreated_72kg_patient_view.json"
    plain = answer(settings, vignette)
    coded = answer(settings.model_copy(update={"order_catalog": str(EXAMPLE)}), vignette)
    drugs = [
        r["medicationCodeableConcept"]["text"].lower()
        for body in (plain, coded)
        for r in created(body)
        if r["resourceType"] == "MedicationRequest"
    ]
    assert not any("carboplatin" in d or "pemetrexed" in d for d in drugs)
    assert not [
        r
        for r in created(plain)
        if r["resourceType"] == "ServiceRequest" and "order set" in r["code"]["text"].lower()
    ]
    [first_line] = [
        c for c in coded["cards"] if c["source"]["topic"]["code"] == "seq-first-line-tkd"
    ]
    [order_set] = [
        s
        for s in first_line["suggestions"]
        if s["actions"][0]["description"].startswith("Draft order set")
    ]
    assert "isRecommended" not in order_set
    [action] = order_set["actions"]
    assert action["type"] == "create"
    assert action["resource"]["resourceType"] == "ServiceRequest"
    assert action["resource"]["status"] == "draft"
    assert action["resource"]["code"]["coding"] == [
        {
            "system": ORDER_SETS,
            "code": "EX-OS-NSCLC-CARBO-PEM",
            "display": "NSCLC carboplatin/pemetrexed order set (example site)",
        }
    ]
    assert check_response(coded) == []


# --- Site codes identify drugs (clinical-rules.md 9.1, "a site's own system") ----------------


def test_the_medication_entries_codes_identify_their_drugs(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "orders": {
                "medication:zongertinib@120mg": entry("TEST-ZONG-120-SCD", RXNORM),
                "medication:zongertinib": entry("Z-ANY"),
                "medication:sevabertinib@20mg": entry("S-20"),
                "service:cbc": entry("CBC-1"),
            }
        },
    )
    codes = load_order_catalog(str(path)).drug_codes
    assert codes.drug(RXNORM, "TEST-ZONG-120-SCD") is Drug.ZONGERTINIB
    assert codes.drug(SITE, "Z-ANY") is Drug.ZONGERTINIB
    assert codes.drug(SITE, "S-20") is Drug.SEVABERTINIB
    assert codes.drug(SITE, "CBC-1") is None  # a test's code identifies no drug
    assert len(codes) == 3


def test_the_example_catalog_identifies_its_drugs() -> None:
    codes = load_order_catalog(str(EXAMPLE)).drug_codes
    assert codes.drug(SITE, "EX-MED-ZONG-120") is Drug.ZONGERTINIB
    assert codes.drug(SITE, "EX-MED-SEVA-20") is Drug.SEVABERTINIB
    assert codes.drug(RXNORM, "2267581") is Drug.TRASTUZUMAB_DERUXTECAN


@pytest.mark.parametrize(
    ("orders", "message"),
    [
        (
            {"medication:zongertinib@120mg": entry("2267581", RXNORM)},
            "orders['medication:zongertinib@120mg'].codings[0] "
            "(http://www.nlm.nih.gov/research/umls/rxnorm|2267581) is trastuzumab deruxtecan "
            "in the service's drug codes, not zongertinib",
        ),
        (
            {
                "medication:zongertinib@120mg": entry("X-1"),
                "medication:sevabertinib@20mg": entry("X-1"),
            },
            # (the file is written with sorted keys: sevabertinib's entry is read first)
            "orders['medication:zongertinib@120mg'].codings[0] "
            f"({SITE}|X-1) is also given for orders['medication:sevabertinib@20mg'], "
            "another drug",
        ),
        (
            {
                "medication:zongertinib@120mg": entry("X-1"),
                "medication:sevabertinib@20mg": entry("X-1", SITE.replace("https", "http") + "/"),
            },
            "is also given for orders['medication:sevabertinib@20mg']",
        ),
    ],
)
def test_a_drug_code_conflict_is_refused_naming_the_entry(
    tmp_path: Path, orders: dict[str, Any], message: str
) -> None:
    path = write(tmp_path, {"orders": orders})
    with pytest.raises(ConfigurationError) as refused:
        load_order_catalog(str(path))
    assert message in str(refused.value)


def test_the_same_code_for_two_doses_of_one_drug_is_accepted(tmp_path: Path) -> None:
    orders = {
        "medication:zongertinib@120mg": entry("Z-1"),
        "medication:zongertinib@180mg": entry("Z-1"),
    }
    codes = load_order_catalog(str(write(tmp_path, {"orders": orders}))).drug_codes
    assert codes.drug(SITE, "Z-1") is Drug.ZONGERTINIB


def test_the_service_refuses_to_start_with_a_conflicting_drug_code(
    settings: Settings, tmp_path: Path
) -> None:
    path = write(tmp_path, {"orders": {"medication:sevabertinib": entry("1658084", RXNORM)}})
    with pytest.raises(ConfigurationError, match=r"orders\['medication:sevabertinib'\]"):
        create_app(
            settings.model_copy(update={"order_catalog": str(path)}), today=lambda: FIXED_TODAY
        )

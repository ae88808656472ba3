"""Discovery: GET /cds-services (cds-hooks_2.0@4-@13, @29, @36, @55-@59)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from flask.testing import FlaskClient

from cds_service.discovery import ALL_DATA

TOKEN = re.compile(r"\{\{([^}]*)\}\}")
ALLOWED_TOKENS = {
    "context.patientId",
    "context.encounterId",
    "context.userId",
    "userPractitionerId",
    "userPractitionerRoleId",
    "userPatientId",
    "userRelatedPersonId",
}
RESOURCE_TYPES = {
    "Patient",
    "Condition",
    "Observation",
    "MedicationStatement",
    "MedicationRequest",
    "MedicationAdministration",
    "Procedure",
    "DiagnosticReport",
    "AdverseEvent",
}


def services(client: FlaskClient) -> list[dict[str, Any]]:
    response = client.get("/cds-services")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"services"}
    found: list[dict[str, Any]] = body["services"]
    return found


def test_discovery_lists_the_three_hooks_with_required_fields(client: FlaskClient) -> None:
    """cds-hooks_2.0@4, @5, @6, @7, @8, @9, @10, @12, @13."""
    listed = services(client)
    assert sorted((s["hook"], s["id"]) for s in listed) == [
        ("order-select", "her2-nsclc-order-select"),
        ("order-sign", "her2-nsclc-order-sign"),
        ("patient-view", "her2-nsclc-patient-view"),
    ]
    for service in listed:
        for field in ("hook", "id", "title", "description", "usageRequirements"):
            assert isinstance(service[field], str)
            assert service[field].strip()


def test_every_service_has_its_own_id_one_hook_each(client: FlaskClient) -> None:
    """Clients key services by id (the sandbox as ``{discovery URL}/{id}``): two entries
    sharing an id make one vanish, so order-select and order-sign have two ids."""
    listed = services(client)
    ids = [s["id"] for s in listed]
    assert len(set(ids)) == len(ids) == 3
    assert len({s["hook"] for s in listed}) == 3


def test_discovery_prefetches_only_what_every_call_needs(client: FlaskClient) -> None:
    """cds-hooks_2.0@11, @29, @36: the patient and the conditions; the rest is read only
    for a patient in scope (cds-hooks.md, "Cheap when the patient is out of scope")."""
    for service in services(client):
        assert service["prefetch"] == {
            "patient": "Patient/{{context.patientId}}",
            "conditions": "Condition?patient={{context.patientId}}",
        }


def every_template(client: FlaskClient) -> dict[str, str]:
    """Discovery's templates and those read for a patient in scope."""
    templates = {t.key: t.query for t in ALL_DATA}
    for service in services(client):
        templates.update(service["prefetch"])
    return templates


def test_prefetch_templates_stay_in_the_restricted_grammar(client: FlaskClient) -> None:
    """cds-hooks_2.0@55, @56, @57, @58, @59: tokens, reads, type searches, reference params,
    token equality."""
    for template in every_template(client).values():
        for token in TOKEN.findall(template):
            assert token in ALLOWED_TOKENS, token
        path, _, query = template.partition("?")
        resource_type, _, read_id = path.partition("/")
        assert resource_type in RESOURCE_TYPES
        if read_id:
            assert not query
            assert TOKEN.fullmatch(read_id)
        for name, value in parse_qsl(query, keep_blank_values=True):
            assert name in {
                "patient", "subject", "code", "category", "intent", "status", "_count", "_sort",
                "date",
            }, name  # fmt: skip
            assert ":" not in name or name.endswith(":in")
            if name == "_sort":
                assert re.fullmatch(r"-?[a-z]+", value)
            if name in {"code", "category", "intent", "status"}:
                assert "," not in value, "one token per parameter: no OR lists"


# US Core 6.1 to 8.0 server SHALL-support searches (cds-hooks.md, "What real EHRs can
# answer"): resource type -> the parameter sets (besides _count/_sort) a server SHALL
# support. Types outside US Core may only be asked for as optional keys.
US_CORE_SHALL: dict[str, tuple[frozenset[str], ...]] = {
    "Condition": (frozenset({"patient"}), frozenset({"patient", "category"})),
    "Observation": (
        frozenset({"patient", "category"}),
        frozenset({"patient", "code"}),
        frozenset({"patient", "category", "date"}),
    ),
    "MedicationRequest": (
        frozenset({"patient", "intent"}),
        frozenset({"patient", "intent", "status"}),
    ),
    "Procedure": (frozenset({"patient"}),),
    "DiagnosticReport": (
        frozenset({"patient"}),
        frozenset({"patient", "category"}),
        frozenset({"patient", "code"}),
    ),
}
NOT_IN_US_CORE = {"MedicationStatement", "MedicationAdministration", "AdverseEvent"}


def test_every_template_is_a_us_core_shall_search_or_an_optional_key(
    client: FlaskClient,
) -> None:
    """Certified EHRs implement US Core: Observation never by patient alone,
    MedicationRequest with intent; MedicationStatement, MedicationAdministration and
    AdverseEvent as optional keys only."""
    required = {t.key: t.required for t in ALL_DATA}
    checked = 0
    for key, template in every_template(client).items():
        path, _, query = template.partition("?")
        resource_type, _, read_id = path.partition("/")
        if read_id:
            assert resource_type == "Patient"  # a read by id: every FHIR server serves it
            continue
        names = frozenset(n for n, _ in parse_qsl(query)) - {"_count", "_sort"}
        if resource_type in NOT_IN_US_CORE:
            assert required[key] is False, f"{key}: not in US Core, so optional only"
        else:
            assert names in US_CORE_SHALL[resource_type], f"{key}: {template}"
        checked += 1
    assert checked >= 10
    observations = [q for q in every_template(client).values() if q.startswith("Observation")]
    assert observations
    assert all("category=" in q or "code=" in q for q in observations)


def test_genomic_results_are_read_from_the_laboratory_category(client: FlaskClient) -> None:
    """Genomic results sit in Observations of category laboratory (US Core)."""
    laboratory = [t for t in ALL_DATA if t.query.endswith("category=laboratory")]
    assert [t.required for t in laboratory] == [True]


def test_discovery_with_a_trailing_slash_answers_the_same(client: FlaskClient) -> None:
    """Some clients append a slash to the discovery URL: the same document, no redirect."""
    plain, slashed = client.get("/cds-services"), client.get("/cds-services/")
    assert slashed.status_code == 200
    assert slashed.get_json() == plain.get_json()


README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_lists_every_template() -> None:
    """Epic does not read discovery: each site types the templates in from the README."""
    text = README.read_text(encoding="utf-8")
    section = text.split("<!-- prefetch-templates:start -->", 1)[1].split(
        "<!-- prefetch-templates:end -->", 1
    )[0]
    listed = {
        cells[0].strip("` "): cells[1].strip("` ").replace("\\|", "|")
        for row in section.strip().splitlines()[2:]
        if (cells := [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]])
    }
    assert listed == {t.key: t.query for t in ALL_DATA}

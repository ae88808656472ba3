"""The service's OpenAPI 3.1 description: valid, served as is, and true to the app.

``cds_service/openapi.json`` is what the hostile-input tests generate requests from, so
it must stay in step with the routes, the service ids and the prefetch keys of discovery.
It is generated (``python -m cds_service.openapi``): the stored file must be what the
generator writes, and the card format in it must be the wire models'.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

import cds_service
from cds_service import openapi
from cds_service.discovery import ALL_DATA, WHOLE_RECORD_OBSERVATIONS
from cds_service.wire import MAX_SUMMARY_CHARS

OPENAPI = Path(cds_service.__file__).parent / "openapi.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(OPENAPI.read_text(encoding="utf-8"))
    return loaded


def test_the_stored_description_is_the_generated_one() -> None:
    """Regenerate with ``python -m cds_service.openapi`` after changing a wire model, a
    route's description or a prefetch template."""
    assert OPENAPI.read_text(encoding="utf-8") == openapi.rendered()
    assert openapi.main(["--check"]) == 0


def test_the_check_command_fails_on_a_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text(openapi.rendered().replace("maxLength", "maxLen"), encoding="utf-8")
    monkeypatch.setattr(openapi, "PATH", stale)
    assert openapi.main(["--check"]) == 1
    assert openapi.main([]) == 0
    assert openapi.main(["--check"]) == 0


def test_the_card_format_is_the_wire_models(document: dict[str, Any]) -> None:
    """The response schemas come from cds_service.wire: the summary limit, the required
    fields and the closed value sets are the models'."""
    schemas = document["components"]["schemas"]
    card = schemas["Card"]
    assert card["properties"]["summary"]["maxLength"] == MAX_SUMMARY_CHARS - 1 == 139
    assert set(card["required"]) == {"uuid", "summary", "indicator", "source"}
    assert card["additionalProperties"] is False
    assert card["dependentRequired"] == {"suggestions": ["selectionBehavior"]}
    assert schemas["Indicator"]["enum"] == ["info", "warning", "critical"]
    assert schemas["SelectionBehavior"]["enum"] == ["at-most-one", "any"]
    assert schemas["ActionType"]["enum"] == ["create", "update", "delete"]
    assert schemas["Link"]["properties"]["type"]["enum"] == ["absolute", "smart"]
    assert set(schemas["OverrideReasonCoding"]["required"]) == {"system", "code", "display"}
    assert schemas["Action"]["properties"]["resource"] == {
        "$ref": "#/components/schemas/FhirResource"
    }
    extension = schemas["ResponseExtension"]["properties"]
    assert extension == {
        "her2-nsclc-cds.data-quality": {"$ref": "#/components/schemas/DataQuality"}
    }
    assert "null" not in json.dumps(schemas["HookResponse"])


GOLDEN = Path(__file__).parent / "rules" / "golden"


def test_every_golden_response_fits_the_described_hook_response(document: dict[str, Any]) -> None:
    """The generated response schema describes what the service sends: every golden hook
    response (cards and data-quality extension) validates against it, and a card with an
    element the wire models do not know does not."""
    schema = {"$ref": "#/components/schemas/HookResponse", "components": document["components"]}
    validator = OAS31Validator(schema)
    goldens = sorted(GOLDEN.glob("*.json"))
    assert len(goldens) > 100
    for golden in goldens:
        body = json.loads(golden.read_text(encoding="utf-8"))
        assert list(validator.iter_errors(body)) == [], golden.name
    with_cards = next(
        body
        for body in (json.loads(g.read_text(encoding="utf-8")) for g in goldens)
        if body["cards"]
    )
    with_cards["cards"][0]["unknown"] = "x"
    assert not validator.is_valid(with_cards)


def test_the_description_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_the_served_description_is_the_file(client: FlaskClient) -> None:
    """cds-hooks_2.0@1: GET /openapi.json answers JSON, byte for byte the packaged file."""
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_data() == OPENAPI.read_bytes()


def test_every_route_is_described(app: Flask, document: dict[str, Any]) -> None:
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    described = {
        (
            re.sub(r"/her2-nsclc-(patient-view|order-select|order-sign)$", "/{service_id}", path),
            method,
        )
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert routes == described


def test_the_service_ids_are_those_of_discovery(
    client: FlaskClient, document: dict[str, Any]
) -> None:
    """cds-hooks_2.0@10, @16: one concrete path per service id; feedback takes the same ids."""
    ids = {service["id"] for service in client.get("/cds-services").get_json()["services"]}
    paths = document["paths"]
    assert {f"/cds-services/{i}" for i in ids} <= set(paths)
    (parameter,) = paths["/cds-services/{service_id}/feedback"]["parameters"]
    name = parameter["$ref"].rsplit("/", 1)[1]
    assert set(document["components"]["parameters"][name]["schema"]["enum"]) == ids
    unknown = paths["/cds-services/{service_id}"]["post"]["parameters"][0]["schema"]
    assert set(unknown["not"]["enum"]) == ids


def test_the_hooks_of_each_path_are_those_of_discovery(
    client: FlaskClient, document: dict[str, Any]
) -> None:
    services = client.get("/cds-services").get_json()["services"]
    schemas = document["components"]["schemas"]

    def hooks_of(schema: dict[str, Any]) -> set[str]:
        if "$ref" in schema:
            return hooks_of(schemas[schema["$ref"].rsplit("/", 1)[1]])
        if "oneOf" in schema:
            return {hook for option in schema["oneOf"] for hook in hooks_of(option)}
        return {schema["properties"]["hook"]["const"]}

    for service_id in {s["id"] for s in services}:
        operation = document["paths"][f"/cds-services/{service_id}"]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert hooks_of(body) == {s["hook"] for s in services if s["id"] == service_id}


def test_the_prefetch_keys_are_those_of_discovery(
    client: FlaskClient, document: dict[str, Any]
) -> None:
    """cds-hooks_2.0@11, @36: the described prefetch keys are the advertised templates, the
    keys read for a patient in scope, and the former whole-record Observation key."""
    services = client.get("/cds-services").get_json()["services"]
    described = document["components"]["schemas"]["Prefetch"]["properties"]
    every = {t.key: t.query for t in ALL_DATA}
    assert set(described) == set(every) | set(WHOLE_RECORD_OBSERVATIONS)
    for service in services:
        assert set(service["prefetch"]) <= set(described)
        for key, template in service["prefetch"].items():
            assert described[key]["description"].startswith(template)
    for key, template in every.items():
        assert described[key]["description"].startswith(template)


def test_the_documented_depth_limit_is_the_code_s(document: dict[str, Any]) -> None:
    from cds_service.http import MAX_DEPTH

    assert f"nested at most {MAX_DEPTH} levels deep" in document["info"]["description"]

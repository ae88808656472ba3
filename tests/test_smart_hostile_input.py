"""Hostile input to the SMART app's patient model: the hook calls' cases, on its Bundle.

``POST /smart/patient-model`` reads its body as a hook call does (``http.read_json_object``),
so the hand-written cases of ``test_hostile_input`` run here on a Bundle: deep nesting,
numbers JSON cannot carry, huge strings, bodies that are not UTF-8 JSON, bodies over the
limit with and without a Content-Length (wrong content types and bodies over the limit
are also parametrized there). Then what only this endpoint has: bodies that are not a
Bundle of the right type, records of two patients (422, never a picture of both),
malformed resources (data issues, not failures) and the ``as_of`` parameter. The
generated requests of ``test_hostile_input`` cover it too (it is in ``openapi.json``).

Every answer must satisfy ``test_hostile_input.assert_answer``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cds_service.settings import Settings
from tests.conftest import FIXED_TODAY, LiveServer
from tests.smart_support import PATIENT_MODEL, journey_bundle, patient_id_of
from tests.test_hostile_input import assert_answer, assert_chunked_body_is_413


def post(client: FlaskClient, body: bytes | str, query: str = "") -> TestResponse:
    return client.post(PATIENT_MODEL + query, data=body, content_type="application/json")


def assert_smart_answer(response: TestResponse) -> None:
    assert_answer(
        response.status_code, response.mimetype or "", response.get_data(), hook_call=False
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def diagnostics(response: TestResponse) -> str:
    text: str = response.get_json()["issue"][0]["diagnostics"]
    return text


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _bundle_with(where: str, fragment: str) -> str:
    """The journey Bundle as JSON text, with ``fragment`` spliced in at ``where``."""
    bundle = journey_bundle()
    marker = "__FRAGMENT__"
    if where == "resource":
        bundle["entry"][1]["resource"]["extension"] = marker
    elif where == "entry":
        bundle["entry"].append(marker)
    else:
        bundle["extra"] = marker
    return json.dumps(bundle).replace(f'"{marker}"', fragment)


# --- The hook calls' cases ------------------------------------------------------------------


@pytest.mark.parametrize("depth", [101, 1_000, 100_000])
@pytest.mark.parametrize("where", ["body", "resource", "entry", "unknown field"])
def test_deep_nesting_is_400(client: FlaskClient, where: str, depth: int) -> None:
    body = _nested(depth) if where == "body" else _bundle_with(where, _nested(depth))
    response = post(client, body)
    assert response.status_code == 400
    assert_smart_answer(response)


def test_nesting_up_to_the_limit_is_read(client: FlaskClient) -> None:
    bundle = journey_bundle()
    condition: dict[str, Any] = {"resourceType": "Condition", "id": "deep", "extension": []}
    bundle["entry"].append({"resource": condition})
    # body > entry[] > entry > Condition > extension[]: 5 levels
    levels, innermost = 5, condition["extension"]
    while levels + 2 <= 100:
        child: dict[str, Any] = {"url": "urn:x", "extension": []}
        innermost.append(child)
        innermost, levels = child["extension"], levels + 2
    response = client.post(PATIENT_MODEL, json=bundle)
    assert response.status_code == 200
    assert_smart_answer(response)


@pytest.mark.parametrize("where", ["resource id", "resource text", "unknown field"])
def test_huge_strings_are_read(client: FlaskClient, where: str) -> None:
    huge = "x" * (4 * 1024 * 1024)
    bundle = journey_bundle()
    if where == "resource id":
        bundle["entry"].append(
            {"resource": {"resourceType": "Condition", "id": huge, "onsetDateTime": "x"}}
        )
    elif where == "resource text":
        bundle["entry"][0]["resource"]["text"] = {"status": "generated", "div": huge}
    else:
        bundle["note"] = huge
    response = client.post(PATIENT_MODEL, json=bundle)
    assert response.status_code == 200
    assert_smart_answer(response)


@pytest.mark.parametrize("number", ["1" * 5_000, "NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize("where", ["resource", "unknown field"])
def test_numbers_json_cannot_carry_are_400(client: FlaskClient, where: str, number: str) -> None:
    response = post(client, _bundle_with(where, number))
    assert response.status_code == 400
    assert_smart_answer(response)
    assert "not valid JSON" in diagnostics(response)


def test_large_but_representable_numbers_are_read(client: FlaskClient) -> None:
    response = post(client, _bundle_with("resource", "[" + "9" * 4_000 + ", 1e308, 5e-324]"))
    assert response.status_code == 200
    assert_smart_answer(response)


@pytest.mark.parametrize(
    "body",
    [
        b'{"resourceType": "\xff"}',
        b'{"resourceType": "\xed\xa0\x80"}',
        '{"resourceType": "Bundle"}'.encode("utf-16"),
        b"\xef\xbb\xbf{}",
        b"",
        b"\x00" * 64,
    ],
)
def test_undecodable_bodies_are_400(client: FlaskClient, body: bytes) -> None:
    response = post(client, body)
    assert response.status_code == 400
    assert_smart_answer(response)


def test_an_escaped_lone_surrogate_in_a_resource_is_an_answer_not_a_500(
    client: FlaskClient,
) -> None:
    """Valid JSON text; the Condition's id is then no FHIR id: a data issue or a refusal."""
    body = _bundle_with("entry", '{"resource": {"resourceType": "Condition", "id": "\\ud800"}}')
    response = post(client, body)
    assert response.status_code in (200, 400)
    assert_smart_answer(response)


def test_a_body_over_the_limit_is_413_while_reading_a_chunked_one(
    live_server: LiveServer, settings: Settings
) -> None:
    """No Content-Length: the limit holds while reading, over real HTTP."""
    bundle = json.dumps(journey_bundle()).encode()
    body = bundle + b" " * (settings.max_body_bytes + 1 - len(bundle))
    assert_chunked_body_is_413(
        live_server.url + PATIENT_MODEL,
        body,
        hook_call=False,
        content_type="application/fhir+json",
    )


def test_a_body_at_the_limit_is_read(client: FlaskClient, settings: Settings) -> None:
    bundle = journey_bundle()
    bundle["pad"] = ""
    bundle["pad"] = "x" * (settings.max_body_bytes - len(json.dumps(bundle).encode()))
    body = json.dumps(bundle).encode()
    assert len(body) == settings.max_body_bytes
    response = post(client, body)
    assert response.status_code == 200
    assert_smart_answer(response)


# --- Not a Bundle of one patient's resources -------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "resourceType"),
        ({"resourceType": "Patient", "id": "p1"}, "resourceType"),
        ({"resourceType": ["Bundle"], "type": "collection"}, "resourceType"),
        ({"resourceType": "Bundle"}, "Bundle.type"),
        ({"resourceType": "Bundle", "type": "transaction", "entry": []}, "Bundle.type"),
        ({"resourceType": "Bundle", "type": {"collection": 1}}, "Bundle.type"),
        ({"resourceType": "Bundle", "type": ["searchset"]}, "Bundle.type"),
        ({"resourceType": "Bundle", "type": "collection", "entry": {}}, "Bundle.entry"),
        ({"resourceType": "Bundle", "type": "collection", "entry": "x"}, "Bundle.entry"),
    ],
)
def test_what_is_not_a_collection_or_searchset_bundle_is_400(
    client: FlaskClient, body: dict[str, Any], field: str
) -> None:
    response = client.post(PATIENT_MODEL, json=body)
    assert response.status_code == 400
    assert_smart_answer(response)
    assert response.get_json()["issue"][0]["expression"] == [field]


@pytest.mark.parametrize("body", ["[]", '"Bundle"', "42", "null"])
def test_a_body_that_is_not_an_object_is_400(client: FlaskClient, body: str) -> None:
    response = post(client, body)
    assert response.status_code == 400
    assert_smart_answer(response)


def _another_patients(kind: str) -> dict[str, Any]:
    if kind == "Patient":
        return {"resourceType": "Patient", "id": "someone-else"}
    if kind == "subject":
        return {
            "resourceType": "Observation",
            "id": "theirs",
            "status": "final",
            "code": {"text": "LVEF"},
            "subject": {"reference": "Patient/someone-else"},
        }
    if kind == "absolute patient":
        return {
            "resourceType": "MedicationAdministration",
            "id": "theirs",
            "status": "completed",
            "subject": {"reference": "https://ehr.example.org/fhir/Patient/someone-else"},
        }
    return {  # a nested Bundle hiding the other record
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "id": "someone-else"}}],
    }


@pytest.mark.parametrize("kind", ["Patient", "subject", "absolute patient", "nested Bundle"])
def test_a_bundle_with_another_patients_resources_is_422(client: FlaskClient, kind: str) -> None:
    """Never draw two records as one: the whole Bundle is refused, nothing is returned."""
    bundle = journey_bundle()
    bundle["entry"].append({"resource": _another_patients(kind)})
    response = client.post(PATIENT_MODEL, json=bundle)
    assert response.status_code == 422
    assert_smart_answer(response)
    assert "another patient" in diagnostics(response)
    assert "someone-else" not in response.get_data(as_text=True)


def test_resources_of_another_patient_than_the_named_one_are_422(client: FlaskClient) -> None:
    """``X-SMART-Patient`` names the launch's patient; the Bundle is about someone else."""
    response = client.post(
        PATIENT_MODEL, json=journey_bundle(), headers={"X-SMART-Patient": "someone-else"}
    )
    assert response.status_code == 422
    assert_smart_answer(response)


def test_without_a_patient_resource_or_header_the_patient_is_unknown_422(
    client: FlaskClient,
) -> None:
    bundle = journey_bundle()
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Patient"]
    response = client.post(PATIENT_MODEL, json=bundle)
    assert response.status_code == 422
    assert_smart_answer(response)
    named = client.post(
        PATIENT_MODEL, json=bundle, headers={"X-SMART-Patient": patient_id_of(journey_bundle())}
    )
    assert named.status_code == 200


@pytest.mark.parametrize("header", ["a/b", "../Patient/x", "x" * 65, "p 1", "é"])
def test_a_patient_header_that_is_no_fhir_id_is_400(client: FlaskClient, header: str) -> None:
    response = client.post(
        PATIENT_MODEL, json=journey_bundle(), headers={"X-SMART-Patient": header}
    )
    assert response.status_code == 400
    assert_smart_answer(response)


def test_malformed_resources_are_data_issues_not_failures(client: FlaskClient) -> None:
    bundle = journey_bundle()
    bundle["entry"] += [
        {"resource": 42},
        {"fullUrl": "urn:uuid:no-resource"},
        {"resource": {"id": "no-type"}},
        {
            "resource": {
                "resourceType": "Observation",
                "id": "lvef-garbled",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "10230-1"}]},
                "subject": {"reference": f"Patient/{patient_id_of(bundle)}"},
                "effectiveDateTime": "not a date",
                "valueQuantity": {"value": "sixty", "unit": "%"},
            }
        },
    ]
    response = client.post(PATIENT_MODEL, json=bundle)
    assert response.status_code == 200
    assert_smart_answer(response)
    reasons = {issue["reason"] for issue in response.get_json()["data_issues"]}
    assert {"not a JSON object", "entry without resource", "no resourceType"} <= reasons
    issues = response.get_json()["data_issues"]
    assert any(issue["resource_id"] == "lvef-garbled" for issue in issues), issues


# --- as_of --------------------------------------------------------------------------------


def test_as_of_defaults_to_today(client: FlaskClient) -> None:
    response = client.post(PATIENT_MODEL, json=journey_bundle())
    assert response.get_json()["as_of"] == FIXED_TODAY.isoformat()


def test_as_of_is_the_evaluation_date(client: FlaskClient) -> None:
    response = client.post(PATIENT_MODEL + "?as_of=2026-06-30", json=journey_bundle())
    assert response.status_code == 200
    body = response.get_json()
    assert body["as_of"] == "2026-06-30"
    assert body["patient"]["as_of"] == "2026-06-30"


@pytest.mark.parametrize(
    "query",
    [
        "as_of=2026-02-30",
        "as_of=20261121",
        "as_of=2026-W47-6",
        "as_of=2026-11-21T00:00:00",
        "as_of=",
        "as_of=0001-01-01",
        "as_of=9999-12-31",
        "as_of=2026-11-21&as_of=2026-11-22",
        "as_of=%00",
    ],
)
def test_an_as_of_that_is_not_one_plain_date_is_400(client: FlaskClient, query: str) -> None:
    response = client.post(f"{PATIENT_MODEL}?{query}", json=journey_bundle())
    assert response.status_code == 400
    assert_smart_answer(response)
    assert response.get_json()["issue"][0]["expression"] == ["as_of"]

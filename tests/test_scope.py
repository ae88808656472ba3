"""Staged resolution against a real FHIR server: scope first, the rest only in scope.

SEKMET (a real FHIR R4 server) runs behind the demo's proxy, which counts what it
forwards. patient-view fires on every chart opened, so an out-of-scope patient must cost
at most the discovery prefetch's two reads (cds-hooks.md, "Cheap when the patient is out
of scope"); an in-scope patient gets the same cards whichever way the data comes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.discovery import SCOPE_DATA
from cds_service.scope import in_scope
from demo.fhir_server import FhirServer, demo_fhir_server, load
from demo.hooks import HOOKS, hook_request, prefetch_for
from demo.patients import DemoPatient, benchmark_record, out_of_scope_record
from fhir_mappings.build import build_patient
from tests.conftest import FIXED_TODAY
from tests.requests import with_empty_adverse_events

TOKEN = "scope-test-token"
OUT = out_of_scope_record(200, today=FIXED_TODAY)
IN = benchmark_record(200, today=FIXED_TODAY)


@pytest.fixture(scope="module")
def fhir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirServer]:
    with demo_fhir_server(tmp_path_factory.mktemp("scope-fhir"), access_token=TOKEN) as server:
        load(server, [*OUT.resources, *IN.resources])
        yield server


def post(client: FlaskClient, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = client.post(f"/cds-services/{HOOKS[body['hook']]}", json=body)
    answer: dict[str, Any] = response.get_json()
    return response.status_code, answer


def counted(fhir: FhirServer, client: FlaskClient, body: dict[str, Any]) -> tuple[Any, list[str]]:
    """The answer, and the requests the FHIR server got for it."""
    before = len(fhir.forwarded)
    status, answer = post(client, body)
    assert status == 200, answer
    return answer, fhir.forwarded[before:]


def resource_type(path: str) -> str:
    """``/fhir/Condition?patient=x`` -> ``Condition``."""
    return path.split("?", 1)[0].removeprefix("/fhir/").split("/", 1)[0]


def scope_prefetch(patient: DemoPatient) -> dict[str, Any]:
    """What a client honouring discovery sends: the patient and the conditions."""
    full = prefetch_for(patient)
    return {t.key: full[t.key] for t in SCOPE_DATA}


pytestmark = pytest.mark.fhir_server


def test_out_of_scope_patient_view_reads_at_most_the_patient_and_conditions(
    client: FlaskClient, fhir: FhirServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cds_service.access")
    body = hook_request(OUT, "patient-view", fhir_server=fhir.base_url, access_token=TOKEN)
    answer, reads = counted(fhir, client, body)
    assert answer == {"cards": []}
    assert len(reads) <= 2
    assert sorted(resource_type(r) for r in reads) == ["Condition", "Patient"]
    (access,) = [r.__dict__["fields"] for r in caplog.records if r.name == "cds_service.access"]
    assert access["scope"] == "out"
    assert access["fetches"] == len(reads)


def test_out_of_scope_with_the_discovery_prefetch_reads_nothing(
    client: FlaskClient, fhir: FhirServer
) -> None:
    body = hook_request(OUT, "patient-view", fhir_server=fhir.base_url, access_token=TOKEN)
    body["prefetch"] = scope_prefetch(OUT)
    answer, reads = counted(fhir, client, body)
    assert answer == {"cards": []}
    assert reads == []


def test_in_scope_fetches_the_rest_and_gives_the_cards_of_a_full_prefetch(
    client: FlaskClient, fhir: FhirServer
) -> None:
    """Discovery prefetch only: scope decided on it, the rest fetched concurrently; the
    cards are those the whole record sent in prefetch gives."""
    staged = hook_request(IN, "patient-view", fhir_server=fhir.base_url, access_token=TOKEN)
    staged["prefetch"] = scope_prefetch(IN)
    staged_answer, reads = counted(fhir, client, staged)
    assert len(reads) >= 12  # every other key at least once
    assert {"Patient", "Condition"}.isdisjoint(resource_type(r) for r in reads)
    full = hook_request(IN, "patient-view", prefetch=True, hook_instance=staged["hookInstance"])
    status, full_answer = post(client, full)
    assert status == 200
    rules = [c["source"]["topic"]["code"] for c in staged_answer["cards"]]
    assert "seq-after-platinum" in rules
    assert staged_answer == full_answer


def test_keys_the_client_sends_anyway_are_used_not_fetched(
    client: FlaskClient, fhir: FhirServer
) -> None:
    """A site that configured full prefetch: nothing is fetched."""
    body = hook_request(
        IN, "patient-view", prefetch=True, fhir_server=fhir.base_url, access_token=TOKEN
    )
    answer, reads = counted(fhir, client, body)
    assert reads == []
    assert "seq-after-platinum" in [c["source"]["topic"]["code"] for c in answer["cards"]]


def test_an_anticancer_draft_order_puts_a_patient_without_nsclc_in_scope(
    client: FlaskClient, fhir: FhirServer
) -> None:
    body = hook_request(OUT, "order-sign", fhir_server=fhir.base_url, access_token=TOKEN)
    body["context"]["draftOrders"]["entry"] = [{"resource": IN.draft_orders[0]}]
    body["context"]["draftOrders"]["entry"][0]["resource"]["subject"] = {
        "reference": f"Patient/{OUT.patient_id}"
    }
    _, reads = counted(fhir, client, body)
    assert len(reads) > 2


def test_a_non_anticancer_draft_order_leaves_the_patient_out_of_scope(
    client: FlaskClient, fhir: FhirServer
) -> None:
    body = hook_request(OUT, "order-sign", fhir_server=fhir.base_url, access_token=TOKEN)
    body["context"]["draftOrders"]["entry"] = [
        {
            "resource": {
                "resourceType": "MedicationRequest",
                "id": "statin",
                "status": "draft",
                "intent": "order",
                "subject": {"reference": f"Patient/{OUT.patient_id}"},
                "medicationCodeableConcept": {"text": "atorvastatin 20 mg tablet"},
            }
        }
    ]
    answer, reads = counted(fhir, client, body)
    assert answer == {"cards": []}
    assert len(reads) <= 2


# --- The scope gate never hides a card of the golden corpus ----------------------------

TESTS = Path(__file__).resolve().parent
GOLDEN = TESTS / "rules" / "golden"
REQUESTS = sorted((TESTS / "rules" / "fixtures").glob("*.json")) + sorted(
    (TESTS / "vignettes").glob("*.json")
)


def test_every_request_of_the_corpus_that_earns_cards_is_in_scope_on_its_first_stage() -> None:
    """The first stage (patient, conditions, draft orders) alone puts every fixture and
    vignette with cards in scope, so staging changes no answer of the corpus."""
    with_cards = 0
    for path in REQUESTS:
        request = with_empty_adverse_events(json.loads(path.read_text()))
        golden = GOLDEN / path.name
        if golden.exists() and not json.loads(golden.read_text())["cards"]:
            continue
        prefetch = request["prefetch"]
        first = [prefetch[t.key] for t in SCOPE_DATA if prefetch.get(t.key) is not None]
        context = request["context"]
        patient = build_patient(
            first,
            as_of=FIXED_TODAY,
            draft_orders=context.get("draftOrders"),
            selections=context.get("selections"),
        )
        assert in_scope(patient), path.name
        with_cards += 1
    assert with_cards >= 40


def test_the_scope_prefilter_keeps_every_condition_the_mapping_reads_as_nsclc_or_ild() -> None:
    """``conditions.may_put_in_scope`` skips mapping most Conditions; it must never skip
    one that ``build_patient`` reads as NSCLC or ILD (every Condition of the corpus and
    the demo records, plus text-only variants)."""
    from demo.patients import demo_patients
    from fhir_mappings import conditions
    from fhir_mappings.terminology import concept_text

    found: list[dict[str, Any]] = []
    for path in REQUESTS:
        for bundle in json.loads(path.read_text())["prefetch"].values():
            if isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle":
                found += [e["resource"] for e in bundle.get("entry", []) if "resource" in e]
    for demo in demo_patients(today=FIXED_TODAY):
        found += list(demo.resources)
    found += [OUT.resources[i] for i in range(len(OUT.resources))]
    text_only = [
        {**c, "id": f"{c.get('id')}-text", "code": {"text": concept_text(c["code"])}}
        for c in found
        if c.get("resourceType") == "Condition" and isinstance(c.get("code"), dict)
    ]
    read, skipped = 0, 0
    for condition in [c for c in found if c.get("resourceType") == "Condition"] + text_only:
        patient = build_patient([condition], as_of=FIXED_TODAY)
        relevant = bool(patient.cancer and patient.cancer.nsclc) or bool(patient.ild_episodes)
        if relevant:
            assert conditions.may_put_in_scope(condition), condition.get("id")
            read += 1
        elif not conditions.may_put_in_scope(condition):
            skipped += 1
    assert read >= 50
    assert skipped >= 20


@pytest.mark.parametrize(
    "code",
    [
        {"text": "Essential hypertension"},
        {"text": "  "},
        {"coding": [{"system": "http://snomed.info/sct", "code": "254637007"}], "text": "NSCLC"},
        {"coding": [{"system": "http://snomed.info/sct", "code": "x", "display": "Lung cancer"}]},
        {"coding": [{"system": " ", "code": "1"}, {"code": "2", "display": "ILD"}]},
        {"coding": []},
        {"coding": ["not an object"]},
        {"coding": {"system": "http://snomed.info/sct", "code": "254637007"}},
        {"system": "http://snomed.info/sct", "code": "254637007"},
        {"display": "Pneumonitis"},
        {"text": "lung cancer", "display": "x"},
        "NSCLC",
        None,
    ],
)
def test_the_scope_prefilter_reads_a_code_as_the_mapping_does(code: Any) -> None:
    """The one-pass reading of the usual CodeableConcept shapes gives what the mapping's
    ``codings`` and ``concept_text`` give; other shapes go to those readers."""
    from fhir_mappings import conditions
    from fhir_mappings.terminology import codings, concept_text

    usual = conditions._usual_concept(code)
    if usual is not None:
        assert usual == (codings(code), concept_text(code))
    generic = any(
        s.match_coding(system, value)
        for s in conditions._SCOPE_SETS
        for system, value in codings(code)
    ) or any(s.match_text(concept_text(code)) for s in conditions._SCOPE_SETS)
    assert conditions.may_put_in_scope({"resourceType": "Condition", "code": code}) == generic

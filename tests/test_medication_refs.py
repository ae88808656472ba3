"""``medicationReference`` targets read from ``fhirServer`` (issue 9, "Medications as EHRs
send them"; ``cds_service.medication_refs``).

The hook-level tests take the ``dose-zongertinib`` golden fixture (a 180 mg zongertinib
draft for a 72 kg patient with NSCLC; every prefetch key sent) and move the draft's
medication into a Medication that only the FHIR server holds: SEKMET (a real FHIR server
process, which requires the bearer token) or the scripted server for the failures.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from cds_service.medication_refs import wanted
from cds_service.prefetch import PrefetchResolver
from cds_service.settings import Settings
from cds_service.wire import HookRequest
from demo.fhir_server import FHIR_JSON, Reply, Responder, ScriptedFhirServer
from tests.fhir_server import SekmetServer, sekmet_fhir_server_fixture
from tests.requests import with_empty_adverse_events

sekmet_fhir_server = sekmet_fhir_server_fixture()

FIXTURE = (
    Path(__file__).resolve().parent
    / "rules"
    / "fixtures"
    / "dose-zongertinib__fires__180mg_at_72kg.json"
)
ZONGERTINIB = {"code": {"text": "zongertinib (Hernexeos) 60 mg tablet"}}
ON_SERVER = "gaps-zongertinib-60"
"""The id of the Medication put on SEKMET by these tests (unique to them)."""
BASE = "https://ehr.example/fhir"


def medication(ident: str) -> dict[str, Any]:
    return {"resourceType": "Medication", "id": ident, **copy.deepcopy(ZONGERTINIB)}


def order(ident: str, reference: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": ident,
        "status": "active",
        "intent": "order",
        "medicationReference": {"reference": reference},
        "subject": {"reference": "Patient/p1"},
    }


def draft_bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": r} for r in resources
    ]}  # fmt: skip


# --- which references are read (no I/O) ------------------------------------------------


def test_only_missing_references_on_the_fhir_server_base_are_read() -> None:
    contained = order("c", "#med")
    contained["contained"] = [medication("med")]
    resources = [
        order("rel", "Medication/m1"),
        order("abs", f"{BASE}/Medication/m2"),
        order("sent", "Medication/here"),
        medication("here"),
        contained,
        order("foreign", "https://other.example/fhir/Medication/m3"),
        order("escape", f"{BASE}/%2e%2e/Medication/m4"),
        order("not-medication", "Substance/s1"),
        {**order("coded", "Medication/m5"), "medicationCodeableConcept": {"text": "x"}},
    ]
    found = wanted(resources, None, fhir_server=BASE, limit=10)
    assert found.reads == ("Medication/m1", "Medication/m2")
    assert found.referrers["Medication/m2"] == (("MedicationRequest", "abs"),)
    not_followed = {issue.resource_id: issue.reason for issue in found.issues}
    assert set(not_followed) == {"foreign", "escape", "not-medication"}
    assert "not followed" in not_followed["foreign"]
    assert "https://other.example/fhir/Medication/m3" in not_followed["foreign"]


def test_draft_orders_come_first_and_the_count_is_bounded() -> None:
    drafts = draft_bundle(order("d1", "Medication/from-draft"), medication("bundled"))
    resources = [order(f"r{n}", f"Medication/m{n}") for n in range(3)]
    resources.append(order("r-bundled", "Medication/bundled"))  # in the draftOrders Bundle
    found = wanted(resources, drafts, fhir_server=BASE, limit=2)
    assert found.reads == ("Medication/from-draft", "Medication/m0")
    past = sorted(i.resource_id or "" for i in found.issues)
    assert past == ["r1", "r2"]
    assert all("CDS_FHIR_MAX_MEDICATION_READS" in i.reason for i in found.issues)


def test_without_a_fhir_server_an_unresolved_reference_is_a_data_issue() -> None:
    found = wanted([order("r", "Medication/m1")], None, fhir_server=None, limit=5)
    assert found.reads == ()
    (issue,) = found.issues
    assert (issue.resource_type, issue.resource_id) == ("MedicationRequest", "r")
    assert "no usable fhirServer" in issue.reason


# --- the hook -----------------------------------------------------------------------


def put_medication(server: SekmetServer, resource: dict[str, Any]) -> None:
    with requests.put(
        f"{server.base_url}/Medication/{resource['id']}",
        json=resource,
        headers={"Authorization": f"Bearer {server.access_token}", "Content-Type": FHIR_JSON},
        timeout=10,
    ) as response:
        assert response.status_code in (200, 201), response.text


def zongertinib_by_reference(reference: str, fhir_server: str, token: str) -> dict[str, Any]:
    request: dict[str, Any] = with_empty_adverse_events(json.loads(FIXTURE.read_text()))
    (entry,) = request["context"]["draftOrders"]["entry"]
    draft = entry["resource"]
    del draft["medicationCodeableConcept"]
    draft["medicationReference"] = {"reference": reference}
    request["fhirServer"] = fhir_server
    request["fhirAuthorization"] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read user/Medication.read",
        "subject": "her2-nsclc-cds",
    }
    return request


def call(client: FlaskClient, request: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/cds-services/her2-nsclc-order-select", json=request)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def topics(body: dict[str, Any]) -> list[str]:
    return [card["source"]["topic"]["code"] for card in body["cards"]]


def issues(body: dict[str, Any]) -> list[dict[str, Any]]:
    quality = body.get("extension", {}).get("her2-nsclc-cds.data-quality", {})
    found: list[dict[str, Any]] = quality.get("issues", [])
    return found


@pytest.mark.fhir_server
def test_a_draft_whose_medication_is_only_on_the_server_gets_the_zongertinib_cards(
    client: FlaskClient, sekmet_fhir_server: SekmetServer
) -> None:
    server = sekmet_fhir_server
    put_medication(server, medication(ON_SERVER))
    request = zongertinib_by_reference(
        f"Medication/{ON_SERVER}", server.base_url, server.access_token
    )
    body = call(client, request)
    assert "dose-zongertinib" in topics(body)
    assert not [i for i in issues(body) if "medicationReference" in i["reason"]]

    # The same reference, absolute on the fhirServer base, is read too.
    request = zongertinib_by_reference(
        f"{server.base_url}/Medication/{ON_SERVER}", server.base_url, server.access_token
    )
    assert "dose-zongertinib" in topics(call(client, request))

    # A Medication the server does not hold: no zongertinib checks, and it says why.
    request = zongertinib_by_reference(
        "Medication/gaps-not-on-the-server", server.base_url, server.access_token
    )
    body = call(client, request)
    assert "dose-zongertinib" not in topics(body)
    (issue,) = [i for i in issues(body) if "medicationReference" in i["reason"]]
    assert issue["id"] == "zong-draft"
    assert "no such resource" in issue["reason"]


@pytest.mark.fhir_server
def test_the_draft_medication_puts_a_call_without_a_recorded_nsclc_in_scope(
    client: FlaskClient, sekmet_fhir_server: SekmetServer
) -> None:
    """The draft's Medication is read before the scope decision (medication_refs, "Draft
    orders"): without it, the call would be out of scope and silent."""
    server = sekmet_fhir_server
    put_medication(server, medication(ON_SERVER))
    request = zongertinib_by_reference(
        f"Medication/{ON_SERVER}", server.base_url, server.access_token
    )
    request["prefetch"]["conditions"] = {"resourceType": "Bundle", "type": "searchset"}
    assert "dose-zongertinib" in topics(call(client, request))


@pytest.mark.fhir_server
def test_a_reference_to_another_host_is_not_followed(
    client: FlaskClient, sekmet_fhir_server: SekmetServer
) -> None:
    server = sekmet_fhir_server
    with ScriptedFhirServer(
        {"/fhir/Medication/elsewhere": Reply(body=medication("elsewhere"))}
    ) as foreign:
        request = zongertinib_by_reference(
            f"{foreign.base_url}/Medication/elsewhere", server.base_url, server.access_token
        )
        body = call(client, request)
        assert foreign.requests == []  # neither the read nor the token went there
    assert "dose-zongertinib" not in topics(body)
    (issue,) = [i for i in issues(body) if "medicationReference" in i["reason"]]
    assert issue["id"] == "zong-draft"
    assert "not followed" in issue["reason"]
    assert server.access_token not in json.dumps(body)


def test_a_failing_read_is_a_data_issue_not_an_error(client: FlaskClient) -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]}
    with ScriptedFhirServer({"/fhir/Medication/broken": Reply(500, outcome)}) as fhir:
        request = zongertinib_by_reference("Medication/broken", fhir.base_url, "a-token")
        body = call(client, request)
        (read,) = fhir.requests_to("/fhir/Medication/broken")
    assert read.headers["authorization"] == "Bearer a-token"
    assert "dose-zongertinib" not in topics(body)
    (issue,) = [i for i in issues(body) if "medicationReference" in i["reason"]]
    assert issue == {
        "resourceType": "MedicationRequest",
        "id": "zong-draft",
        "reason": "medicationReference Medication/broken could not be read from the FHIR "
        "server: the FHIR server answered 500",
    }


def test_reads_run_concurrently_under_the_call_deadline(settings: Settings) -> None:
    """Three reads of 1.2 s each all succeed within the 3 s deadline (one after the other
    they could not); one that does not answer in time fails alone."""
    routes: dict[str, Responder] = {
        f"/fhir/Medication/m{n}": Reply(body=medication(f"m{n}"), delay_s=1.2) for n in range(3)
    }
    routes["/fhir/Medication/late"] = Reply(body=medication("late"), delay_s=5)
    with ScriptedFhirServer(routes) as fhir, PrefetchResolver(settings) as resolver:
        request = HookRequest.model_validate(
            {
                "hook": "order-select",
                "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
                "fhirServer": fhir.base_url,
                "context": {},
            }
        )
        wanted_refs = [f"Medication/m{n}" for n in range(3)] + ["Medication/late"]
        result = resolver.read(request, wanted_refs, key="medicationReference")
    assert sorted(r["id"] for r in result.resources) == ["m0", "m1", "m2"]
    assert list(result.failures) == ["Medication/late"]
    # the request timeout (2 s) comes before the call's deadline (3 s) in these settings
    assert "request timeout" in result.failures["Medication/late"]
    assert result.stats.wall_seconds < settings.fhir_deadline_s + 1

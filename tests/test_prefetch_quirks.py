"""EHR quirks and staging in prefetch resolution, against a scripted FHIR server.

- A searchset holding only an OperationOutcome "no results" entry (Epic) is an empty
  result; one whose OperationOutcome is an error fails the key (prefetched: fetched again).
- A search whose ``self`` link dropped a template parameter is filtered locally.
- Keys the client sends beyond the templates are used; the former whole-record
  ``observations`` key answers every Observation key; a resource is kept once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cds_service.discovery import PATIENT_DATA
from cds_service.errors import PreconditionFailed
from cds_service.prefetch import PrefetchResolver, PrefetchTemplate, answers_query
from cds_service.settings import Settings
from cds_service.wire import HookRequest
from demo.fhir_server import Reply, Responder, ScriptedFhirServer
from tests.requests import patient_view

PATIENT_ID = "quirk-1"
LAB = PrefetchTemplate(
    "observationsLaboratory",
    "Observation?patient={{context.patientId}}&category=laboratory",
    covered_by=("observations",),
)
VITALS = PrefetchTemplate(
    "observationsVitalSigns",
    "Observation?patient={{context.patientId}}&category=vital-signs",
    covered_by=("observations",),
)
ORDERS = PrefetchTemplate(
    "medicationRequests", "MedicationRequest?patient={{context.patientId}}&intent=order"
)
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def observation(ident: str, category: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
        "code": {"text": ident},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }


LAB_1 = observation("alt-1", "laboratory")
VITAL_1 = observation("weight-1", "vital-signs")

NO_RESULTS = {
    "resourceType": "OperationOutcome",
    "issue": [
        {
            "severity": "warning",
            "code": "processing",
            "details": {"text": "No resources were found matching the search criteria."},
        }
    ],
}
SEARCH_ERROR = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "exception", "diagnostics": "search failed"}],
}


def searchset(*resources: Any, self_link: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }
    if self_link is not None:
        bundle["link"] = [{"relation": "self", "url": self_link}]
    return bundle


def request(prefetch: dict[str, Any] | None, server: ScriptedFhirServer | None) -> HookRequest:
    if server is None:
        return patient_view(PATIENT_ID, prefetch)
    return patient_view(PATIENT_ID, prefetch, fhir_server=server.base_url, token="quirk-token")


@pytest.fixture
def resolver() -> Iterator[PrefetchResolver]:
    with PrefetchResolver(Settings(fhir_deadline_s=3.0, fhir_request_timeout_s=2.0)) as made:
        yield made


def ids(resources: tuple[Any, ...]) -> list[str]:
    return [r["id"] for r in resources]


# --- OperationOutcome entries -----------------------------------------------------------


def test_a_searchset_holding_only_a_no_results_outcome_is_an_empty_result(
    resolver: PrefetchResolver,
) -> None:
    """Epic answers an empty search so, without ``search.mode``."""
    with ScriptedFhirServer({"/fhir/Observation": Reply(body=searchset(NO_RESULTS))}) as server:
        data = resolver.resolve(request(None, server), [LAB])
    assert data.resources == ()
    assert data.unavailable == ()


def test_a_prefetched_no_results_bundle_is_an_empty_result(resolver: PrefetchResolver) -> None:
    data = resolver.resolve(request({"observationsLaboratory": searchset(NO_RESULTS)}, None), [LAB])
    assert data.resources == ()


def test_a_fetched_search_answered_by_an_error_outcome_entry_is_412(
    resolver: PrefetchResolver,
) -> None:
    routes: dict[str, Responder] = {"/fhir/Observation": Reply(body=searchset(SEARCH_ERROR))}
    with ScriptedFhirServer(routes) as server, pytest.raises(PreconditionFailed) as raised:
        resolver.resolve(request(None, server), [LAB])
    assert "error OperationOutcome" in raised.value.diagnostics


def test_a_prefetched_bundle_with_an_error_outcome_is_fetched_again(
    resolver: PrefetchResolver,
) -> None:
    routes: dict[str, Responder] = {"/fhir/Observation": Reply(body=searchset(LAB_1))}
    with ScriptedFhirServer(routes) as server:
        prefetch = {"observationsLaboratory": searchset(SEARCH_ERROR)}
        data = resolver.resolve(request(prefetch, server), [LAB])
        assert len(server.requests_to("/fhir/Observation")) == 1
    assert ids(data.resources) == ["alt-1"]


# --- self links that dropped a parameter ------------------------------------------------


def test_a_search_whose_self_link_dropped_the_category_is_filtered_here(
    resolver: PrefetchResolver,
) -> None:
    def everything(_: Any) -> Reply:
        link = f"{server.base_url}/Observation?patient={PATIENT_ID}"
        return Reply(body=searchset(LAB_1, VITAL_1, self_link=link))

    with ScriptedFhirServer() as server:
        server.routes["/fhir/Observation"] = everything
        data = resolver.resolve(request(None, server), [LAB])
    assert ids(data.resources) == ["alt-1"]


def test_a_search_whose_self_link_kept_the_category_is_trusted(
    resolver: PrefetchResolver,
) -> None:
    """The server applied it (e.g. by a category hierarchy): nothing is second-guessed."""

    def applied(_: Any) -> Reply:
        link = f"{server.base_url}/Observation?patient={PATIENT_ID}&category=laboratory"
        return Reply(body=searchset(LAB_1, VITAL_1, self_link=link))

    with ScriptedFhirServer() as server:
        server.routes["/fhir/Observation"] = applied
        data = resolver.resolve(request(None, server), [LAB])
    assert ids(data.resources) == ["alt-1", "weight-1"]


def test_a_prefetched_bundle_whose_self_link_dropped_the_intent_is_filtered_here(
    resolver: PrefetchResolver,
) -> None:
    order = {"resourceType": "MedicationRequest", "id": "o", "intent": "order"}
    plan = {"resourceType": "MedicationRequest", "id": "p", "intent": "plan"}
    link = f"https://ehr.example/fhir/MedicationRequest?patient={PATIENT_ID}"
    prefetch = {"medicationRequests": searchset(order, plan, self_link=link)}
    data = resolver.resolve(request(prefetch, None), [ORDERS])
    assert ids(data.resources) == ["o"]


# --- Keys beyond the templates ------------------------------------------------------------


def test_the_former_whole_record_key_answers_every_observation_key(
    resolver: PrefetchResolver,
) -> None:
    prefetch = {"observations": searchset(LAB_1, VITAL_1)}
    data = resolver.resolve(request(prefetch, None), [LAB, VITALS], extra_keys=["observations"])
    assert ids(data.resources) == ["alt-1", "weight-1"]
    assert data.unavailable == ()


def test_without_the_broader_key_a_missing_required_key_is_still_412(
    resolver: PrefetchResolver,
) -> None:
    prefetch = {"observationsLaboratory": searchset(LAB_1)}
    with pytest.raises(PreconditionFailed) as raised:
        resolver.resolve(request(prefetch, None), [LAB, VITALS])
    assert "observationsVitalSigns" in raised.value.diagnostics


def test_extra_keys_are_used_and_unusable_ones_ignored(resolver: PrefetchResolver) -> None:
    prefetch = {
        "observationsLaboratory": searchset(LAB_1),
        "siteExtra": searchset(VITAL_1),
        "siteSingle": {"resourceType": "Observation", "id": "single"},
        "siteBroken": {"resourceType": "OperationOutcome", "issue": []},
        "siteText": "not a resource",
    }
    extra = ["siteExtra", "siteSingle", "siteBroken", "siteText", "absent"]
    data = resolver.resolve(request(prefetch, None), [LAB], extra_keys=extra)
    assert ids(data.resources) == ["alt-1", "weight-1", "single"]
    assert data.unavailable == ()


def test_a_resource_returned_by_two_keys_is_kept_once(resolver: PrefetchResolver) -> None:
    prefetch = {"observationsLaboratory": searchset(LAB_1), "observations": searchset(LAB_1)}
    data = resolver.resolve(request(prefetch, None), [LAB], extra_keys=["observations"])
    assert ids(data.resources) == ["alt-1"]


def test_answers_query_judges_type_category_code_and_intent() -> None:
    lab, vitals = PATIENT_DATA[0], PATIENT_DATA[1]
    assert answers_query(lab.query, LAB_1)
    assert not answers_query(lab.query, VITAL_1)
    assert answers_query(vitals.query, VITAL_1)
    ecog = next(t for t in PATIENT_DATA if t.key == "observationsEcog")
    coded = {
        "resourceType": "Observation",
        "code": {"coding": [{"system": "http://loinc.org", "code": "89247-1"}]},
    }
    assert answers_query(ecog.query, coded)
    assert not answers_query(ecog.query, LAB_1)
    assert answers_query(ORDERS.query, {"resourceType": "MedicationRequest", "intent": "order"})
    assert not answers_query(ORDERS.query, {"resourceType": "MedicationRequest", "intent": "plan"})

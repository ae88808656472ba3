"""Prefetch tokens, and each prefetch state with the value in the request (no network).

The states that need a FHIR server are in ``test_prefetch_fhir_server.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cds_service.errors import ConfigurationError, PreconditionFailed
from cds_service.prefetch import (
    PrefetchResolver,
    PrefetchTemplate,
    TokenValueMissingError,
    UnknownTokenError,
    render_query,
)
from cds_service.settings import Settings
from cds_service.wire import HookRequest

PATIENT_ID = "her2-pt-8841"
TOKEN = "opaque-access-token-5f1c"
CLOSED_PORT_SERVER = "http://127.0.0.1:9/fhir"
"""Port 9 (discard) is closed on test machines: a request there would fail loudly."""

CONTEXT: dict[str, Any] = {
    "userId": "Practitioner/example-oncologist",
    "patientId": PATIENT_ID,
}

PATIENT = PrefetchTemplate("patient", "Patient/{{context.patientId}}")
CONDITIONS = PrefetchTemplate("conditions", "Condition?patient={{context.patientId}}")
PROCEDURES = PrefetchTemplate(
    "procedures", "Procedure?patient={{context.patientId}}", required=False
)
ENCOUNTER = PrefetchTemplate("encounter", "Encounter/{{context.encounterId}}")


def hook_request(
    prefetch: dict[str, Any] | None,
    *,
    fhir_server: str | None = None,
    context: dict[str, Any] | None = None,
) -> HookRequest:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "9a2f0c3e-5a51-4c51-9a0c-bb1f3a0f2e11",
        "context": CONTEXT if context is None else context,
        "prefetch": prefetch,
    }
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
        body["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer"}
    return HookRequest.model_validate(body)


def searchset(*resources: Any) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": resource} for resource in resources],
    }


def nsclc_condition(condition_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": condition_id,
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "254637007"}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }


@pytest.fixture
def resolver() -> Iterator[PrefetchResolver]:
    with PrefetchResolver(Settings()) as prefetch_resolver:
        yield prefetch_resolver


def refused(resolver: PrefetchResolver, request: HookRequest, *templates: PrefetchTemplate) -> str:
    """The diagnostics of the 412 ``resolve`` raises; checks they leak nothing."""
    with pytest.raises(PreconditionFailed) as raised:
        resolver.resolve(request, templates)
    diagnostics = raised.value.diagnostics
    assert raised.value.status == 412
    assert PATIENT_ID not in diagnostics
    assert TOKEN not in diagnostics
    assert "127.0.0.1" not in diagnostics
    return diagnostics


# --- Tokens ---------------------------------------------------------------------------


def test_context_token_is_replaced_by_the_context_field() -> None:
    """`{{context.patientId}}`: delimited by {{ }}, named context.X.

    cds-hooks_2.0@35, cds-hooks_2.0@55, cds-hooks_2.0@59
    """
    query = "Condition?patient={{context.patientId}}&_sort=-date&_count=50"
    assert render_query(query, CONTEXT) == f"Condition?patient={PATIENT_ID}&_sort=-date&_count=50"


def test_primitive_root_fields_of_any_json_type_render() -> None:
    """cds-hooks_2.0@57: root-level primitive fields are eligible tokens."""
    context = {"patientId": "p1", "encounterId": "enc-7", "count": 5, "flag": False}
    query = "Encounter/{{context.encounterId}}?x={{context.count}}&y={{context.flag}}"
    assert render_query(query, context) == "Encounter/enc-7?x=5&y=false"


@pytest.mark.parametrize(
    ("token", "user_id"),
    [
        ("userPractitionerId", "Practitioner/123"),
        ("userPractitionerRoleId", "PractitionerRole/123"),
        ("userPatientId", "Patient/123"),
        ("userRelatedPersonId", "RelatedPerson/123"),
    ],
)
def test_user_identifier_tokens_come_from_user_id(token: str, user_id: str) -> None:
    """cds-hooks_2.0@56: the four user identifiers, read from context.userId."""
    kind = user_id.partition("/")[0]
    assert render_query(f"{kind}/{{{{{token}}}}}", {"userId": user_id}) == f"{kind}/123"


def test_user_token_for_another_user_type_has_no_value() -> None:
    """cds-hooks_2.0@56: userPractitionerId is not given by a PractitionerRole userId."""
    with pytest.raises(TokenValueMissingError, match="userPractitionerId"):
        render_query("Practitioner/{{userPractitionerId}}", {"userId": "PractitionerRole/9"})


def test_substituted_values_are_url_encoded() -> None:
    rendered = render_query("Condition?patient={{context.patientId}}", {"patientId": "a b&c/d?e"})
    assert rendered == "Condition?patient=a%20b%26c%2Fd%3Fe"


@pytest.mark.parametrize(
    "query",
    [
        "Condition?patient={{patientId}}",
        "Condition?patient={{context.draftOrders.entry}}",
        "Condition?patient={{context}}",
        "Condition?patient={{userId}}",
        "Condition?patient={{context.patientId",
        "Condition?patient=context.patientId}}",
    ],
)
def test_tokens_outside_the_grammar_are_rejected(query: str) -> None:
    """Only context.X and the four user ids, delimited by {{ }}.

    cds-hooks_2.0@55, cds-hooks_2.0@56
    """
    with pytest.raises(UnknownTokenError):
        render_query(query, {**CONTEXT, "draftOrders": {"resourceType": "Bundle"}})
    with pytest.raises(UnknownTokenError):
        PrefetchTemplate("conditions", query)


def test_a_context_field_that_is_not_primitive_has_no_token_value() -> None:
    """cds-hooks_2.0@57: draftOrders (an object) is not eligible."""
    context = {**CONTEXT, "draftOrders": {"resourceType": "Bundle"}}
    with pytest.raises(TokenValueMissingError, match=r"context\.draftOrders"):
        render_query("MedicationRequest?x={{context.draftOrders}}", context)


def test_an_absent_context_field_has_no_token_value() -> None:
    with pytest.raises(TokenValueMissingError, match=r"context\.encounterId"):
        render_query(ENCOUNTER.query, CONTEXT)


def test_templates_are_relative_and_know_reads_from_searches() -> None:
    """cds-hooks_2.0@58: reads (Type/id) and type searches."""
    with pytest.raises(ValueError, match="relative"):
        PrefetchTemplate("patient", "https://ehr.example/fhir/Patient/{{context.patientId}}")
    assert PATIENT.is_read
    assert PATIENT.resource_type == "Patient"
    assert not CONDITIONS.is_read
    assert CONDITIONS.resource_type == "Condition"


# --- Prefetch states with the value in the request ------------------------------------


def test_null_prefetch_is_no_data(resolver: PrefetchResolver) -> None:
    """cds-hooks_2.0@28: `null` (a read that found nothing) means none, and nothing is fetched."""
    data = resolver.resolve(
        hook_request({"patient": None}, fhir_server=CLOSED_PORT_SERVER), [PATIENT]
    )
    assert data.resources == ()
    assert data.unavailable == ()
    assert data.stats.fetches == 0


def test_prefetched_bundles_give_their_resources_in_template_order(
    resolver: PrefetchResolver,
) -> None:
    """cds-hooks_2.0@28: prefetched data used as sent, keys in template order."""
    patient = {"resourceType": "Patient", "id": PATIENT_ID}
    first, second = nsclc_condition("c1"), nsclc_condition("c2")
    procedure = {"resourceType": "Procedure", "id": "pr1", "status": "completed"}
    prefetch = {
        "procedures": searchset(procedure),
        "conditions": searchset(first, second),
        "patient": patient,
    }
    data = resolver.resolve(
        hook_request(prefetch, fhir_server=CLOSED_PORT_SERVER), [PATIENT, CONDITIONS, PROCEDURES]
    )
    assert data.resources == (patient, first, second, procedure)
    assert data.unavailable == ()
    assert data.stats.fetches == 0
    assert data.stats.wall_seconds >= 0


@pytest.mark.parametrize(
    "bundle",
    [
        {"resourceType": "Bundle", "type": "searchset", "total": 0},
        {"resourceType": "Bundle", "type": "searchset", "entry": []},
    ],
)
def test_an_empty_bundle_is_no_data(resolver: PrefetchResolver, bundle: dict[str, Any]) -> None:
    """cds-hooks_2.0@28"""
    data = resolver.resolve(hook_request({"conditions": bundle}), [CONDITIONS])
    assert data.resources == ()
    assert data.unavailable == ()


def test_junk_entries_are_kept_for_the_mapping_and_search_outcomes_dropped(
    resolver: PrefetchResolver,
) -> None:
    """Parse tolerantly: junk is passed on as is (the mapping records it as a data issue)."""
    condition = nsclc_condition("c1")
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "warning"}]}
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": condition, "search": {"mode": "match"}},
            {"resource": outcome, "search": {"mode": "outcome"}},
            {"fullUrl": "urn:uuid:no-resource"},
            "not an entry",
            {"resource": 42},
        ],
    }
    data = resolver.resolve(hook_request({"conditions": bundle}), [CONDITIONS])
    assert data.resources == (condition, {"fullUrl": "urn:uuid:no-resource"}, "not an entry", 42)


def test_a_single_resource_is_used_as_is(resolver: PrefetchResolver) -> None:
    """cds-hooks_2.0@28: a read template's prefetch is the resource itself."""
    patient = {"resourceType": "Patient", "id": PATIENT_ID, "gender": "female"}
    data = resolver.resolve(hook_request({"patient": patient}), [PATIENT])
    assert data.resources == (patient,)


def test_absent_key_without_fhir_server_is_412_naming_the_key(
    resolver: PrefetchResolver,
) -> None:
    """cds-hooks_2.0@54: required data neither prefetched nor fetchable: 412."""
    diagnostics = refused(resolver, hook_request({"patient": None}), PATIENT, CONDITIONS)
    assert diagnostics == (
        "prefetch key 'conditions' could not be fetched: the client sent no prefetch "
        "and the request has no usable fhirServer"
    )


def test_412_carries_an_operation_outcome_pointing_at_the_key(resolver: PrefetchResolver) -> None:
    """cds-hooks_2.0@54"""
    with pytest.raises(PreconditionFailed) as raised:
        resolver.resolve(hook_request(None), [CONDITIONS])
    outcome = raised.value.to_operation_outcome()
    assert outcome["resourceType"] == "OperationOutcome"
    (issue,) = outcome["issue"]
    assert issue["code"] == "incomplete"
    assert issue["expression"] == ["prefetch.conditions"]


def test_absent_optional_key_without_fhir_server_is_unavailable(
    resolver: PrefetchResolver,
) -> None:
    """cds-hooks_2.0@34: an optional key that cannot be had is reported, not fatal."""
    patient = {"resourceType": "Patient", "id": PATIENT_ID}
    data = resolver.resolve(hook_request({"patient": patient}), [PATIENT, PROCEDURES])
    assert data.resources == (patient,)
    assert data.unavailable == ("procedures",)


def test_operation_outcome_without_fhir_server_is_412(resolver: PrefetchResolver) -> None:
    """The client's OperationOutcome is seen; the data cannot be had.

    cds-hooks_2.0@52, cds-hooks_2.0@54
    """
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout", "diagnostics": f"Patient {PATIENT_ID}"}],
    }
    diagnostics = refused(resolver, hook_request({"conditions": outcome}), CONDITIONS)
    assert "'conditions'" in diagnostics
    assert "OperationOutcome" in diagnostics
    assert "timeout" not in diagnostics


def test_operation_outcome_for_optional_key_without_fhir_server_is_unavailable(
    resolver: PrefetchResolver,
) -> None:
    """cds-hooks_2.0@52"""
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]}
    data = resolver.resolve(hook_request({"procedures": outcome}), [PROCEDURES])
    assert data.resources == ()
    assert data.unavailable == ("procedures",)


@pytest.mark.parametrize(
    "value",
    ["Condition?patient=123", [nsclc_condition("c1")], 3, True, {"entry": []}],
    ids=["string", "list", "number", "boolean", "object-without-resourceType"],
)
def test_an_unusable_prefetch_value_is_treated_like_an_operation_outcome(
    resolver: PrefetchResolver, value: Any
) -> None:
    """Unusable client prefetch, no fhirServer to fetch it: 412.

    cds-hooks_2.0@52, cds-hooks_2.0@54
    """
    diagnostics = refused(resolver, hook_request({"conditions": value}), CONDITIONS)
    assert "prefetch key 'conditions'" in diagnostics
    assert "not a FHIR resource" in diagnostics


def test_a_key_whose_token_has_no_value_is_unavailable_without_fetching(
    resolver: PrefetchResolver,
) -> None:
    """cds-hooks_2.0@57: no encounterId in the context: the Encounter key cannot be asked."""
    request = hook_request({}, fhir_server=CLOSED_PORT_SERVER)
    diagnostics = refused(resolver, request, ENCOUNTER)
    assert "'encounter'" in diagnostics
    assert "{{context.encounterId}}" in diagnostics

    optional = PrefetchTemplate("encounter", ENCOUNTER.query, required=False)
    data = resolver.resolve(request, [optional])
    assert data.unavailable == ("encounter",)
    assert data.stats.fetches == 0


def test_a_bundle_with_next_page_and_no_fhir_server_is_412(resolver: PrefetchResolver) -> None:
    """cds-hooks_2.0@54: the rest of the search cannot be read: the data would be partial."""
    bundle = searchset(nsclc_condition("c1"))
    bundle["link"] = [{"relation": "next", "url": "https://ehr.example/fhir/Condition?page=2"}]
    diagnostics = refused(resolver, hook_request({"conditions": bundle}), CONDITIONS)
    assert "next page" in diagnostics


def test_a_next_link_to_another_server_is_never_followed(resolver: PrefetchResolver) -> None:
    """The bearer token goes to fhirServer only: a foreign next link fails its key unfetched."""
    foreign = [
        "https://elsewhere.example/fhir/Condition?page=2",
        "http://127.0.0.1:10/fhir/Condition?page=2",  # other port
        "https://127.0.0.1:9/fhir/Condition?page=2",  # other scheme
        "http://127.0.0.1:9/other/Condition?page=2",  # other base path
        "http://127.0.0.1:9/fhirx/Condition?page=2",  # base path prefix, not a parent
        "http://127.0.0.1:9/fhir/../admin?page=2",
        "http://user@127.0.0.1:9/fhir/Condition?page=2",
    ]
    for url in foreign:
        bundle = searchset(nsclc_condition("c1"))
        bundle["link"] = [{"relation": "next", "url": url}]
        request = hook_request({"conditions": bundle}, fhir_server=CLOSED_PORT_SERVER)
        diagnostics = refused(resolver, request, CONDITIONS)
        assert "outside the fhirServer base" in diagnostics, url
        optional = PrefetchTemplate("conditions", CONDITIONS.query, required=False)
        data = resolver.resolve(request, [optional])
        assert data.unavailable == ("conditions",)
        assert data.stats.fetches == 0


@pytest.mark.parametrize("fhir_server", ["ftp://ehr.example/fhir", "not a url", "http:///fhir"])
def test_a_fhir_server_that_is_not_an_http_url_cannot_be_used(
    resolver: PrefetchResolver, fhir_server: str
) -> None:
    """cds-hooks_2.0@54"""
    diagnostics = refused(resolver, hook_request(None, fhir_server=fhir_server), CONDITIONS)
    assert "no usable fhirServer" in diagnostics


def test_no_templates_resolve_to_nothing(resolver: PrefetchResolver) -> None:
    data = resolver.resolve(hook_request(None), [])
    assert (data.resources, data.unavailable, data.stats.fetches) == ((), (), 0)


def test_a_pool_of_zero_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="POOL_SIZE"):
        PrefetchResolver(Settings(fhir_pool_size=0))

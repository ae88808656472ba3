"""Prefetch against real FHIR servers: SEKMET (a FHIR R4 server process) and scripted ones.

SEKMET accepts only the bearer token it was started with, so every fetch that
returns its data proves that ``fhirAuthorization.access_token`` was sent. The
scripted server (``demo.fhir_server.ScriptedFhirServer``) produces the failures
a healthy server will not: errors, hangs, trickles, broken JSON, endless or
foreign ``next`` links. Time limits are loose: the deadline plus 1.5 s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cds_service.errors import PreconditionFailed
from cds_service.prefetch import PrefetchResolver, PrefetchTemplate, ResolvedData
from cds_service.settings import Settings
from cds_service.wire import HookRequest
from demo.fhir_server import RecordedRequest, Reply, ScriptedFhirServer, free_port
from tests.fhir_server import SekmetServer, sekmet_fhir_server_fixture
from tests.requests import patient_view

pytestmark = pytest.mark.fhir_server
sekmet_fhir_server = sekmet_fhir_server_fixture()

MARGIN_S = 1.5
PATIENT_ID = "her2-pt-8841"
SCRIPTED_TOKEN = "scripted-access-token-77d0"

PATIENT = PrefetchTemplate("patient", "Patient/{{context.patientId}}")
CONDITIONS = PrefetchTemplate("conditions", "Condition?patient={{context.patientId}}")
CONDITIONS_PAGED = PrefetchTemplate(
    "conditions", "Condition?patient={{context.patientId}}&_count=1"
)

MakeResolver = Callable[..., PrefetchResolver]


@pytest.fixture
def make_resolver() -> Iterator[MakeResolver]:
    """Resolvers with settings changed as asked; all closed at the end."""
    made: list[PrefetchResolver] = []

    def make(**changes: Any) -> PrefetchResolver:
        resolver = PrefetchResolver(Settings(**changes))
        made.append(resolver)
        return resolver

    yield make
    for resolver in made:
        resolver.close()


@pytest.fixture
def scripted() -> Iterator[ScriptedFhirServer]:
    with ScriptedFhirServer() as server:
        yield server


def hook_request(
    fhir_server: str | None,
    *,
    token: str | None,
    patient_id: str = PATIENT_ID,
    prefetch: dict[str, Any] | None = None,
) -> HookRequest:
    return patient_view(patient_id, prefetch, fhir_server=fhir_server, token=token)


def sekmet_request(server: SekmetServer, **changes: Any) -> HookRequest:
    changes.setdefault("token", server.access_token)
    changes.setdefault("patient_id", server.patient_id)
    return hook_request(server.base_url, **changes)


def ids(data: ResolvedData) -> list[str]:
    return [resource["id"] for resource in data.resources]


def refused(
    resolver: PrefetchResolver, request: HookRequest, templates: list[PrefetchTemplate]
) -> tuple[str, float]:
    """The 412's diagnostics (checked to leak nothing) and how long resolve took."""
    started = time.monotonic()
    with pytest.raises(PreconditionFailed) as raised:
        resolver.resolve(request, templates)
    elapsed = time.monotonic() - started
    diagnostics = raised.value.diagnostics
    for secret in (SCRIPTED_TOKEN, PATIENT_ID, "127.0.0.1", "sekmet-test-token"):
        assert secret not in diagnostics
    return diagnostics, elapsed


def searchset(*resources: Any, next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": resource} for resource in resources],
    }
    if next_url is not None:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def condition(condition_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": condition_id,
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }


# --- SEKMET: each prefetch state -------------------------------------------------------


def test_absent_keys_are_fetched_from_the_fhir_server_with_the_bearer_token(
    sekmet_fhir_server: SekmetServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@34: no prefetch: the service reads fhirServer with the access token."""
    resolver = make_resolver()
    data = resolver.resolve(sekmet_request(sekmet_fhir_server), [PATIENT, CONDITIONS])
    assert data.resources[0]["resourceType"] == "Patient"
    assert ids(data) == [sekmet_fhir_server.patient_id, *sekmet_fhir_server.condition_ids]
    assert data.unavailable == ()
    assert data.stats.fetches == 2
    assert data.stats.fetch_seconds_total > 0


@pytest.mark.parametrize(
    "token", ["a-token-the-server-does-not-know", None], ids=["wrong-token", "no-authorization"]
)
def test_a_refused_token_is_412(
    sekmet_fhir_server: SekmetServer, make_resolver: MakeResolver, token: str | None
) -> None:
    """cds-hooks_2.0@54: the FHIR server refuses the service (401): required data unobtainable."""
    request = sekmet_request(sekmet_fhir_server, token=token)
    diagnostics, _ = refused(make_resolver(), request, [CONDITIONS])
    assert diagnostics == (
        "prefetch key 'conditions' could not be fetched: the FHIR server answered 401"
    )
    assert "a-token-the-server-does-not-know" not in diagnostics


def test_a_read_of_a_missing_resource_is_no_data(
    sekmet_fhir_server: SekmetServer, make_resolver: MakeResolver
) -> None:
    """A read template answered 404 means none, not failure (like a prefetched null)."""
    request = sekmet_request(sekmet_fhir_server, patient_id="no-such-patient")
    data = make_resolver().resolve(request, [PATIENT, CONDITIONS])
    assert data.resources == ()
    assert data.unavailable == ()
    assert data.stats.fetches == 2


def test_null_prefetch_is_none_and_the_server_is_not_asked(
    sekmet_fhir_server: SekmetServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@28: null means no data; nothing is fetched."""
    request = sekmet_request(sekmet_fhir_server, prefetch={"patient": None})
    data = make_resolver().resolve(request, [PATIENT])
    assert data.resources == ()
    assert data.stats.fetches == 0


def test_a_prefetched_bundle_is_used_as_sent(
    sekmet_fhir_server: SekmetServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@28: the client's Bundle is the data, even when the server holds others."""
    only_in_prefetch = condition("prefetched-only")
    request = sekmet_request(
        sekmet_fhir_server, prefetch={"conditions": searchset(only_in_prefetch)}
    )
    data = make_resolver().resolve(request, [CONDITIONS])
    assert data.resources == (only_in_prefetch,)
    assert data.stats.fetches == 0


def test_the_next_pages_of_a_prefetched_bundle_are_read(
    sekmet_fhir_server: SekmetServer, make_resolver: MakeResolver
) -> None:
    """A prefetched first page; the rest read through its real next links.

    cds-hooks_2.0@28, cds-hooks_2.0@34
    """
    first_page = sekmet_fhir_server.get(
        f"Condition?patient={sekmet_fhir_server.patient_id}&_count=1"
    )
    assert [link["relation"] for link in first_page["link"]].count("next") == 1
    request = sekmet_request(sekmet_fhir_server, prefetch={"conditions": first_page})
    data = make_resolver().resolve(request, [CONDITIONS])
    assert ids(data) == list(sekmet_fhir_server.condition_ids)
    assert data.stats.fetches == 2


def test_a_fetched_search_follows_every_next_page(
    sekmet_fhir_server: SekmetServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@34: three pages of one Condition each."""
    data = make_resolver().resolve(sekmet_request(sekmet_fhir_server), [CONDITIONS_PAGED])
    assert ids(data) == list(sekmet_fhir_server.condition_ids)
    assert data.stats.fetches == 3


def test_more_next_pages_than_allowed_is_412(
    sekmet_fhir_server: SekmetServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@54: a search cut short would be partial data."""
    resolver = make_resolver(fhir_max_pages=1)
    diagnostics, _ = refused(resolver, sekmet_request(sekmet_fhir_server), [CONDITIONS_PAGED])
    assert diagnostics.endswith("the search has more than 1 next pages")


def test_an_operation_outcome_prefetch_is_fetched_again(
    sekmet_fhir_server: SekmetServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@52: the client's prefetch failed; the service reads the key itself."""
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    request = sekmet_request(sekmet_fhir_server, prefetch={"conditions": outcome})
    data = make_resolver().resolve(request, [CONDITIONS])
    assert ids(data) == list(sekmet_fhir_server.condition_ids)
    assert data.stats.fetches == 1


def test_an_unusable_prefetch_value_is_fetched_again(
    sekmet_fhir_server: SekmetServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@52: a string where a Bundle belongs is treated like an OperationOutcome."""
    request = sekmet_request(sekmet_fhir_server, prefetch={"conditions": "Condition?patient=x"})
    data = make_resolver().resolve(request, [CONDITIONS])
    assert ids(data) == list(sekmet_fhir_server.condition_ids)


def test_logs_carry_keys_counts_and_timings_but_no_patient_data(
    sekmet_fhir_server: SekmetServer,
    make_resolver: MakeResolver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Logs: keys, counts and timings at DEBUG; never URLs, patient ids or tokens."""
    caplog.set_level(logging.DEBUG, logger="cds_service.prefetch")
    make_resolver().resolve(sekmet_request(sekmet_fhir_server), [PATIENT, CONDITIONS_PAGED])
    lines = [r.getMessage() for r in caplog.records if r.name == "cds_service.prefetch"]
    assert any("key=patient source=fhir resources=1 fetches=1" in line for line in lines)
    assert any("key=conditions source=fhir resources=3 fetches=3" in line for line in lines)
    assert any("keys=2 resources=4 unavailable=0 fetches=4" in line for line in lines)
    text = "\n".join(lines)
    for secret in (sekmet_fhir_server.patient_id, sekmet_fhir_server.access_token, "http"):
        assert secret not in text


# --- Scripted servers: what the service sends ------------------------------------------


def test_requests_carry_the_bearer_token_and_ask_for_fhir_json(
    scripted: ScriptedFhirServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@34: Authorization: Bearer {access_token}; Accept: application/fhir+json."""
    scripted.routes["/fhir/Condition"] = Reply(body=searchset(condition("c1")))
    resolver = make_resolver()
    resolver.resolve(hook_request(scripted.base_url, token=SCRIPTED_TOKEN), [CONDITIONS])
    resolver.resolve(hook_request(scripted.base_url, token=None), [CONDITIONS])
    with_token, without_token = scripted.requests_to("/fhir/Condition")
    assert with_token.headers["authorization"] == f"Bearer {SCRIPTED_TOKEN}"
    assert with_token.headers["accept"] == "application/fhir+json"
    assert with_token.query == {"patient": [PATIENT_ID]}
    assert "authorization" not in without_token.headers


def test_plain_json_content_type_is_accepted(
    scripted: ScriptedFhirServer, make_resolver: MakeResolver
) -> None:
    scripted.routes["/fhir/Condition"] = Reply(
        body=searchset(condition("c1")), content_type="application/json; charset=utf-8"
    )
    data = make_resolver().resolve(hook_request(scripted.base_url, token=None), [CONDITIONS])
    assert ids(data) == ["c1"]


def test_fetches_run_concurrently(
    scripted: ScriptedFhirServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@27: four keys on a server taking 1 s each finish in about 1 s: all four
    at once (two at a time would take 2 s, one at a time 4 s), on four connections."""
    types = ("Condition", "Observation", "MedicationRequest", "Procedure")
    for kind in types:
        scripted.routes[f"/fhir/{kind}"] = Reply(body=searchset(), delay_s=1.0)
    templates = [
        PrefetchTemplate(kind, f"{kind}?patient={{{{context.patientId}}}}") for kind in types
    ]
    data = make_resolver().resolve(hook_request(scripted.base_url, token=None), templates)
    assert data.stats.fetches == 4
    assert data.stats.fetch_seconds_total >= 4 * 1.0
    assert data.stats.wall_seconds < 2.0
    assert len({r.client_port for r in scripted.requests}) == 4


def test_pages_reuse_one_connection(
    scripted: ScriptedFhirServer, make_resolver: MakeResolver
) -> None:
    """Connection reuse: three sequential pages, two hook calls, one TCP connection."""

    def page(request: RecordedRequest) -> Reply:
        number = int(request.query.get("page", ["1"])[0])
        following = f"{scripted.base_url}/Condition?page={number + 1}" if number < 3 else None
        return Reply(body=searchset(condition(f"c{number}"), next_url=following))

    scripted.routes["/fhir/Condition"] = page
    resolver = make_resolver()
    for _ in range(2):
        data = resolver.resolve(hook_request(scripted.base_url, token=None), [CONDITIONS])
        assert ids(data) == ["c1", "c2", "c3"]
    assert len(scripted.requests) == 6
    assert len({r.client_port for r in scripted.requests}) == 1


# --- Scripted servers: failures ----------------------------------------------------------


def test_an_unreachable_server_is_412(make_resolver: MakeResolver) -> None:
    """cds-hooks_2.0@54: nothing listens on the port: refused at once, not after a timeout."""
    request = hook_request(f"http://127.0.0.1:{free_port()}/fhir", token=SCRIPTED_TOKEN)
    resolver = make_resolver(fhir_deadline_s=10.0, fhir_request_timeout_s=10.0)
    diagnostics, elapsed = refused(resolver, request, [CONDITIONS])
    assert diagnostics.endswith("the connection to the FHIR server failed")
    assert elapsed < 5.0  # half the timeout: a loaded machine is slow, never 10 s slow


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (
            Reply(500, b"Internal error for patient her2-pt-8841", content_type="text/plain"),
            "the FHIR server answered 500",
        ),
        (
            Reply(302, b"", headers=(("Location", "http://127.0.0.1:1/fhir/Condition"),)),
            "the FHIR server answered 302",
        ),
        (
            Reply(200, b"<html>Login</html>", content_type="text/html"),
            "the FHIR server answered with content type text/html, not FHIR JSON",
        ),
        (
            Reply(200, b'{"resourceType": "Bundle", "entry": ['),
            "the FHIR server answered with malformed JSON",
        ),
        (Reply(200, b"[" * 200_000), "the FHIR server answered with malformed JSON"),
        (Reply(200, b"\xff\xfe\x00garbage"), "the FHIR server answered with malformed JSON"),
        (
            Reply(200, b'{"resourceType": "Bundle", "total": NaN}'),
            "the FHIR server answered with malformed JSON",
        ),
        (
            Reply(200, {"resourceType": "OperationOutcome", "issue": []}),
            "the FHIR server answered with a OperationOutcome, not a Bundle",
        ),
        (
            Reply(200, [{"resourceType": "Condition"}]),
            "the FHIR server answered with a JSON list that is not a FHIR resource, not a Bundle",
        ),
    ],
    ids=[
        "500",
        "redirect",
        "html",
        "truncated-json",
        "deep-json",
        "bad-bytes",
        "nan",
        "outcome",
        "list",
    ],
)
def test_a_faulty_answer_is_412_naming_the_key_and_the_fault(
    scripted: ScriptedFhirServer, make_resolver: MakeResolver, reply: Reply, reason: str
) -> None:
    """cds-hooks_2.0@54: never a 500 for a FHIR server's failure; no body or id echoed."""
    scripted.routes["/fhir/Condition"] = reply
    request = hook_request(scripted.base_url, token=SCRIPTED_TOKEN)
    diagnostics, _ = refused(make_resolver(), request, [CONDITIONS])
    assert diagnostics == f"prefetch key 'conditions' could not be fetched: {reason}"


def test_a_read_answered_with_another_resource_type_is_412(
    scripted: ScriptedFhirServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@54"""
    scripted.routes[f"/fhir/Patient/{PATIENT_ID}"] = Reply(body={"resourceType": "Practitioner"})
    request = hook_request(scripted.base_url, token=None)
    diagnostics, _ = refused(make_resolver(), request, [PATIENT])
    assert diagnostics.endswith("answered with a Practitioner, not a Patient")


def test_a_server_that_hangs_is_cut_off_at_the_deadline(
    scripted: ScriptedFhirServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@54: one deadline for the call, shorter than the request timeout here."""
    scripted.routes["/fhir/Condition"] = Reply(body=searchset(), delay_s=10)
    resolver = make_resolver(fhir_deadline_s=1.0, fhir_request_timeout_s=3.0)
    request = hook_request(scripted.base_url, token=None)
    diagnostics, elapsed = refused(resolver, request, [CONDITIONS])
    assert "the FHIR deadline of 1 s passed" in diagnostics
    assert 0.9 <= elapsed < 1.0 + MARGIN_S


def test_a_server_that_hangs_is_cut_off_at_the_request_timeout(
    scripted: ScriptedFhirServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@54: each request has its own timeout."""
    scripted.routes["/fhir/Condition"] = Reply(body=searchset(), delay_s=10)
    resolver = make_resolver(fhir_deadline_s=4.0, fhir_request_timeout_s=0.5)
    request = hook_request(scripted.base_url, token=None)
    diagnostics, elapsed = refused(resolver, request, [CONDITIONS])
    assert diagnostics.endswith("did not answer within the request timeout")
    assert 0.4 <= elapsed < 0.5 + MARGIN_S


def test_a_trickling_body_is_cut_off_at_the_deadline(
    scripted: ScriptedFhirServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@54: a server sending a byte at a time cannot outlast the deadline, nor
    keep the worker thread: with a pool of one, the next call is served."""
    scripted.routes["/fhir/Condition"] = Reply(trickle_s=0.05)
    scripted.routes["/fhir/Procedure"] = Reply(body=searchset())
    resolver = make_resolver(fhir_deadline_s=1.0, fhir_request_timeout_s=3.0, fhir_pool_size=1)
    request = hook_request(scripted.base_url, token=None)
    diagnostics, elapsed = refused(resolver, request, [CONDITIONS])
    assert "the FHIR deadline of 1 s passed" in diagnostics
    assert elapsed < 1.0 + MARGIN_S
    procedures = PrefetchTemplate("procedures", "Procedure?patient={{context.patientId}}")
    assert resolver.resolve(request, [procedures]).resources == ()


def test_slow_pages_share_one_deadline(
    scripted: ScriptedFhirServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@54: each page is quick enough; together they pass the deadline."""

    def slow_page(request: RecordedRequest) -> Reply:
        number = int(request.query.get("page", ["1"])[0])
        following = f"{scripted.base_url}/Condition?page={number + 1}"
        return Reply(body=searchset(condition(f"c{number}"), next_url=following), delay_s=0.3)

    scripted.routes["/fhir/Condition"] = slow_page
    resolver = make_resolver(fhir_deadline_s=1.0, fhir_request_timeout_s=3.0)
    request = hook_request(scripted.base_url, token=None)
    diagnostics, elapsed = refused(resolver, request, [CONDITIONS])
    assert "the FHIR deadline of 1 s passed" in diagnostics
    assert elapsed < 1.0 + MARGIN_S
    assert 2 <= len(scripted.requests) <= 5


def test_an_endless_next_chain_stops_at_the_page_limit(
    scripted: ScriptedFhirServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@54: settings.fhir_max_pages next pages at most, then 412."""

    def endless(request: RecordedRequest) -> Reply:
        number = int(request.query.get("page", ["1"])[0])
        following = f"{scripted.base_url}/Condition?page={number + 1}"
        return Reply(body=searchset(condition(f"c{number}"), next_url=following))

    scripted.routes["/fhir/Condition"] = endless
    resolver = make_resolver(fhir_max_pages=4)
    diagnostics, _ = refused(resolver, hook_request(scripted.base_url, token=None), [CONDITIONS])
    assert diagnostics.endswith("the search has more than 4 next pages")
    assert len(scripted.requests) == 5


def test_a_next_link_back_to_a_page_already_read_is_412(
    scripted: ScriptedFhirServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@54: a loop in the next links fails at once instead of at the limit."""
    looping = f"{scripted.base_url}/Condition?patient={PATIENT_ID}"
    scripted.routes["/fhir/Condition"] = Reply(body=searchset(next_url=looping))
    diagnostics, _ = refused(
        make_resolver(), hook_request(scripted.base_url, token=None), [CONDITIONS]
    )
    assert diagnostics.endswith("a next link repeats a page already read")
    assert len(scripted.requests) == 1


def test_a_next_link_to_another_server_gets_no_request(
    scripted: ScriptedFhirServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@54: the token is never sent off fhirServer; the key fails."""
    with ScriptedFhirServer() as foreign:
        foreign.routes["/fhir/Condition"] = Reply(body=searchset(condition("stolen")))
        scripted.routes["/fhir/Condition"] = Reply(
            body=searchset(condition("c1"), next_url=f"{foreign.base_url}/Condition?page=2")
        )
        request = hook_request(scripted.base_url, token=SCRIPTED_TOKEN)
        diagnostics, _ = refused(make_resolver(), request, [CONDITIONS])
        assert diagnostics.endswith("a next link points outside the fhirServer base URL")
        assert foreign.requests == []


def test_an_optional_key_that_hangs_is_left_out_at_the_deadline(
    scripted: ScriptedFhirServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@34: the call goes on without an optional key the server cannot give."""
    scripted.routes["/fhir/Condition"] = Reply(body=searchset(condition("c1")))
    scripted.routes["/fhir/Procedure"] = Reply(body=searchset(), delay_s=10)
    procedures = PrefetchTemplate(
        "procedures", "Procedure?patient={{context.patientId}}", required=False
    )
    resolver = make_resolver(fhir_deadline_s=1.0, fhir_request_timeout_s=3.0)
    started = time.monotonic()
    data = resolver.resolve(hook_request(scripted.base_url, token=None), [CONDITIONS, procedures])
    elapsed = time.monotonic() - started
    assert ids(data) == ["c1"]
    assert data.unavailable == ("procedures",)
    assert 0.9 <= data.stats.wall_seconds <= elapsed < 1.0 + MARGIN_S


def test_a_failing_required_key_does_not_wait_for_the_others(
    scripted: ScriptedFhirServer, make_resolver: MakeResolver
) -> None:
    """cds-hooks_2.0@54: the 412 is known as soon as one required key fails."""
    scripted.routes["/fhir/Condition"] = Reply(500, b"")
    scripted.routes["/fhir/Procedure"] = Reply(body=searchset(), delay_s=10)
    procedures = PrefetchTemplate("procedures", "Procedure?patient={{context.patientId}}")
    resolver = make_resolver(fhir_deadline_s=8.0, fhir_request_timeout_s=8.0)
    request = hook_request(scripted.base_url, token=None)
    diagnostics, elapsed = refused(resolver, request, [procedures, CONDITIONS])
    assert diagnostics.endswith("'conditions' could not be fetched: the FHIR server answered 500")
    assert elapsed < 4.0  # waiting for the procedures would take the 8 s deadline

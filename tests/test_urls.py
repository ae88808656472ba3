"""Where FHIR requests may go: ``next`` links inside the base, ``fhirServer`` allowlists.

The attack (issue 11): a ``next`` link ``{base}/%2e%2e/...`` passed the string check and
sent the bearer token outside the base path. Links are now compared as a server reads
them; the scripted FHIR server shows no request reaches the path outside.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cds_service.errors import PreconditionFailed
from cds_service.prefetch import PrefetchResolver, PrefetchTemplate
from cds_service.settings import Settings
from cds_service.urls import base_allowed, normalise, redacted
from cds_service.wire import HookRequest
from demo.fhir_server import Reply, ScriptedFhirServer

BASE = "https://ehr.example.org/fhir"


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/Condition?page=2",
        f"{BASE}",
        f"{BASE}/",
        "HTTPS://EHR.example.org:443/fhir/Condition",
        f"{BASE}/Condition/%41bc",  # an encoded letter is still inside
    ],
)
def test_links_inside_the_base(url: str) -> None:
    target, base = normalise(url), normalise(BASE)
    assert target is not None
    assert base is not None
    assert target.within(base)


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/../admin",
        f"{BASE}/%2e%2e/admin",
        f"{BASE}/%2E%2E/admin",
        f"{BASE}/%2e./admin",
        f"{BASE}/%252e%252e/admin",  # decoded twice by some servers
        f"{BASE}/..;/admin",  # Tomcat-style path parameter
        f"{BASE}/..%3b/admin",
        f"{BASE}\\..\\admin",
        f"{BASE}%2f..%2fadmin",
        f"{BASE}/./Condition",
        "https://ehr.example.org/fhirx/Condition",  # a sibling path, not below the base
        "https://ehr.example.org/Condition",
        "http://ehr.example.org/fhir/Condition",  # another scheme
        "https://ehr.example.org:8443/fhir/Condition",
        "https://evil.example/fhir/Condition",
        "https://ehr.example.org@evil.example/fhir/Condition",
        "ftp://ehr.example.org/fhir/Condition",
        "https://ehr.example.org:99999/fhir",
    ],
)
def test_links_outside_the_base(url: str) -> None:
    target, base = normalise(url), normalise(BASE)
    assert base is not None
    assert target is None or not target.within(base)


@pytest.mark.parametrize(
    ("fhir_server", "allowed"),
    [
        (BASE, True),
        (BASE + "/", True),
        ("https://EHR.example.org:443/fhir", True),
        ("https://ehr.example.org/fhir/Patient", False),  # below a base is not the base
        ("https://ehr.example.org", False),
        ("https://ehr.example.org/fhir/%2e%2e/other", False),
        ("https://ehr.example.org/fhir?x=1", False),
        ("https://evil.example/fhir", False),
        ("http://ehr.example.org/fhir", False),
        ("not a url", False),
    ],
)
def test_fhir_server_must_be_a_listed_base(fhir_server: str, allowed: bool) -> None:
    assert base_allowed(fhir_server, [BASE, "https://other.example.org/r4"]) is allowed


def test_redacted_urls_carry_no_query_or_credentials() -> None:
    shown = redacted("https://user:secret@ehr.example.org:8443/fhir?patient=123&token=abc")
    assert shown == "https://ehr.example.org:8443/fhir"


@pytest.fixture
def resolver() -> Iterator[PrefetchResolver]:
    with PrefetchResolver(Settings(fhir_deadline_s=3.0)) as made:
        yield made


@pytest.mark.fhir_server
@pytest.mark.parametrize("escape", ["%2e%2e", "%2E%2e", "%252e%252e", "..;", ".%2e"])
def test_a_dot_dot_next_link_sends_no_request_outside_the_base(
    resolver: PrefetchResolver, escape: str
) -> None:
    with ScriptedFhirServer() as server:
        outside = f"{server.base_url}/{escape}/admin/Condition"
        server.routes["/fhir/Condition"] = Reply(
            body={
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [],
                "link": [{"relation": "next", "url": outside}],
            }
        )
        server.routes["/admin/Condition"] = Reply(body={"resourceType": "Bundle", "entry": []})
        request = HookRequest.model_validate(
            {
                "hook": "patient-view",
                "hookInstance": "5c1d8f5e-4a64-4e0b-8a55-0c6b3f2e9d10",
                "fhirServer": server.base_url,
                "fhirAuthorization": {"access_token": "secret-token", "token_type": "Bearer"},
                "context": {"userId": "Practitioner/1", "patientId": "p1"},
            }
        )
        template = PrefetchTemplate("conditions", "Condition?patient={{context.patientId}}")
        with pytest.raises(PreconditionFailed, match="outside the fhirServer base URL"):
            resolver.resolve(request, [template])
        assert [r.path for r in server.requests] == ["/fhir/Condition"]

"""Hostile input over HTTP: the service answers every request with a status it documents.

Schemathesis generates requests from the service's own OpenAPI description
(``cds_service/openapi.json``), valid ones and ones that break it (wrong types,
missing fields, unknown service ids, wrong content types, unexpected methods), and
sends them to the Flask app in process (WSGI). Hand-written cases add what a schema
cannot express: deep nesting, huge strings and numbers, invalid UTF-8, NaN, and bodies
over the size limit, with and without a Content-Length.

Every answer must satisfy ``assert_answer``: never a 5xx; every non-2xx a FHIR
OperationOutcome (``application/fhir+json``) with one error issue; every 200 hook
response free of self-check violations (``cds_service.selfcheck.check_response``).

No request leaves this machine: generated ``fhirServer`` URLs can name any host, so
the prefetch resolver's HTTP adapter is replaced by one that refuses every connection
(the resolver then answers 412, which is what these tests see).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from requests.adapters import HTTPAdapter
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance
from werkzeug.test import TestResponse

import cds_service
from cds_service.app import create_app
from cds_service.selfcheck import check_response
from cds_service.settings import SANDBOX_JWKS_FILE, AuthSettings, IssuerSettings, Settings
from tests.conftest import LiveServer
from tests.requests import spec_example

OPENAPI = Path(cds_service.__file__).parent / "openapi.json"
PATIENT_VIEW = "/cds-services/her2-nsclc-patient-view"
ORDERS = "/cds-services/her2-nsclc-order-sign"
FEEDBACK = f"{PATIENT_VIEW}/feedback"
SMART_MODEL = "/smart/patient-model"
DOCUMENTED_ERRORS = frozenset({400, 401, 403, 404, 405, 412, 413, 415, 422})
"""403: /metrics; 422: the SMART app's patient model (records of two patients mixed)."""


def assert_answer(
    status: int,
    mimetype: str,
    body: bytes,
    *,
    hook_call: bool,
    method: str = "POST",
    app_file: bool = False,
) -> None:
    """What every answer must be, whatever was sent (cds-hooks_2.0@1, @3, @14, @74, @76).

    ``app_file``: a GET of the SMART app's files, whose 200 is a file, not JSON."""
    assert status < 500, body[:300]
    if 200 <= status < 300:
        if method in {"HEAD", "OPTIONS"} or app_file:  # HEAD of a GET, CORS preflight
            return
        if mimetype == "text/plain":  # /metrics: Prometheus text, not JSON
            assert body.decode("utf-8").startswith("# HELP ")
            return
        document = strict_json(body)
        if hook_call:
            assert check_response(document) == [], document
        return
    assert status in DOCUMENTED_ERRORS, status
    assert mimetype == "application/fhir+json"
    outcome = strict_json(body)
    assert outcome["resourceType"] == "OperationOutcome"
    (issue,) = outcome["issue"]
    assert issue["severity"] == "error"
    assert issue["code"]
    assert issue["diagnostics"]


def strict_json(body: bytes) -> Any:
    """JSON as RFC 8259 has it: UTF-8, and no NaN or Infinity."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in a response")

    return json.loads(body.decode("utf-8"), parse_constant=refuse)


def assert_client_answer(response: TestResponse, *, hook_call: bool = True) -> None:
    assert_answer(
        response.status_code, response.mimetype or "", response.get_data(), hook_call=hook_call
    )


class _RefusingAdapter(HTTPAdapter):
    def send(self, *args: Any, **kwargs: Any) -> requests.Response:
        raise requests.ConnectionError("outbound HTTP is disabled in hostile-input tests")


@pytest.fixture
def offline(app: Flask) -> Iterator[Flask]:
    """The app, with the prefetch resolver unable to reach any FHIR server."""
    session: requests.Session = app.extensions["cds_service"].resolver._session
    originals = dict(session.adapters)
    refusing = _RefusingAdapter()
    for prefix in originals:
        session.mount(prefix, refusing)
    yield app
    for prefix, adapter in originals.items():
        session.mount(prefix, adapter)


# --- Schemathesis, from the OpenAPI description ---------------------------------------

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "max-examples": 150},
        "checks": {
            # 412: a valid request may lack a usable prefetch for a required key, and a
            # generated fhirServer can never be reached here (see ``offline``).
            "positive_data_acceptance": {"expected-statuses": ["2xx", 401, 404, 412]},
            "negative_data_rejection": {"expected-statuses": [400, 401, 404, 405, 412, 413, 415]},
        },
        "phases": {"stateful": {"enabled": False}},
        "operations": [
            # Its negative cases are the known ids, which are other operations.
            {"include-operation-id": "unknownService", "generation": {"mode": "positive"}},
            # The description excludes NUL and unpaired surrogates from the strings the
            # feedback store reads (a ``pattern``), but the generator does not always honour
            # that pattern: such "valid" items are the 400 the service owes them.
            {
                "include-operation-id": "feedback",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", 400, 401, 404, 412]}
                },
            },
            # A generated call has no peer address: not a loopback caller, so 403.
            {
                "include-operation-id": "metrics",
                "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", 401, 403]}},
            },
            # The SMART app's files: 404 while it is not built (a checkout without its build)
            # and for a file that is not there.
            {
                "include-operation-id": "smartAppIndex",
                "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", 404]}},
            },
            {
                "include-operation-id": "smartAppFile",
                "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", 404]}},
            },
            # A valid Bundle may hold no Patient resource and name none (422), or hold
            # Patients with different ids, or resources about another patient (422).
            {
                "include-operation-id": "smartPatientModel",
                "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", 422]}},
            },
        ],
    }
)
schema = schemathesis.openapi.from_path(OPENAPI, config=CONFIG)


@schema.parametrize()
@settings(
    deadline=None,
    # The app is made once per operation and reused for every generated request, as a
    # running server would be.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_generated_requests_get_documented_answers(case: Case[Any], offline: Flask) -> None:
    """cds-hooks_2.0@1, @3, @14, @74, @76: documented statuses and bodies for any request."""
    response = case.call(app=offline)
    hook_call = case.operation.path == "/cds-services/{service_id}"
    assert_answer(
        response.status_code,
        _mimetype(response),
        response.content,
        hook_call=hook_call,
        method=case.method,
        app_file=_app_file(case),
    )
    case.validate_response(response)


AUTH_CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "positive", "max-examples": 15},
        "phases": {"stateful": {"enabled": False}, "coverage": {"enabled": False}},
    }
)
auth_schema = schemathesis.openapi.from_path(OPENAPI, config=AUTH_CONFIG)


@pytest.fixture
def app_with_auth(settings: Settings) -> Iterator[Flask]:
    """Authentication on, trusting one issuer whose keys no test holds: every token fails."""
    issuer = IssuerSettings(iss="https://ehr.example.org", jwks_file=str(SANDBOX_JWKS_FILE))
    application = create_app(settings.model_copy(update={"auth": AuthSettings(issuers=(issuer,))}))
    yield application
    parts = application.extensions["cds_service"]
    parts.resolver.close()
    parts.store.close()
    if parts.authenticator is not None:
        parts.authenticator.close()


@auth_schema.parametrize()
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_without_a_valid_token_the_answer_is_a_documented_401(
    case: Case[Any], app_with_auth: Flask
) -> None:
    """cds-hooks_2.0@176: generated calls (with made-up bearer tokens, or none) are refused
    with the documented bare 401 OperationOutcome; only the operations endpoints are open
    (/metrics has its own protection: a generated call has no peer address, so 403), and
    the SMART app's, which a browser calls without a CDS client's JWT (the patient model
    checks the app's SMART token instead, in production: ``tests/test_smart_auth.py``)."""
    response = case.call(app=app_with_auth)
    if case.operation.path in {"/healthz", "/readyz"}:
        assert response.status_code == 200
    elif case.operation.path == "/metrics":
        assert response.status_code == 403
    elif case.operation.path == "/smart/patient-model":
        # Production: a generated call without the app's bearer token (or with a made-up
        # one) may get the SMART check's own documented 401; never the CDS client's.
        assert response.status_code != 401 or "WWW-Authenticate" in response.headers
    elif case.operation.path.startswith("/smart/"):
        assert response.status_code != 401, (case.path_parameters, case.method)
    else:
        assert response.status_code == 401
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance])
    assert_answer(
        response.status_code,
        _mimetype(response),
        response.content,
        hook_call=False,
        app_file=_app_file(case),
    )


# --- Hand-written hostile bodies --------------------------------------------------------


def _app_file(case: Case[Any]) -> bool:
    return case.operation.path.startswith("/smart/") and case.method.upper() == "GET"


def _mimetype(response: schemathesis.Response) -> str:
    return str(response.headers.get("content-type", [""])[0]).split(";", 1)[0].strip()


def _post_raw(client: FlaskClient, body: bytes | str, path: str = PATIENT_VIEW) -> TestResponse:
    return client.post(path, data=body, content_type="application/json")


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _request_with(where: str, fragment: str) -> str:
    """A valid patient-view call as JSON text, with ``fragment`` spliced in at ``where``."""
    request = spec_example("patient-view")
    marker = "__FRAGMENT__"
    if where == "context":
        request["context"]["extra"] = marker
    elif where == "resource":
        request["prefetch"]["patient"]["extension"] = marker
    elif where == "unknown field":
        request["extra"] = marker
    return json.dumps(request).replace(f'"{marker}"', fragment)


@pytest.mark.parametrize("depth", [101, 500, 1_000, 100_000])
@pytest.mark.parametrize("where", ["body", "context", "resource", "unknown field"])
def test_deep_nesting_is_400(client: FlaskClient, where: str, depth: int) -> None:
    """cds-hooks_2.0@1: nesting deeper than 100 levels is refused before anything reads it.

    Before the fix, a resource nested ~200-400 levels deep passed the JSON parser and made
    FHIR validation raise RecursionError: a 500."""
    body = _nested(depth) if where == "body" else _request_with(where, _nested(depth))
    response = _post_raw(client, body)
    assert response.status_code == 400
    assert_client_answer(response)
    diagnostics = response.get_json()["issue"][0]["diagnostics"]
    if where != "body":  # nested arrays alone are not an object
        assert "nested more than 100 levels" in diagnostics or "not valid JSON" in diagnostics


def test_nesting_up_to_the_limit_is_read(client: FlaskClient) -> None:
    """cds-hooks_2.0@74: 100 levels in all is within the limit (a Condition's extensions)."""
    request = spec_example("patient-view")
    condition: dict[str, Any] = {"resourceType": "Condition", "id": "deep", "extension": []}
    request["prefetch"]["conditions"]["entry"] = [{"resource": condition}]
    # body > prefetch > Bundle > entry[] > entry > Condition > extension[]: 7 levels
    levels, innermost = 7, condition["extension"]
    while levels + 2 <= 100:
        child: dict[str, Any] = {"url": "urn:x", "extension": []}
        innermost.append(child)
        innermost, levels = child["extension"], levels + 2
    response = client.post(PATIENT_VIEW, json=request)
    assert response.status_code == 200
    assert_client_answer(response)


@pytest.mark.parametrize(
    "where", ["hookInstance", "patientId", "unknown field", "resource id", "resource text"]
)
def test_huge_strings_are_read(client: FlaskClient, where: str) -> None:
    """cds-hooks_2.0@3, @74: a 4 MiB string (under the 5 MiB limit) anywhere is data, not a
    crash; the response stays valid."""
    huge = "x" * (4 * 1024 * 1024)
    request = spec_example("patient-view")
    if where == "hookInstance":
        request["hookInstance"] = huge
    elif where == "patientId":
        request["context"]["patientId"] = huge
    elif where == "unknown field":
        request["note"] = huge
    elif where == "resource id":
        request["prefetch"]["conditions"]["entry"] = [
            {"resource": {"resourceType": "Condition", "id": huge, "onsetDateTime": "x"}}
        ]
    else:
        request["prefetch"]["patient"]["text"] = {"status": "generated", "div": huge}
    response = client.post(PATIENT_VIEW, json=request)
    assert response.status_code == 200
    assert_client_answer(response)


@pytest.mark.parametrize(
    "number",
    [
        "1" * 5_000,  # over Python's 4,300-digit int limit: was a ValueError, a 500
        "-" + "9" * 10_000,
        "NaN",
        "Infinity",
        "-Infinity",
        "1e999",  # a float too large: would be echoed back as Infinity
        "-1e400",
    ],
)
@pytest.mark.parametrize("where", ["context", "resource"])
def test_numbers_json_cannot_carry_are_400(client: FlaskClient, where: str, number: str) -> None:
    """cds-hooks_2.0@1: NaN and Infinity are not JSON; huge numbers cannot round-trip."""
    response = _post_raw(client, _request_with(where, number))
    assert response.status_code == 400
    assert_client_answer(response)
    assert "not valid JSON" in response.get_json()["issue"][0]["diagnostics"]


def test_large_but_representable_numbers_are_read(client: FlaskClient) -> None:
    response = _post_raw(client, _request_with("resource", "[" + "9" * 4_000 + ", 1e308, 5e-324]"))
    assert response.status_code == 200
    assert_client_answer(response)


@pytest.mark.parametrize(
    "body",
    [
        b'{"hook": "\xff"}',
        b'{"hook": "\xc0\xaf"}',  # overlong encoding of "/"
        b'{"hook": "\xed\xa0\x80"}',  # a UTF-16 surrogate encoded as UTF-8
        b'{"hook": "\xe2\x82"}',  # truncated sequence
        '{"hook": "patient-view"}'.encode("utf-16"),
        b"\xef\xbb\xbf{}",  # a UTF-8 byte order mark
        b"",
        b"\x00" * 64,
    ],
)
def test_undecodable_bodies_are_400(client: FlaskClient, body: bytes) -> None:
    """cds-hooks_2.0@1: bodies that are not UTF-8 JSON text."""
    response = _post_raw(client, body)
    assert response.status_code == 400
    assert_client_answer(response)


def test_escaped_lone_surrogates_are_400_not_500(client: FlaskClient) -> None:
    """A ``\\ud800`` escape is valid JSON text but not a valid string for the wire models."""
    body = json.dumps(spec_example("patient-view")).replace('"1288992"', '"\\ud800"')
    response = _post_raw(client, body)
    assert response.status_code == 400
    assert_client_answer(response)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/json-patch+json",
        "application/jsonx",
        "json",
    ],
)
@pytest.mark.parametrize("path", [PATIENT_VIEW, ORDERS, FEEDBACK, SMART_MODEL])
def test_wrong_content_types_are_415(
    client: FlaskClient, path: str, content_type: str | None
) -> None:
    """cds-hooks_2.0@1: only application/json and application/fhir+json are read."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(path, data=json.dumps(spec_example("patient-view")), headers=headers)
    assert response.status_code == 415
    assert_client_answer(response)


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/fhir+json", "APPLICATION/JSON"]
)
def test_json_content_types_are_read(client: FlaskClient, content_type: str) -> None:
    body = json.dumps(spec_example("patient-view"))
    response = client.post(PATIENT_VIEW, data=body, headers={"Content-Type": content_type})
    assert response.status_code == 200
    assert_client_answer(response)


def _over_the_limit(settings: Settings) -> bytes:
    """A JSON object one byte over ``max_body_bytes``."""
    padding = settings.max_body_bytes + 1 - len('{"pad": ""}')
    return b'{"pad": "' + b"x" * padding + b'"}'


@pytest.mark.parametrize("path", [PATIENT_VIEW, ORDERS, FEEDBACK, SMART_MODEL])
def test_bodies_over_the_limit_are_413(client: FlaskClient, settings: Settings, path: str) -> None:
    """cds-hooks.md, Security: request bodies have a size limit."""
    response = _post_raw(client, _over_the_limit(settings), path)
    assert response.status_code == 413
    assert_client_answer(response)


@pytest.mark.parametrize("padding", ["string", "whitespace"])
def test_chunked_bodies_over_the_limit_are_413(
    live_server: LiveServer, settings: Settings, padding: str
) -> None:
    """No Content-Length (chunked transfer): the limit holds while reading, over real HTTP.

    Before the fix, Werkzeug cut such a body at the limit without a word: the truncated
    JSON was a 400, and a valid call followed by blanks past the limit was a 200."""
    if padding == "string":
        body = _over_the_limit(settings)
    else:
        call = json.dumps(spec_example("patient-view")).encode()
        body = call + b" " * (settings.max_body_bytes + 1 - len(call))
    assert_chunked_body_is_413(live_server.url + PATIENT_VIEW, body, hook_call=True)


def assert_chunked_body_is_413(
    url: str, body: bytes, *, hook_call: bool, content_type: str = "application/json"
) -> None:
    """``body``, over the limit, posted in chunks with no Content-Length, is a 413."""
    chunks = (body[i : i + 65_536] for i in range(0, len(body), 65_536))
    response = requests.post(url, data=chunks, headers={"Content-Type": content_type}, timeout=10)
    assert "Content-Length" not in response.request.headers
    assert response.status_code == 413
    mimetype = response.headers["Content-Type"].split(";", 1)[0]
    assert_answer(response.status_code, mimetype, response.content, hook_call=hook_call)


def test_a_body_at_the_limit_is_read(client: FlaskClient, settings: Settings) -> None:
    request = spec_example("patient-view")
    request["pad"] = ""
    size = len(json.dumps(request).encode())
    request["pad"] = "x" * (settings.max_body_bytes - size)
    body = json.dumps(request).encode()
    assert len(body) == settings.max_body_bytes
    response = _post_raw(client, body)
    assert response.status_code == 200
    assert_client_answer(response)


def test_a_refused_connection_to_the_fhir_server_is_412(offline: Flask) -> None:
    """cds-hooks_2.0@54: the ``offline`` guard itself: a fetch fails, the answer is 412."""
    request = spec_example("patient-view")
    request["fhirServer"] = "https://ehr.example.org/fhir"
    del request["prefetch"]["conditions"]
    response = offline.test_client().post(PATIENT_VIEW, json=request)
    assert response.status_code == 412
    assert_client_answer(response)


@pytest.mark.parametrize("path", ["/smart/%2F", "/smart/%2F%2Fetc/passwd", "/smart/%2Flaunch.html"])
def test_an_unrouted_path_under_the_smart_app_is_its_404(app_with_auth: Flask, path: str) -> None:
    """A path under /smart/ that matches no route (an encoded slash) is the app's 404, as its
    files are open: not the CDS client's 401 (found by the generated calls above)."""
    response = app_with_auth.test_client().get(path)
    assert response.status_code == 404
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert "WWW-Authenticate" not in response.headers

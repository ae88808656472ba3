"""Real FHIR servers for tests: a SEKMET FHIR R4 server process, and a scripted one.

``sekmet_fhir_server`` (session-scoped) runs the ``sekmet`` FHIR R4 server from
the dev dependencies (PyPI ``sekmet-fhir``) as a child process on a free
loopback port, in a temporary directory (it writes ``data/`` there). It requires
``Authorization: Bearer <access_token>`` on every FHIR interaction, so a test
that gets data from it has proved the token was sent. Its Bundle links use its
real address (``base_url`` in its ``settings.yaml``), so ``next`` links work. It
is seeded with the scenario below and killed at the end of the session, also
when a test fails or the session is interrupted.

``ScriptedFhirServer`` is a small threaded HTTP server on 127.0.0.1 that answers
each path with a scripted ``Reply`` (a status, a body, a delay, a trickle) and
records every request it gets: for the failures a real server will not produce
on demand.

In a test module or conftest::

    from tests.fhir_server import SekmetServer, sekmet_fhir_server_fixture

    sekmet_fhir_server = sekmet_fhir_server_fixture()  # a fixture named "sekmet_fhir_server"

    @pytest.mark.fhir_server
    def test_something(sekmet_fhir_server: SekmetServer) -> None: ...
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from demo.fhir_server import FhirServerError
from demo.fhir_server import running_sekmet as launch_sekmet

if TYPE_CHECKING:
    from _pytest.fixtures import FixtureFunctionDefinition

FHIR_JSON = "application/fhir+json"

# --- The seeded scenario ------------------------------------------------------------

PATIENT_ID = "her2-nsclc-exon20"
"""A patient with metastatic lung adenocarcinoma (NSCLC) and an ERBB2 exon 20 insertion."""

CONDITION_IDS = ("nsclc-dx", "brain-mets", "hypertension")
"""Her three Conditions (three search pages at ``_count=1``)."""


def _condition(condition_id: str, snomed: str, display: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": condition_id,
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": snomed}], "text": display},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }


SCENARIO: tuple[dict[str, Any], ...] = (
    {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "name": [{"family": "Testpatient", "given": ["Hera"]}],
        "gender": "female",
        "birthDate": "1961-04-02",
    },
    _condition("nsclc-dx", "254637007", "Non-small cell lung cancer"),
    _condition("brain-mets", "94225005", "Secondary malignant neoplasm of brain"),
    _condition("hypertension", "38341003", "Hypertensive disorder"),
)


# --- SEKMET -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SekmetServer:
    base_url: str
    """The FHIR base, e.g. ``http://127.0.0.1:41234/fhir``."""
    access_token: str = field(repr=False)
    """The only bearer token the server accepts."""
    patient_id: str = PATIENT_ID
    condition_ids: tuple[str, ...] = CONDITION_IDS

    def get(self, relative: str) -> dict[str, Any]:
        """GET ``{base}/{relative}`` with the token (for a test to read what the server holds)."""
        with requests.get(
            f"{self.base_url}/{relative}",
            headers={"Authorization": f"Bearer {self.access_token}", "Accept": FHIR_JSON},
            timeout=10,
        ) as response:
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            return body


@contextmanager
def running_sekmet(
    workdir: Path, access_token: str = "sekmet-test-token"
) -> Iterator[SekmetServer]:
    """Run SEKMET in ``workdir`` on a free port (the demo's launcher), seeded with SCENARIO;
    stop it on exit."""
    with ExitStack() as stack:
        try:
            fhir = stack.enter_context(launch_sekmet(workdir, access_token=access_token))
        except FhirServerError as error:
            pytest.fail(str(error), pytrace=False)
        server = SekmetServer(base_url=fhir.base_url, access_token=access_token)
        _seed(server)
        yield server


def _seed(server: SekmetServer) -> None:
    headers = {"Authorization": f"Bearer {server.access_token}", "Content-Type": FHIR_JSON}
    with requests.Session() as session:
        for resource in SCENARIO:
            url = f"{server.base_url}/{resource['resourceType']}/{resource['id']}"
            with session.put(url, json=resource, headers=headers, timeout=10) as response:
                if response.status_code not in (200, 201):
                    pytest.fail(f"seeding {url} failed: {response.status_code} {response.text}")


class _Shared:
    """One SEKMET per test process, however many modules declare the fixture."""

    lock = threading.Lock()
    users = 0
    server: SekmetServer | None = None
    stack: ExitStack | None = None

    @classmethod
    @contextmanager
    def use(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SekmetServer]:
        with cls.lock:
            if cls.server is None:
                stack = ExitStack()
                cls.server = stack.enter_context(running_sekmet(tmp_path_factory.mktemp("sekmet")))
                cls.stack = stack
            cls.users += 1
            server = cls.server
        try:
            yield server
        finally:
            with cls.lock:
                cls.users -= 1
                if cls.users == 0 and cls.stack is not None:
                    cls.stack.close()
                    cls.server, cls.stack = None, None


def sekmet_fhir_server_fixture(
    *,
    scope: Literal["function", "class", "module", "package", "session"] = "session",
    name: str = "sekmet_fhir_server",
) -> FixtureFunctionDefinition:
    """A pytest fixture (named ``name``) giving the seeded SEKMET server (see the module doc)."""

    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SekmetServer]:
        with _Shared.use(tmp_path_factory) as server:
            yield server

    return pytest.fixture(fixture, scope=scope, name=name)


# --- A scripted HTTP server -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """What the scripted server answers."""

    status: int = 200
    body: Any = None
    """A JSON value (serialised), or raw ``bytes`` sent as they are."""
    content_type: str = FHIR_JSON
    delay_s: float = 0.0
    """Wait this long before answering."""
    trickle_s: float | None = None
    """Announce a large body, then send one byte per this many seconds until stopped."""
    headers: tuple[tuple[str, str], ...] = ()

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return b"" if self.body is None else json.dumps(self.body).encode()


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Header names in lower case."""
    client_port: int


Responder = Reply | Callable[[RecordedRequest], Reply]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up is fine
            super().handle_error(request, client_address)


class ScriptedFhirServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 answering paths with scripted replies.

    ``routes`` maps a path (without query) to a ``Reply`` or a function of the
    request giving one; other paths get 404. ``requests`` lists what it received.
    """

    def __init__(self, routes: dict[str, Responder] | None = None) -> None:
        self.routes: dict[str, Responder] = dict(routes or {})
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self.port: int = self._server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.origin}/fhir"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> ScriptedFhirServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _record(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            route = self.routes.get(request.path)
        if route is None:
            return Reply(404, {"resourceType": "OperationOutcome", "issue": []})
        return route if isinstance(route, Reply) else route(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is visible

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                recorded = RecordedRequest(
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    client_port=self.client_address[1],
                )
                reply = scripted._record(recorded)
                if reply.delay_s and scripted._stopping.wait(reply.delay_s):
                    self.close_connection = True  # stopping: hang up instead of answering
                    return
                with suppress(ConnectionError):
                    self._answer(reply)

            def _answer(self, reply: Reply) -> None:
                payload = reply.payload()
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                for name, value in reply.headers:
                    self.send_header(name, value)
                if reply.trickle_s is None:
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.send_header("Content-Length", "1000000")  # under the page cap
                self.end_headers()
                self.wfile.write(b'{"resourceType": "Bundle", "entry": [')
                self.wfile.flush()
                while not scripted._stopping.wait(reply.trickle_s):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

        return Handler

"""The benchmark's faulty FHIR server: normal answers but for one scripted fault.

``FaultyFhirServer`` is a small threaded HTTP/1.1 server on 127.0.0.1 (in the benchmark's
own process) serving one patient's record -- the read ``Patient/{id}`` and a searchset
Bundle of the record's resources for each search the service makes -- except that the
search of one resource type is answered with a ``Fault``:

- ``slow``: the normal answer, after three times the deadline;
- ``500``: an OperationOutcome with status 500;
- ``endless next``: empty pages, each with a ``next`` link to one more (within the base);
- ``trickle``: a large Content-Length, then one byte every 50 ms;
- ``hang``: no answer at all.

A held answer (``slow``, ``hang``, ``trickle``) ends as soon as the client hangs up, or
when the server stops, so no thread outlives the call that caused it by much.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from dataclasses import dataclass
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cds_service.prefetch import LOCAL_FILTERS, answers_query
from demo.hooks import searchset
from demo.patients import DemoPatient

FHIR_JSON = "application/fhir+json"
TRICKLE_S = 0.05
"""Seconds between the bytes of a trickling body."""


class Fault(Enum):
    SLOW = "slow past the deadline"
    ERROR_500 = "500"
    ENDLESS_NEXT = "endless next chain"
    TRICKLE = "byte-trickling body"
    HANG = "hangs"


@dataclass(frozen=True, slots=True)
class Case:
    """One benchmark case: which search fails, how, and what the service should answer."""

    name: str
    resource_type: str
    """The search that misbehaves (``MedicationRequest``: required; ``Procedure``: optional)."""
    key: str
    """Its prefetch key."""
    fault: Fault
    expected_status: int


CASES: tuple[Case, ...] = (
    Case("required search slow (3 x deadline)", "MedicationRequest", "medicationRequests",
         Fault.SLOW, 412),
    Case("required search 500", "MedicationRequest", "medicationRequests", Fault.ERROR_500, 412),
    Case("required search endless next chain", "MedicationRequest", "medicationRequests",
         Fault.ENDLESS_NEXT, 412),
    Case("required search trickles (1 B / 50 ms)", "MedicationRequest", "medicationRequests",
         Fault.TRICKLE, 412),
    Case("optional search hangs", "Procedure", "procedures", Fault.HANG, 200),
)  # fmt: skip


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # 5 by default: a burst of connects would wait for SYN retries

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-answer is the point of the exercise


class FaultyFhirServer:
    """Serves ``patient``'s record at ``{origin}/fhir`` with ``fault`` on ``resource_type``."""

    def __init__(
        self, patient: DemoPatient, *, resource_type: str, fault: Fault, deadline_s: float
    ) -> None:
        self.fault = fault
        self.resource_type = resource_type
        self.hold_s = 3 * deadline_s if fault is Fault.SLOW else 60.0
        self._patient_path = f"/fhir/Patient/{patient.patient_id}"
        self._patient_id = patient.patient_id
        by_type: dict[str, list[dict[str, Any]]] = {}
        patient_resource: dict[str, Any] | None = None
        for resource in patient.resources:
            if resource["resourceType"] == "Patient":
                patient_resource = resource
            else:
                by_type.setdefault(resource["resourceType"], []).append(resource)
        self._patient = json.dumps(patient_resource).encode()
        self._searches = {
            kind: json.dumps(searchset(found)).encode() for kind, found in by_type.items()
        }
        self._empty = json.dumps(searchset([])).encode()
        self._by_type = by_type
        self._filtered: dict[tuple[str, tuple[tuple[str, str], ...]], bytes] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.base_url = f"{self.origin}/fhir"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FaultyFhirServer:
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

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # headers and body go out in two writes: without this, Nagle's algorithm
                # and the client's delayed ACK add about 40 ms to each answer
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                try:
                    server._answer(self, parts.path, parse_qs(parts.query))
                except OSError:
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _answer(
        self, handler: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]]
    ) -> None:
        if path == self._patient_path:
            _send(handler, 200, self._patient)
            return
        kind = path.removeprefix("/fhir/")
        if "/" in kind or not path.startswith("/fhir/"):
            _send(handler, 404, b'{"resourceType": "OperationOutcome", "issue": []}')
            return
        normal = self._search(kind, query)
        if kind != self.resource_type:
            _send(handler, 200, normal)
        elif self.fault is Fault.SLOW:
            if self._hold(handler, self.hold_s):
                _send(handler, 200, normal)
        elif self.fault is Fault.HANG:
            self._hold(handler, self.hold_s)
        elif self.fault is Fault.ERROR_500:
            _send(handler, 500, b'{"resourceType": "OperationOutcome", "issue": []}')
        elif self.fault is Fault.ENDLESS_NEXT:
            page = int(query.get("page", ["1"])[0])
            next_url = f"{self.base_url}/{kind}?patient={self._patient_id}&page={page + 1}"
            bundle = {**searchset([]), "link": [{"relation": "next", "url": next_url}]}
            _send(handler, 200, json.dumps(bundle).encode())
        else:
            self._trickle(handler)

    def _search(self, kind: str, query: dict[str, list[str]]) -> bytes:
        """The search's answer, filtered on category, code and intent as a US Core server
        would (the service asks for Observations by category and by code)."""
        filters = sorted((k, v[0]) for k, v in query.items() if k in LOCAL_FILTERS and v)
        if not filters:
            return self._searches.get(kind, self._empty)
        key = (kind, tuple(filters))
        with self._lock:
            cached = self._filtered.get(key)
        if cached is None:
            relative = f"{kind}?{urlencode(filters)}"
            found = [r for r in self._by_type.get(kind, []) if answers_query(relative, r)]
            cached = json.dumps(searchset(found)).encode()
            with self._lock:
                self._filtered[key] = cached
        return cached

    def _hold(self, handler: BaseHTTPRequestHandler, seconds: float) -> bool:
        """Wait ``seconds``; False (and the connection closed) when the client hung up or
        the server is stopping first."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            if self._stopping.is_set() or _hung_up(handler.connection, min(left, 0.1)):
                handler.close_connection = True
                return False
        return True

    def _trickle(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", FHIR_JSON)
        handler.send_header("Content-Length", "100000000")
        handler.end_headers()
        handler.wfile.write(b'{"resourceType": "Bundle", "entry": [')
        handler.wfile.flush()
        handler.close_connection = True
        while not self._stopping.wait(TRICKLE_S):
            handler.wfile.write(b" ")  # a client that hung up: BrokenPipeError ends it
            handler.wfile.flush()


def _send(handler: BaseHTTPRequestHandler, status: int, payload: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", FHIR_JSON)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


def _hung_up(connection: socket.socket, wait_s: float) -> bool:
    """Whether the peer closed ``connection``, waiting up to ``wait_s`` for a sign of it."""
    readable, _, _ = select.select([connection], [], [], wait_s)
    if not readable:
        return False
    try:
        closed = connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True
    if not closed:
        time.sleep(wait_s)  # bytes from the client (not expected): no busy loop on them
    return closed

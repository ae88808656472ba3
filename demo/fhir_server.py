"""The FHIR servers of the demo, the benchmark and the tests: one module for all three.

``running_sekmet`` runs SEKMET (PyPI ``sekmet-fhir``, pinned in the dev extra), a real FHIR
R4 server, as a child process on loopback (a settings file: ``base_url``/``host``/``port``,
one static bearer token, simulator off); ``load`` puts resources into it with transaction
Bundles. The demo serves its patients from it, the benchmark fetches a record from it,
and the tests (``tests/fhir_server.py``: a pytest fixture) a seeded scenario.

``ScriptedFhirServer`` is a small threaded HTTP/1.1 server in this process, for the
answers a real server will not give on demand. It answers each path with a scripted
``Reply`` (a status, a body, a delay, a hang, a trickle) or a function of the request,
and records every request it gets (for tests that count what a call read). With
``record``, it also serves one patient's record -- the read ``Patient/{id}`` and a
searchset Bundle for every search, filtered on category, code, intent and status as a
US Core server would -- so that a scripted fault can hit one search among normal ones
(the benchmark's faulty server, ``bench/faulty.py``, is that).

``SandboxFhirProxy`` is a tiny reverse proxy on loopback in front of SEKMET, for the CDS
Hooks sandbox (a web page): SEKMET answers CORS itself, but accepts only requests with
its bearer token, and the sandbox reads an open FHIR server (``/metadata`` without
security, no token). The proxy answers CORS preflights (with
``Access-Control-Allow-Private-Network`` for browsers that ask before a public page
calls loopback) and adds the demo token to requests that come without one. A request
that brings its own token keeps it, so a wrong token is still refused. Demo only: it
binds to 127.0.0.1 and opens the demo server to any page in the browser on this machine.

One FHIR server stays apart: ``tests/big_answer_server.py`` streams pages of tens of
megabytes and gzip bombs from a process of its own, so that the test measuring the
service's memory does not count the server's.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from cds_service.prefetch import LOCAL_FILTERS, answers_query
from demo.hooks import searchset

FHIR_JSON = "application/fhir+json"
Json = dict[str, Any]
STARTUP_TIMEOUT_S = 60.0
LOAD_BATCH = 250
"""Resources per transaction Bundle when loading."""


class FhirServerError(RuntimeError):
    """The FHIR server could not be started or refused the data."""


@dataclass(frozen=True, slots=True)
class FhirServer:
    base_url: str
    """The FHIR base clients use, e.g. ``http://127.0.0.1:41234/fhir``."""
    access_token: str = field(repr=False)
    """The bearer token the server accepts."""
    direct_url: str = ""
    """SEKMET's own listening base (the same as ``base_url`` unless a proxy is in front)."""
    log_path: Path | None = None
    forwarded: list[str] = field(default_factory=list, repr=False, compare=False)
    """Paths (with query) of the requests the proxy in front forwarded, in order; kept in
    memory only, for tests that count what a hook call read."""

    def get(self, relative: str) -> Json:
        """GET ``{base_url}/{relative}`` with the token (for a test to read what it holds)."""
        with requests.get(
            f"{self.base_url}/{relative}",
            headers={"Authorization": f"Bearer {self.access_token}", "Accept": FHIR_JSON},
            timeout=10,
        ) as response:
            response.raise_for_status()
            body: Json = response.json()
            return body


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def sekmet_executable() -> str:
    beside_python = Path(sys.executable).with_name("sekmet")
    found = str(beside_python) if beside_python.exists() else shutil.which("sekmet")
    if found is None:
        raise FhirServerError("the `sekmet` FHIR server (PyPI sekmet-fhir) is not installed")
    return found


def die_with_parent() -> Callable[[], None] | None:
    """For ``preexec_fn`` (Linux): the child gets SIGTERM when this process dies, even by
    SIGKILL, so no server outlives an aborted run."""
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def in_child() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return in_child


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Terminate a child we started (SIGTERM: gunicorn's graceful stop), kill it if it does
    not stop, then kill what is left of its process group: the children run in sessions
    of their own (``start_new_session``), so the group is theirs alone, and a worker that
    outlived its master would otherwise keep the port."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_sekmet(
    workdir: Path,
    *,
    access_token: str,
    port: int | None = None,
    public_base_url: str | None = None,
) -> Iterator[FhirServer]:
    """Run SEKMET in ``workdir`` on 127.0.0.1; stop it on exit.

    ``public_base_url``: the base its links should name (a proxy in front of it);
    default its own address. Its traffic log is off (it would store every body)."""
    port = port or free_port()
    direct_url = f"http://127.0.0.1:{port}/fhir"
    base_url = public_base_url or direct_url
    config = workdir / "settings.yaml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "base_url": base_url,
                "host": "127.0.0.1",
                "port": port,
                "data_dir": str(workdir / "data"),
                "server_auth": {"types": ["bearer"], "tokens": [access_token]},
                "simulator": {"enabled": False},
                "log_inbound": False,
            }
        ),
        encoding="utf-8",
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SEKMET_")}
    log_path = workdir / "sekmet.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own executable and arguments
            [sekmet_executable(), "serve", "--config", str(config)],
            cwd=workdir,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the demo, which stops the server
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - only a prctl call, resolved before
        )
    try:
        wait_until_up(process, f"{direct_url}/metadata", log_path)
        yield FhirServer(base_url, access_token, direct_url, log_path)
    finally:
        stop_process(process)


def wait_until_up(
    process: subprocess.Popen[bytes],
    url: str,
    log_path: Path | None,
    *,
    timeout_s: float = STARTUP_TIMEOUT_S,
) -> None:
    """Poll ``url`` until it answers 200; raise FhirServerError when the process dies or
    the time runs out."""
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        if process.poll() is not None:
            break
        with (
            contextlib.suppress(requests.RequestException),
            requests.get(url, timeout=2) as response,
        ):
            if response.status_code == 200:
                return
        time.sleep(0.05)
    tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:] if log_path else ""
    raise FhirServerError(f"{url} did not come up:\n{tail}")


def load(server: FhirServer, resources: Sequence[dict[str, Any]]) -> int:
    """PUT every resource (by its id) through transaction Bundles; return how many."""
    headers = {"Authorization": f"Bearer {server.access_token}", "Content-Type": FHIR_JSON}
    base = server.direct_url or server.base_url
    with requests.Session() as session:
        for start in range(0, len(resources), LOAD_BATCH):
            batch = resources[start : start + LOAD_BATCH]
            bundle = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {
                        "resource": r,
                        "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
                    }
                    for r in batch
                ],
            }
            with session.post(base, json=bundle, headers=headers, timeout=120) as response:
                if response.status_code != 200:
                    raise FhirServerError(
                        f"loading failed: {response.status_code} {response.text[:2000]}"
                    )
    return len(resources)


# --- A scripted server in this process --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """What the scripted server answers."""

    status: int = 200
    body: Any = None
    """A JSON value (serialised), or raw ``bytes`` sent as they are."""
    content_type: str = FHIR_JSON
    delay_s: float = 0.0
    """Wait this long before answering (less if the client hangs up or the server stops)."""
    hang: bool = False
    """Never answer: hold the connection until the client hangs up or the server stops."""
    trickle_s: float | None = None
    """Announce ``announced_bytes``, send the start of a Bundle, then one byte per this many
    seconds until the client hangs up or the server stops."""
    announced_bytes: int = 1_000_000
    headers: tuple[tuple[str, str], ...] = ()

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return b"" if self.body is None else json.dumps(self.body).encode()


NOT_FOUND = Reply(404, b'{"resourceType": "OperationOutcome", "issue": []}')


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
    request_queue_size = 128  # 5 by default: a burst of connects would wait for SYN retries

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up is fine
            super().handle_error(request, client_address)


class ScriptedFhirServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 answering paths with scripted replies.

    ``routes`` maps a path (without query) to a ``Reply`` or a function of the request
    giving one; ``record``: one patient's resources, served under ``/fhir`` for the paths
    ``routes`` does not name (see the module doc); other paths get 404. ``requests``
    lists what it received. Held answers (a delay, a hang, a trickle) end when the client
    hangs up or the server stops, so no thread outlives its call by much.
    """

    def __init__(
        self, routes: dict[str, Responder] | None = None, *, record: Sequence[Json] = ()
    ) -> None:
        self.routes: dict[str, Responder] = dict(routes or {})
        self.requests: list[RecordedRequest] = []
        self._record = _RecordSearches(record) if record else None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self.port: int = self._server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.origin}/fhir"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _reply_to(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            route = self.routes.get(request.path)
        if route is None:
            return self.record_reply(request)
        return route if isinstance(route, Reply) else route(request)

    def record_reply(self, request: RecordedRequest) -> Reply:
        """What the ``record`` answers to ``request`` (404 without one), whatever the routes."""
        return self._record.reply(request) if self._record is not None else NOT_FOUND

    def _answer(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.hang:
            self._hold(handler, float("inf"))
            return
        if reply.delay_s and not self._hold(handler, reply.delay_s):
            return
        payload = reply.payload()
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers:
            handler.send_header(name, value)
        if reply.trickle_s is None:
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        handler.send_header("Content-Length", str(reply.announced_bytes))
        handler.end_headers()
        handler.wfile.write(b'{"resourceType": "Bundle", "entry": [')
        handler.wfile.flush()
        handler.close_connection = True
        while not self._stopping.wait(reply.trickle_s):
            handler.wfile.write(b" ")  # a client that hung up: BrokenPipeError ends it
            handler.wfile.flush()

    def _hold(self, handler: BaseHTTPRequestHandler, seconds: float) -> bool:
        """Wait ``seconds``; False (and the connection closed) when the client hung up or
        the server is stopping first."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            if self._stopping.is_set() or _hung_up(handler.connection, min(left, 0.05)):
                handler.close_connection = True
                return False
        return True

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is visible
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                recorded = RecordedRequest(
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    client_port=self.client_address[1],
                )
                try:
                    scripted._answer(self, scripted._reply_to(recorded))
                except OSError:
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: URLs carry patient ids

        return Handler


class _RecordSearches:
    """One patient's record as a FHIR server gives it: the read ``/fhir/Patient/{id}``, and
    for ``/fhir/{type}`` a searchset Bundle of the record's resources of that type, filtered
    on the parameters ``cds_service.prefetch.LOCAL_FILTERS`` names. Answers are serialised
    once and kept: the benchmark calls this server under load."""

    def __init__(self, resources: Sequence[Json]) -> None:
        self._by_type: dict[str, list[Json]] = {}
        self._reads: dict[str, bytes] = {}
        for resource in resources:
            if resource["resourceType"] == "Patient":
                self._reads[f"/fhir/Patient/{resource['id']}"] = json.dumps(resource).encode()
            else:
                self._by_type.setdefault(resource["resourceType"], []).append(resource)
        self._searches: dict[tuple[str, tuple[tuple[str, str], ...]], bytes] = {}
        self._lock = threading.Lock()

    def reply(self, request: RecordedRequest) -> Reply:
        read = self._reads.get(request.path)
        if read is not None:
            return Reply(body=read)
        kind = request.path.removeprefix("/fhir/")
        if not request.path.startswith("/fhir/") or "/" in kind:
            return NOT_FOUND
        filters = tuple(
            sorted((k, v[0]) for k, v in request.query.items() if k in LOCAL_FILTERS and v)
        )
        with self._lock:
            cached = self._searches.get((kind, filters))
        if cached is None:
            relative = f"{kind}?{urlencode(filters)}"
            found = [r for r in self._by_type.get(kind, []) if answers_query(relative, r)]
            cached = json.dumps(searchset(found)).encode()
            with self._lock:
                self._searches[(kind, filters)] = cached
        return Reply(body=cached)


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


# --- The sandbox-facing proxy ---------------------------------------------------------

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "date",
        "server",
    }
)
CORS_HEADERS: tuple[tuple[str, str], ...] = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS"),
    ("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, Prefer, If-Match"),
    ("Access-Control-Expose-Headers", "Location, ETag, Last-Modified, Content-Location"),
    ("Access-Control-Allow-Private-Network", "true"),
    ("Access-Control-Max-Age", "600"),
)


class SandboxFhirProxy:
    """A CORS-answering, token-adding reverse proxy on 127.0.0.1 (see the module doc)."""

    def __init__(
        self,
        upstream_base: str,
        access_token: str,
        port: int | None = None,
        forwarded: list[str] | None = None,
    ) -> None:
        parts = urlsplit(upstream_base)
        self.forwarded: list[str] = forwarded if forwarded is not None else []
        """Every forwarded request's path and query (in memory; never logged)."""
        self._upstream_host = parts.hostname or "127.0.0.1"
        self._upstream_port = parts.port or 80
        self._token = access_token
        self._server = _QuietServer(("127.0.0.1", port or 0), self._handler_class())
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}{parts.path}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def __enter__(self) -> SandboxFhirProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        if not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = f"Bearer {self._token}"
        self.forwarded.append(handler.path)
        upstream = http.client.HTTPConnection(self._upstream_host, self._upstream_port, timeout=30)
        try:
            upstream.request(handler.command, handler.path, body=body, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
            handler.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                lower = name.lower()
                if lower in _HOP_BY_HOP or lower.startswith("access-control-"):
                    continue
                handler.send_header(name, value)
        finally:
            upstream.close()
        for name, value in CORS_HEADERS:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(payload)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def do_OPTIONS(self) -> None:
                self.send_response(204)
                for name, value in CORS_HEADERS:
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _proxy(self) -> None:
                try:
                    proxy._forward(self)
                except (OSError, http.client.HTTPException):
                    with contextlib.suppress(OSError):
                        self.send_error(502, "FHIR server unreachable")

            def do_GET(self) -> None:
                self._proxy()

            def do_HEAD(self) -> None:
                self._proxy()

            def do_POST(self) -> None:
                self._proxy()

            def do_PUT(self) -> None:
                self._proxy()

            def do_DELETE(self) -> None:
                self._proxy()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: URLs carry patient ids

        return Handler


@contextlib.contextmanager
def demo_fhir_server(
    workdir: Path, *, access_token: str, port: int | None = None
) -> Iterator[FhirServer]:
    """SEKMET behind the sandbox proxy: ``base_url`` is the proxy's, links included."""
    proxy_port = port or free_port()
    public = f"http://127.0.0.1:{proxy_port}/fhir"
    forwarded: list[str] = []
    with (
        running_sekmet(workdir, access_token=access_token, public_base_url=public) as sekmet,
        SandboxFhirProxy(sekmet.direct_url, access_token, proxy_port, forwarded) as proxy,
    ):
        yield FhirServer(
            proxy.base_url, access_token, sekmet.direct_url, sekmet.log_path, forwarded
        )

"""A real local FHIR R4 server for the demo and the benchmark, and a loader for it.

``running_sekmet`` runs SEKMET (PyPI ``sekmet-fhir``, pinned in the dev extra) as a child
process on loopback, as ``tests/fhir_server.py`` does for the tests (same settings file:
``base_url``/``host``/``port``, one static bearer token, simulator off), without pytest
and without the test scenario; ``load`` puts resources into it with transaction Bundles.

``SandboxFhirProxy`` is a tiny reverse proxy on loopback in front of SEKMET, for the CDS
Hooks sandbox (a web page): SEKMET answers CORS itself, but accepts only requests with
its bearer token, and the sandbox reads an open FHIR server (``/metadata`` without
security, no token). The proxy answers CORS preflights (with
``Access-Control-Allow-Private-Network`` for browsers that ask before a public page
calls loopback) and adds the demo token to requests that come without one. A request
that brings its own token keeps it, so a wrong token is still refused. Demo only: it
binds to 127.0.0.1 and opens the demo server to any page in the browser on this machine.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
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
from typing import Any
from urllib.parse import urlsplit

import requests

FHIR_JSON = "application/fhir+json"
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
    SIGKILL, so no server outlives an aborted run (as in ``tests/fhir_server.py``)."""
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


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


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

"""A hostile FHIR server process for the answer-size tests: huge pages and gzip bombs.

Run as ``python -m tests.big_answer_server``; it prints its port on the first
line of stdout and serves until killed. Bodies are generated while they are
sent, so the server itself stays small, and it runs in its own process so that
its memory is not counted in the test's measurements. Paths (under ``/fhir``):

``/Condition?bytes=N``       a valid searchset Bundle of N bytes with Content-Length
``/Observation?bytes=N``     the same, chunked (no Content-Length announced)
``/MedicationRequest?bytes=N``  a gzip bomb: N decompressed bytes (JSON whitespace inside a
                             Bundle) in a body of about N/1000 bytes, Content-Encoding gzip
``/Procedure``               a small Bundle, gzip-encoded (the ordinary case)
``/DiagnosticReport``        a small Bundle, raw-deflate-encoded

and under ``/bomb/fhir/`` every path (reads too) is a gzip bomb of 64 MiB.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PATIENT_ID = "big-answer-patient"
_PREFIX = b'{"resourceType":"Bundle","type":"searchset","entry":['
_SUFFIX = b"]}"
_BLOCK_BYTES = 1024 * 1024


def _entry(index: int) -> bytes:
    resource = {
        "resourceType": "Condition",
        "id": f"c{index:09d}",
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "code": {"text": "filler " * 8},
    }
    return json.dumps({"resource": resource}, separators=(",", ":")).encode()


def bundle_parts(size: int) -> Iterator[bytes]:
    """A valid searchset Bundle of exactly ``size`` bytes (padded with spaces), in pieces."""
    entry = _entry(0) + b","
    body_room = size - len(_PREFIX) - len(_SUFFIX) - len(_entry(0))
    count = max(0, body_room // len(entry))
    yield _PREFIX
    block = entry * max(1, _BLOCK_BYTES // len(entry))
    left = count
    while left > 0:
        take = min(left, _BLOCK_BYTES // len(entry))
        yield block[: take * len(entry)]
        left -= take
    last = _entry(0)
    yield last
    used = len(_PREFIX) + count * len(entry) + len(last) + len(_SUFFIX)
    yield b" " * max(0, size - used)
    yield _SUFFIX


def small_bundle() -> bytes:
    resources = [
        {"resourceType": "Procedure", "id": "p1", "subject": {"reference": f"Patient/{PATIENT_ID}"}}
    ]
    return json.dumps(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": r} for r in resources],
        }
    ).encode()


def _gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


_SPACES_MEMBER = _gzip(b" " * (16 * 1024 * 1024))


def gzip_bomb_parts(size: int) -> Iterator[bytes]:
    """Several gzip members: the Bundle's start, ``size`` bytes of spaces, its end."""
    yield _gzip(_PREFIX)
    for _ in range(max(1, size // (16 * 1024 * 1024))):
        yield _SPACES_MEMBER
    yield _gzip(_SUFFIX)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        size = int(parse_qs(parts.query).get("bytes", ["0"])[0] or 0)
        try:
            if parts.path.startswith("/bomb/fhir/"):
                self._send(gzip_bomb_parts(64 * 1024 * 1024), length=None, encoding="gzip")
            elif parts.path == "/fhir/Condition":
                self._send(bundle_parts(size), length=size)
            elif parts.path == "/fhir/Observation":
                self._send(bundle_parts(size), length=None)
            elif parts.path == "/fhir/MedicationRequest":
                self._send(gzip_bomb_parts(size), length=None, encoding="gzip")
            elif parts.path == "/fhir/Procedure":
                body = _gzip(small_bundle())
                self._send(iter([body]), length=len(body), encoding="gzip")
            elif parts.path == "/fhir/DiagnosticReport":
                compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
                body = compressor.compress(small_bundle()) + compressor.flush()
                self._send(iter([body]), length=len(body), encoding="deflate")
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True

    def _send(self, pieces: Iterator[bytes], *, length: int | None, encoding: str = "") -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        if encoding:
            self.send_header("Content-Encoding", encoding)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        for piece in pieces:
            if not piece:
                continue
            if length is None:
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            else:
                self.wfile.write(piece)
        if length is None:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-body is what these tests expect


def main() -> None:
    server = _Server(("127.0.0.1", 0), _Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()

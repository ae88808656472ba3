"""The load generator: ``python -m bench.load --port P --path /x --body FILE ...``.

Runs in its own process (``bench.run`` starts it), on loopback only. ``--concurrency``
threads each hold one keep-alive HTTP/1.1 connection and send POSTs back to back until
``--requests`` are done or ``--max-seconds`` have passed, whichever comes first: it stops by
itself. Each thread first sends ``--warmup`` requests that are not counted. The request
bytes are built once (a minimal client: the Python ``requests`` stack would cost more
than the floor it measures); the body's hookInstance, when it has the placeholder
``HOOK_INSTANCE``, is replaced by one of 64 fresh UUIDs in turn, as real calls differ.

Prints one JSON object: ``latencies_ms`` of the counted requests, ``elapsed_s`` of the
counted phase, ``statuses`` (status -> count) and ``errors``.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

HOOK_INSTANCE = "00000000-0000-4000-8000-000000000000"
VARIANTS = 64


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closes it."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self._address = (host, port)
        self._timeout_s = timeout_s
        self._socket: socket.socket | None = None
        self._reader: Any = None

    def _open(self) -> None:
        sock = socket.create_connection(self._address, timeout=self._timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket, self._reader = sock, sock.makefile("rb")

    def close(self) -> None:
        if self._socket is not None:
            self._reader.close()
            self._socket.close()
            self._socket = None

    def request(self, raw: bytes) -> int:
        """Send ``raw`` and read the whole answer; return its status."""
        for attempt in range(2):
            if self._socket is None:
                self._open()
            assert self._socket is not None
            try:
                self._socket.sendall(raw)
                return self._read_answer()
            except (ConnectionError, _ClosedError):
                self.close()
                if attempt:
                    raise
        raise ConnectionError("unreachable")

    def _read_answer(self) -> int:
        status_line = self._reader.readline()
        if not status_line:
            raise _ClosedError
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        close = False
        while True:
            line = self._reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value.strip())
            elif lowered == b"connection" and value.strip().lower() == b"close":
                close = True
        if length:
            self._reader.read(length)
        if close:
            self.close()
        return status


class _ClosedError(Exception):
    """The server closed a kept-alive connection before answering."""


def build_requests(host: str, port: int, path: str, body: bytes) -> list[bytes]:
    placeholder = HOOK_INSTANCE.encode()
    bodies = (
        [body.replace(placeholder, str(uuid.uuid4()).encode()) for _ in range(VARIANTS)]
        if placeholder in body
        else [body]
    )
    return [
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(b)}\r\n\r\n"
        ).encode()
        + b
        for b in bodies
    ]


def run(
    *,
    host: str,
    port: int,
    requests_raw: list[bytes],
    concurrency: int,
    total: int,
    max_seconds: float,
    warmup: int,
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    issued = 0
    window = [0.0, 0.0]
    """Start and deadline of the counted phase, set when every thread is warm."""

    def open_window() -> None:
        window[0] = time.perf_counter()
        window[1] = window[0] + max_seconds

    ready = threading.Barrier(concurrency + 1, action=open_window)

    def take() -> int | None:
        nonlocal issued
        with lock:
            if issued >= total or time.perf_counter() >= window[1]:
                return None
            issued += 1
            return issued

    def worker(index: int) -> None:
        connection = Connection(host, port, timeout_s)
        turn = index
        try:
            try:
                for _ in range(warmup):
                    connection.request(requests_raw[turn % len(requests_raw)])
                    turn += 1
            finally:
                ready.wait()
            while take() is not None:
                raw = requests_raw[turn % len(requests_raw)]
                turn += 1
                started = time.perf_counter()
                status = connection.request(raw)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    statuses[status] += 1
        except (OSError, ValueError) as error:
            with lock:
                errors.append(f"{type(error).__name__}: {error}")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    ready.wait()
    for thread in threads:
        thread.join(timeout=max_seconds + timeout_s + 5)
    elapsed = time.perf_counter() - window[0]
    return {
        "latencies_ms": latencies,
        "elapsed_s": elapsed,
        "statuses": {str(k): v for k, v in statuses.items()},
        "errors": errors[:5],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1", "localhost"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--body", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--max-seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    raw = build_requests(args.host, args.port, args.path, args.body.read_bytes())
    result = run(
        host=args.host,
        port=args.port,
        requests_raw=raw,
        concurrency=args.concurrency,
        total=args.requests,
        max_seconds=args.max_seconds,
        warmup=args.warmup,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run a WSGI app under gunicorn with the production configuration (``gunicorn.conf.py``),
bound to loopback: the service for the demo, the service and the floor for the benchmark.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from demo.fhir_server import FhirServerError, die_with_parent, free_port, stop_process

REPOSITORY = Path(__file__).resolve().parent.parent
GUNICORN_CONF = REPOSITORY / "gunicorn.conf.py"
SERVICE_APP = "cds_service.wsgi:app"


@dataclass(frozen=True, slots=True)
class RunningApp:
    url: str
    """``http://127.0.0.1:PORT``"""
    process: subprocess.Popen[bytes]
    started: float
    """``time.perf_counter()`` just before the process was started."""
    log_path: Path


def start_gunicorn(
    app: str,
    *,
    port: int,
    environment: Mapping[str, str],
    workers: int | None,
    threads: int | None,
    log_path: Path,
    options: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """gunicorn -c gunicorn.conf.py, with workers and threads (None: the file's defaults)
    through the variables that file reads, and ``--bind 127.0.0.1:PORT`` (the command line
    wins over the file)."""
    env = dict(os.environ)
    env.update(environment)
    env["PORT"] = str(port)
    if workers is not None:
        env["WEB_CONCURRENCY"] = str(workers)
    if threads is not None:
        env["GUNICORN_THREADS"] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), env.get("PYTHONPATH")]))
    with log_path.open("ab") as log:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(GUNICORN_CONF),
                "--bind",
                f"127.0.0.1:{port}",
                *options,
                app,
            ],
            cwd=REPOSITORY,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # A session of its own: a terminal's Ctrl-C reaches only the caller, which stops
            # gunicorn with SIGTERM (an interrupted worker can hang instead of exiting).
            start_new_session=True,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - only a prctl call, resolved before
        )


def wait_for_first_answer(
    process: subprocess.Popen[bytes], url: str, log_path: Path, *, timeout_s: float = 60.0
) -> float:
    """Poll ``url`` until any HTTP answer; return ``time.perf_counter()`` at that moment."""
    give_up = time.monotonic() + timeout_s
    with requests.Session() as session:
        while time.monotonic() < give_up:
            if process.poll() is not None:
                break
            try:
                with session.get(url, timeout=2):
                    return time.perf_counter()
            except requests.RequestException:
                time.sleep(0.005)
    tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
    raise FhirServerError(f"{url} did not answer:\n{tail}")


@contextlib.contextmanager
def running_app(
    app: str,
    *,
    environment: Mapping[str, str],
    workers: int,
    threads: int,
    log_path: Path,
    probe: str = "/healthz",
    port: int | None = None,
) -> Iterator[RunningApp]:
    """Start ``app`` under gunicorn, wait for its first answer to ``probe``; stop it on exit."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    process = start_gunicorn(
        app,
        port=port,
        environment=environment,
        workers=workers,
        threads=threads,
        log_path=log_path,
    )
    try:
        wait_for_first_answer(process, url + probe, log_path)
        yield RunningApp(url, process, started, log_path)
    finally:
        stop_process(process, timeout_s=20.0)


def service_environment(
    *,
    feedback_database_url: str,
    cors_origins: str = "",
    log_level: str = "INFO",
    order_catalog: str | None = None,
) -> dict[str, str]:
    """The service's variables for a loopback run without JWT authentication."""
    environment = {
        "CDS_PROFILE": "development",
        "CDS_AUTH_DISABLED": "true",
        "CDS_FEEDBACK_DATABASE_URL": feedback_database_url,
        "CDS_LOG_LEVEL": log_level,
    }
    if cors_origins:
        environment["CDS_CORS_ORIGINS"] = cors_origins
    if order_catalog:
        environment["CDS_ORDER_CATALOG"] = order_catalog
    return environment

"""Shared fixtures: settings, the app, a test client, and a live HTTP server."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings as hypothesis_settings
from werkzeug.serving import BaseWSGIServer, make_server

from cds_service.app import create_app
from cds_service.settings import Profile, Settings

# Property-based tests explore new examples on every developer run; CI (CI=true) runs a
# fixed set, so that a submission's verdict does not depend on the draw. A failure prints
# the blob that reproduces it.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("dev", print_blob=True)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")

FIXED_TODAY = date(2026, 11, 21)
"""The date every test evaluates on, so that windows and goldens do not drift."""


def suite_settings(workdir: Path) -> Settings:
    """The tests' settings (the ``settings`` fixture; also ``make golden``'s)."""
    return Settings(
        profile=Profile.DEVELOPMENT,
        feedback_database_url=f"sqlite:///{workdir / 'feedback.sqlite3'}",
        cors_origins=("https://sandbox.cds-hooks.org",),
        fhir_request_timeout_s=2.0,
        fhir_deadline_s=3.0,
    )


@contextmanager
def suite_app(settings: Settings) -> Iterator[Flask]:
    """The real app evaluating on FIXED_TODAY (the ``app`` fixture; also ``make golden``'s)."""
    application = create_app(settings, today=lambda: FIXED_TODAY)
    application.config["TESTING"] = True
    try:
        yield application
    finally:
        parts = application.extensions["cds_service"]
        parts.resolver.close()
        parts.store.close()
        if parts.authenticator is not None:
            parts.authenticator.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return suite_settings(tmp_path)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    with suite_app(settings) as application:
        yield application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class LiveServer:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The real app on a free loopback port, answering real HTTP."""
    with LiveServer(app) as server:
        yield server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say loudly, at the very end, when the topology test could not run (no nginx)."""
    from tests.test_topology import SKIP_REASON

    for report in terminalreporter.stats.get("skipped", []):
        if SKIP_REASON in str(getattr(report, "longrepr", "")):
            terminalreporter.write_sep("!", SKIP_REASON, red=True, bold=True)
            return

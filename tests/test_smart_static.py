"""The SMART app's files at ``/smart/``: what is served, what never is, and the headers.

A build directory is made per test (``cds_service/static/smart`` is the app's build
output, absent from a checkout that has not run ``make smart-app``). Paths that try to
leave it are sent over real HTTP too, byte for byte as written (``http.client`` does not
normalise ``..``), since a test client or a browser would clean them up first.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cds_service.app import create_app
from cds_service.settings import Profile, Settings, SmartSettings
from cds_service.smart.views import EXTENSION_KEY, STATIC_DIR
from tests.conftest import FIXED_TODAY, LiveServer

INDEX = b"<!doctype html><title>HER2 journey</title><script src='app.js'></script>"
SECRET = b"SECRET-OUTSIDE-THE-BUILD"


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A built app in ``tmp_path/site/smart``, with files beside it that must stay private."""
    root = tmp_path / "site"
    directory = root / "smart"
    (directory / "assets").mkdir(parents=True)
    (directory / "index.html").write_bytes(INDEX)
    (directory / "launch.html").write_bytes(b"<!doctype html><script src='launch.js'></script>")
    (directory / "app.js").write_bytes(b"console.log('app');")
    (directory / "style.css").write_bytes(b"body { margin: 0; }")
    (directory / "assets" / "font.woff2").write_bytes(b"wOF2")
    (directory / ".build-stamp").write_bytes(SECRET)
    (root / "app.py").write_bytes(SECRET)
    (root / "smart-secret.txt").write_bytes(SECRET)
    return directory


@pytest.fixture
def built(app: Flask, build: Path) -> FlaskClient:
    app.extensions[EXTENSION_KEY].static_dir = build
    return app.test_client()


def get(client: FlaskClient, path: str) -> TestResponse:
    """The answer, read and closed (a served file is an open file until then)."""
    response = client.get(path)
    response.get_data()
    response.close()
    return response


def test_the_files_are_package_data_in_cds_service() -> None:
    assert STATIC_DIR.parts[-3:] == ("cds_service", "static", "smart")


@pytest.mark.parametrize(
    ("path", "mimetype"),
    [
        ("/smart/", "text/html"),
        ("/smart/index.html", "text/html"),
        ("/smart/launch.html", "text/html"),
        ("/smart/app.js", "text/javascript"),
        ("/smart/style.css", "text/css"),
        ("/smart/assets/font.woff2", "font/woff2"),
    ],
)
def test_the_built_files_are_served(built: FlaskClient, path: str, mimetype: str) -> None:
    response = get(built, path)
    assert response.status_code == 200
    assert response.mimetype == mimetype
    if path == "/smart/":
        assert response.get_data() == INDEX


def test_without_a_build_every_file_is_a_404_saying_the_app_is_not_built(
    app: Flask, tmp_path: Path
) -> None:
    app.extensions[EXTENSION_KEY].static_dir = tmp_path / "never-built"
    client = app.test_client()
    for path in ("/smart/", "/smart/launch.html", "/smart/app.js"):
        response = get(client, path)
        assert response.status_code == 404
        assert response.mimetype == "application/fhir+json"
        (issue,) = response.get_json()["issue"]
        assert "not built" in issue["diagnostics"]
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "path",
    [
        "/smart/missing.js",
        "/smart/.build-stamp",
        "/smart/assets/../.build-stamp",
        "/smart/%2ebuild-stamp",
        "/smart/../app.py",
        "/smart/..%2fapp.py",
        "/smart/%2e%2e/app.py",
        "/smart/%2e%2e%2fapp.py",
        "/smart/%252e%252e%252fapp.py",
        "/smart/..%5capp.py",
        "/smart/..\\app.py",
        "/smart/assets/../../app.py",
        "/smart//etc/passwd",
        "/smart/%2fetc%2fpasswd",
        "/smart/../smart-secret.txt",
    ],
)
def test_nothing_outside_the_build_and_no_dotfile_is_served(
    app: Flask, build: Path, path: str
) -> None:
    """Over real HTTP, the request line exactly as written."""
    app.extensions[EXTENSION_KEY].static_dir = build
    with LiveServer(app) as server:
        host, port = server.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            connection.putrequest("GET", path, skip_accept_encoding=True)
            connection.endheaders()
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
    if response.status == 308:  # Werkzeug merges slashes: a redirect inside /smart/
        location = urlsplit(response.getheader("Location") or "").path
        assert location.startswith("/smart/")
        assert ".." not in location
    else:
        assert response.status in (400, 404), (response.status, body[:200])
    assert SECRET not in body
    assert b"root:" not in body


def test_a_file_is_revalidated_and_a_matching_etag_is_304(built: FlaskClient) -> None:
    first = get(built, "/smart/app.js")
    assert first.headers["Cache-Control"] == "no-cache"
    etag = first.headers["ETag"]
    again = built.get("/smart/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""


def test_a_get_of_the_patient_model_is_405_with_allow_post(built: FlaskClient) -> None:
    response = get(built, "/smart/patient-model")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


# --- Headers -----------------------------------------------------------------------------


def directives(header: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for directive in header.split(";"):
        name, *values = directive.split()
        assert name not in parsed, f"{name} twice"
        parsed[name] = values
    return parsed


@pytest.mark.parametrize("path", ["/smart/", "/smart/app.js", "/smart/missing.js"])
def test_every_answer_carries_the_strict_policy(built: FlaskClient, path: str) -> None:
    response = get(built, path)
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'self'"]
    assert policy["connect-src"][0] == "'self'"
    everything = " ".join(value for values in policy.values() for value in values)
    assert "unsafe-inline" not in everything
    assert "unsafe-eval" not in everything
    assert "*" not in policy["script-src"] + policy["style-src"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_patient_model_carries_the_policy_and_no_store(built: FlaskClient) -> None:
    response = built.post("/smart/patient-model", json={"resourceType": "Patient"})
    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_the_hooks_carry_no_app_policy(client: FlaskClient) -> None:
    assert "Content-Security-Policy" not in get(client, "/cds-services").headers


@pytest.fixture
def production_app(settings: Settings) -> Iterator[Flask]:
    smart = SmartSettings(
        issuers=("https://fhir.ehr.example.org/api/FHIR/R4", "HTTPS://Other.Example.org:8443/r4/"),
        connect_src=("https://authorization.example.org",),
        frame_ancestors=("https://ehr.example.org", "https://*.ehr.example.org"),
    )
    production = settings.model_copy(update={"profile": Profile.PRODUCTION, "smart": smart})
    production = production.model_copy(
        update={"auth": production.auth.model_copy(update={"disabled": True})}
    )
    application = create_app(production, today=lambda: FIXED_TODAY)
    yield application
    parts = application.extensions["cds_service"]
    parts.resolver.close()
    parts.store.close()


def test_the_policy_names_the_allowlisted_servers_and_frames(
    production_app: Flask, build: Path
) -> None:
    production_app.extensions[EXTENSION_KEY].static_dir = build
    response = get(production_app.test_client(), "/smart/launch.html")
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["connect-src"] == [
        "'self'",
        "https://fhir.ehr.example.org",
        "https://other.example.org:8443",
        "https://authorization.example.org",
    ]
    assert policy["frame-ancestors"] == [
        "'self'",
        "https://ehr.example.org",
        "https://*.ehr.example.org",
    ]


def test_development_lets_the_app_reach_loopback_servers(built: FlaskClient) -> None:
    """``make demo``: the FHIR server and a test authorization server on loopback ports."""
    policy = directives(get(built, "/smart/").headers["Content-Security-Policy"])
    assert policy["connect-src"] == ["'self'", "http://127.0.0.1:*", "http://localhost:*"]

"""CORS for browser clients such as the CDS Hooks sandbox (cds-hooks_2.0@208), and /healthz."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.requests import spec_example

SANDBOX = "https://sandbox.cds-hooks.org"


def test_preflight_from_an_allowed_origin(client: FlaskClient) -> None:
    response = client.options(
        "/cds-services/her2-nsclc-patient-view",
        headers={
            "Origin": SANDBOX,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SANDBOX
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Origin" in response.headers["Vary"]


def test_post_and_discovery_from_an_allowed_origin_carry_cors(client: FlaskClient) -> None:
    post = client.post(
        "/cds-services/her2-nsclc-patient-view",
        json=spec_example("patient-view"),
        headers={"Origin": SANDBOX},
    )
    assert post.status_code == 200
    assert post.headers["Access-Control-Allow-Origin"] == SANDBOX
    get = client.get("/cds-services", headers={"Origin": SANDBOX})
    assert get.headers["Access-Control-Allow-Origin"] == SANDBOX


def test_errors_carry_cors_so_the_browser_can_read_them(client: FlaskClient) -> None:
    response = client.post("/cds-services/nope", json={}, headers={"Origin": SANDBOX})
    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == SANDBOX


def test_other_origins_get_no_cors_headers(client: FlaskClient) -> None:
    response = client.options(
        "/cds-services/her2-nsclc-patient-view",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def test_healthz_is_liveness_only(client: FlaskClient) -> None:
    """The process answers; stores are /readyz's business (tests/test_health_and_metrics.py)."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_stays_200_when_the_feedback_store_is_down(client: FlaskClient) -> None:
    """A liveness probe must not restart a worker because a database is down."""
    client.application.extensions["cds_service"].store.close()
    assert client.get("/healthz").status_code == 200

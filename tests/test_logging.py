"""Per-request structured logs carry ids, counts and timings, never patient data or tokens."""

from __future__ import annotations

import json
import logging
from datetime import date

import pytest
from flask.testing import FlaskClient

from cds_service.logging_setup import JsonFormatter
from tests.requests import spec_example

PATIENT_ID = "patient-4417-secret"
TOKEN = "eyJ-access-token-secret"


def logged_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    formatter = JsonFormatter()
    parsed: list[dict[str, object]] = [json.loads(formatter.format(r)) for r in caplog.records]
    return parsed


def test_access_log_has_hook_instance_service_counts_and_timings(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    request = spec_example("order-sign", in_scope=True)
    client.post("/cds-services/her2-nsclc-order-sign", json=request)
    (access,) = [line for line in logged_lines(caplog) if line["logger"] == "cds_service.access"]
    assert access["hookInstance"] == request["hookInstance"]
    assert access["service"] == "her2-nsclc-order-sign"
    assert access["hook"] == "order-sign"
    assert access["status"] == 200
    assert access["cards"] == 0
    assert access["rules"] == []
    for timing in ("ms", "mapMs", "rulesMs", "fetchMs"):
        assert isinstance(access[timing], float)


def test_no_patient_id_or_token_in_any_log_line(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    request = spec_example("patient-view")
    request["context"]["patientId"] = PATIENT_ID
    request["prefetch"]["patient"]["id"] = PATIENT_ID
    request["fhirAuthorization"] = {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds-service",
    }
    ok = client.post("/cds-services/her2-nsclc-patient-view", json=request)
    request["context"]["patientId"] = 7  # an error path too
    bad = client.post("/cds-services/her2-nsclc-patient-view", json=request)
    assert (ok.status_code, bad.status_code) == (200, 400)
    text = "\n".join(json.dumps(line) for line in logged_lines(caplog))
    assert "cds_service.access" in text
    assert PATIENT_ID not in text
    assert TOKEN not in text


def test_a_line_is_one_json_object_with_values_json_cannot_hold_as_text() -> None:
    record = logging.LogRecord("cds_service.test", logging.INFO, __file__, 1, "done", (), None)
    record.fields = {"day": date(2026, 1, 2), "cards": 2}
    line = JsonFormatter().format(record)
    assert line.endswith(
        '"level": "INFO", "logger": "cds_service.test", "message": "done", '
        '"day": "2026-01-02", "cards": 2}'
    )
    assert "\n" not in line

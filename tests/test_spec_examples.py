"""The CDS Hooks library's own R4 example requests get valid responses (cds-hooks_2.0@74, @77).

The examples are imperfect R4 as published (a Bundle with no type, doseAndRate as an
object): real clients send such data, and the service must answer, not fail.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from cds_service.selfcheck import check_response
from tests.requests import spec_example

SERVICE_FOR = {
    "patient-view": "her2-nsclc-patient-view",
    "order-select": "her2-nsclc-order-select",
    "order-sign": "her2-nsclc-order-sign",
}


@pytest.mark.parametrize("hook", ["patient-view", "order-select", "order-sign"])
def test_spec_example_gets_a_valid_response(client: FlaskClient, hook: str) -> None:
    response = client.post(f"/cds-services/{SERVICE_FOR[hook]}", json=spec_example(hook))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert check_response(body) == []
    # A diet order and an antibiotic for a patient with no cancer on record: no guidance.
    assert body["cards"] == []

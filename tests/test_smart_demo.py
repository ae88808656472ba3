"""``make demo`` and the SMART app: the demo's settings give cards the app's link, and
every demo patient's record, posted as the app posts it, gets its patient model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.smart.links import launch_url
from demo.hooks import HOOKS, hook_request
from demo.patients import DemoPatient, demo_patients
from demo.service import service_environment
from tests.conftest import FIXED_TODAY
from tests.smart_support import PATIENT_MODEL
from tests.test_smart_links import LINKED_RULES

PATIENTS = demo_patients(today=FIXED_TODAY)


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The service as ``python -m demo`` configures it (its default port, 8080)."""
    database = tmp_path_factory.mktemp("smart-demo") / "feedback.sqlite3"
    environment = service_environment(feedback_database_url=f"sqlite:///{database}")
    app = create_app(Settings.from_env({**environment, "PORT": "8080"}), today=lambda: FIXED_TODAY)
    yield app
    parts = app.extensions["cds_service"]
    parts.resolver.close()
    parts.store.close()


def test_the_demos_cards_carry_the_link_to_the_app(demo_app: Flask) -> None:
    client = demo_app.test_client()
    linked = 0
    for patient in PATIENTS:
        for hook, service in HOOKS.items():
            response = client.post(
                f"/cds-services/{service}", json=hook_request(patient, hook, prefetch=True)
            )
            assert response.status_code == 200
            for card in response.get_json()["cards"]:
                links = card.get("links")
                if card["source"]["topic"]["code"] in LINKED_RULES:
                    assert links == [
                        {
                            "label": "Open the HER2 journey",
                            "url": "http://localhost:8080/smart/launch.html",
                            "type": "smart",
                        }
                    ]
                    linked += 1
                else:
                    assert links is None
    assert linked >= len(PATIENTS)


@pytest.mark.parametrize("patient", PATIENTS, ids=lambda p: p.patient_id.removeprefix("demo-"))
def test_every_demo_record_gets_its_patient_model(demo_app: Flask, patient: DemoPatient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": resource} for resource in patient.resources],
    }
    response = demo_app.test_client().post(
        PATIENT_MODEL, json=bundle, headers={"X-SMART-Patient": patient.patient_id}
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert sum(body["resources_received"].values()) == len(patient.resources)
    assert body["data_issues"] == []


def test_the_launch_url_is_this_services_own(tmp_path: Path) -> None:
    """Not the Host a request came with: the link is set before any request."""
    environment = service_environment(feedback_database_url=f"sqlite:///{tmp_path / 'f.db'}")
    settings = Settings.from_env({**environment, "PORT": "8123"})
    assert settings.is_development
    assert launch_url(settings) == "http://localhost:8123/smart/launch.html"

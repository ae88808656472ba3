"""``POST /smart/patient-model`` answers what ``python -m fhir_mappings explain`` prints.

The app draws from the same mapping as the cards: for the same Bundle and date, the
endpoint's answer is the command's output plus ``as_of``, for every rule fixture's record;
and the site's mapping settings (here the new-line gap) apply to it as to the cards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.settings import Settings
from fhir_mappings.explain import main as explain_command
from tests.conftest import FIXED_TODAY
from tests.smart_support import FIXTURES, PATIENT_MODEL, bundle_of, journey_bundle

RECORDS = sorted(FIXTURES.glob("*.json"))[::6]
"""Every sixth rule fixture: each rule family, without running all of them twice."""


def explained(bundle: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    capsys.readouterr()
    assert explain_command(["explain", str(path), "--as-of", FIXED_TODAY.isoformat()]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("record", RECORDS, ids=[r.stem for r in RECORDS])
def test_the_answer_is_what_explain_prints_plus_as_of(
    client: FlaskClient, tmp_path: Path, capsys: pytest.CaptureFixture[str], record: Path
) -> None:
    bundle = bundle_of(json.loads(record.read_text(encoding="utf-8")), "searchset")
    response = client.post(PATIENT_MODEL, json=bundle)
    if response.status_code == 422:  # a record without a Patient resource: named instead
        pytest.skip("the fixture's record has no Patient resource")
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert list(answer) == ["resources_received", "patient", "data_issues", "as_of"]
    assert answer.pop("as_of") == FIXED_TODAY.isoformat()
    assert answer == explained(bundle, tmp_path, capsys)


def test_the_sites_mapping_settings_apply(settings: Settings) -> None:
    """A new-line gap of one day splits the record's therapy into more lines."""
    lines = []
    for gap in (settings.clinical.new_line_gap_days, 1):
        clinical = settings.clinical.model_copy(update={"new_line_gap_days": gap})
        app = create_app(
            settings.model_copy(update={"clinical": clinical}), today=lambda: FIXED_TODAY
        )
        try:
            response = app.test_client().post(PATIENT_MODEL, json=journey_bundle())
            lines.append(len(response.get_json()["patient"]["lines"]))
        finally:
            app.extensions["cds_service"].resolver.close()
            app.extensions["cds_service"].store.close()
    assert lines[0] >= 1
    assert lines[1] > lines[0]

"""``python -m fhir_mappings explain``: every fixture explains, every fact names its sources."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fhir_mappings.explain import main
from tests.fhir_mappings.support import FIXTURES, all_fixture_names


def _facts_with_sources(patient: dict[str, Any]) -> list[dict[str, Any]]:
    facts: list[dict[str, Any]] = []
    if patient["cancer"] is not None:
        facts.append(patient["cancer"])
    for key in ("mutations", "negative_results", "ihc", "amplification"):
        facts.extend(patient["her2"][key])
    for key in ("exposures", "lines", "ild_episodes", "comorbidities", "measurements", "imaging"):
        facts.extend(patient[key])
    return facts


@pytest.mark.parametrize("name", all_fixture_names())
def test_explain_every_fixture(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(FIXTURES / f"{name}.json"), "--as-of", "2025-06-01"]) == 0
    output = json.loads(capsys.readouterr().out)
    patient = output["patient"]
    assert patient["as_of"] == "2025-06-01"
    assert sum(output["resources_received"].values()) >= 1
    facts = _facts_with_sources(patient)
    assert facts or patient["draft_orders"], name
    for fact in facts:
        assert fact["sources"], fact
        assert all("/" in source for source in fact["sources"]), fact
    for issue in output["data_issues"]:
        assert set(issue) == {"resource_type", "resource_id", "reason"}


def test_explain_runs_as_a_module(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fhir_mappings",
            "explain",
            str(FIXTURES / "ild_grade1_on_tdxd.json"),
            "--as-of",
            "2025-06-01",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    output = json.loads(result.stdout)
    (episode,) = output["patient"]["ild_episodes"]
    assert episode["grade"] == 1
    assert episode["on_tdxd"] is True
    assert episode["sources"] == ["Condition/ild-g1"]


def test_explain_reports_an_unreadable_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    assert main(["explain", str(broken)]) == 2


def test_explain_shows_the_hl7_example_facts_and_issues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 9: the new facts (attribution, tested negatives, the IHC interpretation) and
    the new data issues all appear in ``explain``."""
    examples = Path(__file__).parent / "hl7_examples"
    names = [
        "edited/AdverseEvent-example-pneumonitis-grade2",
        "edited/Observation-ERBB2-ex20ins-absent",
        "mcode-4.0.0/MedicationRequest-cancer-related-medication-request-doxorubicin-jenny-m",
        "mcode-4.0.0/Observation-tumor-marker-test-her2-jenny-m",
        "mcode-4.0.0/Observation-us-core-observation-lab-neutrophils-jenny-m",
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": json.loads((examples / f"{n}.json").read_text())} for n in names],
    }
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert main(["explain", str(path), "--as-of", "2026-11-29"]) == 0
    output = json.loads(capsys.readouterr().out)
    patient = output["patient"]
    assert patient["ild_episodes"][0]["attributed_drugs"] == ["trastuzumab deruxtecan"]
    assert patient["her2"]["negative_results"][0]["sources"] == ["Observation/ERBB2-ex20ins-absent"]
    assert patient["her2"]["ihc"][0]["score"] == "negative (0 or 1+)"
    assert patient["exposures"] == []
    assert {i["reason"] for i in output["data_issues"]} == {
        "implausible anc value",
        "cancer-related medication for another condition: not counted",
    }

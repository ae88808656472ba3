"""Bundles for the SMART app's patient-model endpoint, made from the rule fixtures' records.

The app reads the patient's resources with its own token and posts them as one Bundle;
these helpers make that Bundle from a hook request's ``prefetch`` (the same record)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "rules" / "fixtures"
PATIENT_MODEL = "/smart/patient-model"

JOURNEY_FIXTURE = FIXTURES / "cardiac-lvef__fires__lvef_44_drop_16_interrupt.json"
"""A record with a line of therapy, T-DXd doses, LVEF values and an ERBB2 variant."""


def bundle_of(request: dict[str, Any], bundle_type: str = "collection") -> dict[str, Any]:
    """The resources of a hook request's prefetch as one Bundle, as the app would post it."""
    entries: list[dict[str, Any]] = []
    for value in (request.get("prefetch") or {}).values():
        if not isinstance(value, dict):
            continue
        if value.get("resourceType") == "Bundle":
            entries += [e for e in value.get("entry") or [] if isinstance(e, dict)]
        elif value.get("resourceType") != "OperationOutcome":
            entries.append({"resource": value})
    return {"resourceType": "Bundle", "type": bundle_type, "entry": entries}


def journey_bundle() -> dict[str, Any]:
    return bundle_of(json.loads(JOURNEY_FIXTURE.read_text(encoding="utf-8")))


def patient_id_of(bundle: dict[str, Any]) -> str:
    (patient,) = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    found: str = patient["id"]
    return found

"""Builders of CDS Hooks requests for the HTTP tests (no clinical content)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "spec" / "examples"

PREFETCH_KEYS = (
    "patient",
    "conditions",
    "observations",
    "medicationStatements",
    "medicationRequests",
    "medicationAdministrations",
    "procedures",
    "diagnosticReports",
)


def empty_bundle() -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": []}


def full_prefetch(patient_id: str = "1288992") -> dict[str, Any]:
    """A prefetch that answers every key: the patient, and no other data."""
    prefetch: dict[str, Any] = {key: empty_bundle() for key in PREFETCH_KEYS}
    prefetch["patient"] = {"resourceType": "Patient", "id": patient_id}
    return prefetch


def spec_example(hook: str) -> dict[str, Any]:
    """The hook library's published R4 example context, as a whole request."""
    context = json.loads((EXAMPLES / f"{hook}-r4.json").read_text())["context"]
    return {
        "hook": hook,
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": context,
        "prefetch": full_prefetch(context["patientId"]),
    }

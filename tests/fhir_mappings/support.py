"""Loading the FHIR JSON fixtures (named after the clinical situation they show)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from fhir_mappings.build import build_patient
from fhir_mappings.explain import read_input
from fhir_mappings.model import PatientModel

FIXTURES = Path(__file__).parent / "fixtures"
AS_OF = date(2025, 6, 1)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def patient_from(name: str, as_of: date = AS_OF) -> PatientModel:
    """The patient model of a fixture (a Bundle, or a CDS Hooks request)."""
    given = read_input(fixture(name))
    return build_patient(
        given.resources,
        as_of=as_of,
        draft_orders=given.draft_orders,
        selections=given.selections,
        unavailable_data=given.unavailable_data,
    )


def all_fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.json"))

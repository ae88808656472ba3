"""Loading the HL7 example resources vendored under ``hl7_examples`` (see its README)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from fhir_mappings.build import build_patient
from fhir_mappings.model import PatientModel

HL7_EXAMPLES = Path(__file__).parent / "hl7_examples"
AS_OF = date(2026, 11, 29)


def example(path: str) -> Any:
    """One vendored example, e.g. ``"mcode-4.0.0/Observation-tumor-marker-test-her2-jenny-m"``."""
    return json.loads((HL7_EXAMPLES / f"{path}.json").read_text(encoding="utf-8"))


def patient_of(*paths: str, as_of: date = AS_OF) -> PatientModel:
    return build_patient([example(p) for p in paths], as_of=as_of)


def reasons_for(model: PatientModel, resource_id: str) -> list[str]:
    return [i.reason for i in model.data_issues if i.resource_id == resource_id]

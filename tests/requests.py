"""Builders of CDS Hooks requests for the HTTP tests (no clinical content beyond the
NSCLC Condition that puts a patient in scope)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cds_service.discovery import ALL_DATA
from cds_service.wire import HookRequest

EXAMPLES = Path(__file__).resolve().parent / "spec" / "examples"
"""The published CDS Hooks example contexts, vendored (tests/spec/README.md)."""

PREFETCH_KEYS = tuple(template.key for template in ALL_DATA)
"""Every key: the discovery prefetch and the keys read for a patient in scope."""

NSCLC_SNOMED = "254637007"
"""Non-small cell lung cancer (clinical-rules.md section 7)."""


def patient_view(
    patient_id: str,
    prefetch: dict[str, Any] | None,
    *,
    fhir_server: str | None = None,
    token: str | None = None,
) -> HookRequest:
    """A patient-view call as the prefetch resolver receives it (validated), with a
    ``fhirServer`` and a bearer token when given."""
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "0b7c2c43-5d0e-4a0b-9a4e-5d7c4b9d7a61",
        "context": {"userId": "Practitioner/onc-1", "patientId": patient_id},
        "prefetch": prefetch,
    }
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    if token is not None:
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer"}
    return HookRequest.model_validate(body)


def empty_bundle() -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": []}


def nsclc_condition(patient_id: str, condition_id: str = "nsclc") -> dict[str, Any]:
    """A Condition the mapping reads as NSCLC: the patient is in scope."""
    return {
        "resourceType": "Condition",
        "id": condition_id,
        "subject": {"reference": f"Patient/{patient_id}"},
        "code": {
            "coding": [{"system": "http://snomed.info/sct", "code": NSCLC_SNOMED}],
            "text": "Non-small cell lung cancer",
        },
    }


def full_prefetch(patient_id: str = "1288992", *, in_scope: bool = False) -> dict[str, Any]:
    """A prefetch that answers every key: the patient, and no other data (with
    ``in_scope``, an NSCLC Condition too, so that the whole record is read)."""
    prefetch: dict[str, Any] = {key: empty_bundle() for key in PREFETCH_KEYS}
    prefetch["patient"] = {"resourceType": "Patient", "id": patient_id}
    if in_scope:
        prefetch["conditions"]["entry"] = [{"resource": nsclc_condition(patient_id)}]
    return prefetch


def spec_example(hook: str, *, in_scope: bool = False) -> dict[str, Any]:
    """The hook library's published R4 example context, as a whole request."""
    context = json.loads((EXAMPLES / f"{hook}-r4.json").read_text())["context"]
    return {
        "hook": hook,
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": context,
        "prefetch": full_prefetch(context["patientId"], in_scope=in_scope),
    }


def with_empty_adverse_events(request: dict[str, Any]) -> dict[str, Any]:
    """Fixture records written before the ``adverseEvents`` key hold no AdverseEvent, so
    the search they stand for answers an empty Bundle: say so in the prefetch, rather
    than report the key unavailable (the request has no ``fhirServer`` to fetch it)."""
    prefetch = request.get("prefetch")
    if isinstance(prefetch, dict) and "adverseEvents" not in prefetch:
        prefetch["adverseEvents"] = empty_bundle()
    return request

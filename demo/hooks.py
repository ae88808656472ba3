"""CDS Hooks requests for a demo patient: with full prefetch, or pointing at a FHIR server.

The prefetch keys and what each holds come from the services' own templates
(``cds_service.discovery.ALL_DATA``: the discovery prefetch and the keys the service
reads for a patient in scope), so a request built here is what a CDS client configured
with the full list in the README would send.
"""

from __future__ import annotations

import uuid
from typing import Any

from cds_service.discovery import ALL_DATA, SERVICE_ID_BY_HOOK
from cds_service.prefetch import answers_query
from demo.patients import DemoPatient, Json

HOOKS: dict[str, str] = {hook.value: service_id for hook, service_id in SERVICE_ID_BY_HOOK.items()}
"""Hook -> the service id that serves it (one id per hook)."""

USER_ID = "Practitioner/demo-oncologist"


def searchset(resources: list[Json]) -> Json:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "fullUrl": f"{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def prefetch_for(patient: DemoPatient) -> dict[str, Any]:
    """Every prefetch key of the services, filled from the patient's record as the
    template's search would return it (type, category, code, intent)."""
    prefetch: dict[str, Any] = {}
    for template in ALL_DATA:
        if template.is_read:
            found = [r for r in patient.resources if r["resourceType"] == template.resource_type]
        else:
            found = [r for r in patient.resources if answers_query(template.query, r)]
        if template.is_read:
            prefetch[template.key] = found[0] if found else None
        else:
            prefetch[template.key] = searchset(found)
    return prefetch


def draft_bundle(patient: DemoPatient) -> Json:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": order} for order in patient.draft_orders],
    }


def hook_request(
    patient: DemoPatient,
    hook: str,
    *,
    prefetch: bool = False,
    fhir_server: str | None = None,
    access_token: str | None = None,
    hook_instance: str | None = None,
) -> Json:
    """A hook call for ``patient``: full prefetch, or ``fhirServer`` (+ token) to fetch from."""
    context: Json = {"userId": USER_ID, "patientId": patient.patient_id}
    if hook in ("order-select", "order-sign"):
        context["draftOrders"] = draft_bundle(patient)
    if hook == "order-select":
        context["selections"] = [f"MedicationRequest/{o['id']}" for o in patient.draft_orders[:1]]
    body: Json = {
        "hook": hook,
        "hookInstance": hook_instance or str(uuid.uuid4()),
        "context": context,
    }
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
        if access_token is not None:
            body["fhirAuthorization"] = {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": "patient/*.read",
                "subject": "cds-service",
                "patient": patient.patient_id,
            }
    if prefetch:
        body["prefetch"] = prefetch_for(patient)
    return body

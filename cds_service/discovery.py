"""The services this CDS provider offers, and their discovery document.

Two service ids: one for patient-view, and one shared by order-select and
order-sign, so that sign-time cards replace the select-time ones in the EHR
(cds-hooks_2.0@211). Services are keyed by id, never by hook.

Prefetch templates stay inside the restricted grammar (cds-hooks_2.0@58): a
read, and type searches on the patient reference. Observations are asked for
whole rather than by code: ERBB2 results arrive under codes and text the mapping
must see to avoid reading "not found" as "not tested".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds_service.prefetch import PrefetchTemplate
from cds_service.wire import Hook

PATIENT = "{{context.patientId}}"

PATIENT_DATA: tuple[PrefetchTemplate, ...] = (
    PrefetchTemplate("patient", f"Patient/{PATIENT}"),
    PrefetchTemplate("conditions", f"Condition?patient={PATIENT}"),
    PrefetchTemplate("observations", f"Observation?patient={PATIENT}"),
    PrefetchTemplate("medicationStatements", f"MedicationStatement?patient={PATIENT}"),
    PrefetchTemplate("medicationRequests", f"MedicationRequest?patient={PATIENT}"),
    PrefetchTemplate("medicationAdministrations", f"MedicationAdministration?patient={PATIENT}"),
    PrefetchTemplate("procedures", f"Procedure?patient={PATIENT}", required=False),
    PrefetchTemplate("diagnosticReports", f"DiagnosticReport?patient={PATIENT}", required=False),
)
"""What the rules need. Required keys that cannot be had make the call fail with 412:
without the medication history or the results, a recommendation could be wrong.
Procedures and reports (imaging, radiation) are optional: when unreadable, the rules
treat imaging as unknown and say so."""

USAGE = (
    "For adults with advanced non-small-cell lung cancer. Needs the patient's Conditions, "
    "Observations (genomic results, HER2 IHC/ISH, labs, LVEF, weight) and medication history "
    "(MedicationStatement, MedicationRequest, MedicationAdministration) through prefetch or "
    "fhirServer with a patient-scoped read token."
)


@dataclass(frozen=True, slots=True)
class CdsService:
    id: str
    hook: Hook
    title: str
    description: str
    prefetch: tuple[PrefetchTemplate, ...] = PATIENT_DATA
    usage_requirements: str = USAGE

    def describe(self) -> dict[str, Any]:
        return {
            "hook": self.hook.value,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": {template.key: template.query for template in self.prefetch},
            "usageRequirements": self.usage_requirements,
        }


PATIENT_VIEW_ID = "her2-nsclc-patient-view"
ORDERS_ID = "her2-nsclc-orders"

SERVICES: tuple[CdsService, ...] = (
    CdsService(
        id=PATIENT_VIEW_ID,
        hook=Hook.PATIENT_VIEW,
        title="HER2-altered NSCLC: where the patient is in the treatment sequence",
        description=(
            "On opening the chart of a patient with advanced NSCLC: HER2 (ERBB2) testing gaps, "
            "the HER2-directed options that fit the line of therapy, and active ILD/pneumonitis "
            "and other label safety issues."
        ),
    ),
    CdsService(
        id=ORDERS_ID,
        hook=Hook.ORDER_SELECT,
        title="HER2-altered NSCLC: checks on selected anticancer orders",
        description=(
            "When anticancer drugs are selected: fit with HER2 status and prior lines, label "
            "indications, dose, ILD/pneumonitis, cardiac and hepatic safety."
        ),
    ),
    CdsService(
        id=ORDERS_ID,
        hook=Hook.ORDER_SIGN,
        title="HER2-altered NSCLC: checks before signing anticancer orders",
        description=(
            "Before anticancer orders are signed: label indications, dose levels after ILD or "
            "reductions, holds for suspected ILD/pneumonitis, cardiac and hepatic safety."
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class ServiceRegistry:
    """Services by id; one id may serve several hooks."""

    services: tuple[CdsService, ...] = SERVICES

    def discovery_document(self) -> dict[str, Any]:
        return {"services": [service.describe() for service in self.services]}

    def by_id(self) -> Mapping[str, Mapping[Hook, CdsService]]:
        table: dict[str, dict[Hook, CdsService]] = {}
        for service in self.services:
            table.setdefault(service.id, {})[service.hook] = service
        return table

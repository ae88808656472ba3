"""The services this CDS provider offers, their discovery document, and what each call reads.

One service id per hook (cds-hooks.md, Endpoints): clients key services by id (the CDS
Hooks sandbox stores them as ``{discovery URL}/{id}``), so order-select and order-sign
are two services with two ids. Services are keyed by id, never by hook.

Data is read in two stages (cds-hooks.md, "Cheap when the patient is out of scope"):

``SCOPE_DATA``
    What every call needs, advertised in discovery as the prefetch: the patient and the
    conditions. From them (and the draft orders) the service decides whether the patient
    is in scope (``cds_service.scope``); an out-of-scope call is answered
    ``{"cards": []}`` without reading anything else.
``PATIENT_DATA``
    The rest of the record, read only for a patient in scope: from the client's prefetch
    when it sent the key anyway (a site that configured full prefetch), else fetched from
    ``fhirServer`` concurrently. Not advertised in discovery; listed in the README so that
    a site whose EHR does not read discovery (Epic) can type them in.

Every template stays inside the restricted grammar (cds-hooks_2.0@58) and inside the
searches US Core 6.1 to 8.0 servers SHALL support (cds-hooks.md, "What real EHRs can
answer"): Condition by patient; Observation by patient+category or patient+code (never
by patient alone); MedicationRequest by patient+intent; Procedure and DiagnosticReport by
patient. MedicationStatement, MedicationAdministration and AdverseEvent are not in US
Core: optional keys only. ``tests/test_discovery.py`` checks every template against that
list.

Observations: genomic results and HER2 IHC/ISH sit in category ``laboratory`` (US Core;
Genomics Reporting adds ``GE`` beside it), with the labs; body weight in ``vital-signs``;
LVEF from an echocardiogram in ``imaging``. ECOG, disease status and LVEF are also asked
for by LOINC code (clinical-rules.md section 7), optional keys, because their category
varies between EHRs. A client that still sends the whole-record key ``observations``
(``Observation?patient=``, the former template) has it used in place of every
Observation key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds_service.prefetch import PrefetchTemplate
from cds_service.wire import Hook

PATIENT = "{{context.patientId}}"
LOINC = "http://loinc.org"
WHOLE_RECORD_OBSERVATIONS = ("observations",)
"""The former whole-record key (``Observation?patient=``): a client that sends it has it used
for every Observation key below."""


def _observations(key: str, query: str, *, required: bool) -> PrefetchTemplate:
    return PrefetchTemplate(
        key,
        f"Observation?patient={PATIENT}&{query}",
        required=required,
        covered_by=WHOLE_RECORD_OBSERVATIONS,
    )


SCOPE_DATA: tuple[PrefetchTemplate, ...] = (
    PrefetchTemplate("patient", f"Patient/{PATIENT}"),
    PrefetchTemplate("conditions", f"Condition?patient={PATIENT}"),
)
"""What every call needs: the discovery document's prefetch."""

PATIENT_DATA: tuple[PrefetchTemplate, ...] = (
    _observations("observationsLaboratory", "category=laboratory", required=True),
    _observations("observationsVitalSigns", "category=vital-signs", required=True),
    _observations("observationsImaging", "category=imaging", required=True),
    _observations("observationsEcog", f"code={LOINC}|89247-1", required=False),
    _observations("observationsDiseaseStatus", f"code={LOINC}|97509-4", required=False),
    _observations("observationsLvef", f"code={LOINC}|10230-1", required=False),
    _observations("observationsNyha", f"code={LOINC}|88020-3", required=False),
    PrefetchTemplate("medicationRequests", f"MedicationRequest?patient={PATIENT}&intent=order"),
    PrefetchTemplate(
        "medicationStatements", f"MedicationStatement?patient={PATIENT}", required=False
    ),
    PrefetchTemplate(
        "medicationAdministrations", f"MedicationAdministration?patient={PATIENT}", required=False
    ),
    PrefetchTemplate("procedures", f"Procedure?patient={PATIENT}", required=False),
    PrefetchTemplate("diagnosticReports", f"DiagnosticReport?patient={PATIENT}", required=False),
    PrefetchTemplate("adverseEvents", f"AdverseEvent?subject={PATIENT}", required=False),
)
"""The rest of the record, for a patient in scope. Required keys that cannot be had make
the call fail with 412: without the medication orders or the results, a recommendation
could be wrong. Optional keys (not in US Core, or asked for by code besides a category)
that cannot be had are listed in the response's data-quality extension; procedures and
reports (imaging, radiation) unreadable make the rules treat imaging as unknown and say so."""

ALL_DATA: tuple[PrefetchTemplate, ...] = SCOPE_DATA + PATIENT_DATA
"""Every template, in the order the resources are handed to the mapping."""

USAGE = (
    "For adults with advanced non-small-cell lung cancer. Needs the patient's Conditions, "
    "Observations (laboratory incl. genomic results and HER2 IHC/ISH, vital signs, imaging), "
    "medication orders and history, procedures and reports. Prefetch asks for the patient and "
    "conditions; for a patient with NSCLC (or an anticancer draft order) the service reads the "
    "rest from fhirServer with a patient-scoped read token, unless the client sends it."
)


@dataclass(frozen=True, slots=True)
class CdsService:
    id: str
    hook: Hook
    title: str
    description: str
    prefetch: tuple[PrefetchTemplate, ...] = SCOPE_DATA
    data: tuple[PrefetchTemplate, ...] = PATIENT_DATA
    """Read for a patient in scope only; never advertised."""
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
ORDER_SELECT_ID = "her2-nsclc-order-select"
ORDER_SIGN_ID = "her2-nsclc-order-sign"
SERVICE_ID_BY_HOOK: Mapping[Hook, str] = {
    Hook.PATIENT_VIEW: PATIENT_VIEW_ID,
    Hook.ORDER_SELECT: ORDER_SELECT_ID,
    Hook.ORDER_SIGN: ORDER_SIGN_ID,
}

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
        id=ORDER_SELECT_ID,
        hook=Hook.ORDER_SELECT,
        title="HER2-altered NSCLC: checks on selected anticancer orders",
        description=(
            "When anticancer drugs are selected: fit with HER2 status and prior lines, label "
            "indications, dose, ILD/pneumonitis, cardiac and hepatic safety."
        ),
    ),
    CdsService(
        id=ORDER_SIGN_ID,
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
    """Services by id, one hook each."""

    services: tuple[CdsService, ...] = SERVICES

    def discovery_document(self) -> dict[str, Any]:
        return {"services": [service.describe() for service in self.services]}

    def by_id(self) -> Mapping[str, Mapping[Hook, CdsService]]:
        table: dict[str, dict[Hook, CdsService]] = {}
        for service in self.services:
            table.setdefault(service.id, {})[service.hook] = service
        return table

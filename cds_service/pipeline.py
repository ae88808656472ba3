"""One hook call, after the request is validated and its data resolved.

Data flows one way: resolved FHIR data -> patient model -> findings -> cards ->
checked response. Nothing here reads Flask or the environment.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from cds_service import metrics
from cds_service.cards import CardContext, render_cards
from cds_service.catalog import OrderCatalog
from cds_service.prefetch import ResolvedData
from cds_service.rules import evaluate
from cds_service.selfcheck import check_card
from cds_service.settings import ClinicalSettings, Settings
from cds_service.wire import Hook, PatientViewContext
from fhir_mappings.build import MappingOptions, build_patient
from fhir_mappings.model import PatientModel
from fhir_mappings.parse import ValidationMemo
from fhir_mappings.patient_scope import FOREIGN_PATIENT_REASON
from fhir_mappings.terminology import NO_SITE_DRUG_CODES

logger = logging.getLogger(__name__)

DATA_QUALITY_EXTENSION = "her2-nsclc-cds.data-quality"
"""Response extension (cds-hooks_2.0@214, @215) listing what could not be read."""


@dataclass(frozen=True, slots=True)
class HookResult:
    response: dict[str, Any]
    issued: tuple[tuple[str, str], ...]
    """(card uuid, rule id) of every card sent, for feedback."""
    dropped: int
    data_issues: int
    map_ms: float
    rules_ms: float


def mapping_options(
    clinical: ClinicalSettings, catalog: OrderCatalog | None = None
) -> MappingOptions:
    """The mapping's options from the settings and the site order catalog (its drug codes):
    built once at start-up (``app.Components``), never per request."""
    return MappingOptions(
        regimen_window_days=clinical.regimen_window_days,
        new_line_gap_days=clinical.new_line_gap_days,
        kinase_domain_first=clinical.kinase_domain_first,
        kinase_domain_last=clinical.kinase_domain_last,
        measurement_lookback_days=clinical.measurement_lookback_days,
        site_drug_codes=catalog.drug_codes if catalog is not None else NO_SITE_DRUG_CODES,
    )


def run_hook(
    hook: Hook,
    hook_instance: str,
    context: PatientViewContext,
    data: ResolvedData,
    *,
    settings: Settings,
    today: date,
    catalog: OrderCatalog | None = None,
    options: MappingOptions | None = None,
    validated: ValidationMemo | None = None,
) -> HookResult:
    """``options``: the mapping options built at start-up; when None, built here from the
    settings and ``catalog``. ``validated``: what the scope decision validated."""
    started = time.perf_counter()
    draft_orders: dict[str, Any] | None = getattr(context, "draftOrders", None)
    selections: list[str] | None = getattr(context, "selections", None)
    patient = build_patient(
        data.resources,
        as_of=today,
        draft_orders=draft_orders,
        selections=selections,
        options=options or mapping_options(settings.clinical, catalog),
        unavailable_data=data.unavailable,
        patient_id=context.patientId,
        validated=validated,
    )
    if data.data_issues:  # what the service could not read (medication_refs)
        patient = replace(patient, data_issues=(*patient.data_issues, *data.data_issues))
    metrics.foreign_patient_resources(
        sum(1 for item in patient.data_issues if item.reason == FOREIGN_PATIENT_REASON)
    )
    mapped = time.perf_counter()
    findings = evaluate(patient, hook, settings.clinical)
    card_context = CardContext(
        hook=hook,
        hook_instance=hook_instance,
        patient_id=context.patientId,
        draft_orders=_drafts_by_reference(draft_orders),
        catalog=catalog or OrderCatalog(),
    )
    cards = render_cards(findings, patient=patient, context=card_context, settings=settings)
    evaluated = time.perf_counter()

    sent: list[dict[str, Any]] = []
    issued: list[tuple[str, str]] = []
    seen: set[str] = set()
    dropped = 0
    for card in cards:
        payload = card.model_dump(mode="json", exclude_none=True)
        rule_id = card.source.topic.code if card.source.topic else "unknown"
        identity = card_identity(payload)
        if identity in seen:
            continue  # identical cards are never sent twice (clinical-rules.md 9.1, 9.3)
        seen.add(identity)
        problems = check_card(payload)
        if problems:
            logger.error(
                "card dropped by the self-check",
                extra={"rule": rule_id, "problems": problems},
            )
            dropped += 1
            continue
        sent.append(payload)
        issued.append((card.uuid, rule_id))

    response: dict[str, Any] = {"cards": sent}
    quality = _data_quality(patient)
    if quality:
        response["extension"] = {DATA_QUALITY_EXTENSION: quality}
    return HookResult(
        response=response,
        issued=tuple(issued),
        dropped=dropped,
        data_issues=len(patient.data_issues),
        map_ms=(mapped - started) * 1000,
        rules_ms=(evaluated - mapped) * 1000,
    )


def card_identity(payload: dict[str, Any]) -> str:
    """What makes two cards identical (clinical-rules.md 9.3): rule, indicator, summary and
    suggestions (their actions and labels, not their uuids)."""
    topic = payload.get("source", {}).get("topic", {}).get("code")
    suggestions = [
        {k: v for k, v in s.items() if k != "uuid"} for s in payload.get("suggestions", [])
    ]
    return json.dumps(
        [topic, payload.get("indicator"), payload.get("summary"), suggestions], sort_keys=True
    )


def _drafts_by_reference(bundle: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    drafts: dict[str, dict[str, Any]] = {}
    if not isinstance(bundle, dict) or not isinstance(bundle.get("entry"), list):
        return drafts
    for entry in bundle["entry"]:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict):
            kind, ident = resource.get("resourceType"), resource.get("id")
            if isinstance(kind, str) and isinstance(ident, str):
                drafts[f"{kind}/{ident}"] = resource
    return drafts


def _data_quality(patient: PatientModel) -> dict[str, Any]:
    quality: dict[str, Any] = {}
    if patient.unavailable_data:
        quality["unavailable"] = list(patient.unavailable_data)
    if patient.data_issues:
        quality["issues"] = [
            {
                key: value
                for key, value in (
                    ("resourceType", issue.resource_type),
                    ("id", issue.resource_id),
                    ("reason", issue.reason),
                )
                if value
            }
            for issue in patient.data_issues
        ]
    return quality

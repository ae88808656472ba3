"""One hook call, after the request is validated and its data resolved.

Data flows one way: resolved FHIR data (the draft orders included) -> patient model ->
findings -> cards -> checked response (``wire.HookResponse``, serialised once). Nothing
here reads Flask or the environment, and nothing reaches back: the cards read the
findings only.
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
from cds_service.wire import (
    DATA_QUALITY_EXTENSION,
    Card,
    DataIssueEntry,
    DataQuality,
    Hook,
    HookResponse,
    PatientViewContext,
    ResponseExtension,
)
from fhir_mappings.build import MappingOptions, build_patient
from fhir_mappings.model import PatientModel
from fhir_mappings.parse import ValidationMemo
from fhir_mappings.patient_scope import FOREIGN_PATIENT_REASON
from fhir_mappings.terminology import NO_SITE_DRUG_CODES

logger = logging.getLogger(__name__)

__all__ = ["DATA_QUALITY_EXTENSION", "HookResult", "card_identity", "mapping_options", "run_hook"]


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
        catalog=catalog or OrderCatalog(),
    )
    cards = render_cards(findings, context=card_context, settings=settings)
    evaluated = time.perf_counter()

    response = HookResponse(cards=cards, extension=_extension(patient)).to_json()
    sent, issued, dropped = _checked(cards, response["cards"])
    response["cards"] = sent
    return HookResult(
        response=response,
        issued=issued,
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


def _checked(
    cards: list[Card], payloads: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], tuple[tuple[str, str], ...], int]:
    """The serialised cards to send, (uuid, rule id) of each, and how many the self-check
    dropped. Identical cards are never sent twice (clinical-rules.md 9.1, 9.3)."""
    sent: list[dict[str, Any]] = []
    issued: list[tuple[str, str]] = []
    seen: set[str] = set()
    dropped = 0
    for card, payload in zip(cards, payloads, strict=True):
        rule_id = card.source.topic.code if card.source.topic else "unknown"
        identity = card_identity(payload)
        if identity in seen:
            continue
        seen.add(identity)
        problems = check_card(payload, built_as_card=True)
        if problems:
            logger.error(
                "card dropped by the self-check",
                extra={"rule": rule_id, "problems": problems},
            )
            dropped += 1
            continue
        sent.append(payload)
        issued.append((card.uuid, rule_id))
    return sent, tuple(issued), dropped


def _extension(patient: PatientModel) -> ResponseExtension | None:
    """What could not be read, or None when everything could."""
    if not (patient.unavailable_data or patient.data_issues):
        return None
    quality = DataQuality(
        unavailable=list(patient.unavailable_data) or None,
        issues=[
            DataIssueEntry(
                resourceType=issue.resource_type,
                id=issue.resource_id or None,
                reason=issue.reason,
            )
            for issue in patient.data_issues
        ]
        or None,
    )
    return ResponseExtension.model_validate({DATA_QUALITY_EXTENSION: quality})

"""Staged data resolution: decide scope on the cheap data, read the rest only in scope.

patient-view fires on every chart opened and most patients have no lung cancer
(cds-hooks.md, "Cheap when the patient is out of scope"). A hook call is resolved in
two stages under one FHIR deadline:

1. the service's discovery prefetch (``discovery.SCOPE_DATA``: the patient and the
   conditions), from the client's prefetch or ``fhirServer``; a required key that
   cannot be had is a 412, as ever (missing conditions are never "no cancer");
2. only when the patient is in scope, the rest (``discovery.PATIENT_DATA``) plus any
   key the client sent beyond the templates, concurrently (``PrefetchResolver``).

In scope (``in_scope``), read with the mapping's own recognisers (no code list here):

- NSCLC recorded (a Condition the mapping reads as NSCLC, or as lung cancer that is not
  small-cell), whatever the stage (an early stage is not read as out of scope here:
  the rules decide);
- or an anticancer drug the mapping recognises among the draft orders (order-select
  and order-sign; every draft, selected or not), or a coded draft whose code identifies
  no drug while its text names one (``DraftOrder.named_in_text``: it gets the
  ``order-drug-not-identified`` card, never silence);
- or an ILD/pneumonitis Condition recorded. This one goes beyond the issue's wording
  on purpose, the safer choice: the T-DXd and TKI pneumonitis rules do not depend on
  the NSCLC diagnosis, and a Condition list is already in hand, so a patient on a
  HER2-directed drug with pneumonitis recorded still gets their safety cards.

An out-of-scope call is answered ``{"cards": []}`` without reading anything else.

3. in scope, the ``medicationReference`` targets the data lacks are read from
   ``fhirServer`` (``cds_service.medication_refs``; a draft order's are read before the
   scope decision when the call would otherwise be out of scope).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from cds_service import medication_refs
from cds_service.discovery import CdsService
from cds_service.medication_refs import NOTHING, Wanted
from cds_service.prefetch import FetchStats, PrefetchResolver, ResolvedData, unique_union
from cds_service.wire import HookRequest
from fhir_mappings import routing
from fhir_mappings.build import MappingOptions, build_patient
from fhir_mappings.model import PatientModel
from fhir_mappings.parse import ValidationMemo


def in_scope(patient: PatientModel) -> bool:
    """Whether the rules can have anything to say (see the module docstring)."""
    cancer = patient.cancer
    if cancer is not None and cancer.nsclc:
        return True
    if any(o.drug is not None or o.named_in_text is not None for o in patient.draft_orders):
        return True
    return bool(patient.ild_episodes)


def first_stage_in_scope(
    resources: Sequence[Any],
    *,
    draft_orders: Mapping[str, Any] | None,
    selections: Sequence[str] | None,
    options: MappingOptions,
    today: date,
    validated: ValidationMemo | None = None,
) -> bool:
    """``in_scope`` of the patient the first stage's data (and the drafts) describe.

    Conditions go through the mapping's cheap scope pre-filter first
    (``conditions.may_put_in_scope``: the lung-cancer and ILD code sets, remembered per
    worker for each code by ``routing.may_put_in_scope``); only those that
    pass, with anything else that is not a Condition, are mapped. On patient-view with no
    such Condition nothing is mapped at all: most charts opened end here."""
    kept = [
        r
        for r in resources
        if not (isinstance(r, dict) and r.get("resourceType") == "Condition")
        or routing.may_put_in_scope(r)
    ]
    has_drafts = isinstance(draft_orders, dict) and bool(draft_orders.get("entry"))
    if not has_drafts and not any(
        isinstance(r, dict) and r.get("resourceType") == "Condition" for r in kept
    ):
        return False
    scoped = build_patient(
        kept,
        as_of=today,
        draft_orders=draft_orders,
        selections=selections,
        options=options,
        validated=validated,
    )
    return in_scope(scoped)


@dataclass(frozen=True, slots=True)
class StagedData:
    data: ResolvedData
    """Everything read (only the first stage's data when out of scope)."""
    in_scope: bool
    validated: ValidationMemo
    """What the scope decision validated: the mapping of the whole record reuses it
    (``pipeline.run_hook``), so no resource of a call is validated twice."""


def resolve_staged(
    resolver: PrefetchResolver,
    request: HookRequest,
    service: CdsService,
    *,
    draft_orders: Mapping[str, Any] | None,
    selections: Sequence[str] | None,
    options: MappingOptions,
    deadline_s: float,
    today: date,
    medication_reads: int = 0,
) -> StagedData:
    """Resolve the first stage, decide scope, and resolve the rest only in scope; then read
    the missing ``medicationReference`` targets, at most ``medication_reads``
    (``cds_service.medication_refs``)."""
    limit = medication_reads
    started = time.monotonic()
    deadline = started + deadline_s
    first = resolver.resolve(request, service.prefetch, deadline=deadline)
    validated = ValidationMemo()
    scoped = first_stage_in_scope(
        first.resources, draft_orders=draft_orders, selections=selections, options=options,
        today=today, validated=validated,
    )  # fmt: skip
    drafts = NOTHING
    if not scoped:
        # A draft's Medication only on the server (medication_refs, "Draft orders").
        drafts = _wanted(first.resources, draft_orders, request, limit, data=False)
        if not drafts.reads:
            return StagedData(first, in_scope=False, validated=validated)
        first = _merge(first, _read(resolver, request, drafts, deadline), started)
        scoped = first_stage_in_scope(
            first.resources, draft_orders=draft_orders, selections=selections,
            options=options, today=today, validated=validated,
        )  # fmt: skip
        if not scoped:
            return StagedData(first, in_scope=False, validated=validated)
    known = {t.key for t in (*service.prefetch, *service.data)}
    extra = [key for key in (request.prefetch or {}) if key not in known]
    rest = resolver.resolve(request, service.data, deadline=deadline, extra_keys=extra)
    merged = _merge(first, rest, started)
    wanted = _wanted(
        merged.resources, draft_orders, request, limit - len(drafts.reads),
        drafts=not drafts.reads,  # already read before the scope decision
    )  # fmt: skip
    if wanted.reads or wanted.issues:
        merged = _merge(merged, _read(resolver, request, wanted, deadline), started)
    return StagedData(merged, in_scope=True, validated=validated)


def _wanted(
    resources: Sequence[Any],
    draft_orders: Mapping[str, Any] | None,
    request: HookRequest,
    limit: int,
    *,
    drafts: bool = True,
    data: bool = True,
) -> Wanted:
    return medication_refs.wanted(
        resources, draft_orders, fhir_server=request.fhirServer, limit=limit, drafts=drafts,
        data=data,
    )  # fmt: skip


def _read(
    resolver: PrefetchResolver, request: HookRequest, wanted: Wanted, deadline: float
) -> ResolvedData:
    """The Medications ``wanted`` lists, read from ``fhirServer``; failures as data issues."""
    if not wanted.reads:
        return ResolvedData((), (), FetchStats(0, 0.0, 0.0), wanted.issues)
    result = resolver.read(request, wanted.reads, key=medication_refs.READ_KEY, deadline=deadline)
    return ResolvedData(
        result.resources, (), result.stats, wanted.issues + wanted.failed(result.failures)
    )


def _merge(first: ResolvedData, then: ResolvedData, started: float) -> ResolvedData:
    """Both stages' data, each resource once (``unique_union``: no walk over the resources
    when the stages share none, the usual case)."""
    resources, identities = unique_union(
        [(first.resources, first.identities), (then.resources, then.identities)]
    )
    return ResolvedData(
        resources=resources,
        unavailable=first.unavailable + then.unavailable,
        stats=FetchStats(
            fetches=first.stats.fetches + then.stats.fetches,
            fetch_seconds_total=first.stats.fetch_seconds_total + then.stats.fetch_seconds_total,
            wall_seconds=time.monotonic() - started,
        ),
        data_issues=first.data_issues + then.data_issues,
        identities=identities,
    )

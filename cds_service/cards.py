"""Findings to CDS Hooks cards (cds-hooks.md, Cards).

A card says what the rule concluded (``summary``, under 140 characters), why (the
patient facts with their dates and FHIR sources), what the label or guideline says,
the lines of therapy as derived when they matter, what is uncertain or missing, and
the knowledge-base date (``detail``, Markdown). Its ``source`` cites the most specific
document and carries the rule id as ``topic``. Suggestions become FHIR R4 actions:
``create`` a draft MedicationRequest / ServiceRequest, ``update`` a draft order's dose
(the order as sent, dose replaced), ``delete`` a draft order by ``resourceId``.

Cards read the findings only (``rules.base.Finding``): the lines of therapy, the drugs
known only by an unverified code and the draft orders as sent are data on the finding,
never read here from the patient model or the request.

UUIDs are name-based (uuid5): the same rule, hook instance, orders and facts give the
same card uuid, and the same card gives the same suggestion uuids.

Site order catalog (``cds_service.catalog``): every created MedicationRequest and
ServiceRequest is looked up here, and only here, by its stable order key
(``medication:<drug>@<dose>``, then ``medication:<drug>``; ``service:<name>``); the
site's codings come first, then the verified codes the service knows; the text stays.
No entry: text and known codes, as without a catalog.

EHR capability profile (``settings.ehr_profile``): ``standard`` renders the proposals
as the rules made them. ``single-action`` (Epic) renders one action per suggestion and
``selectionBehavior: any``: a proposal of several actions becomes one suggestion per
action, each labelled by its action, and a dose change (an update of a draft
MedicationRequest) becomes a delete of the draft and a create of the same order at the
new dose. Every card is valid CDS Hooks in both (the self-check runs on both).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds_service.catalog import EMPTY_CATALOG, OrderCatalog, merged_codings
from cds_service.rules import Finding
from cds_service.rules.base import (
    CancelOrder,
    ChangeDose,
    Confidence,
    DoseInstruction,
    Fact,
    OverrideSet,
    Prescribe,
    Proposal,
    Request,
    Service,
    SuggestedAction,
    UseOrderSet,
)
from cds_service.rules.labels import display_name, short_name
from cds_service.settings import EhrProfile, Settings
from cds_service.smart.links import smart_links
from cds_service.wire import (
    MAX_SUMMARY_CHARS,
    Action,
    ActionType,
    Card,
    Coding,
    Hook,
    Indicator,
    OverrideReasonCoding,
    SelectionBehavior,
    Source,
    Suggestion,
)
from fhir_mappings import terminology
from fhir_mappings.model import TherapyLine

CARD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:her2-nsclc-cds:cards")
"""Namespace of the name-based card and suggestion uuids."""

MAX_SOURCES_SHOWN = 3
"""FHIR references listed per fact in the detail (a course can have dozens)."""

MAX_SUMMARY = MAX_SUMMARY_CHARS - 1
"""The longest ``summary`` sent: it must be under 140 characters (cds-hooks_2.0@83)."""


@dataclass(frozen=True, slots=True)
class CardContext:
    """What card rendering needs from the request besides the findings."""

    hook: Hook
    hook_instance: str
    patient_id: str
    catalog: OrderCatalog = EMPTY_CATALOG
    """The site order catalog (empty: none configured)."""


def render_cards(
    findings: tuple[Finding, ...], *, context: CardContext, settings: Settings
) -> list[Card]:
    """One card per finding, in the findings' order. Reads the findings only."""
    return [_card(f, context=context, settings=settings) for f in findings]


# --- Override reasons: http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes ----
# Codes and displays as published in HL7/cds-hooks input/vocabulary/
# CodeSystem-non-adherence-reason-codes.json (CDS Hooks 2.0 / 3.0 ballot).

OVERRIDE_SYSTEM = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"
_REASONS: dict[str, str] = {
    "cds-not-applicable": "PC CDS does not apply to patient",
    "patient-ineligible": "Patient does not meet eligibility for recommended action",
    "indication-order-exists": "Patient has indication/order for intended action",
    "action-completed": "Recommended action was already completed",
    "need-more-info": (
        "Could not address recommended action due to need for more information/pending "
        "results/pending consult"
    ),
    "expert-contradicts": "Advice from expert contradicts the recommended action",
    "risk-benefit-ratio": "Recipient assessment of risk/benefit ratio",
    "prefers-alternative": "Patient prefers an alternative approach or treatment",
    "service-not-available": "Treatment or service is not practically available",
}
OVERRIDE_REASONS: dict[OverrideSet, tuple[str, ...]] = {
    OverrideSet.TREATMENT_CHOICE: (
        "risk-benefit-ratio",
        "prefers-alternative",
        "patient-ineligible",
        "expert-contradicts",
    ),
    OverrideSet.TESTING: (
        "action-completed",
        "indication-order-exists",
        "service-not-available",
        "cds-not-applicable",
    ),
    OverrideSet.SAFETY: (
        "risk-benefit-ratio",
        "action-completed",
        "need-more-info",
        "expert-contradicts",
        "cds-not-applicable",
    ),
}


_OVERRIDE_CODINGS: dict[OverrideSet, tuple[OverrideReasonCoding, ...]] = {
    kind: tuple(
        OverrideReasonCoding(system=OVERRIDE_SYSTEM, code=code, display=_REASONS[code])
        for code in codes
    )
    for kind, codes in OVERRIDE_REASONS.items()
}
"""Each set's Codings, validated once here (frozen models, shared by every card)."""


def _override_reasons(f: Finding) -> list[OverrideReasonCoding] | None:
    if f.indicator is Indicator.INFO and not f.proposals:
        return None
    return list(_OVERRIDE_CODINGS[f.override_set])


# --- Card ---------------------------------------------------------------------------------


def _card(f: Finding, *, context: CardContext, settings: Settings) -> Card:
    card_uuid = card_uuid_for(f, context)
    suggestions = _suggestions(f, card_uuid, context=context, settings=settings)
    return Card(
        uuid=card_uuid,
        summary=_summary(f.summary),
        detail=_detail(f, settings=settings),
        indicator=f.indicator,
        source=Source(
            label=f.citation.label,
            url=f.citation.url,
            topic=Coding(system=settings.card_topic_system, code=f.rule_id, display=f.title),
        ),
        suggestions=suggestions or None,
        selectionBehavior=_selection(f, settings) if suggestions else None,
        overrideReasons=_override_reasons(f),
        links=smart_links(f.rule_id, settings),
    )


def card_uuid_for(f: Finding, context: CardContext) -> str:
    facts = ";".join(f"{x.text}@{x.date}@{','.join(x.sources)}" for x in f.facts)
    name = "|".join((f.rule_id, context.hook_instance, ",".join(f.order_refs), f.summary, facts))
    return str(uuid.uuid5(CARD_NAMESPACE, name))


def _summary(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_SUMMARY else line[: MAX_SUMMARY - 1].rstrip() + "…"


def _detail(f: Finding, *, settings: Settings) -> str:
    parts = ["**Why**", "", *(f"- {_fact(x)}" for x in f.facts)]
    if f.other_reasons:
        parts += [
            "",
            "**Other current reasons to hold or change this drug**",
            "",
            *(f"- {_fact(x)}" for x in f.other_reasons),
        ]
    parts += ["", "**What the label or guideline says**", "", *(f"- {g}" for g in f.guidance)]
    if f.show_lines:
        parts += ["", "**Lines of therapy, as derived from the record**", "", _lines(f.lines)]
    notes = list(f.uncertainties) + _code_notes(f)
    if Confidence.UNVERIFIED in f.confidence or any("[?]" in n for n in notes):
        notes.append(
            "Points marked [?] are not verified against the label; this rule is configurable "
            "and a site can switch it off."
        )
    if notes:
        parts += ["", "**Uncertain or missing**", "", *(f"- {n}" for n in notes)]
    evidence = "; ".join(f"{c.tag} {c.meaning}" for c in f.confidence)
    parts += [
        "",
        f"_Evidence: {evidence}. Rule `{f.rule_id}`. "
        f"Knowledge base as of {settings.clinical.knowledge_base_date}._",
    ]
    return "\n".join(parts)


def _code_notes(f: Finding) -> list[str]:
    """Say so when a drug was recognised only by an RxNorm code not yet verified."""
    unverified = sorted({short_name(drug) for drug in f.unverified_code_drugs})
    if not unverified:
        return []
    return [
        f"Recognised only by an RxNorm code not yet verified: {', '.join(unverified)}; "
        "check the drug names in the record."
    ]


def _fact(x: Fact) -> str:
    when = f" ({x.date.isoformat()})" if x.date else ""
    if not x.sources:
        return f"{x.text}{when}"
    shown = x.sources[:MAX_SOURCES_SHOWN]
    refs = ", ".join(f"`{s}`" for s in shown)
    more = len(x.sources) - len(shown)
    if more:
        refs += f" and {more} more"
    return f"{x.text}{when}: {refs}"


def _lines(lines: tuple[TherapyLine, ...]) -> str:
    if not lines:
        return "No line of therapy for advanced disease found in the record."
    rows = [
        "| Line | Drugs | Class | Start | End | Progression |",
        "|---|---|---|---|---|---|",
    ]
    for line in lines:
        drugs = ", ".join(sorted(short_name(d) for d in line.drugs))
        progression = "yes" if line.progressed else "not documented"
        if line.progressed and line.progression_date:
            progression = line.progression_date.isoformat()
        end = line.end.isoformat() if line.end else ("ongoing" if line.active else "not stated")
        start = line.start.isoformat() if line.start else "not stated"
        cells = (str(line.number), drugs, line.line_class.value, start, end, progression)
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


# --- Suggestions and FHIR actions ------------------------------------------------------------


def _selection(f: Finding, settings: Settings) -> SelectionBehavior | None:
    if settings.ehr_profile is EhrProfile.SINGLE_ACTION:
        return SelectionBehavior.ANY
    return f.selection


def _suggestions(
    f: Finding, card_uuid: str, *, context: CardContext, settings: Settings
) -> list[Suggestion]:
    suggestions: list[Suggestion] = []
    single = settings.ehr_profile is EhrProfile.SINGLE_ACTION
    removed: set[str] = set()
    for index, proposal in enumerate(f.proposals):
        actions = [
            a
            for a in (_action(x, f, context=context, settings=settings) for x in proposal.actions)
            if a is not None
        ]
        if not actions or not _complete(proposal, actions):
            continue
        if single:
            suggestions.extend(_single_actions(card_uuid, index, proposal, actions, removed))
            continue
        suggestions.append(
            Suggestion(
                label=proposal.label,
                uuid=str(uuid.uuid5(CARD_NAMESPACE, f"{card_uuid}|{index}|{proposal.label}")),
                isRecommended=True if proposal.recommended else None,
                actions=actions,
            )
        )
    return suggestions


def _single_actions(
    card_uuid: str, index: int, proposal: Proposal, actions: list[Action], removed: set[str]
) -> list[Suggestion]:
    """The ``single-action`` profile: one suggestion per action, no update. A removal is
    its own suggestion, labelled by what it removes, offered once per card (alternatives
    that each replace the same draft share it); the rest keep the proposal's label."""
    flat: list[Action] = []
    for action in actions:
        flat.extend(_without_update(action))
    kept: list[Action] = []
    for action in flat:
        if action.type is ActionType.DELETE and action.resourceId is not None:
            if action.resourceId in removed:
                continue
            removed.add(action.resourceId)
        kept.append(action)
    others = [a for a in kept if a.type is not ActionType.DELETE]
    labels = [
        a.description
        if a.type is ActionType.DELETE
        else proposal.label
        if len(others) == 1
        else f"{proposal.label}: {_short(a.description)}"
        for a in kept
    ]
    flat = kept
    return [
        Suggestion(
            label=label,
            uuid=str(uuid.uuid5(CARD_NAMESPACE, f"{card_uuid}|{index}.{n}|{label}")),
            isRecommended=True if proposal.recommended else None,
            actions=[action],
        )
        for n, (label, action) in enumerate(zip(labels, flat, strict=True))
    ]


def _short(description: str) -> str:
    return description[:1].lower() + description[1:]


def _without_update(action: Action) -> list[Action]:
    """An update of a draft order as a delete of the draft and a create at the new dose."""
    if action.type is not ActionType.UPDATE or action.resource is None:
        return [action]
    draft = dict(action.resource)
    kind, ident = draft.get("resourceType"), draft.get("id")
    if not isinstance(kind, str) or not isinstance(ident, str) or not ident:
        return []  # no reference to delete: the card's text carries the change
    replacement = {k: v for k, v in draft.items() if k not in ("id", "meta")}
    return [
        Action(
            type=ActionType.DELETE,
            description=f"Remove the draft order as written ({kind}/{ident})",
            resourceId=f"{kind}/{ident}",
        ),
        Action(
            type=ActionType.CREATE,
            description=action.description.replace(
                "Change the draft order's dose to", "Draft the same order at", 1
            ),
            resource=replacement,
        ),
    ]


def _complete(proposal: Proposal, actions: list[Action]) -> bool:
    """A suggestion is only offered whole (an update needs the draft as sent)."""
    return len(actions) == len(proposal.actions)


def _action(
    x: SuggestedAction, f: Finding, *, context: CardContext, settings: Settings
) -> Action | None:
    intent = settings.clinical.order_intent.value
    subject = {"reference": f"Patient/{context.patient_id}"}
    if isinstance(x, Prescribe):
        resource = _medication_request(x, intent=intent, subject=subject, catalog=context.catalog)
        dose = f", {x.dosage.text}" if x.dosage else f" (no dose set: {x.note or 'see card'})"
        return Action(
            type=ActionType.CREATE,
            description=f"Draft order: {display_name(x.drug)}{dose}",
            resource=resource,
        )
    if isinstance(x, Request):
        due = f", by {x.due.isoformat()}" if x.due else ""
        resource = _service_request(
            x.service, intent=intent, subject=subject, catalog=context.catalog
        )
        if x.due is not None:
            resource["occurrencePeriod"] = {"end": x.due.isoformat()}
        return Action(
            type=ActionType.CREATE,
            description=f"Draft request: {x.service.value}{due}",
            resource=resource,
        )
    if isinstance(x, ChangeDose):
        draft = f.orders_as_sent.get(x.order_ref)
        if draft is None:
            return None
        return Action(
            type=ActionType.UPDATE,
            description=f"Change the draft order's dose to {x.dosage.text}",
            resource=_with_dosage(draft, x.dosage),
        )
    if isinstance(x, UseOrderSet):
        return _order_set_action(x, intent=intent, subject=subject, catalog=context.catalog)
    if isinstance(x, CancelOrder):
        what = f"the draft {short_name(x.drug)} order" if x.drug else "the draft order"
        return Action(
            type=ActionType.DELETE,
            description=f"Remove {what} ({x.order_ref})",
            resourceId=x.order_ref,
        )
    return None


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _dosage(d: DoseInstruction) -> dict[str, Any]:
    unit = d.dose.unit.value
    dosage: dict[str, Any] = {
        "text": d.text,
        "timing": {
            "repeat": {"frequency": d.frequency, "period": d.period, "periodUnit": d.period_unit}
        },
        "route": {"text": d.route},
        "doseAndRate": [
            {
                "doseQuantity": {
                    "value": _number(d.dose.value),
                    "unit": unit,
                    "system": terminology.UCUM,
                    "code": unit,
                }
            }
        ],
    }
    if d.with_food:
        dosage["additionalInstruction"] = [{"text": "Take with food"}]
    return dosage


def _medication_concept(x: Prescribe, catalog: OrderCatalog) -> dict[str, Any]:
    """The site's orderable codings from the catalog (``medication:<drug>@<dose>``, then
    ``medication:<drug>``), then verified codes only (clinical-rules.md section 7), without
    displays we cannot vouch for; the name always as ``text``."""
    info = terminology.DRUGS.get(x.drug)
    concept: dict[str, Any] = {"text": display_name(x.drug)}
    known = [{"system": c.system, "code": c.code} for c in info.verified_codes] if info else []
    site = catalog.medication(x.drug, x.dosage.dose if x.dosage else None)
    codings = merged_codings(site, known)
    if codings:
        concept["coding"] = codings
    return concept


def _medication_request(
    x: Prescribe, *, intent: str, subject: dict[str, str], catalog: OrderCatalog
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": intent,
        "subject": subject,
        "medicationCodeableConcept": _medication_concept(x, catalog),
    }
    if x.dosage is not None:
        resource["dosageInstruction"] = [_dosage(x.dosage)]
    elif x.note:
        resource["note"] = [{"text": x.note}]
    return resource


_SERVICE_LOINC: dict[Service, str] = {Service.HER2_IHC: "18474-7"}
"""ServiceRequest codes the spec lists (section 7: HER2 IHC 18474-7); others: text only."""


def _order_set_action(
    x: UseOrderSet, *, intent: str, subject: dict[str, str], catalog: OrderCatalog
) -> Action | None:
    """A regimen ordered through the site's order set: a draft ServiceRequest whose code is
    the site's order-set identifier (``order-set:<name>`` in the catalog). Without that
    entry there is nothing an EHR could order, so no action (the suggestion is dropped)."""
    entry = catalog.order_set(x.name)
    if entry is None:
        return None
    code: dict[str, Any] = {"text": entry.text or x.regimen}
    code["coding"] = [c.as_fhir() for c in entry.codings]
    return Action(
        type=ActionType.CREATE,
        description=f"Draft order set: {entry.text or x.regimen}",
        resource={
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": intent,
            "subject": subject,
            "code": code,
        },
    )


def _service_request(
    service: Service, *, intent: str, subject: dict[str, str], catalog: OrderCatalog
) -> dict[str, Any]:
    """The site's codings from the catalog (``service:<name>``) first, then the code the
    spec lists; the service's name always as ``text``."""
    code: dict[str, Any] = {"text": service.value}
    loinc = _SERVICE_LOINC.get(service)
    known = [{"system": terminology.LOINC, "code": loinc}] if loinc is not None else []
    codings = merged_codings(catalog.service(service), known)
    if codings:
        code["coding"] = codings
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": intent,
        "subject": subject,
        "code": code,
    }


def _with_dosage(draft: Mapping[str, Any], d: DoseInstruction) -> dict[str, Any]:
    """The draft order as sent, with the dose (and its text) replaced; timing and route
    kept when the draft has them. Tolerates the imperfect R4 real clients send
    (``dosageInstruction`` as an object, ``doseQuantity`` directly under it)."""
    updated = copy.deepcopy(dict(draft))
    new = _dosage(d)
    raw = updated.get("dosageInstruction")
    instructions = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    if not instructions or not isinstance(instructions[0], dict):
        updated["dosageInstruction"] = [new]
        return updated
    first = dict(instructions[0])
    first.pop("doseQuantity", None)
    first["doseAndRate"] = new["doseAndRate"]
    first["text"] = new["text"]
    for key in ("timing", "route"):
        first.setdefault(key, new[key])
    updated["dosageInstruction"] = [first, *instructions[1:]]
    return updated

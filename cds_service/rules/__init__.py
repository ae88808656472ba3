"""The clinical rules: pure functions over the patient model (clinical-rules.md, section 6).

One module per table of section 6: ``testing`` (6.1), ``sequencing`` (6.2), ``ild``
(6.3), ``safety`` (6.4); the new checks of version 2 (9.2) follow in ``tdm1``, ``adc``,
``pregnancy``, ``interactions`` and ``sevabertinib``. Each rule is registered with its
id, hooks, indicators, confidence and citation (``base.rule``); ``REGISTRY`` lists them
in spec order.

``evaluate`` runs the enabled rules that serve the hook, then arranges the findings:
superseded findings dropped (a critical hold of a drug silences reminders about it;
a rule may name rules it makes redundant for the same order), duplicates removed,
the rest ordered critical, warning, info.

Version 2 (clinical-rules.md 9.1, "all" rows):

- A card that supersedes another card about the same drug which was itself a reason to
  hold or change that drug (a warning or critical card, or one that removes or changes
  the order) lists it under ``other_reasons``: a critical card never hides a second
  reason (e.g. an LVEF hold and a low ANC). Two critical holds of the same kind are both
  sent.
- Identical findings (same rule, indicator, summary and suggestions) are sent once, with
  the order references of both.
- No suggestion updates the dose of a draft order whose drug was identified by its text
  (``DraftOrder.matched_by``): the suggestion is dropped and the card says why.
"""

from __future__ import annotations

from dataclasses import replace

from cds_service.rules import (
    adc,
    identity,
    ild,
    interactions,
    pregnancy,
    safety,
    sequencing,
    sevabertinib,
    tdm1,
    testing,
)
from cds_service.rules.base import (
    REGISTERED,
    CancelOrder,
    ChangeDose,
    Citation,
    Confidence,
    Fact,
    Finding,
    Proposal,
    Rule,
    with_card_data,
)
from cds_service.rules.situation import Situation
from cds_service.settings import ClinicalSettings
from cds_service.wire import Hook, Indicator
from fhir_mappings.model import Drug, MatchedBy, PatientModel

__all__ = [
    "REGISTRY",
    "Citation",
    "Confidence",
    "Fact",
    "Finding",
    "Proposal",
    "Rule",
    "arrange",
    "evaluate",
    "rules_for",
]

_SPEC_ORDER = (
    testing,
    sequencing,
    ild,
    safety,
    tdm1,
    adc,
    pregnancy,
    interactions,
    sevabertinib,
    identity,
)
"""The tables of section 6 in order (6.1 testing, 6.2 sequencing, 6.3 ILD, 6.4 safety), then
the new checks of 9.2 by module, then the drug-identity safety net of 9.1 (``identity``)."""


def _in_spec_order() -> tuple[Rule, ...]:
    modules = [m.__name__ for m in _SPEC_ORDER]
    ordered = sorted(REGISTERED, key=lambda r: (modules.index(r.check.__module__), r.rank))
    return tuple(replace(r, rank=i) for i, r in enumerate(ordered))


REGISTRY: tuple[Rule, ...] = _in_spec_order()
"""Every rule of clinical-rules.md section 6, in the spec's order."""


def rules_for(hook: Hook, settings: ClinicalSettings) -> tuple[Rule, ...]:
    """The enabled rules that serve ``hook``, in registry order."""
    return tuple(r for r in REGISTRY if hook in r.hooks and r.id not in settings.disabled_rules)


def evaluate(patient: PatientModel, hook: Hook, settings: ClinicalSettings) -> tuple[Finding, ...]:
    """Run every enabled rule that serves ``hook``; findings in card order."""
    situation = Situation(patient, hook, settings)
    findings = [f for r in rules_for(hook, settings) for f in r.conclude(situation)]
    by_text = frozenset(o.reference for o in patient.draft_orders if o.matched_by is MatchedBy.TEXT)
    arranged = arrange([_without_text_dose_updates(f, by_text) for f in findings])
    return tuple(with_card_data(f, patient) for f in arranged)


TEXT_DOSE_NOTE = (
    "The drug of this draft order was identified from its text, not from a drug code: "
    "no dose update is suggested; check the order."
)


def _without_text_dose_updates(f: Finding, by_text: frozenset[str]) -> Finding:
    """Drop dose updates of draft orders whose drug was recognised by text alone."""
    if not by_text or not f.proposals:
        return f
    kept = tuple(
        p
        for p in f.proposals
        if not any(isinstance(a, ChangeDose) and a.order_ref in by_text for a in p.actions)
    )
    if kept == f.proposals:
        return f
    return replace(
        f,
        proposals=kept,
        selection=f.selection if kept else None,
        uncertainties=(*f.uncertainties, TEXT_DOSE_NOTE),
    )


def _same_scope(a: Finding, b: Finding) -> bool:
    """Same order(s), or patient-wide (a finding without orders covers the patient)."""
    if not a.order_refs or not b.order_refs:
        return True
    return bool(set(a.order_refs) & set(b.order_refs))


def _supersedes(other: Finding, f: Finding) -> bool:
    """Whether ``other`` makes ``f`` redundant."""
    if other is f:
        return False
    if f.rule_id in other.supersedes and _same_scope(other, f):
        return True
    return (
        other.halts_drug
        and f.drug is other.drug
        and f.drug is not None
        and _same_scope(other, f)
        and (
            f.indicator is not Indicator.CRITICAL
            or (other.permanent and not f.permanent and f.halts_drug)
        )
    )


def _superseded(f: Finding, findings: list[Finding]) -> bool:
    return any(_supersedes(other, f) for other in findings)


def _reason_to_hold_or_change(f: Finding) -> bool:
    """A card that asks to hold, stop or change its drug (not a reminder)."""
    if f.drug is None:
        return False
    if f.indicator is not Indicator.INFO or f.halts_drug:
        return True
    return any(isinstance(a, CancelOrder | ChangeDose) for p in f.proposals for a in p.actions)


MAX_REASON_SOURCES = 3


def _with_other_reasons(f: Finding, findings: list[Finding]) -> Finding:
    """List the reasons to hold or change ``f.drug`` that ``f`` superseded."""
    reasons = [
        Fact(
            f"{other.summary} (rule `{other.rule_id}`)",
            None,
            tuple(dict.fromkeys(s for x in other.facts for s in x.sources))[:MAX_REASON_SOURCES],
        )
        for other in findings
        if other.drug is f.drug and _reason_to_hold_or_change(other) and _supersedes(f, other)
    ]
    if not reasons:
        return f
    unique = tuple(dict.fromkeys(reasons))
    return replace(f, other_reasons=(*f.other_reasons, *unique))


def _without_halted_options(f: Finding, halted: set[Drug]) -> Finding:
    """Drop suggestions that would start a drug another card holds."""
    if not halted or not f.proposals:
        return f
    kept = tuple(p for p in f.proposals if not any(p.creates(d) for d in halted))
    if kept == f.proposals:
        return f
    return replace(f, proposals=kept, selection=f.selection if kept else None)


def arrange(findings: list[Finding]) -> tuple[Finding, ...]:
    """Supersession, de-duplication and card order (critical, warning, info)."""
    kept = [_with_other_reasons(f, findings) for f in findings if not _superseded(f, findings)]
    halted = {f.drug for f in kept if f.halts_drug and f.drug is not None}
    unique: dict[tuple[object, ...], Finding] = {}
    for finding in kept:
        f = finding if finding.halts_drug else _without_halted_options(finding, halted)
        key = (f.rule_id, f.indicator, f.summary, f.proposals)
        first = unique.get(key)
        if first is None:
            unique[key] = f
        else:  # identical card: send it once, about every order it concerns
            refs = tuple(dict.fromkeys((*first.order_refs, *f.order_refs)))
            unique[key] = replace(first, order_refs=refs)
    arranged = sorted(unique.values(), key=lambda f: (-f.indicator.urgency, f.rank))
    return tuple(arranged)

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
"""

from __future__ import annotations

from dataclasses import replace

from cds_service.rules import (
    adc,
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
    Citation,
    Confidence,
    Fact,
    Finding,
    Proposal,
    Rule,
)
from cds_service.rules.situation import Situation
from cds_service.settings import ClinicalSettings
from cds_service.wire import Hook, Indicator
from fhir_mappings.model import Drug, PatientModel

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
)
"""The tables of section 6 in order (6.1 testing, 6.2 sequencing, 6.3 ILD, 6.4 safety), then
the new checks of 9.2 by module."""


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
    return arrange(findings)


def _same_scope(a: Finding, b: Finding) -> bool:
    """Same order(s), or patient-wide (a finding without orders covers the patient)."""
    if not a.order_refs or not b.order_refs:
        return True
    return bool(set(a.order_refs) & set(b.order_refs))


def _superseded(f: Finding, findings: list[Finding]) -> bool:
    for other in findings:
        if other is f:
            continue
        if f.rule_id in other.supersedes and _same_scope(other, f):
            return True
        if (
            other.halts_drug
            and f.drug is other.drug
            and f.drug is not None
            and _same_scope(other, f)
            and (
                f.indicator is not Indicator.CRITICAL
                or (other.permanent and not f.permanent and f.halts_drug)
            )
        ):
            return True
    return False


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
    kept = [f for f in findings if not _superseded(f, findings)]
    halted = {f.drug for f in kept if f.halts_drug and f.drug is not None}
    seen: set[tuple[str, tuple[str, ...], str]] = set()
    unique: list[Finding] = []
    for f in kept:
        key = (f.rule_id, f.order_refs, f.summary)
        if key in seen:
            continue
        seen.add(key)
        unique.append(f if f.halts_drug else _without_halted_options(f, halted))
    unique.sort(key=lambda f: (-f.indicator.urgency, f.rank))
    return tuple(unique)

"""The clinical rules: pure functions over the patient model (clinical-rules.md, section 6).

One module per table of section 6: ``testing`` (6.1), ``sequencing`` (6.2), ``ild``
(6.3), ``safety`` (6.4); the new checks of version 2 (9.2) follow in ``tdm1``, ``adc``,
``pregnancy``, ``interactions`` and ``sevabertinib``. Each rule is registered with its
id, hooks, indicators, confidence and citation (``base.rule``); ``REGISTRY`` lists them
in spec order.

``evaluate`` runs the enabled rules that serve the hook, then arranges the findings
(``interplay.arrange``): which card silences which, identical cards merged, other
reasons listed, no dose update on a drug identified by its text, card order. The
interplay is one table with its general rules, in ``cds_service.rules.interplay``.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

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
    Citation,
    Confidence,
    Fact,
    Finding,
    Proposal,
    Rule,
    with_card_data,
)
from cds_service.rules.interplay import TEXT_DOSE_NOTE, arrange, without_text_dose_updates
from cds_service.rules.situation import Situation
from cds_service.settings import ClinicalSettings
from cds_service.wire import Hook
from fhir_mappings.model import MatchedBy, PatientModel

__all__ = [
    "REGISTRY",
    "TEXT_DOSE_NOTE",
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
    return _enabled_rules(hook, settings.disabled_rules)


@lru_cache(maxsize=32)
def _enabled_rules(hook: Hook, disabled: frozenset[str]) -> tuple[Rule, ...]:
    """``rules_for``, memoised: the same few answers on every call of a process."""
    return tuple(r for r in REGISTRY if hook in r.hooks and r.id not in disabled)


def evaluate(patient: PatientModel, hook: Hook, settings: ClinicalSettings) -> tuple[Finding, ...]:
    """Run every enabled rule that serves ``hook``; findings in card order."""
    situation = Situation(patient, hook, settings)
    findings = [f for r in rules_for(hook, settings) for f in r.conclude(situation)]
    by_text = frozenset(o.reference for o in patient.draft_orders if o.matched_by is MatchedBy.TEXT)
    arranged = arrange([without_text_dose_updates(f, by_text) for f in findings])
    return tuple(with_card_data(f, patient) for f in arranged)

"""9.2 New check: CYP3A interactions of the HER2 TKIs.

| rule | hooks | when |
|---|---|---|
| interaction-cyp3a-tki | PV, OS, SG | zongertinib or sevabertinib ordered or active with an
  interacting CYP3A inhibitor or inducer ordered or active |

Which classes interact is what each label's section 7 lists; it could not be read here, so the
rule carries [?] and can be switched off (``CDS_DISABLED_RULES``):

- zongertinib: strong CYP3A inducers [?] (spec 9.2; a third-party label summary says the same);
- sevabertinib: strong and moderate CYP3A inhibitors and inducers [?] (spec 9.2).

The example drugs are the FDA's examples of CYP3A inhibitors and inducers, named as such
(``fhir_mappings.terminology.CYP3A_MODULATORS``, matched by name). No acid-reducer card: no
label read says so. The card states no dose adjustment (none was read) and suggests nothing.
On order hooks a pair fires when either side is among the orders the hook speaks about.
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.rules import labels
from cds_service.rules.base import ALL_HOOKS, Conclusion, Confidence, Fact, OverrideSet, rule
from cds_service.rules.labels import short_name
from cds_service.rules.situation import Situation, Target
from cds_service.wire import Indicator
from fhir_mappings.model import CoMedication, Cyp3aModulator, Drug

Q = Confidence.UNVERIFIED
ZONG, SEVA = Drug.ZONGERTINIB, Drug.SEVABERTINIB

INTERACTING: dict[Drug, frozenset[Cyp3aModulator]] = {
    ZONG: frozenset({Cyp3aModulator.STRONG_INDUCER}),
    SEVA: frozenset(Cyp3aModulator),
}
"""Classes each label's section 7 is reported to list [?] (clinical-rules.md 9.2)."""
_EFFECT: dict[Cyp3aModulator, str] = {
    Cyp3aModulator.STRONG_INHIBITOR: "may raise {name} exposure and its adverse reactions",
    Cyp3aModulator.MODERATE_INHIBITOR: "may raise {name} exposure and its adverse reactions",
    Cyp3aModulator.STRONG_INDUCER: "may lower {name} exposure and its efficacy",
    Cyp3aModulator.MODERATE_INDUCER: "may lower {name} exposure and its efficacy",
}


@rule(
    "interaction-cyp3a-tki",
    title="CYP3A inhibitors and inducers with a HER2 TKI",
    hooks=ALL_HOOKS,
    indicators=(Indicator.WARNING,),
    confidence=(Q,),
    citation=labels.HER2_TKI_INTERACTIONS,
    override_set=OverrideSet.SAFETY,
)
def interaction_cyp3a_tki(s: Situation) -> Iterator[Conclusion]:
    drafted = [
        (o.reference, o.co_medication)
        for o in s.patient.draft_orders
        if o.co_medication is not None
    ]
    selected = {o.reference for o in s.orders}
    for target in _tki_targets(s):
        found: list[tuple[CoMedication, str | None]] = []
        for ref, med in drafted:
            found.append((med, ref))
        found += [(m, None) for m in s.patient.co_medications if m.active]
        pairs = [
            (med, ref)
            for med, ref in found
            if med.effect in INTERACTING[target.drug]
            and (s.on_patient_view or target.order is not None or ref in selected)
        ]
        if not pairs:
            continue
        yield _card(s, target, pairs)


def _tki_targets(s: Situation) -> list[Target]:
    """Ordered TKIs (order hooks), and active TKIs (all hooks: a new co-medication order
    meets a running TKI course)."""
    targets = list(s.targets(ZONG, SEVA))
    if not s.on_patient_view:
        ordered = {t.drug for t in targets}
        for e in s.active(ZONG, SEVA):
            if e.drug not in ordered:
                targets.append(Target(e.drug, None, (s.exposure_fact(e),)))
                ordered.add(e.drug)
    return targets


def _card(s: Situation, target: Target, pairs: list[tuple[CoMedication, str | None]]) -> Conclusion:
    name = short_name(target.drug)
    facts: list[Fact] = list(target.facts)
    lines: list[str] = []
    for med, ref in pairs:
        state = "draft order" if ref else "active"
        facts.append(Fact(f"{med.name} ({med.effect.value}, {state})", med.start, med.sources))
        lines.append(
            f"{med.name}, an FDA example of a {med.effect.value}, "
            f"{_EFFECT[med.effect].format(name=name)}. [?]"
        )
    first = pairs[0][0]
    more = f" and {len(pairs) - 1} more" if len(pairs) > 1 else ""
    listed = (
        "strong CYP3A inducers"
        if target.drug is ZONG
        else "strong and moderate CYP3A inhibitors and inducers"
    )
    refs = tuple(dict.fromkeys([*target.refs, *(ref for _, ref in pairs if ref is not None)]))
    return Conclusion(
        indicator=Indicator.WARNING,
        summary=f"{name.capitalize()} with {first.name}{more} ({first.effect.value}): check the "
        "label's drug interactions",
        facts=tuple(facts),
        guidance=(
            f"The {name} label's section 7 is reported to list {listed}: avoid the combination "
            "or manage it as the label directs (not verified here). [?]",
            *lines,
            "Consider an alternative without this interaction; no dose adjustment is suggested "
            "here.",
        ),
        uncertainties=(
            "[?] Section 7 of the label was not read: the interacting classes are those of "
            "clinical-rules.md 9.2. The drug's class follows the FDA's examples of CYP3A "
            "inhibitors and inducers; drugs are recognised by name. This rule can be switched "
            "off.",
        ),
        order_refs=refs,
        drug=target.drug,
    )

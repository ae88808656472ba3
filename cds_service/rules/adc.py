"""9.2 New checks: the HER2 antibody products are not interchangeable; T-DXd and platelets.

| rule | hooks | when |
|---|---|---|
| her2-adc-not-interchangeable | OS, SG | two of T-DXd, T-DM1, trastuzumab drafted, or one drafted
  while another is active with no documented stop or progression |
| thrombocytopenia-tdxd | OS, SG | T-DXd ordered after platelets fell to grade 3-4 since last dose |

Decisions:

- **Substitution**: Enhertu's label reads "do not substitute ENHERTU for or with trastuzumab
  or ado-trastuzumab emtansine", Kadcyla's "do not substitute KADCYLA for or with
  trastuzumab" [L]. A planned switch after documented progression (or a stop) on the other
  product is not a substitution: silent. Trastuzumab with trastuzumab (two drafts of one
  product) is not this rule's concern.
- **Platelets** (Enhertu label, thrombocytopenia rows): grade 3 (25 to < 50 x 10^9/L):
  interrupt until grade 1 or less (>= 75), then the same dose [L]; grade 4 (< 25): interrupt
  until grade 1 or less, then one level down [?: the grade 4 cell was not read; no dose update
  is offered, the card says so]. Judged on the **worst** count since the last T-DXd dose and
  the **latest** one (``recent_predose_labs_days``): hold while the latest is below 75 after a
  fall below 50, or when no count recent enough shows recovery. Critical when the latest count
  is below 25. With no platelet count at all the rule is silent: the blood-count request before
  each T-DXd dose belongs to ``neutropenia-tdxd`` (one CBC card, not two).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from cds_service.rules import labels
from cds_service.rules.base import (
    ORDERS,
    CancelOrder,
    Conclusion,
    Confidence,
    Fact,
    OverrideSet,
    Proposal,
    Request,
    Service,
    rule,
)
from cds_service.rules.labels import short_name
from cds_service.rules.situation import TDM1, TDXD, Situation
from cds_service.wire import Indicator, SelectionBehavior
from fhir_mappings.model import DraftOrder, Drug, MeasurementKind

L, Q = Confidence.LABEL, Confidence.UNVERIFIED
TRASTUZUMAB = Drug.TRASTUZUMAB
HER2_ANTIBODIES = (TDXD, TDM1, TRASTUZUMAB)


def _conflicts(a: Drug, b: Drug) -> bool:
    """Pairs the labels name: T-DXd with T-DM1 or trastuzumab; T-DM1 with trastuzumab."""
    return a is not b and {a, b} != {TRASTUZUMAB}


@rule(
    "her2-adc-not-interchangeable",
    title="T-DXd, T-DM1 and trastuzumab are not interchangeable",
    hooks=ORDERS,
    indicators=(Indicator.WARNING,),
    confidence=(L,),
    citation=labels.HER2_ADC_NOT_INTERCHANGEABLE,
    override_set=OverrideSet.SAFETY,
)
def her2_adc_not_interchangeable(s: Situation) -> Iterator[Conclusion]:
    reported: set[frozenset[str]] = set()
    for order in s.orders_of(*HER2_ANTIBODIES):
        conclusion = _substitution(s, order)
        if conclusion is None:
            continue
        pair = frozenset(conclusion.order_refs)
        if len(pair) > 1 and pair in reported:
            continue  # two drafts of one pair: one card
        reported.add(pair)
        yield conclusion


def _substitution(s: Situation, order: DraftOrder) -> Conclusion | None:
    drug = order.drug
    if drug is None:
        return None
    facts: list[Fact] = [s.order_fact(order)]
    others: list[Drug] = []
    refs = [order.reference]
    for other in s.all_drafts_of(*HER2_ANTIBODIES):
        if other.drug is not None and _conflicts(drug, other.drug) and other is not order:
            others.append(other.drug)
            facts.append(s.order_fact(other))
            refs.append(other.reference)
    for exposure in s.active(*HER2_ANTIBODIES):
        other_drug = exposure.drug
        if not _conflicts(drug, other_drug) or other_drug in others:
            continue
        progression = s.progression_on(other_drug)
        switched = exposure.stop_reason is not None or (
            progression is not None
            and (
                progression.date is None  # progression on that product's line, undated
                or exposure.start is None
                or progression.date >= exposure.start
            )
        )
        if switched:
            continue
        others.append(other_drug)
        facts.append(s.exposure_fact(exposure))
    if not others:
        return None
    names = ", ".join(dict.fromkeys(short_name(d) for d in others))
    return Conclusion(
        indicator=Indicator.WARNING,
        summary=(
            f"{short_name(drug)} with {names}: different products with different doses, "
            "not interchangeable"
        ),
        facts=tuple(facts),
        guidance=(
            "Do not substitute ENHERTU (T-DXd) for or with trastuzumab or ado-trastuzumab "
            "emtansine (T-DM1); do not substitute KADCYLA (T-DM1) for or with trastuzumab. "
            "[L]",
            "Check that the product and its dose (T-DXd 5.4 mg/kg, T-DM1 3.6 mg/kg) are the "
            "ones intended. A switch after documented progression is not a substitution.",
        ),
        order_refs=tuple(dict.fromkeys(refs)),
        drug=drug,
    )


# --- thrombocytopenia-tdxd ---------------------------------------------------------------------


@rule(
    "thrombocytopenia-tdxd",
    title="Platelets before T-DXd",
    hooks=ORDERS,
    indicators=(Indicator.WARNING, Indicator.CRITICAL),
    confidence=(L, Q),
    citation=labels.ENHERTU_LABEL_THROMBOCYTOPENIA,
    override_set=OverrideSet.SAFETY,
)
def thrombocytopenia_tdxd(s: Situation) -> Iterator[Conclusion]:
    orders = s.orders_of(TDXD)
    if not orders:
        return
    days = s.settings.recent_predose_labs_days
    last_dose = s.last_dose_date(TDXD)
    since = last_dose or (s.today - timedelta(days=days))
    counts = [
        m
        for m in s.measurements(MeasurementKind.PLATELETS)
        if m.date is not None
        and (m.date > since if last_dose else m.date >= since)
        and m.date <= s.today
    ]
    if not counts:
        return
    worst = min(counts, key=lambda m: m.value)
    latest = max(counts, key=lambda m: m.date or date.min)
    if worst.value >= labels.PLATELETS_GRADE3_BELOW:
        return
    recent = s.within(latest.date, days)
    recovered = recent and latest.value >= labels.PLATELETS_RESUME_AT
    grade4 = worst.value < labels.PLATELETS_GRADE4_BELOW
    if recovered and not grade4:
        return  # grade 3 that recovered to grade <= 1: same dose [L]
    facts = [s.measurement_fact(latest, "Platelets")]
    if worst is not latest:
        facts.append(s.measurement_fact(worst, "Lowest platelets since the last dose"))
    if last_dose is not None:
        facts.append(Fact("Last T-DXd dose", last_dose))
    guidance = (
        "Check blood counts before every T-DXd dose. [L]",
        "Grade 3 thrombocytopenia (platelets 25 to < 50 x 10^9/L): interrupt T-DXd until "
        "grade 1 or less (75 x 10^9/L or more), then keep the same dose. [L]",
        "Grade 4 (below 25 x 10^9/L): interrupt until grade 1 or less, then reduce one dose "
        "level (5.4 -> 4.4 -> 3.2 mg/kg). [?]",
    )
    uncertainties = [
        "[?] The grade 4 row (one level down after recovery) was not read in the label: no "
        "dose change is suggested; check the label.",
        f"A platelet count is taken as pre-dose when at most {days} days old (a setting).",
    ]
    for order in orders:
        if recovered:
            yield Conclusion(
                indicator=Indicator.WARNING,
                summary=(
                    f"Platelets fell to {worst.value:g} x 10^9/L (grade 4) since the last T-DXd "
                    "dose: the label reduces the next dose [?]"
                ),
                facts=(*facts, s.order_fact(order)),
                guidance=guidance,
                uncertainties=tuple(uncertainties),
                order_refs=(order.reference,),
                drug=TDXD,
            )
            continue
        critical = recent and latest.value < labels.PLATELETS_GRADE4_BELOW
        shown = f"{latest.value:g} x 10^9/L on {latest.date.isoformat() if latest.date else '?'}"
        if recent:
            summary = f"Platelets {shown}: hold T-DXd until 75 x 10^9/L or more"
        else:
            summary = (
                f"Platelets fell to {worst.value:g} x 10^9/L and no recent count shows recovery: "
                "hold T-DXd"
            )
        yield Conclusion(
            indicator=Indicator.CRITICAL if critical else Indicator.WARNING,
            summary=summary,
            facts=(*facts, s.order_fact(order)),
            guidance=guidance,
            proposals=(
                Proposal(
                    "Hold T-DXd: remove this draft order",
                    (CancelOrder(order.reference, TDXD),),
                    recommended=True,
                ),
                Proposal("Order a complete blood count", (Request(Service.CBC),)),
            ),
            selection=SelectionBehavior.ANY,
            uncertainties=tuple(uncertainties),
            order_refs=(order.reference,),
            drug=TDXD,
            halts_drug=critical,
        )

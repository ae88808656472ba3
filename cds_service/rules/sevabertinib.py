"""9.2 New checks: sevabertinib at start and its dose ladder.

| rule | hooks | when |
|---|---|---|
| start-sevabertinib | OS, SG | sevabertinib ordered (replaces `gi-sevabertinib`) |
| dose-sevabertinib | OS, SG | dose not 20 mg twice daily, 10 mg twice daily or 10 mg once daily,
  or above the last recorded dose |

Read in the Hyrnuo US prescribing information (2.2, 2.3) [L]: 20 mg orally twice daily with
food; reductions 10 mg twice daily, then 10 mg once daily; permanently discontinue when 10 mg
once daily is not tolerated. The per-toxicity table (2.3, Table 2) was not read: cards say
"per the label" without thresholds [?].

Decisions: the dose records of past courses carry no frequency, so "above the last level" is
judged on the mg dose only (an order of 20 mg after a recorded 10 mg dose). After a recorded
reduction, the two reduced levels are offered as alternatives, none recommended (which one
applies depends on the frequency, not in the record). An order whose frequency could not be
read gets no dose update, only an info card asking to state it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

from cds_service.rules import labels
from cds_service.rules.base import (
    ORDERS,
    ChangeDose,
    Conclusion,
    Confidence,
    Fact,
    OverrideSet,
    Proposal,
    rule,
)
from cds_service.rules.situation import Situation, format_dose, matches
from cds_service.wire import Indicator, SelectionBehavior
from fhir_mappings.model import DoseRecord, DoseUnit, DraftOrder, Drug

L = Confidence.LABEL
SEVA = Drug.SEVABERTINIB

START_GUIDANCE = (
    "Sevabertinib: 20 mg orally twice daily with food, swallowed whole. [L]",
    "**Diarrhea** (labeled warning): the most common adverse reaction and the main reason "
    "for dose reduction; prescribe an antidiarrheal and tell the patient when to start it and "
    "when to call. [L]",
    "**Hepatotoxicity** (labeled warning): liver tests before and during treatment. [L]",
    "**Interstitial lung disease / pneumonitis** (labeled warning): ask about new cough, "
    "dyspnea or fever; withhold if suspected. [L]",
    "**Ocular toxicity** (labeled warning): ask about visual symptoms; refer to "
    "ophthalmology if they occur. [L]",
    "**Pancreatic enzyme elevation** (labeled warning): amylase and lipase as the label "
    "directs. [L]",
    "**Embryo-fetal toxicity** (labeled warning): verify pregnancy status and advise "
    "contraception. [L]",
    "Dose reductions: 10 mg twice daily, then 10 mg once daily, then discontinue. [L]",
)


@rule(
    "start-sevabertinib",
    title="Starting sevabertinib: dose and labeled warnings",
    hooks=ORDERS,
    indicators=(Indicator.INFO,),
    confidence=(L,),
    citation=labels.HYRNUO_LABEL_START,
    override_set=OverrideSet.SAFETY,
)
def start_sevabertinib(s: Situation) -> Iterator[Conclusion]:
    for order in s.orders_of(SEVA):
        yield Conclusion(
            indicator=Indicator.INFO,
            summary=(
                "Sevabertinib: 20 mg twice daily with food; plan for diarrhea, liver, lung, "
                "eye and pancreatic monitoring"
            ),
            facts=(s.order_fact(order),),
            guidance=START_GUIDANCE,
            uncertainties=(
                "[?] The label's per-toxicity dose modification table was not verified here: "
                "manage each toxicity per the label.",
            ),
            order_refs=(order.reference,),
            drug=SEVA,
        )


_TIMES_PER_DAY = (
    (
        re.compile(
            r"\b(twice|two times|2 times) (a )?(daily|a day|per day)\b|\bbid\b|every 12 hours"
        ),
        2,
    ),
    (
        re.compile(
            r"\b(once|one time|1 time) (a )?(daily|a day|per day)\b|\bdaily\b|\bqd\b"
            r"|every 24 hours"
        ),
        1,
    ),
)


def doses_per_day(frequency: str | None) -> int | None:
    """Doses a day read from the draft's frequency text; None when not stated or unclear."""
    if not frequency:
        return None
    text = frequency.lower()
    for pattern, times in _TIMES_PER_DAY:
        if pattern.search(text):
            return times
    return None


def _last_record(s: Situation) -> DoseRecord | None:
    records = [r for e in s.exposures(SEVA) for r in e.doses if r.dose.unit is DoseUnit.MG]
    if not records:
        return None
    return max(records, key=lambda r: r.date or date.min)


def _level_text(mg: float, per_day: int) -> str:
    return f"{mg:g} mg {'twice' if per_day == 2 else 'once'} daily"


@rule(
    "dose-sevabertinib",
    title="Sevabertinib dose level",
    hooks=ORDERS,
    indicators=(Indicator.WARNING, Indicator.INFO),
    confidence=(L,),
    citation=labels.HYRNUO_LABEL_DOSE,
    override_set=OverrideSet.SAFETY,
)
def dose_sevabertinib(s: Situation) -> Iterator[Conclusion]:
    for order in s.orders_of(SEVA):
        conclusion = _dose(s, order)
        if conclusion is not None:
            yield conclusion


def _dose(s: Situation, order: DraftOrder) -> Conclusion | None:
    if order.dose is None or order.dose.unit is not DoseUnit.MG:
        return None
    tolerance = s.settings.dose_tolerance_fraction
    mg = order.dose.value
    per_day = doses_per_day(order.frequency)
    guidance = (
        "Sevabertinib is 20 mg twice daily with food; reductions are 10 mg twice daily, then "
        "10 mg once daily; discontinue if 10 mg once daily is not tolerated. [L]",
    )
    facts: list[Fact] = [s.order_fact(order)]
    last = _last_record(s)
    reduced = last is not None and last.dose.value < labels.SEVABERTINIB_DOSE_MG * (1 - tolerance)
    if last is not None and reduced:
        facts.append(
            Fact(f"Last recorded dose {format_dose(last.dose)}", last.date, (last.source,))
        )
    if per_day is None:
        return Conclusion(
            indicator=Indicator.INFO,
            summary=(
                f"Sevabertinib {format_dose(order.dose)}: frequency not stated; the label dose "
                "is 20 mg twice daily"
            ),
            facts=tuple(facts),
            guidance=guidance,
            uncertainties=("The order's frequency could not be read; no dose change is offered.",),
            order_refs=(order.reference,),
            drug=SEVA,
        )
    on_ladder = any(
        matches(mg, level_mg, tolerance) and per_day == level_times
        for level_mg, level_times in labels.SEVABERTINIB_DOSE_LEVELS
    )
    above_last = last is not None and reduced and mg > last.dose.value * (1 + tolerance)
    if on_ladder and not above_last:
        return None
    ordered = _level_text(mg, per_day)
    if not on_ladder:
        summary = f"Sevabertinib {ordered} is not a labeled dose: 20 mg twice daily with food"
    else:
        summary = (
            f"Sevabertinib {ordered} is above the last recorded dose "
            f"({format_dose(last.dose) if last else ''}): no re-escalation is described"
        )
    if reduced:
        proposals = tuple(
            Proposal(
                f"Change the sevabertinib dose to {_level_text(level_mg, times)}",
                (ChangeDose(order.reference, labels.sevabertinib_dosage(level_mg, times)),),
            )
            for level_mg, times in labels.SEVABERTINIB_DOSE_LEVELS[1:]
        )
        notes = [
            "A reduced dose is on record; its frequency is not, so both reduced levels are "
            "offered and neither is recommended."
        ]
    else:
        proposals = (
            Proposal(
                "Change the sevabertinib dose to 20 mg twice daily with food",
                (ChangeDose(order.reference, labels.sevabertinib_dosage(20.0, 2)),),
                recommended=True,
            ),
        )
        notes = []
    return Conclusion(
        indicator=Indicator.WARNING,
        summary=summary,
        facts=tuple(facts),
        guidance=guidance,
        proposals=proposals,
        selection=SelectionBehavior.AT_MOST_ONE,
        uncertainties=(
            *notes,
            f"Doses within {tolerance:.0%} of a level count as that level (a setting).",
        ),
        order_refs=(order.reference,),
        drug=SEVA,
    )

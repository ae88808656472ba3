"""6.3 ILD / pneumonitis: the main hazard of T-DXd, a labeled warning of the TKIs.

| rule | hooks | when |
|---|---|---|
| ild-suspected-on-tdxd | PV, OS, SG | T-DXd; unresolved episode since T-DXd, grade unknown |
| ild-grade1-tdxd | PV, OS, SG | grade 1 episode on T-DXd |
| ild-grade2-tdxd | PV, OS, SG | grade >= 2 on T-DXd, or grade unknown with oxygen need |
| ild-history-before-tdxd | OS, SG | T-DXd ordered, not yet on it, any prior episode |
| ild-on-tki | PV, OS, SG | zongertinib / sevabertinib with ILD suspected (c) or in history (w) |
| ild-baseline-imaging | OS, SG | first T-DXd order, no recent chest CT |
| ild-vigilance | PV, OS, SG | T-DXd with COPD, ICI pneumonitis, chest radiation, renal impairment |

Version 2 (clinical-rules.md 9.1):

- `ild-history-before-tdxd` is critical when an episode (any cause) is unresolved or began
  within ``recent_ild_episode_days`` (90) [E]: the card offers only to remove the T-DXd
  order (override reasons stay). It then suggests no TKI either (both carry an ILD
  warning); the TKIs are offered as alternatives on the warning card only. This is the
  safer reading of an ambiguous row.
- At most one ILD card per T-DXd order: `ild-history-before-tdxd` and `ild-grade1-tdxd`
  absorb `ild-vigilance` (its risk factors are listed on them), and `ild-vigilance`
  absorbs `ild-baseline-imaging` (it carries the chest CT suggestion).
- `ild-on-tki`: the attribution of an episode to a drug is read in one helper,
  :func:`attributed_to` (``IldEpisode.cause_drug`` today).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from cds_service.rules import labels
from cds_service.rules.base import (
    ALL_HOOKS,
    ORDERS,
    CancelOrder,
    ChangeDose,
    Conclusion,
    Confidence,
    Fact,
    OverrideSet,
    Proposal,
    Request,
    Service,
    rule,
)
from cds_service.rules.dosing import LastDose, last_dose, tdxd_level_below, tdxd_mg_per_kg
from cds_service.rules.interplay import (
    ILD_GRADE1_DOSE_CHANGE,
    ILD_GRADE1_RESOLVED,
    ILD_HISTORY_ONE_CARD,
    VIGILANCE_BASELINE_CT,
    silences,
)
from cds_service.rules.labels import sentence_case, short_name
from cds_service.rules.options import replace_order, tki_eligible
from cds_service.rules.situation import TDXD, Situation, Target, comorbidity_fact, matches
from cds_service.wire import Indicator, SelectionBehavior
from fhir_mappings.model import ComorbidityKind, Drug, IldEpisode

L, S, E, Q = Confidence.LABEL, Confidence.SEEDS, Confidence.EXPERT, Confidence.UNVERIFIED
TKIS = (Drug.ZONGERTINIB, Drug.SEVABERTINIB)


def attributed_to(ep: IldEpisode, drug: Drug) -> bool:
    """Whether the episode is attributed to ``drug`` (clinical-rules.md 9.3: the episode's
    text, its AdverseEvent suspect entity, or the drug's stop reason names it).

    The one place to read attribution: the mapping records it as ``cause_drug`` today;
    switch to ``IldEpisode.attributed_drugs`` here once the mapping provides it."""
    return ep.cause_drug is drug


def _severe(ep: IldEpisode) -> bool:
    """Grade 2 or higher, or grade not recorded with oxygen need or hypoxia."""
    return (ep.grade or 0) >= 2 or (ep.grade is None and ep.hypoxia)


@dataclass(frozen=True, slots=True)
class RiskFactors:
    """The ILD risk factors of `ild-vigilance` that are present, with their facts."""

    names: tuple[str, ...]
    facts: tuple[Fact, ...]
    guidance: tuple[str, ...]


def risk_factors(s: Situation) -> RiskFactors:
    names: list[str] = []
    facts: list[Fact] = []
    for kind, label in (
        (ComorbidityKind.COPD, "COPD"),
        (ComorbidityKind.THORACIC_RADIATION, "prior chest radiation"),
        (ComorbidityKind.RENAL_IMPAIRMENT, "moderate renal impairment"),
    ):
        found = [c for c in s.patient.comorbidities if c.kind is kind]
        if found:
            names.append(label)
            facts += [comorbidity_fact(c) for c in found]
    ici = s.ici_pneumonitis()
    if ici:
        names.append("prior ICI pneumonitis")
        facts += [s.ild_fact(ep) for ep in ici]
    guidance: list[str] = []
    if names:
        guidance.append(
            f"ILD risk factors present: {', '.join(names)}; they raise the risk of ILD on "
            "T-DXd. [S]"
        )
    if "moderate renal impairment" in names:
        guidance.append(
            "The label reports more grade 1-2 ILD/pneumonitis with moderate renal impairment. [L]"
        )
    return RiskFactors(tuple(names), tuple(facts), tuple(guidance))


def _since_tdxd(s: Situation, ep: IldEpisode) -> bool:
    """Began on T-DXd, or T-DXd was given and the onset is undated (read as possibly on it)."""
    return s.began_on_tdxd(ep) is not False


def _timing_notes(s: Situation, episodes: tuple[IldEpisode, ...]) -> tuple[str, ...]:
    if any(s.began_on_tdxd(ep) is None for ep in episodes):
        return (
            "The onset date is not recorded, so the episode cannot be placed before or after "
            "the start of T-DXd; it is treated as possibly T-DXd-related.",
        )
    return ()


EVALUATION = (Request(Service.CHEST_CT),)
PULMONOLOGY = (Request(Service.PULMONOLOGY),)


@rule(
    "ild-suspected-on-tdxd",
    title="Suspected ILD on T-DXd",
    hooks=ALL_HOOKS,
    indicators=(Indicator.CRITICAL,),
    confidence=(L, S),
    citation=labels.ENHERTU_LABEL_ILD,
    override_set=OverrideSet.SAFETY,
)
def ild_suspected_on_tdxd(s: Situation) -> Iterator[Conclusion]:
    episodes = tuple(
        ep for ep in s.ild_episodes if s.unresolved(ep) and ep.grade is None and _since_tdxd(s, ep)
    )
    if not episodes:
        return
    for target in s.targets(TDXD):
        proposals = []
        if target.order is not None:
            proposals.append(
                Proposal(
                    "Hold T-DXd: remove this draft order",
                    (CancelOrder(target.order.reference, TDXD),),
                    recommended=True,
                )
            )
        proposals += [
            Proposal("Order high-resolution chest CT", EVALUATION),
            Proposal("Refer to pulmonology", PULMONOLOGY),
        ]
        yield Conclusion(
            indicator=Indicator.CRITICAL,
            summary=(
                "Suspected ILD/pneumonitis on T-DXd, grade not recorded: hold T-DXd until evaluated"
            ),
            facts=(*(s.ild_fact(ep) for ep in episodes), *target.facts),
            guidance=(
                "Hold T-DXd while suspected ILD/pneumonitis is evaluated; ILD on T-DXd can be "
                "fatal (boxed warning). [L]",
                "Evaluate with high-resolution chest CT and pulmonology input; rule out infection, "
                "pulmonary embolism, radiation pneumonitis and other drug causes. [L][S]",
                "Consider corticosteroids as soon as ILD is suspected (for example prednisolone "
                "0.5 mg/kg/day or more, or equivalent). [L]",
                "Record the CTCAE grade: grade 1 means interrupt until grade 0; grade 2 or "
                "higher means permanent discontinuation. [L]",
            ),
            proposals=tuple(proposals),
            selection=SelectionBehavior.ANY,
            uncertainties=_timing_notes(s, episodes),
            order_refs=target.refs,
            drug=TDXD,
            halts_drug=True,
        )


@rule(
    "ild-grade1-tdxd",
    title="Grade 1 ILD on T-DXd",
    hooks=ALL_HOOKS,
    indicators=(Indicator.INFO, Indicator.WARNING, Indicator.CRITICAL),
    confidence=(L,),
    citation=labels.ENHERTU_LABEL_ILD,
    override_set=OverrideSet.SAFETY,
)
def ild_grade1_tdxd(s: Situation) -> Iterator[Conclusion]:
    grade1 = [ep for ep in s.ild_episodes if ep.grade == 1 and _since_tdxd(s, ep)]
    if not grade1:
        return
    ep = max(grade1, key=lambda e: e.onset or date.min)
    for target in s.targets(TDXD):
        yield _grade1(s, ep, target)


def _grade1(s: Situation, ep: IldEpisode, target: Target) -> Conclusion:
    facts = [s.ild_fact(ep), *target.facts]
    guidance = [
        "Grade 1 ILD/pneumonitis: interrupt T-DXd until it resolves to grade 0. [L]",
        f"Resolved within {labels.TDXD_ILD_GRADE1_SAME_DOSE_DAYS} days of onset: keep the dose; "
        "resolved later: reduce one level (5.4 -> 4.4 -> 3.2 mg/kg; below 3.2, discontinue). "
        "Never re-escalate. [L]",
    ]
    uncertainties = list(_timing_notes(s, (ep,)))
    if s.unresolved(ep):
        indicator = Indicator.CRITICAL if s.at_sign else Indicator.WARNING
        proposals: tuple[Proposal, ...] = ()
        if target.order is not None:
            proposals = (
                Proposal(
                    "Interrupt T-DXd: remove this draft order",
                    (CancelOrder(target.order.reference, TDXD),),
                    recommended=True,
                ),
            )
        return Conclusion(
            indicator=indicator,
            summary="Grade 1 ILD on T-DXd not yet resolved: interrupt T-DXd until grade 0",
            facts=tuple(facts),
            guidance=tuple(guidance),
            proposals=proposals,
            selection=SelectionBehavior.AT_MOST_ONE if proposals else None,
            uncertainties=tuple(uncertainties),
            halts_drug=indicator is Indicator.CRITICAL,
            order_refs=target.refs,
            drug=TDXD,
        )

    # Resolved: the required level.
    at_onset = last_dose(s, TDXD, on_or_before=ep.onset) if ep.onset else None
    latest = last_dose(s, TDXD)
    onset_level = at_onset.level if at_onset and at_onset.level else None
    if onset_level is None:
        onset_level = labels.TDXD_NSCLC_START_MG_PER_KG
        uncertainties.append(
            "The T-DXd dose at the onset of the episode is not recorded as a label level; "
            "5.4 mg/kg (the starting dose) is assumed."
        )
    elif at_onset is not None:
        facts.append(at_onset.fact)
    days = (ep.resolved - ep.onset).days if ep.resolved and ep.onset else None
    if days is None:
        uncertainties.append(
            "The onset or resolution date is not recorded: the lower level assumes it took "
            f"more than {labels.TDXD_ILD_GRADE1_SAME_DOSE_DAYS} days to resolve."
        )
    reduce = days is None or days > labels.TDXD_ILD_GRADE1_SAME_DOSE_DAYS
    required = tdxd_level_below(onset_level) if reduce else onset_level
    if (
        required is not None
        and latest is not None
        and latest.level is not None
        and latest.level < required
    ):
        required = latest.level  # never re-escalate
        facts.append(latest.fact)
    took = f"resolved after {days} days" if days is not None else "resolution timing unknown"

    if required is None:
        proposals = ()
        if target.order is not None:
            proposals = (
                Proposal(
                    "Discontinue T-DXd: remove this draft order",
                    (CancelOrder(target.order.reference, TDXD),),
                    recommended=True,
                ),
            )
        indicator = Indicator.CRITICAL if s.at_sign else Indicator.WARNING
        return Conclusion(
            indicator=indicator,
            summary=f"Grade 1 ILD on T-DXd {took} at 3.2 mg/kg: no lower level, discontinue T-DXd",
            facts=tuple(facts),
            guidance=tuple(guidance),
            proposals=proposals,
            selection=SelectionBehavior.AT_MOST_ONE if proposals else None,
            uncertainties=tuple(uncertainties),
            halts_drug=indicator is Indicator.CRITICAL,
            permanent=True,
            order_refs=target.refs,
            drug=TDXD,
        )

    return _grade1_dose(s, target, _Grade1(required, took, latest, facts, guidance, uncertainties))


@dataclass(slots=True)
class _Grade1:
    """What `ild-grade1-tdxd` established before judging the dose of a resolved episode."""

    required: float
    took: str
    latest: LastDose | None
    facts: list[Fact]
    guidance: list[str]
    uncertainties: list[str]


def _grade1_dose(s: Situation, target: Target, g: _Grade1) -> Conclusion:
    required, took, latest = g.required, g.took, g.latest
    facts, guidance, uncertainties = g.facts, g.guidance, g.uncertainties
    order = target.order
    tolerance = s.settings.dose_tolerance_fraction
    ordered = tdxd_mg_per_kg(s, order.dose) if order and order.dose else None
    too_high = (
        ordered is not None and ordered > required and not matches(ordered, required, tolerance)
    )
    # On patient-view: the dose still given is above the required level.
    running_too_high = (
        order is None
        and latest is not None
        and latest.level is not None
        and latest.level > required
        and not matches(latest.level, required, tolerance)
    )
    risk = risk_factors(s)
    facts += risk.facts
    guidance += risk.guidance
    proposals: tuple[Proposal, ...] = ()
    supersedes = silences(ILD_GRADE1_RESOLVED)
    indicator = Indicator.WARNING
    if order is not None and too_high:
        proposals = (
            Proposal(
                f"Change the T-DXd dose to {required:g} mg/kg",
                (ChangeDose(order.reference, labels.tdxd_dosage(required)),),
                recommended=True,
            ),
        )
        supersedes = silences(ILD_GRADE1_DOSE_CHANGE, ILD_GRADE1_RESOLVED)
        summary = f"Grade 1 ILD on T-DXd {took}: dose must be {required:g} mg/kg, not {ordered:g}"
    elif order is not None and order.dose is None:
        summary = f"Grade 1 ILD on T-DXd {took}: the dose must be {required:g} mg/kg at most"
        uncertainties.append("The draft order states no dose to compare.")
    elif running_too_high and latest is not None:
        facts.append(latest.fact)
        summary = f"Grade 1 ILD on T-DXd {took}: next dose {required:g} mg/kg, not {latest.level:g}"
    else:
        # Uneventful: resolved in time (or already reduced) and the dose is right.
        indicator = Indicator.INFO
        summary = (
            f"Grade 1 ILD on T-DXd {took}: dose {required:g} mg/kg is right; never re-escalate"
        )
    return Conclusion(
        indicator=indicator,
        summary=summary,
        facts=tuple(facts),
        guidance=tuple(guidance),
        proposals=proposals,
        selection=SelectionBehavior.AT_MOST_ONE if proposals else None,
        uncertainties=tuple(uncertainties),
        supersedes=supersedes,
        order_refs=target.refs,
        drug=TDXD,
    )


@rule(
    "ild-grade2-tdxd",
    title="Grade 2 or higher ILD on T-DXd",
    hooks=ALL_HOOKS,
    indicators=(Indicator.CRITICAL,),
    confidence=(L,),
    citation=labels.ENHERTU_LABEL_ILD,
    override_set=OverrideSet.SAFETY,
)
def ild_grade2_tdxd(s: Situation) -> Iterator[Conclusion]:
    episodes = tuple(
        ep
        for ep in s.ild_episodes
        if _since_tdxd(s, ep) and ((ep.grade or 0) >= 2 or (ep.grade is None and ep.hypoxia))
    )
    if not episodes:
        return
    uncertainties = list(_timing_notes(s, episodes))
    if any(ep.grade is None for ep in episodes):
        uncertainties.append(
            "The grade is not recorded; oxygen need or hypoxia is read as grade 2 or higher."
        )
    worst = max((ep.grade or 2) for ep in episodes)
    open_episode = any(s.unresolved(ep) for ep in episodes)
    guidance: tuple[str, ...] = (
        "Grade 2 or higher ILD/pneumonitis on T-DXd: discontinue T-DXd permanently. [L]",
    )
    if open_episode:
        guidance += ("Start systemic corticosteroids promptly. [L]",)
    else:
        guidance += ("The episode has resolved; the discontinuation stays permanent. [L]",)
    for target in s.targets(TDXD):
        proposals: tuple[Proposal, ...] = ()
        if target.order is not None:
            proposals = (
                Proposal(
                    "Discontinue T-DXd: remove this draft order",
                    (CancelOrder(target.order.reference, TDXD),),
                    recommended=True,
                ),
            )
        yield Conclusion(
            indicator=Indicator.CRITICAL,
            summary=f"Grade {worst}+ ILD/pneumonitis on T-DXd: permanently discontinue T-DXd",
            facts=(*(s.ild_fact(ep) for ep in episodes), *target.facts),
            guidance=guidance,
            proposals=proposals,
            selection=SelectionBehavior.AT_MOST_ONE if proposals else None,
            uncertainties=tuple(uncertainties),
            order_refs=target.refs,
            drug=TDXD,
            halts_drug=True,
            permanent=True,
        )


@rule(
    "ild-history-before-tdxd",
    title="ILD/pneumonitis history before T-DXd",
    hooks=ORDERS,
    indicators=(Indicator.WARNING, Indicator.CRITICAL),
    confidence=(L, S, E),
    citation=labels.ENHERTU_LABEL_ILD,
    override_set=OverrideSet.SAFETY,
)
def ild_history_before_tdxd(s: Situation) -> Iterator[Conclusion]:
    if s.active(TDXD):
        return
    episodes = tuple(ep for ep in s.ild_episodes if s.began_on_tdxd(ep) is False)
    if not episodes:
        return
    days = s.settings.recent_ild_episode_days
    unresolved = tuple(ep for ep in episodes if s.unresolved(ep))
    recent = tuple(ep for ep in episodes if s.within(ep.onset, days))
    critical = bool(unresolved or recent)
    recent_ct = s.chest_ct_within(s.settings.recent_chest_ct_days)
    causes = ", ".join(
        sorted({short_name(ep.cause_drug) if ep.cause_drug else ep.cause.value for ep in episodes})
    )
    risk = risk_factors(s)
    episode_facts = tuple(s.ild_fact(ep) for ep in episodes)
    other_facts = tuple(f for f in risk.facts if f not in episode_facts)
    guidance = [
        "Patients with a history of ILD/pneumonitis needing steroids were excluded from "
        "the T-DXd trials; ILD on T-DXd can be fatal (boxed warning). [L]",
    ]
    if critical:
        guidance.append(
            "An unresolved or recent episode: do not start T-DXd until it has resolved and "
            f"been reassessed (the label has no row for this; {days}-day window). [E]"
        )
    else:
        guidance.append(
            "If T-DXd is chosen: baseline chest CT, close follow-up, and ask the patient to "
            "report cough, breathlessness or fever at once. [S]"
        )
    guidance += risk.guidance
    guidance.append(
        "Both HER2 TKIs (zongertinib, sevabertinib) also carry an ILD/pneumonitis warning. [L]"
    )
    for order in s.orders_of(TDXD):
        proposals: list[Proposal] = []
        alternatives: list[Drug] = []
        if critical:
            proposals.append(
                Proposal(
                    "Do not start T-DXd now: remove this draft order",
                    (CancelOrder(order.reference, TDXD),),
                    recommended=True,
                )
            )
        else:
            if recent_ct is None:
                proposals.append(
                    Proposal(
                        "Keep T-DXd and order a baseline chest CT", (Request(Service.CHEST_CT),)
                    )
                )
            alternatives = [d for d in tki_eligible(s) if not s.received(d)]
            proposals += [replace_order(s, order, d) for d in alternatives]
        if critical and unresolved:
            summary = f"T-DXd ordered with unresolved pneumonitis/ILD ({causes}): do not start"
        elif critical:
            onset = max(ep.onset for ep in recent if ep.onset is not None)
            summary = (
                f"T-DXd ordered {(s.today - onset).days} days after pneumonitis/ILD onset "
                f"({causes}): do not start until resolved"
            )
        else:
            summary = (
                f"T-DXd ordered with prior pneumonitis/ILD ({causes}): "
                "high ILD risk, consider alternatives"
            )
        yield Conclusion(
            indicator=Indicator.CRITICAL if critical else Indicator.WARNING,
            summary=summary,
            facts=(
                *episode_facts,
                *other_facts,
                recent_ct or s.no_chest_ct_fact(s.settings.recent_chest_ct_days),
                s.order_fact(order),
            ),
            guidance=(
                *guidance,
                *(
                    ("Alternatives for this patient are suggested below (oral TKIs). [S]",)
                    if alternatives
                    else ()
                ),
            ),
            proposals=tuple(proposals),
            selection=SelectionBehavior.AT_MOST_ONE if proposals else None,
            uncertainties=(
                (f"The {days}-day window for a recent episode is a setting.",) if critical else ()
            ),
            order_refs=(order.reference,),
            drug=TDXD,
            halts_drug=critical,
            supersedes=silences(ILD_HISTORY_ONE_CARD),
        )


@rule(
    "ild-on-tki",
    title="ILD/pneumonitis with a HER2 TKI",
    hooks=ALL_HOOKS,
    indicators=(Indicator.WARNING, Indicator.CRITICAL),
    confidence=(L, Q),
    citation=labels.HER2_TKI_LABELS,
    override_set=OverrideSet.SAFETY,
)
def ild_on_tki(s: Situation) -> Iterator[Conclusion]:
    if not s.ild_episodes:
        return
    for target in s.targets(*TKIS):
        yield _ild_on_tki(s, target)


_TKI_ILD_GUIDANCE: dict[Drug, tuple[str, ...]] = {
    Drug.ZONGERTINIB: (
        "ILD/pneumonitis is a labeled warning of zongertinib: interrupt, reduce the dose, or "
        "permanently discontinue based on severity. [L]",
        "The grade-by-grade actions are in the label's dosage-modification table, not read "
        "here (unverified). [?]",
    ),
    Drug.SEVABERTINIB: (
        "ILD/pneumonitis is a labeled warning of sevabertinib; manage per its label. [L]",
        "Sevabertinib's dose modifications for ILD were not read here (unverified). [?]",
    ),
}


def _ild_on_tki(s: Situation, target: Target) -> Conclusion:
    drug = target.drug
    name = short_name(drug)
    citation = labels.HERNEXEOS_LABEL if drug is Drug.ZONGERTINIB else labels.HYRNUO_LABEL
    episodes = s.ild_episodes
    attributed = tuple(ep for ep in episodes if attributed_to(ep, drug))
    severe = tuple(
        ep for ep in episodes if _severe(ep) and (attributed_to(ep, drug) or s.unresolved(ep))
    )
    suspected = tuple(ep for ep in episodes if s.unresolved(ep) and ep.grade is None)
    reordered = attributed if target.order is not None else ()
    grade1 = tuple(ep for ep in episodes if ep.grade == 1)
    guidance = (
        *_TKI_ILD_GUIDANCE[drug],
        "Withhold the drug when ILD/pneumonitis is suspected. [L]",
        "Patients with prior ILD/pneumonitis were excluded from the trials. [L]",
    )
    critical = severe or suspected or reordered
    if critical:
        used = tuple(dict.fromkeys((*severe, *suspected, *reordered)))
        if severe:
            summary = f"Grade 2+ ILD/pneumonitis with {name}: withhold {name}"
        elif reordered:
            summary = f"{sentence_case(name)} re-ordered after ILD/pneumonitis attributed to it"
        else:
            summary = f"Unresolved ILD/pneumonitis with {name}: withhold {name} until evaluated"
        proposals: tuple[Proposal, ...] = ()
        if target.order is not None:
            proposals = (
                Proposal(
                    f"Withhold {name}: remove this draft order",
                    (CancelOrder(target.order.reference, drug),),
                    recommended=True,
                ),
            )
        return Conclusion(
            indicator=Indicator.CRITICAL,
            summary=summary,
            facts=(*(s.ild_fact(ep) for ep in used), *target.facts),
            guidance=guidance,
            proposals=proposals,
            selection=SelectionBehavior.AT_MOST_ONE if proposals else None,
            uncertainties=_tki_uncertainties(attributed),
            order_refs=target.refs,
            drug=drug,
            halts_drug=True,
            citation=citation,
        )
    if grade1:
        summary = f"Grade 1 ILD/pneumonitis and {name}: manage per the label's table (unverified)"
    else:
        summary = f"Prior ILD/pneumonitis and {name}: a labeled warning; monitor closely"
    return Conclusion(
        indicator=Indicator.WARNING,
        summary=summary,
        facts=(*(s.ild_fact(ep) for ep in episodes), *target.facts),
        guidance=guidance,
        uncertainties=_tki_uncertainties(attributed),
        order_refs=target.refs,
        drug=drug,
        citation=citation,
    )


def _tki_uncertainties(attributed: tuple[IldEpisode, ...]) -> tuple[str, ...]:
    notes = ["[?] The label's grade-by-grade ILD table was not read; no dose is suggested."]
    if not attributed:
        notes.append(
            "No episode is recorded as caused by this drug; attribution comes from the "
            "episode's stated cause."
        )
    return tuple(notes)


@rule(
    "ild-baseline-imaging",
    title="Baseline chest imaging before T-DXd",
    hooks=ORDERS,
    indicators=(Indicator.INFO,),
    confidence=(S,),
    citation=labels.ENHERTU_LABEL_ILD,
    override_set=OverrideSet.SAFETY,
)
def ild_baseline_imaging(s: Situation) -> Iterator[Conclusion]:
    if not _baseline_ct_missing(s):
        return
    days = s.settings.recent_chest_ct_days
    for order in s.orders_of(TDXD):
        yield Conclusion(
            indicator=Indicator.INFO,
            summary=f"First T-DXd order, {_missing_ct(s)}: baseline CT to screen for ILD",
            facts=(s.no_chest_ct_fact(days), s.order_fact(order)),
            guidance=_BASELINE_CT_GUIDANCE,
            proposals=(_BASELINE_CT,),
            selection=SelectionBehavior.ANY,
            uncertainties=(f"The {days}-day window is a setting.",),
            order_refs=(order.reference,),
            drug=TDXD,
        )


_BASELINE_CT = Proposal("Order a baseline chest CT", (Request(Service.CHEST_CT),))
_BASELINE_CT_GUIDANCE = (
    "A baseline chest CT before the first T-DXd dose helps recognise ILD early and tell new "
    "changes from old ones. [S]",
)


def _baseline_ct_missing(s: Situation) -> bool:
    days = s.settings.recent_chest_ct_days
    return not s.received(TDXD) and s.chest_ct_within(days) is None


def _missing_ct(s: Situation) -> str:
    days = s.settings.recent_chest_ct_days
    return "chest imaging unreadable" if s.imaging_unreadable else f"no chest CT in {days} days"


@rule(
    "ild-vigilance",
    title="Higher ILD risk on T-DXd",
    hooks=ALL_HOOKS,
    indicators=(Indicator.INFO,),
    confidence=(L, S),
    citation=labels.ENHERTU_LABEL_ILD,
    override_set=OverrideSet.SAFETY,
)
def ild_vigilance(s: Situation) -> Iterator[Conclusion]:
    risk = risk_factors(s)
    if not risk.names:
        return
    days = s.settings.recent_chest_ct_days
    for target in s.targets(TDXD):
        baseline = target.order is not None and _baseline_ct_missing(s)
        factors = ", ".join(risk.names)
        if baseline:
            summary = f"First T-DXd order with {factors}: higher ILD risk; baseline chest CT"
        else:
            summary = f"T-DXd with {factors}: higher ILD risk, monitor closely"
        yield Conclusion(
            indicator=Indicator.INFO,
            summary=summary,
            facts=(
                *risk.facts,
                *((s.no_chest_ct_fact(days),) if baseline else ()),
                *target.facts,
            ),
            guidance=(
                *risk.guidance,
                "Monitor closely and ask the patient to report cough, breathlessness or fever "
                "at once. [L]",
                *(_BASELINE_CT_GUIDANCE if baseline else ()),
            ),
            proposals=(_BASELINE_CT,) if baseline else (),
            selection=SelectionBehavior.ANY if baseline else None,
            uncertainties=(f"The {days}-day chest CT window is a setting.",) if baseline else (),
            order_refs=target.refs,
            drug=TDXD,
            supersedes=silences(VIGILANCE_BASELINE_CT) if baseline else (),
        )

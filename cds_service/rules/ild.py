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
"""

from __future__ import annotations

from collections.abc import Iterator
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
from cds_service.rules.dosing import last_dose, tdxd_level_below, tdxd_mg_per_kg
from cds_service.rules.labels import short_name
from cds_service.rules.options import replace_order, tki_eligible
from cds_service.rules.situation import TDXD, Situation, Target, comorbidity_fact, matches
from cds_service.wire import Indicator, SelectionBehavior
from fhir_mappings.model import ComorbidityKind, Drug, IldEpisode

L, S = Confidence.LABEL, Confidence.SEEDS
TKIS = (Drug.ZONGERTINIB, Drug.SEVABERTINIB)


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
    indicators=(Indicator.WARNING, Indicator.CRITICAL),
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

    order = target.order
    ordered = tdxd_mg_per_kg(s, order.dose) if order and order.dose else None
    too_high = (
        ordered is not None
        and ordered > required
        and not matches(ordered, required, s.settings.dose_tolerance_fraction)
    )
    proposals = ()
    supersedes: tuple[str, ...] = ()
    if order is not None and too_high:
        proposals = (
            Proposal(
                f"Change the T-DXd dose to {required:g} mg/kg",
                (ChangeDose(order.reference, labels.tdxd_dosage(required)),),
                recommended=True,
            ),
        )
        supersedes = ("dose-tdxd",)
        summary = f"Grade 1 ILD on T-DXd {took}: dose must be {required:g} mg/kg, not {ordered:g}"
    elif order is not None and order.dose is None:
        summary = f"Grade 1 ILD on T-DXd {took}: the dose must be {required:g} mg/kg at most"
        uncertainties.append("The draft order states no dose to compare.")
    else:
        summary = (
            f"Grade 1 ILD on T-DXd {took}: continue at {required:g} mg/kg at most, never higher"
        )
    return Conclusion(
        indicator=Indicator.WARNING,
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
            guidance=(
                "Grade 2 or higher ILD/pneumonitis on T-DXd: discontinue T-DXd permanently. [L]",
                "Start systemic corticosteroids promptly. [L]",
            ),
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
    indicators=(Indicator.WARNING,),
    confidence=(L, S),
    citation=labels.ENHERTU_LABEL_ILD,
    override_set=OverrideSet.SAFETY,
)
def ild_history_before_tdxd(s: Situation) -> Iterator[Conclusion]:
    if s.active(TDXD):
        return
    episodes = tuple(ep for ep in s.ild_episodes if s.began_on_tdxd(ep) is False)
    if not episodes:
        return
    recent_ct = s.chest_ct_within(s.settings.recent_chest_ct_days)
    open_episode = any(s.unresolved(ep) for ep in episodes)
    causes = sorted(
        {short_name(ep.cause_drug) if ep.cause_drug else ep.cause.value for ep in episodes}
    )
    for order in s.orders_of(TDXD):
        proposals = []
        if recent_ct is None:
            proposals.append(
                Proposal("Keep T-DXd and order a baseline chest CT", (Request(Service.CHEST_CT),))
            )
        alternatives = [d for d in tki_eligible(s) if not s.received(d)]
        proposals += [replace_order(s, order, d) for d in alternatives]
        state = "unresolved" if open_episode else "prior"
        yield Conclusion(
            indicator=Indicator.WARNING,
            summary=(
                f"T-DXd ordered with {state} pneumonitis/ILD ({', '.join(causes)}): "
                "high ILD risk, consider alternatives"
            ),
            facts=(
                *(s.ild_fact(ep) for ep in episodes),
                recent_ct or s.no_chest_ct_fact(s.settings.recent_chest_ct_days),
                s.order_fact(order),
            ),
            guidance=(
                "Patients with a history of ILD/pneumonitis needing steroids were excluded from "
                "the T-DXd trials; ILD on T-DXd can be fatal (boxed warning). [L]",
                "If T-DXd is chosen: baseline chest CT, close follow-up, and ask the patient to "
                "report cough, breathlessness or fever at once. [S]",
            )
            + (
                ("Alternatives for this patient are suggested below (oral TKIs). [S]",)
                if alternatives
                else ()
            ),
            proposals=tuple(proposals),
            selection=SelectionBehavior.AT_MOST_ONE if proposals else None,
            order_refs=(order.reference,),
            drug=TDXD,
            supersedes=(
                "ild-baseline-imaging",
                "ild-vigilance",
                "seq-after-platinum",
                "seq-after-zongertinib",
            ),
        )


@rule(
    "ild-on-tki",
    title="ILD/pneumonitis with a HER2 TKI",
    hooks=ALL_HOOKS,
    indicators=(Indicator.WARNING, Indicator.CRITICAL),
    confidence=(L,),
    citation=labels.HER2_TKI_LABELS,
    override_set=OverrideSet.SAFETY,
)
def ild_on_tki(s: Situation) -> Iterator[Conclusion]:
    if not s.ild_episodes:
        return
    open_episodes = tuple(ep for ep in s.ild_episodes if s.unresolved(ep))
    for target in s.targets(*TKIS):
        name = short_name(target.drug)
        citation = (
            labels.HERNEXEOS_LABEL if target.drug is Drug.ZONGERTINIB else labels.HYRNUO_LABEL
        )
        guidance = (
            f"ILD/pneumonitis is a labeled warning of {name} (Warnings and Precautions). [L]",
            "Withhold the drug when ILD/pneumonitis is suspected; manage per the label. [L]",
            "Patients with prior ILD/pneumonitis were excluded from the trials. [L]",
        )
        if open_episodes:
            proposals: tuple[Proposal, ...] = ()
            if target.order is not None:
                proposals = (
                    Proposal(
                        f"Withhold {name}: remove this draft order",
                        (CancelOrder(target.order.reference, target.drug),),
                        recommended=True,
                    ),
                )
            yield Conclusion(
                indicator=Indicator.CRITICAL,
                summary=f"Unresolved ILD/pneumonitis with {name}: withhold {name} until evaluated",
                facts=(*(s.ild_fact(ep) for ep in open_episodes), *target.facts),
                guidance=guidance,
                proposals=proposals,
                selection=SelectionBehavior.AT_MOST_ONE if proposals else None,
                order_refs=target.refs,
                drug=target.drug,
                halts_drug=True,
                citation=citation,
            )
        else:
            yield Conclusion(
                indicator=Indicator.WARNING,
                summary=f"Prior ILD/pneumonitis and {name}: a labeled warning; monitor closely",
                facts=(*(s.ild_fact(ep) for ep in s.ild_episodes), *target.facts),
                guidance=guidance,
                order_refs=target.refs,
                drug=target.drug,
                citation=citation,
            )


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
    days = s.settings.recent_chest_ct_days
    if s.received(TDXD) or s.chest_ct_within(days) is not None:
        return
    missing = "chest imaging unreadable" if s.imaging_unreadable else f"no chest CT in {days} days"
    for order in s.orders_of(TDXD):
        yield Conclusion(
            indicator=Indicator.INFO,
            summary=f"First T-DXd order, {missing}: baseline CT to screen for ILD",
            facts=(s.no_chest_ct_fact(days), s.order_fact(order)),
            guidance=(
                "A baseline chest CT before the first T-DXd dose helps recognise ILD early and "
                "tell new changes from old ones. [S]",
            ),
            proposals=(Proposal("Order a baseline chest CT", (Request(Service.CHEST_CT),)),),
            selection=SelectionBehavior.ANY,
            uncertainties=(f"The {days}-day window is a setting.",),
            order_refs=(order.reference,),
            drug=TDXD,
        )


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
    facts: list[Fact] = []
    factors: list[str] = []
    for kind, label in (
        (ComorbidityKind.COPD, "COPD"),
        (ComorbidityKind.THORACIC_RADIATION, "prior thoracic radiation"),
        (ComorbidityKind.RENAL_IMPAIRMENT, "moderate or worse renal impairment"),
    ):
        found = [c for c in s.patient.comorbidities if c.kind is kind]
        if found:
            factors.append(label)
            facts += [comorbidity_fact(c) for c in found]
    ici = s.ici_pneumonitis()
    if ici:
        factors.append("prior ICI pneumonitis")
        facts += [s.ild_fact(ep) for ep in ici]
    if not factors:
        return
    for target in s.targets(TDXD):
        yield Conclusion(
            indicator=Indicator.INFO,
            summary=f"T-DXd with {', '.join(factors)}: higher ILD risk, monitor closely",
            facts=(*facts, *target.facts),
            guidance=(
                "These factors raise the risk of ILD on T-DXd; the label reports more grade 1-2 "
                "ILD with moderate renal impairment. [L][S]",
                "Monitor closely and ask the patient to report cough, breathlessness or fever "
                "at once. [L]",
            ),
            order_refs=target.refs,
            drug=TDXD,
        )

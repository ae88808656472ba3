"""6.4 Other safety and dose checks.

| rule | hooks | when |
|---|---|---|
| dose-tdxd | OS, SG | T-DXd dose not 5.4 / 4.4 / 3.2 mg/kg, or above the last reduced level |
| dose-zongertinib | OS, SG | zongertinib dose not the weight band's, or weight unknown |
| cardiac-lvef | PV, OS, SG | T-DXd / T-DM1 / zongertinib; low, missing or falling LVEF, or HF |
| hepatic-tki | PV, OS, SG | zongertinib / sevabertinib with raised or missing liver tests [?] |
| neutropenia-tdxd | OS, SG | T-DXd ordered with ANC below 1.0 x 10^9/L |

(`gi-sevabertinib` is replaced by `start-sevabertinib`, ``cds_service.rules.sevabertinib``.)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from cds_service.rules import labels
from cds_service.rules.base import (
    ALL_HOOKS,
    ORDERS,
    CancelOrder,
    ChangeDose,
    Citation,
    Conclusion,
    Confidence,
    Fact,
    OverrideSet,
    Proposal,
    Request,
    Service,
    rule,
)
from cds_service.rules.dosing import last_dose, snap, tdxd_mg_per_kg
from cds_service.rules.labels import sentence_case, short_name
from cds_service.rules.options import above_uln, liver_elevations
from cds_service.rules.situation import (
    TDM1,
    TDXD,
    Situation,
    Target,
    comorbidity_fact,
    format_dose,
    matches,
)
from cds_service.wire import Indicator, SelectionBehavior
from fhir_mappings.model import ComorbidityKind, DoseUnit, Drug, Measurement, MeasurementKind

L, S, Q = Confidence.LABEL, Confidence.SEEDS, Confidence.UNVERIFIED
ZONG, SEVA = Drug.ZONGERTINIB, Drug.SEVABERTINIB
AT_MOST_ONE = SelectionBehavior.AT_MOST_ONE


@rule(
    "dose-tdxd",
    title="T-DXd dose level",
    hooks=ORDERS,
    indicators=(Indicator.WARNING, Indicator.INFO),
    confidence=(L,),
    citation=labels.ENHERTU_LABEL_DL02,
    override_set=OverrideSet.SAFETY,
)
def dose_tdxd(s: Situation) -> Iterator[Conclusion]:
    tolerance = s.settings.dose_tolerance_fraction
    levels = labels.TDXD_NSCLC_DOSE_LEVELS_MG_PER_KG
    guidance = (
        "The NSCLC dose of T-DXd is 5.4 mg/kg every 3 weeks; reductions are 4.4 then "
        "3.2 mg/kg, then discontinue. 6.4 mg/kg is the gastric cancer dose. [L]",
        "Once reduced, the dose is never re-escalated. [L]",
    )
    for order in s.orders_of(TDXD):
        if order.dose is None:
            continue
        ordered = tdxd_mg_per_kg(s, order.dose)
        facts = [s.order_fact(order)]
        if ordered is None:
            yield Conclusion(
                indicator=Indicator.INFO,
                summary=(
                    "T-DXd dose in mg and no body weight recorded: "
                    "the mg/kg level cannot be checked"
                ),
                facts=(*facts, Fact("No body weight recorded")),
                guidance=guidance,
                uncertainties=("Without a body weight the mg dose cannot be converted to mg/kg.",),
                order_refs=(order.reference,),
                drug=TDXD,
            )
            continue
        if order.dose.unit is DoseUnit.MG and s.weight is not None:
            facts.append(s.measurement_fact(s.weight, "Body weight"))
        last = last_dose(s, TDXD)
        right = labels.TDXD_NSCLC_START_MG_PER_KG
        if last is not None and last.level is not None and last.level < right:
            right = last.level
            facts.append(last.fact)
        level = snap(ordered, levels, tolerance)
        if level is not None and (level <= right or matches(ordered, right, tolerance)):
            continue
        if level is None:
            summary = f"T-DXd {ordered:.3g} mg/kg is not an NSCLC dose level: use {right:g} mg/kg"
        else:
            summary = (
                f"T-DXd {ordered:.3g} mg/kg is above the last level ({right:g} mg/kg): "
                "no re-escalation"
            )
        yield Conclusion(
            indicator=Indicator.WARNING,
            summary=summary,
            facts=tuple(facts),
            guidance=guidance,
            proposals=(
                Proposal(
                    f"Change the T-DXd dose to {right:g} mg/kg",
                    (ChangeDose(order.reference, labels.tdxd_dosage(right)),),
                    recommended=True,
                ),
            ),
            selection=AT_MOST_ONE,
            uncertainties=(
                f"Doses within {tolerance:.0%} of a level count as that level (a setting).",
            ),
            order_refs=(order.reference,),
            drug=TDXD,
        )


@rule(
    "dose-zongertinib",
    title="Zongertinib dose by body weight",
    hooks=ORDERS,
    indicators=(Indicator.WARNING, Indicator.INFO),
    confidence=(L,),
    citation=labels.HERNEXEOS_LABEL_DOSE,
    override_set=OverrideSet.SAFETY,
)
def dose_zongertinib(s: Situation) -> Iterator[Conclusion]:
    tolerance = s.settings.dose_tolerance_fraction
    guidance = (
        f"Zongertinib dose by body weight: {labels.ZONGERTINIB_WEIGHT_RULE}. [L]",
        "Reductions: 180 -> 120 -> 60 mg, or 120 -> 60 mg; discontinue if 60 mg is not "
        "tolerated. [L]",
    )
    weight = s.weight
    for order in s.orders_of(ZONG):
        if weight is None:
            yield Conclusion(
                indicator=Indicator.INFO,
                summary="Zongertinib dose depends on body weight, and no weight is recorded",
                facts=(s.order_fact(order), Fact("No body weight recorded")),
                guidance=guidance,
                uncertainties=(
                    "Record the weight to check the dose; no dose change is suggested.",
                ),
                order_refs=(order.reference,),
                drug=ZONG,
            )
            continue
        if order.dose is None:
            continue
        band = labels.zongertinib_dose_for_weight(weight.value)
        facts = [s.order_fact(order), s.measurement_fact(weight, "Body weight")]
        ordered = order.dose.value if order.dose.unit is DoseUnit.MG else None
        right = band
        last = last_dose(s, ZONG)
        if last is not None and last.level is not None and last.level < band:
            right = last.level  # continuing after a documented reduction
            facts.append(last.fact)
        if ordered is not None and matches(ordered, right, tolerance):
            continue
        if (
            ordered is not None
            and ordered < right
            and snap(ordered, labels.ZONGERTINIB_DOSE_LEVELS_MG, tolerance)
            and s.received(ZONG)
        ):
            continue  # a further labeled reduction of an ongoing course
        liver = liver_elevations(s)
        notes = []
        if liver:
            notes.append(
                "Liver tests are raised (see the liver card): review them before setting the "
                "dose; the label's dose modifications may apply."
            )
            facts += [s.measurement_fact(m, label) for m, label in liver]
        shown = format_dose(order.dose)
        yield Conclusion(
            indicator=Indicator.WARNING,
            summary=(
                f"Zongertinib {shown} does not match {weight.value:g} kg: "
                f"label dose is {right:g} mg daily"
            ),
            facts=tuple(facts),
            guidance=guidance,
            proposals=(
                Proposal(
                    f"Change the zongertinib dose to {right:g} mg once daily",
                    (ChangeDose(order.reference, labels.zongertinib_dosage(right)),),
                    recommended=not liver,
                ),
            ),
            selection=AT_MOST_ONE,
            uncertainties=tuple(notes),
            order_refs=(order.reference,),
            drug=ZONG,
        )


CARDIAC_DRUGS = (TDXD, TDM1, ZONG)
_CARDIAC_CITATION: dict[Drug, Citation] = {
    TDXD: labels.ENHERTU_LABEL_LVEF,
    TDM1: labels.KADCYLA_LABEL,
    ZONG: labels.HERNEXEOS_LABEL,
}
_CARDIAC_GUIDANCE: dict[Drug, tuple[str, ...]] = {
    TDXD: (
        "Assess LVEF before starting T-DXd and at regular intervals. [L]",
        "Label table: LVEF below 40 %, or an absolute drop of more than 20 points from "
        "baseline, means interrupt T-DXd and repeat the LVEF within 3 weeks; if confirmed, "
        "discontinue. Symptomatic heart failure: discontinue. [L]",
    ),
    TDM1: (
        "Cardiac toxicity is part of T-DM1's boxed warning; assess LVEF before starting and "
        "during treatment. [L]",
    ),
    ZONG: (
        "Left ventricular dysfunction is a labeled warning of zongertinib; it was not studied "
        "with LVEF below 50 % or clinically significant cardiac disease. Assess LVEF before "
        "starting and during treatment. [L]",
    ),
}


@rule(
    "cardiac-lvef",
    title="LVEF before and during HER2 therapy",
    hooks=ALL_HOOKS,
    indicators=(Indicator.WARNING, Indicator.CRITICAL),
    confidence=(L,),
    citation=labels.ENHERTU_LABEL_LVEF,
    override_set=OverrideSet.SAFETY,
)
def cardiac_lvef(s: Situation) -> Iterator[Conclusion]:
    for target in s.targets(*CARDIAC_DRUGS):
        conclusion = _cardiac(s, target)
        if conclusion is not None:
            yield conclusion


def _cardiac(s: Situation, target: Target) -> Conclusion | None:
    cfg = s.settings
    drug = target.drug
    name = short_name(drug)
    lvefs = s.measurements(MeasurementKind.LVEF)
    latest = s.latest(MeasurementKind.LVEF)
    start = s.first_start(drug)
    baseline_ok = _measured_since(s, (MeasurementKind.LVEF,), cfg.recent_lvef_days, start)
    heart = [
        c
        for c in s.patient.comorbidities
        if c.kind in (ComorbidityKind.HEART_FAILURE, ComorbidityKind.LV_DYSFUNCTION)
    ]
    facts = list(target.facts)
    problems: list[str] = []
    critical = False
    if latest is not None:
        facts.append(s.measurement_fact(latest, "LVEF"))
    # On T-DXd: the label's LVEF table.
    if drug is TDXD and s.received(TDXD) and latest is not None and start is not None:
        before = [m for m in lvefs if m.date is not None and m.date <= start]
        baseline = max(before, key=lambda m: m.date or date.min) if before else None
        on_treatment = latest.date is not None and latest.date > start
        drop = baseline.value - latest.value if baseline is not None and on_treatment else None
        if on_treatment and latest.value < cfg.lvef_interrupt_percent:
            critical = True
            problems.append(
                f"LVEF {latest.value:g} % on T-DXd (below {cfg.lvef_interrupt_percent:g} %)"
            )
        if drop is not None and drop > cfg.lvef_drop_points and baseline is not None:
            critical = True
            facts.append(s.measurement_fact(baseline, "Baseline LVEF"))
            problems.append(f"LVEF fell {drop:g} points from baseline {baseline.value:g} %")
    if not critical:
        if latest is not None and latest.value < cfg.lvef_min_percent:
            problems.append(f"LVEF {latest.value:g} % (below {cfg.lvef_min_percent:g} %)")
        if heart:
            problems.append("heart failure / LV dysfunction on record")
            facts += [comorbidity_fact(c) for c in heart]
        if not baseline_ok:
            missing = (
                f"no LVEF from {cfg.recent_lvef_days} days before the first dose onward"
                if start
                else f"no LVEF in the last {cfg.recent_lvef_days} days"
            )
            problems.append(missing)
            facts.append(Fact(sentence_case(missing)))
    if not problems:
        return None
    proposals: list[Proposal] = []
    if critical and target.order is not None:
        proposals.append(
            Proposal(
                "Interrupt T-DXd: remove this draft order",
                (CancelOrder(target.order.reference, TDXD),),
                recommended=True,
            )
        )
    proposals.append(Proposal("Order an echocardiogram (LVEF)", (Request(Service.ECHOCARDIOGRAM),)))
    first = problems[0]
    if critical:
        summary = f"{sentence_case(first)}: interrupt T-DXd and repeat LVEF"
    else:
        state = "ordered" if target.order else "active"
        summary = f"{sentence_case(name)} {state}: {first}; assess LVEF"
    return Conclusion(
        indicator=Indicator.CRITICAL if critical else Indicator.WARNING,
        summary=summary,
        facts=tuple(facts),
        guidance=_CARDIAC_GUIDANCE[drug],
        proposals=tuple(proposals),
        selection=SelectionBehavior.ANY,
        uncertainties=(
            f"Thresholds ({cfg.lvef_min_percent:g} %, {cfg.lvef_interrupt_percent:g} %, "
            f"{cfg.lvef_drop_points:g} points) and the {cfg.recent_lvef_days}-day window are "
            "settings.",
        ),
        order_refs=target.refs,
        drug=drug,
        halts_drug=critical,
        citation=_CARDIAC_CITATION[drug],
    )


LIVER = (MeasurementKind.ALT, MeasurementKind.AST, MeasurementKind.BILIRUBIN)
_HEPATIC_CITATION: dict[Drug, Citation] = {
    ZONG: labels.HERNEXEOS_LABEL_LIVER,
    SEVA: labels.HYRNUO_LABEL_LIVER,
}
_HEPATIC_GUIDANCE: dict[Drug, tuple[str, ...]] = {
    ZONG: (
        "Hepatotoxicity is a labeled warning of zongertinib. [L]",
        "Check ALT, AST and total bilirubin at baseline, every 2 weeks for the first 12 weeks, "
        "then monthly. [L]",
        "Grade 3-4 ALT/AST without raised bilirubin: interrupt until grade 1 or less (or "
        "baseline). Other rows of the label's table: follow the label. [L][?]",
    ),
    SEVA: (
        "Hepatotoxicity is a labeled warning of sevabertinib; monitor liver tests and modify "
        "the dose per the label. [L]",
        "The label's per-toxicity thresholds are not verified here: follow the label. [?]",
    ),
}
_HYS_GUIDANCE = (
    "Raised transaminases with raised bilirubin suggest drug-induced liver injury: "
    "discontinue. [L][?]",
)


def _measured_since(
    s: Situation, kinds: tuple[MeasurementKind, ...], days: int, start: date | None
) -> bool:
    """Any result of ``kinds`` from ``days`` before the first dose (today when the drug is
    new) up to today."""
    window_start = (start or s.today) - timedelta(days=days)
    return any(
        m.date is not None and window_start <= m.date <= s.today
        for kind in kinds
        for m in s.measurements(kind)
    )


_LIVER_LABEL = {
    MeasurementKind.ALT: "ALT",
    MeasurementKind.AST: "AST",
    MeasurementKind.BILIRUBIN: "Total bilirubin",
}


@rule(
    "hepatic-tki",
    title="Liver tests with a HER2 TKI",
    hooks=ALL_HOOKS,
    indicators=(Indicator.WARNING, Indicator.CRITICAL),
    confidence=(L, Q),
    citation=labels.HERNEXEOS_LABEL_LIVER,
    override_set=OverrideSet.SAFETY,
)
def hepatic_tki(s: Situation) -> Iterator[Conclusion]:
    for target in s.targets(ZONG, SEVA):
        conclusion = _hepatic(s, target)
        if conclusion is not None:
            yield conclusion


def _hepatic(s: Situation, target: Target) -> Conclusion | None:
    cfg = s.settings
    drug = target.drug
    name = short_name(drug)
    latest: dict[MeasurementKind, Measurement] = {}
    for kind in LIVER:
        m = s.latest(kind)
        if m is not None:
            latest[kind] = m
    start = s.first_start(drug)
    recent = _measured_since(s, LIVER, cfg.recent_liver_panel_days, start)
    facts = list(target.facts) + [s.measurement_fact(m, _LIVER_LABEL[k]) for k, m in latest.items()]
    transaminase = [
        latest[k]
        for k in (MeasurementKind.ALT, MeasurementKind.AST)
        if k in latest and above_uln(latest[k], cfg.transaminase_uln_multiple)
    ]
    bili = latest.get(MeasurementKind.BILIRUBIN)
    bili_high = bili is not None and bool(above_uln(bili, cfg.bilirubin_uln_multiple))
    hys = (
        bool(transaminase)
        and bili is not None
        and bool(above_uln(bili, cfg.hys_bilirubin_uln_multiple))
    )
    ungraded = [_LIVER_LABEL[k] for k, m in latest.items() if above_uln(m, 1.0) is None]
    problems: list[str] = []
    if hys:
        problems.append(
            f"ALT/AST above {cfg.transaminase_uln_multiple:g} x ULN with bilirubin above "
            f"{cfg.hys_bilirubin_uln_multiple:g} x ULN"
        )
    else:
        if transaminase:
            problems.append(f"ALT/AST above {cfg.transaminase_uln_multiple:g} x ULN")
        if bili_high:
            problems.append(f"bilirubin above {cfg.bilirubin_uln_multiple:g} x ULN")
    if not recent:
        when = " before the first dose" if start else ""
        problems.append(f"no liver panel in the last {cfg.recent_liver_panel_days} days{when}")
        facts.append(
            Fact(f"No ALT, AST or bilirubin in the {cfg.recent_liver_panel_days} days{when}")
        )
    uncertainties = [
        "[?] The thresholds (ALT/AST above "
        f"{cfg.transaminase_uln_multiple:g} x ULN, bilirubin above {cfg.bilirubin_uln_multiple:g} "
        f"x ULN, and above {cfg.hys_bilirubin_uln_multiple:g} x ULN for the critical row) are "
        "settings; the critical row is not verified against the label's table. This rule can be "
        "switched off.",
    ]
    if ungraded:
        uncertainties.append(
            f"{', '.join(ungraded)} without a reference range: could not be compared with the ULN."
        )
        if not problems:
            problems.append(f"{', '.join(ungraded)} could not be graded (no reference range)")
    if not problems:
        return None
    if hys:
        summary = (
            f"{sentence_case(name)}: ALT/AST and bilirubin raised together: discontinue {name}"
        )
    else:
        summary = f"{sentence_case(name)} with {problems[0]}: hepatotoxicity is a labeled warning"
    return Conclusion(
        indicator=Indicator.CRITICAL if hys else Indicator.WARNING,
        summary=summary,
        facts=tuple(facts),
        guidance=_HEPATIC_GUIDANCE[drug] + (_HYS_GUIDANCE if hys else ()),
        proposals=_hepatic_proposals(target, discontinue=hys),
        selection=SelectionBehavior.ANY,
        uncertainties=tuple(uncertainties),
        order_refs=target.refs,
        drug=drug,
        halts_drug=hys,
        permanent=hys,
        citation=_HEPATIC_CITATION[drug],
    )


def _hepatic_proposals(target: Target, *, discontinue: bool) -> tuple[Proposal, ...]:
    proposals: list[Proposal] = []
    if discontinue and target.order is not None:
        proposals.append(
            Proposal(
                f"Discontinue {short_name(target.drug)}: remove this draft order",
                (CancelOrder(target.order.reference, target.drug),),
                recommended=True,
            )
        )
    proposals.append(Proposal("Order a hepatic function panel", (Request(Service.LIVER_PANEL),)))
    return tuple(proposals)


@rule(
    "neutropenia-tdxd",
    title="Neutrophils before T-DXd",
    hooks=ORDERS,
    indicators=(Indicator.WARNING,),
    confidence=(L,),
    citation=labels.ENHERTU_LABEL_NEUTROPENIA,
    override_set=OverrideSet.SAFETY,
)
def neutropenia_tdxd(s: Situation) -> Iterator[Conclusion]:
    anc = s.latest(MeasurementKind.ANC)
    threshold = s.settings.anc_min_10e9_per_l
    if anc is None or anc.value >= threshold:
        return
    for order in s.orders_of(TDXD):
        yield Conclusion(
            indicator=Indicator.WARNING,
            summary=f"ANC {anc.value:g} x10^9/L: hold T-DXd until ANC is {threshold:.1f} or more",
            facts=(s.measurement_fact(anc, "ANC"), s.order_fact(order)),
            guidance=(
                "Check blood counts before every T-DXd dose. [L]",
                f"ANC below {threshold:g} x 10^9/L: interrupt T-DXd until it recovers to "
                f"{threshold:g} or more (grade 2 or better). [L]",
            ),
            proposals=(
                Proposal(
                    "Hold T-DXd: remove this draft order",
                    (CancelOrder(order.reference, TDXD),),
                    recommended=True,
                ),
            ),
            selection=AT_MOST_ONE,
            order_refs=(order.reference,),
            drug=TDXD,
        )

"""9.2 New checks: T-DM1 (ado-trastuzumab emtansine, Kadcyla) by its own label rows.

| rule | hooks | when |
|---|---|---|
| dose-tdm1 | OS, SG | above 3.6 mg/kg (critical), not 3.6 / 3.0 / 2.4 mg/kg, or above the last |
| tdm1-safety | PV, OS, SG | T-DM1 ordered or active: ILD, transaminases, bilirubin, LVEF,
  platelets, liver tests before each dose |

The service suggests T-DM1 after zongertinib, so it checks T-DM1 with Kadcyla's rows, never
with T-DXd's (whose LVEF table differs). Rows read in the Kadcyla US prescribing information
(section 2 Tables 1-5, the boxed warning) [L]; which mirror was read is in the README.

Decisions:

- **Dose**: a dose above 3.6 mg/kg is critical with no upward tolerance (the label: do not
  administer at doses greater than 3.6 mg/kg). A dose matches a level when it is at most 5 %
  (``dose_tolerance_fraction``) below it. A dose between levels is changed to the highest
  level not above it (never upward); a dose below 2.4 mg/kg gets no dose change (the label's
  next step is to discontinue).
- **Toxicity since the last dose**: transaminases, bilirubin and platelets are judged on the
  worst value since the last T-DM1 dose and on the latest one. "Do not administer" rows hold
  the draft order (critical at order hooks, warning on patient-view); "permanently
  discontinue" rows are critical. After a grade 3 transaminase or bilirubin rise, or grade 4
  thrombocytopenia, that has recovered, the next dose is one level below the last [L].
- **LVEF** rows apply on treatment (a value after the first dose), against the baseline (the
  latest LVEF on or before the first dose); with no baseline only the absolute rows apply and
  the card says so. Before the first dose ``cardiac-lvef`` speaks. Symptomatic heart
  failure (discontinue) is a heart-failure diagnosis with onset after T-DM1's start or an
  NYHA class II-IV statement dated after it (clinical-rules.md 9.3).
- **ILD/pneumonitis** diagnosed on T-DM1 (onset on or after its first dose, or attributed to
  it): permanently discontinue [L]. An episode before T-DM1 is named as a caution only (the
  label has no row for it).
- Labs "before each dose" (``recent_predose_labs_days``): with no liver panel in that window
  before a T-DM1 order, the card asks for one [L]; platelets likewise (the label's
  thrombocytopenia warning: counts before each dose).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

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
from cds_service.rules.dosing import snap
from cds_service.rules.interplay import TDM1_OWN_LVEF_ROWS, silences
from cds_service.rules.situation import (
    TDM1,
    Situation,
    Target,
    comorbidity_fact,
    dose_in_mg_per_kg,
    format_dose,
    nyha_fact,
)
from cds_service.wire import MAX_SUMMARY_CHARS, Indicator, SelectionBehavior
from fhir_mappings.model import (
    ComorbidityKind,
    Dose,
    DoseRecord,
    DoseUnit,
    DraftOrder,
    Measurement,
    MeasurementKind,
)

L = Confidence.LABEL
_KADCYLA_DOSE = (
    "T-DM1 is 3.6 mg/kg IV every 3 weeks; do not administer at doses greater than 3.6 mg/kg. "
    "Reductions: 3 mg/kg, then 2.4 mg/kg; if a further reduction is needed, discontinue. "
    "The dose is not re-escalated after a reduction. [L]"
)
_NOT_NSCLC = "T-DM1 is not approved in NSCLC (use after zongertinib is guideline-based). [S]"


# --- dose-tdm1 --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LastTdm1:
    record: DoseRecord
    mg_per_kg: float | None
    level: float | None


def _last_tdm1(s: Situation) -> _LastTdm1 | None:
    records = [r for e in s.exposures(TDM1) for r in e.doses]
    if not records:
        return None
    record = max(records, key=lambda r: r.date or date.min)
    value = _mg_per_kg(s, record.dose.value, record.dose.unit)
    level = _level_of(s, value) if value is not None else None
    return _LastTdm1(record, value, level)


def _mg_per_kg(s: Situation, value: float, unit: DoseUnit) -> float | None:
    weight = s.weight
    return dose_in_mg_per_kg(Dose(value, unit), weight.value if weight else None)


def _level_of(s: Situation, mg_per_kg: float) -> float | None:
    """The T-DM1 level a dose matches: at most ``tolerance`` below it, never above."""
    tolerance = s.settings.dose_tolerance_fraction
    for level in labels.TDM1_DOSE_LEVELS_MG_PER_KG:
        if level * (1 - tolerance) <= mg_per_kg <= level + 1e-9:
            return level
    return None


def level_below(level: float) -> float | None:
    levels = labels.TDM1_DOSE_LEVELS_MG_PER_KG
    index = levels.index(level)
    return levels[index + 1] if index + 1 < len(levels) else None


@rule(
    "dose-tdm1",
    title="T-DM1 dose level",
    hooks=ORDERS,
    indicators=(Indicator.CRITICAL, Indicator.WARNING, Indicator.INFO),
    confidence=(L,),
    citation=labels.KADCYLA_LABEL_DOSE,
    override_set=OverrideSet.SAFETY,
)
def dose_tdm1(s: Situation) -> Iterator[Conclusion]:
    for order in s.orders_of(TDM1):
        conclusion = _dose(s, order)
        if conclusion is not None:
            yield conclusion


def _dose(s: Situation, order: DraftOrder) -> Conclusion | None:
    if order.dose is None:
        return None
    ordered = _mg_per_kg(s, order.dose.value, order.dose.unit)
    facts: list[Fact] = [s.order_fact(order)]
    if ordered is None:
        return Conclusion(
            indicator=Indicator.INFO,
            summary=(
                "T-DM1 dose in mg and no body weight recorded: the mg/kg level cannot be checked"
            ),
            facts=(*facts, Fact("No body weight recorded")),
            guidance=(_KADCYLA_DOSE,),
            uncertainties=("Without a body weight the mg dose cannot be converted to mg/kg.",),
            order_refs=(order.reference,),
            drug=TDM1,
        )
    if order.dose.unit is DoseUnit.MG and s.weight is not None:
        facts.append(s.measurement_fact(s.weight, "Body weight"))
    allowed = labels.TDM1_START_MG_PER_KG
    last = _last_tdm1(s)
    if last is not None and last.level is not None and last.level < allowed:
        allowed = last.level
        facts.append(
            Fact(
                f"Last recorded T-DM1 dose {format_dose(last.record.dose)} ({last.level:g} mg/kg)",
                last.record.date,
                (last.record.source,),
            )
        )
    level = _level_of(s, ordered)
    over_max = ordered > labels.TDM1_START_MG_PER_KG + 1e-9
    if not over_max and level is not None and level <= allowed:
        return None
    target = _target_level(ordered, allowed)
    if over_max:
        indicator = Indicator.CRITICAL
        summary = f"T-DM1 {ordered:.3g} mg/kg: do not administer at doses greater than 3.6 mg/kg"
    elif level is None:
        indicator = Indicator.WARNING
        summary = f"T-DM1 {ordered:.3g} mg/kg is not a label dose level (3.6, 3 or 2.4 mg/kg)"
    else:
        indicator = Indicator.WARNING
        summary = (
            f"T-DM1 {ordered:.3g} mg/kg is above the last level ({allowed:g} mg/kg): "
            "no re-escalation"
        )
    proposals: tuple[Proposal, ...] = ()
    notes = [f"A dose up to {s.settings.dose_tolerance_fraction:.0%} below a level counts as it."]
    if target is not None:
        proposals = (
            Proposal(
                f"Change the T-DM1 dose to {target:g} mg/kg",
                (ChangeDose(order.reference, labels.tdm1_dosage(target)),),
                recommended=True,
            ),
        )
    else:
        notes.append(
            "The dose is below the lowest level (2.4 mg/kg): the label's next step is to "
            "discontinue; no dose change is offered."
        )
    return Conclusion(
        indicator=indicator,
        summary=summary,
        facts=tuple(facts),
        guidance=(_KADCYLA_DOSE, _NOT_NSCLC),
        proposals=proposals,
        selection=SelectionBehavior.AT_MOST_ONE if proposals else None,
        uncertainties=tuple(notes),
        order_refs=(order.reference,),
        drug=TDM1,
    )


def _target_level(ordered: float, allowed: float) -> float | None:
    """The highest label level not above the ordered dose nor the allowed level."""
    ceiling = min(ordered, allowed)
    fitting = [lv for lv in labels.TDM1_DOSE_LEVELS_MG_PER_KG if lv <= ceiling + 1e-9]
    if ordered > allowed:
        return allowed
    return max(fitting) if fitting else None


# --- tdm1-safety ---------------------------------------------------------------------------


@dataclass
class _Rows:
    """The label rows that apply to one T-DM1 target, collected then rendered as one card."""

    discontinue: list[str] = field(default_factory=list)
    hold: list[str] = field(default_factory=list)
    warn: list[str] = field(default_factory=list)
    reduce: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    lvef: bool = False
    """An LVEF row applies (the card then covers what `cardiac-lvef` would say)."""
    facts: list[Fact] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def need(self, service: Service) -> None:
        if service not in self.services:
            self.services.append(service)


def _ratio(m: Measurement) -> float | None:
    return m.value / m.upper_limit if m.upper_limit else None


def _since_last_dose(s: Situation, kind: MeasurementKind, since: date | None) -> list[Measurement]:
    """Values dated after the last dose (or, with no dose yet, within the pre-dose window)."""
    start = since or (s.today - timedelta(days=s.settings.recent_predose_labs_days))
    return [
        m
        for m in s.measurements(kind)
        if m.date is not None
        and (m.date > start if since else m.date >= start)
        and m.date <= s.today
    ]


@rule(
    "tdm1-safety",
    title="T-DM1 safety rows of its own label",
    hooks=ALL_HOOKS,
    indicators=(Indicator.WARNING, Indicator.CRITICAL, Indicator.INFO),
    confidence=(L,),
    citation=labels.KADCYLA_LABEL_MODIFICATIONS,
    override_set=OverrideSet.SAFETY,
)
def tdm1_safety(s: Situation) -> Iterator[Conclusion]:
    for target in s.targets(TDM1):
        conclusion = _safety(s, target)
        if conclusion is not None:
            yield conclusion


def _safety(s: Situation, target: Target) -> Conclusion | None:
    rows = _Rows(facts=list(target.facts))
    last_dose = s.last_dose_date(TDM1)
    _ild_rows(s, rows)
    _liver_rows(s, rows, last_dose)
    _lvef_rows(s, rows)
    _platelet_rows(s, rows, last_dose)
    if target.order is not None:
        _predose_rows(s, rows)
    if not (rows.discontinue or rows.hold or rows.warn or rows.reduce or rows.info):
        return None
    return _card(s, target, rows)


def _ild_rows(s: Situation, rows: _Rows) -> None:
    start = s.first_start(TDM1)
    for ep in s.ild_episodes:
        on_tdm1 = ep.cause_drug is TDM1 or (
            start is not None and ep.onset is not None and ep.onset >= start
        )
        if on_tdm1:
            rows.discontinue.append("ILD/pneumonitis diagnosed on T-DM1: permanently discontinue")
            rows.facts.append(s.ild_fact(ep))
        elif ep.active and ep.resolved is None:
            rows.warn.append(
                "unresolved ILD/pneumonitis on record: T-DM1 is permanently discontinued when "
                "ILD or pneumonitis is diagnosed on it"
            )
            rows.facts.append(s.ild_fact(ep))


def _liver_rows(s: Situation, rows: _Rows, last_dose: date | None) -> None:
    transaminases = [
        m
        for kind in (MeasurementKind.ALT, MeasurementKind.AST)
        for m in _since_last_dose(s, kind, last_dose)
        if _ratio(m) is not None
    ]
    bilirubin = [
        m
        for m in _since_last_dose(s, MeasurementKind.BILIRUBIN, last_dose)
        if _ratio(m) is not None
    ]
    latest_t = [
        m
        for kind in (MeasurementKind.ALT, MeasurementKind.AST)
        if (m := s.latest(kind)) is not None and _ratio(m) is not None and m in transaminases
    ]
    latest_b = s.latest(MeasurementKind.BILIRUBIN)
    if latest_b is not None and latest_b not in bilirubin:
        latest_b = None
    worst_t = max(transaminases, key=lambda m: _ratio(m) or 0.0, default=None)
    worst_b = max(bilirubin, key=lambda m: _ratio(m) or 0.0, default=None)
    now_t = max((_ratio(m) or 0.0 for m in latest_t), default=None)
    now_b = _ratio(latest_b) if latest_b is not None else None
    hys = (
        now_t is not None
        and now_b is not None
        and now_t > labels.TDM1_HYS_TRANSAMINASE_ULN
        and now_b > labels.TDM1_HYS_BILIRUBIN_ULN
    )
    if hys:
        rows.discontinue.append(
            "transaminases above 3 x ULN with total bilirubin above 2 x ULN: permanently "
            "discontinue"
        )
    _transaminase_rows(rows, worst_t, now_t)
    _bilirubin_rows(rows, worst_b, now_b)
    _ungraded_liver_tests(s, rows, last_dose)
    shown = [*latest_t, *(x for x in (worst_t, worst_b, latest_b) if x is not None)]
    for m in dict.fromkeys(shown):
        rows.facts.append(s.measurement_fact(m, _LIVER_NAME[m.kind]))
    if rows.discontinue or rows.hold or rows.reduce:
        rows.need(Service.LIVER_PANEL)


def _transaminase_rows(rows: _Rows, worst: Measurement | None, now: float | None) -> None:
    """Kadcyla's AST/ALT rows: grade 4 since the last dose discontinues; grade 3 holds while
    it lasts, else the next dose is one level down."""
    if worst is not None and (_ratio(worst) or 0.0) > labels.TDM1_TRANSAMINASE_GRADE4_ULN:
        rows.discontinue.append("AST/ALT above 20 x ULN (grade 4): permanently discontinue")
    elif worst is not None and (_ratio(worst) or 0.0) > labels.TDM1_TRANSAMINASE_GRADE3_ULN:
        if now is not None and now > labels.TDM1_TRANSAMINASE_GRADE3_ULN:
            rows.hold.append(
                "AST/ALT above 5 x ULN (grade 3): do not administer until grade 2 or less, "
                "then one dose level down"
            )
        else:
            rows.reduce.append("AST/ALT rose above 5 x ULN (grade 3) since the last dose")


def _bilirubin_rows(rows: _Rows, worst: Measurement | None, now: float | None) -> None:
    """Kadcyla's bilirubin rows: grade 4 discontinues; grade 2-3 holds while it lasts (grade
    3: then one level down); a grade 3 since the last dose, resolved, reduces."""
    if worst is not None and (_ratio(worst) or 0.0) > labels.TDM1_BILIRUBIN_GRADE4_ULN:
        rows.discontinue.append("total bilirubin above 10 x ULN (grade 4): permanently discontinue")
    elif worst is not None and (_ratio(worst) or 0.0) > labels.TDM1_BILIRUBIN_GRADE2_ULN:
        grade3 = (_ratio(worst) or 0.0) > labels.TDM1_BILIRUBIN_GRADE3_ULN
        if now is not None and now > labels.TDM1_BILIRUBIN_GRADE2_ULN:
            then = "then one dose level down" if grade3 else "then the same dose"
            rows.hold.append(
                f"total bilirubin above 1.5 x ULN (grade {3 if grade3 else 2}): do not "
                f"administer until grade 1 or less, {then}"
            )
        elif grade3:
            rows.reduce.append("total bilirubin rose above 3 x ULN (grade 3) since the last dose")


def _ungraded_liver_tests(s: Situation, rows: _Rows, last_dose: date | None) -> None:
    """Liver tests since the last dose without a reference range: said, not graded."""
    ungraded = sorted(
        {
            _LIVER_NAME[m.kind]
            for kind in (MeasurementKind.ALT, MeasurementKind.AST, MeasurementKind.BILIRUBIN)
            for m in _since_last_dose(s, kind, last_dose)
            if _ratio(m) is None
        }
    )
    if ungraded:
        rows.info.append(
            f"{', '.join(ungraded)} without a reference range: not graded against the label's table"
        )


_LIVER_NAME = {
    MeasurementKind.ALT: "ALT",
    MeasurementKind.AST: "AST",
    MeasurementKind.BILIRUBIN: "Total bilirubin",
}


def _lvef_rows(s: Situation, rows: _Rows) -> None:
    start = s.first_start(TDM1)
    if start is None:
        return
    heart_failure = [
        c
        for c in s.patient.comorbidities
        if c.kind is ComorbidityKind.HEART_FAILURE and c.onset is not None and c.onset > start
    ]
    nyha_after = s.symptomatic_nyha_after(start)  # NYHA II-IV after the start (9.3)
    if heart_failure or nyha_after:
        rows.lvef = True
        rows.discontinue.append("symptomatic heart failure on T-DM1: discontinue")
        rows.facts += [comorbidity_fact(c) for c in heart_failure]
        rows.facts += [nyha_fact(n) for n in nyha_after]
    latest = s.latest(MeasurementKind.LVEF)
    if latest is None or latest.date is None or latest.date <= start:
        return
    before = [m for m in s.measurements(MeasurementKind.LVEF) if m.date and m.date <= start]
    baseline = max(before, key=lambda m: m.date or date.min) if before else None
    rows.facts.append(s.measurement_fact(latest, "LVEF"))
    drop = baseline.value - latest.value if baseline is not None else None
    if baseline is not None:
        rows.facts.append(s.measurement_fact(baseline, "Baseline LVEF"))
    value = latest.value
    rows.lvef = value <= labels.TDM1_LVEF_BAND_HIGH_PERCENT or bool(heart_failure or nyha_after)
    if value < labels.TDM1_LVEF_LOW_PERCENT:
        rows.hold.append(
            f"LVEF {value:g} % (below 40 %): do not administer; repeat LVEF within 3 weeks and "
            "discontinue if confirmed"
        )
    elif value <= labels.TDM1_LVEF_BAND_HIGH_PERCENT:
        if drop is None:
            rows.warn.append(
                f"LVEF {value:g} % (40 % to 45 %), no baseline before T-DM1: repeat LVEF within "
                "3 weeks; with a decrease of 10 points or more from baseline the label says do "
                "not administer"
            )
        elif drop >= labels.TDM1_LVEF_DROP_POINTS:
            rows.hold.append(
                f"LVEF {value:g} % with a decrease of {drop:g} points from baseline: do not "
                "administer; repeat within 3 weeks; if not recovered to within 10 points of "
                "baseline, discontinue"
            )
        else:
            rows.warn.append(
                f"LVEF {value:g} % with a decrease of {drop:g} points: continue, and repeat LVEF "
                "within 3 weeks"
            )
    if rows.lvef:
        rows.need(Service.ECHOCARDIOGRAM)


def _platelet_rows(s: Situation, rows: _Rows, last_dose: date | None) -> None:
    counts = _since_last_dose(s, MeasurementKind.PLATELETS, last_dose)
    if not counts:
        return
    worst = min(counts, key=lambda m: m.value)
    latest = max(counts, key=lambda m: m.date or date.min)
    recent = s.within(latest.date, s.settings.recent_predose_labs_days)
    rows.facts.append(s.measurement_fact(latest, "Platelets"))
    if worst is not latest:
        rows.facts.append(s.measurement_fact(worst, "Lowest platelets since the last dose"))
    if worst.value >= labels.PLATELETS_GRADE3_BELOW:
        return
    grade4 = worst.value < labels.PLATELETS_GRADE4_BELOW
    if not recent or latest.value < labels.PLATELETS_RESUME_AT:
        rows.hold.append(
            f"platelets fell to {worst.value:g} x 10^9/L (grade {4 if grade4 else 3}): do not "
            "administer until 75 x 10^9/L or more"
            + (", then one dose level down" if grade4 else ", then the same dose")
        )
        rows.need(Service.CBC)
    elif grade4:
        rows.reduce.append("platelets fell below 25 x 10^9/L (grade 4) since the last dose")


def _predose_rows(s: Situation, rows: _Rows) -> None:
    days = s.settings.recent_predose_labs_days
    transaminase = any(
        s.within(m.date, days)
        for kind in (MeasurementKind.ALT, MeasurementKind.AST)
        for m in s.measurements(kind)
    )
    bilirubin = any(s.within(m.date, days) for m in s.measurements(MeasurementKind.BILIRUBIN))
    liver = transaminase and bilirubin
    platelets = any(s.within(m.date, days) for m in s.measurements(MeasurementKind.PLATELETS))
    if not liver:
        rows.info.append(
            f"no transaminases and bilirubin in the last {days} days: check them before each dose"
        )
        rows.facts.append(Fact(f"No complete liver panel (ALT/AST and bilirubin) in {days} days"))
        rows.need(Service.LIVER_PANEL)
    if not platelets:
        rows.info.append(f"no platelet count in the last {days} days: check it before each dose")
        rows.facts.append(Fact(f"No platelet count in the last {days} days"))
        rows.need(Service.CBC)


def _card(s: Situation, target: Target, rows: _Rows) -> Conclusion:
    at_order = target.order is not None
    last = _last_tdm1(s)
    if rows.reduce and at_order and last is not None and last.level is not None:
        lower = level_below(last.level)
        if lower is None:
            rows.discontinue.append(
                "a reduction is due and the last dose was already 2.4 mg/kg: the label says "
                "discontinue"
            )
        else:
            rows.warn.append(
                f"{'; '.join(rows.reduce)}: the next dose is one level down, {lower:g} mg/kg"
            )
    elif rows.reduce:
        rows.warn.append(f"{'; '.join(rows.reduce)}: the next dose is one level down")
    critical = bool(rows.discontinue) or (bool(rows.hold) and at_order)
    reasons = rows.discontinue + rows.hold + rows.warn + rows.info
    proposals: list[Proposal] = []
    if target.order is not None and (rows.discontinue or rows.hold):
        verb = "Discontinue" if rows.discontinue else "Hold"
        proposals.append(
            Proposal(
                f"{verb} T-DM1: remove this draft order",
                (CancelOrder(target.order.reference, TDM1),),
                recommended=True,
            )
        )
    if rows.reduce and target.order is not None and last is not None and last.level is not None:
        lower = level_below(last.level)
        if lower is not None and not (rows.discontinue or rows.hold):
            proposals.append(
                Proposal(
                    f"Change the T-DM1 dose to {lower:g} mg/kg",
                    (ChangeDose(target.order.reference, labels.tdm1_dosage(lower)),),
                    recommended=True,
                )
            )
    names = {
        Service.LIVER_PANEL: "Order a hepatic function panel",
        Service.ECHOCARDIOGRAM: "Order an echocardiogram (LVEF)",
        Service.CBC: "Order a complete blood count",
    }
    proposals += [Proposal(names[svc], (Request(svc),)) for svc in rows.services]
    first = reasons[0]
    summary = f"T-DM1: {first}"
    if len(reasons) > 1:
        summary = f"T-DM1: {first} (and {len(reasons) - 1} more)"
    if len(summary) >= MAX_SUMMARY_CHARS:
        summary = summary[: MAX_SUMMARY_CHARS - 4].rstrip() + "..."
    indicator = (
        Indicator.CRITICAL
        if critical
        else Indicator.WARNING
        if rows.hold or rows.warn or rows.discontinue
        else Indicator.INFO
    )
    return Conclusion(
        indicator=indicator,
        summary=summary,
        facts=tuple(dict.fromkeys(rows.facts)),
        guidance=(
            *(f"{r[:1].upper()}{r[1:]}. [L]" for r in reasons),
            "Kadcyla's own rows apply; the T-DXd (Enhertu) LVEF table does not. [L]",
            _NOT_NSCLC,
        ),
        proposals=tuple(proposals),
        selection=SelectionBehavior.ANY if proposals else None,
        uncertainties=(
            f"Liver tests and platelets count as taken before this dose when at most "
            f"{s.settings.recent_predose_labs_days} days old (a setting).",
            *rows.notes,
        ),
        order_refs=target.refs,
        drug=TDM1,
        halts_drug=critical,
        permanent=bool(rows.discontinue),
        supersedes=(
            silences(TDM1_OWN_LVEF_ROWS) if rows.lvef and not _heart_failure_history(s) else ()
        ),
    )


def _heart_failure_history(s: Situation) -> bool:
    """Heart failure or LV dysfunction on record, or NYHA II-IV after T-DM1's start: a reason
    `cardiac-lvef` names, kept."""
    return any(
        c.kind in (ComorbidityKind.HEART_FAILURE, ComorbidityKind.LV_DYSFUNCTION)
        for c in s.patient.comorbidities
    ) or bool(s.symptomatic_nyha_after(s.first_start(TDM1)))


__all__ = ["dose_tdm1", "level_below", "snap", "tdm1_safety"]

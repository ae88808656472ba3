"""6.4 Other safety and dose checks.

| rule | hooks | when |
|---|---|---|
| dose-tdxd | OS, SG | T-DXd dose not 5.4 / 4.4 / 3.2 mg/kg, or above the last reduced level |
| dose-zongertinib | OS, SG | zongertinib dose not the weight band's, or weight unknown |
| cardiac-lvef | PV, OS, SG | T-DXd / T-DM1 / zongertinib; low, missing or falling LVEF, or HF |
| hepatic-tki | PV, OS, SG | zongertinib / sevabertinib with raised or missing liver tests [?] |
| neutropenia-tdxd | OS, SG | T-DXd ordered with ANC below 1.0 x 10^9/L |

(`gi-sevabertinib` is replaced by `start-sevabertinib`, ``cds_service.rules.sevabertinib``.)

Version 2 (clinical-rules.md 9.1, 9.3), with the choices made where the rows are open:

- `cardiac-lvef`: the baseline is the latest LVEF dated on or before the first dose (an
  echocardiogram on the day of the first infusion counts as pre-dose). Heart failure counts
  as symptomatic when its onset is after the drug's start, and so does an NYHA class II-IV
  statement dated after it (``Situation.symptomatic_nyha_after``; 9.3); an undated
  diagnosis is "on record" (warning); an undated, class I or earlier NYHA statement is
  not symptomatic heart failure after the start. The due date of the
  repeat LVEF is 3 weeks after the reading, or today when that has passed. Zongertinib's
  rows are unverified [?]; below 40 % it is read as critical too (the safer reading).
  T-DM1 gets only the baseline checks here, never the T-DXd table (`tdm1-safety`).
- `neutropenia-tdxd`: the record gives dates, not times, so "38 C or more for over an
  hour" is read as two readings of 38 C or more on one day; a single 38.0-38.3 C reading
  with a low ANC is named as possible febrile neutropenia, not counted. A fever pairs with
  an ANC below 1.0 dated within one day of it. The one-level-down suggestion after grade 4
  or febrile neutropenia is never marked recommended (its label cell is unverified [?]).
- `dose-zongertinib`: a first order at a label reduction level is info with an optional
  (not recommended) update to the weight-band dose; a dose above the band at the course's
  starting weight after the weight crossed 90 kg is a warning whose update is not
  recommended (re-dosing mid-course is not stated [?]).
- `hepatic-tki`: "monthly" is read as at most 31 days; sevabertinib's monitoring schedule
  was not read, so the `recent_liver_panel_days` window stands for it [?].
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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
from cds_service.rules.dosing import (
    LastDose,
    last_dose,
    snap,
    tdxd_level_below,
    tdxd_mg_per_kg,
)
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
    nyha_fact,
    nyha_text,
)
from cds_service.wire import Indicator, SelectionBehavior
from fhir_mappings.model import (
    Comorbidity,
    ComorbidityKind,
    DoseUnit,
    DraftOrder,
    Drug,
    Measurement,
    MeasurementKind,
    NyhaStatement,
)

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
    confidence=(L, Q),
    citation=labels.HERNEXEOS_LABEL_DOSE,
    override_set=OverrideSet.SAFETY,
)
def dose_zongertinib(s: Situation) -> Iterator[Conclusion]:
    for order in s.orders_of(ZONG):
        conclusion = _zongertinib_dose(s, order)
        if conclusion is not None:
            yield conclusion


_ZONG_DOSE_GUIDANCE = (
    f"Zongertinib dose by body weight: {labels.ZONGERTINIB_WEIGHT_RULE}. [L]",
    "Reductions: 180 -> 120 -> 60 mg, or 120 -> 60 mg; discontinue if 60 mg is not tolerated. [L]",
)


def _weight_on_or_before(s: Situation, when: date) -> Measurement | None:
    before = [m for m in s.measurements(MeasurementKind.WEIGHT) if m.date and m.date <= when]
    return max(before, key=lambda m: m.date or date.min) if before else None


def _zongertinib_dose(s: Situation, order: DraftOrder) -> Conclusion | None:
    """A running course is judged on the weight at its start (the latest weight on or before
    the first dose); the label's reduction levels are valid doses; a dose above the weight
    band, above the last level after a reduction, or off the ladder is flagged."""
    tolerance = s.settings.dose_tolerance_fraction
    start = s.first_start(ZONG) if s.received(ZONG) else None
    at_start = _weight_on_or_before(s, start) if start else None
    now = s.weight
    weight = at_start or now
    notes: list[str] = []
    if start is not None and at_start is None and now is not None:
        notes.append(
            "No weight is recorded on or before the course's first dose: the latest weight is used."
        )
    if weight is None:
        return Conclusion(
            indicator=Indicator.INFO,
            summary="Zongertinib dose depends on body weight, and no weight is recorded",
            facts=(s.order_fact(order), Fact("No body weight recorded")),
            guidance=_ZONG_DOSE_GUIDANCE,
            uncertainties=("Record the weight to check the dose; no dose change is suggested.",),
            order_refs=(order.reference,),
            drug=ZONG,
        )
    if order.dose is None:
        return None
    band = labels.zongertinib_dose_for_weight(weight.value)
    label = "Body weight at the course's start" if at_start else "Body weight"
    facts = [s.order_fact(order), s.measurement_fact(weight, label)]
    crossed = (
        at_start is not None
        and now is not None
        and now is not at_start
        and labels.zongertinib_dose_for_weight(now.value) != band
    )
    if crossed and now is not None:
        facts.append(s.measurement_fact(now, "Latest body weight"))
        notes.append(
            f"[?] The weight has crossed {labels.ZONGERTINIB_WEIGHT_BAND_KG:g} kg since the "
            "course began; the label gives the dose by body weight but does not say whether "
            "to re-dose mid-course (unverified)."
        )
    ceiling = band
    last = last_dose(s, ZONG)
    if start is not None and last is not None and last.level is not None and last.level < band:
        ceiling = last.level  # continuing after a documented reduction: no re-escalation
        facts.append(last.fact)
    ordered = order.dose.value if order.dose.unit is DoseUnit.MG else None
    level = (
        snap(ordered, labels.ZONGERTINIB_DOSE_LEVELS_MG, tolerance) if ordered is not None else None
    )
    shown = format_dose(order.dose)
    if level is not None and level <= ceiling:
        if level < band and start is None:
            # A first order at a reduction level: valid, said for information.
            return Conclusion(
                indicator=Indicator.INFO,
                summary=(
                    f"Zongertinib {shown} at {weight.value:g} kg: the label's starting dose is "
                    f"{band:g} mg; {shown} is a reduction level"
                ),
                facts=tuple(facts),
                guidance=_ZONG_DOSE_GUIDANCE,
                proposals=(_zong_update(order, band, recommended=False),),
                selection=AT_MOST_ONE,
                uncertainties=tuple(notes),
                order_refs=(order.reference,),
                drug=ZONG,
            )
        if crossed and now is not None:
            return Conclusion(
                indicator=Indicator.INFO,
                summary=(
                    f"Weight now {now.value:g} kg ({weight.value:g} kg at the start of "
                    f"zongertinib): the dose band differs; re-dosing is not stated"
                ),
                facts=tuple(facts),
                guidance=_ZONG_DOSE_GUIDANCE,
                uncertainties=tuple(notes),
                order_refs=(order.reference,),
                drug=ZONG,
            )
        return None
    if level is None:
        why = "is not a label dose level"
    elif level > band:
        why = f"is above the dose for {weight.value:g} kg"
    else:
        why = f"is above the last level ({ceiling:g} mg): no re-escalation"
    liver = liver_elevations(s)
    if liver:
        notes.append(
            "Liver tests are raised (see the liver card): review them before setting the "
            "dose; the label's dose modifications may apply."
        )
        facts += [s.measurement_fact(m, name) for m, name in liver]
    return Conclusion(
        indicator=Indicator.WARNING,
        summary=f"Zongertinib {shown} {why}: label dose is {ceiling:g} mg daily",
        facts=tuple(facts),
        guidance=_ZONG_DOSE_GUIDANCE,
        proposals=(_zong_update(order, ceiling, recommended=not liver and not crossed),),
        selection=AT_MOST_ONE,
        uncertainties=tuple(notes),
        order_refs=(order.reference,),
        drug=ZONG,
    )


def _zong_update(order: DraftOrder, mg: float, *, recommended: bool) -> Proposal:
    return Proposal(
        f"Change the zongertinib dose to {mg:g} mg once daily",
        (ChangeDose(order.reference, labels.zongertinib_dosage(mg)),),
        recommended=recommended,
    )


CARDIAC_DRUGS = (TDXD, TDM1, ZONG)
_CARDIAC_CITATION: dict[Drug, Citation] = {
    TDXD: labels.ENHERTU_LABEL_LVEF,
    TDM1: labels.KADCYLA_LABEL,
    ZONG: labels.HERNEXEOS_LABEL,
}
_TDXD_TABLE = (
    "T-DXd LVEF table: LVEF above 45 % with a drop of 10-20 points: continue; LVEF 40 % to "
    "45 % with a drop under 10 points: continue and repeat LVEF within 3 weeks; LVEF 40 % to "
    "45 % with a drop of 10-20 points: interrupt and repeat within 3 weeks; if LVEF has not "
    "recovered to within 10 % from baseline, permanently discontinue; if it recovers, resume "
    "at the same dose. LVEF below 40 % or a drop of more than 20 points: interrupt, repeat "
    "within 3 weeks, and permanently discontinue if confirmed. Symptomatic congestive heart "
    "failure: permanently discontinue. [L]"
)
_CARDIAC_GUIDANCE: dict[Drug, tuple[str, ...]] = {
    TDXD: ("Assess LVEF before starting T-DXd and at regular intervals. [L]", _TDXD_TABLE),
    TDM1: (
        "Cardiac toxicity is part of T-DM1's boxed warning; assess LVEF before starting and "
        "during treatment. T-DM1 has its own LVEF table (not T-DXd's). [L]",
    ),
    ZONG: (
        "Left ventricular dysfunction is a labeled warning of zongertinib; it was not studied "
        "with LVEF below 50 % or clinically significant cardiac disease. Assess LVEF before "
        "starting and during treatment; interrupt, reduce the dose, or permanently "
        "discontinue based on severity. [L]",
    ),
}


@dataclass(frozen=True, slots=True)
class _Lvef:
    """The LVEF readings that the cardiac rows read for one drug."""

    latest: Measurement | None
    baseline: Measurement | None
    """The latest LVEF on or before the drug's first dose."""
    on_treatment: bool
    """``latest`` is dated after the first dose."""

    @property
    def drop(self) -> float | None:
        if self.latest is None or self.baseline is None or not self.on_treatment:
            return None
        return self.baseline.value - self.latest.value


@dataclass(slots=True)
class _CardiacRow:
    indicator: Indicator
    summary: str
    interrupt: bool = False
    permanent: bool = False
    repeat: bool = False
    uncertainties: tuple[str, ...] = ()


def _lvef(s: Situation, start: date | None) -> _Lvef:
    latest = s.latest(MeasurementKind.LVEF)
    if start is None:
        return _Lvef(latest, None, False)
    before = [m for m in s.measurements(MeasurementKind.LVEF) if m.date and m.date <= start]
    baseline = max(before, key=lambda m: m.date or date.min) if before else None
    on_treatment = latest is not None and latest.date is not None and latest.date > start
    return _Lvef(latest, baseline, on_treatment)


@rule(
    "cardiac-lvef",
    title="LVEF before and during HER2 therapy",
    hooks=ALL_HOOKS,
    indicators=(Indicator.WARNING, Indicator.CRITICAL),
    confidence=(L, Q),
    citation=labels.ENHERTU_LABEL_LVEF,
    override_set=OverrideSet.SAFETY,
)
def cardiac_lvef(s: Situation) -> Iterator[Conclusion]:
    for target in s.targets(*CARDIAC_DRUGS):
        conclusion = _cardiac(s, target)
        if conclusion is not None:
            yield conclusion


def _on_treatment_row(
    s: Situation, drug: Drug, lvef: _Lvef, hf_after: str | None
) -> _CardiacRow | None:
    """The label row for a drug already given (T-DXd's table; zongertinib's row [?]).
    ``hf_after``: how symptomatic heart failure after the start is stated, if it is."""
    cfg = s.settings
    name = short_name(drug)
    if hf_after and drug is TDXD:
        return _CardiacRow(
            Indicator.CRITICAL,
            f"{hf_after} after the start of T-DXd: permanently discontinue T-DXd",
            interrupt=True,
            permanent=True,
        )
    if hf_after and drug is ZONG:
        return _CardiacRow(
            Indicator.CRITICAL,
            f"{hf_after} after the start of zongertinib: withhold it (label's table)",
            interrupt=True,
            uncertainties=("[?] Zongertinib's row for heart failure was not read (unverified).",),
        )
    latest, drop = lvef.latest, lvef.drop
    if latest is None or not lvef.on_treatment or drug is TDM1:
        return None
    when = latest.date.isoformat() if latest.date else "date not stated"
    shown = f"LVEF {latest.value:g} % on {when}"
    fell = f", {drop:g} points below baseline" if drop is not None else ""
    if drug is TDXD:
        low, high = labels.TDXD_LVEF_DROP_BAND_POINTS
        in_band = (
            cfg.lvef_interrupt_percent <= latest.value <= labels.TDXD_LVEF_CONTINUE_ABOVE_PERCENT
        )
        if latest.value < cfg.lvef_interrupt_percent or (
            drop is not None and drop > cfg.lvef_drop_points
        ):
            return _CardiacRow(
                Indicator.CRITICAL,
                f"{shown}{fell}: interrupt T-DXd, repeat LVEF within 3 weeks",
                interrupt=True,
                repeat=True,
            )
        if in_band and drop is not None and low <= drop <= high:
            return _CardiacRow(
                Indicator.CRITICAL,
                f"{shown}{fell}: interrupt T-DXd, repeat LVEF within 3 weeks",
                interrupt=True,
                repeat=True,
            )
        if in_band:
            notes: tuple[str, ...] = ()
            if lvef.baseline is None:
                notes = (
                    "No LVEF before the first T-DXd dose: the drop from baseline cannot be "
                    "judged; only the absolute thresholds apply.",
                )
            return _CardiacRow(
                Indicator.WARNING,
                f"{shown} on T-DXd: continue, repeat LVEF within 3 weeks",
                repeat=True,
                uncertainties=notes,
            )
        return None
    # zongertinib [?]
    z_low, z_high = labels.ZONGERTINIB_LVEF_INTERRUPT_BAND_PERCENT
    d_low, d_high = labels.ZONGERTINIB_LVEF_INTERRUPT_DROP_POINTS
    unverified = (
        "[?] Zongertinib's LVEF rows (interrupt at LVEF 40-50 % with a 10-19 point drop; "
        "below 40 %) were read only in secondary summaries of the label: unverified.",
    )
    if latest.value < z_low or (
        drop is not None and z_low <= latest.value <= z_high and d_low <= drop <= d_high
    ):
        return _CardiacRow(
            Indicator.CRITICAL,
            f"{shown}{fell}: interrupt {name} (label's table, unverified)",
            interrupt=True,
            repeat=True,
            uncertainties=unverified,
        )
    if latest.value < cfg.lvef_min_percent:
        return _CardiacRow(
            Indicator.WARNING,
            f"{shown} on {name}: below {cfg.lvef_min_percent:g} %, not studied; repeat LVEF",
            repeat=True,
            uncertainties=unverified,
        )
    return None


def _heart_failure_after(
    s: Situation, heart: list[Comorbidity], start: date | None
) -> tuple[str | None, tuple[NyhaStatement, ...]]:
    """Symptomatic heart failure after the drug's start (9.3): how it is stated (a
    diagnosis with onset after the start, else an NYHA II-IV statement dated after it),
    and those NYHA statements."""
    nyha_after = s.symptomatic_nyha_after(start)
    if any(
        c.kind is ComorbidityKind.HEART_FAILURE
        and start is not None
        and c.onset is not None
        and c.onset > start
        for c in heart
    ):
        return "Heart failure diagnosed", nyha_after
    if nyha_after:
        worst = max(nyha_after, key=lambda n: n.functional_class)
        return f"Symptomatic heart failure ({nyha_text(worst)}) stated", nyha_after
    return None, ()


def _heart_conditions(s: Situation) -> list[Comorbidity]:
    """Heart failure or LV dysfunction on record."""
    return [
        c
        for c in s.patient.comorbidities
        if c.kind in (ComorbidityKind.HEART_FAILURE, ComorbidityKind.LV_DYSFUNCTION)
    ]


def _lvef_facts(s: Situation, target: Target, lvef: _Lvef) -> list[Fact]:
    """The target's facts, the latest LVEF and the baseline (when it is another reading)."""
    facts = list(target.facts)
    if lvef.latest is not None:
        facts.append(s.measurement_fact(lvef.latest, "LVEF"))
    if lvef.baseline is not None and lvef.baseline is not lvef.latest:
        facts.append(s.measurement_fact(lvef.baseline, "Baseline LVEF (before the first dose)"))
    return facts


def _no_recent_lvef(s: Situation, start: date | None) -> str:
    days = s.settings.recent_lvef_days
    if start:
        return f"no LVEF from {days} days before the first dose onward"
    return f"no LVEF in the last {days} days"


@dataclass(frozen=True, slots=True)
class _Heart:
    """What the record says of the heart, besides the LVEF."""

    conditions: list[Comorbidity]
    stated: str | None
    """How symptomatic heart failure after the start is stated (None: it is not)."""
    nyha_after: tuple[NyhaStatement, ...]


def _problems_without_row(
    s: Situation, drug: Drug, lvef: _Lvef, heart: _Heart, *, recent: bool, start: date | None
) -> list[str]:
    """When no on-treatment row applies: an LVEF below the minimum before the first dose
    (or on T-DM1, whose own table is `tdm1-safety`'s), heart failure, no recent LVEF."""
    cfg = s.settings
    problems: list[str] = []
    latest = lvef.latest
    before_or_tdm1 = not lvef.on_treatment or drug is TDM1
    if latest is not None and latest.value < cfg.lvef_min_percent and before_or_tdm1:
        problems.append(f"LVEF {latest.value:g} % (below {cfg.lvef_min_percent:g} %)")
    if heart.conditions:
        problems.append("heart failure / LV dysfunction on record")
    elif heart.nyha_after and heart.stated:
        stated = heart.stated
        problems.append(f"{stated[:1].lower()}{stated[1:]} after the start of {short_name(drug)}")
    if not recent:
        problems.append(_no_recent_lvef(s, start))
    return problems


def _cardiac_proposals(
    s: Situation, target: Target, row: _CardiacRow | None, lvef: _Lvef, recent: bool
) -> list[Proposal]:
    """Interrupt (or discontinue) the draft order; repeat the LVEF by its due date, or order
    an echocardiogram when none is recent."""
    name = short_name(target.drug)
    proposals: list[Proposal] = []
    if row is not None and row.interrupt and target.order is not None:
        verb = "Discontinue" if row.permanent else "Interrupt"
        proposals.append(
            Proposal(
                f"{verb} {name}: remove this draft order",
                (CancelOrder(target.order.reference, target.drug),),
                recommended=True,
            )
        )
    if row is not None and row.repeat and lvef.latest is not None:
        due = max((lvef.latest.date or s.today) + timedelta(days=labels.LVEF_REPEAT_DAYS), s.today)
        proposals.append(
            Proposal(
                f"Repeat LVEF (echocardiogram) by {due.isoformat()}",
                (Request(Service.ECHOCARDIOGRAM, due),),
            )
        )
    elif not recent:
        proposals.append(
            Proposal("Order an echocardiogram (LVEF)", (Request(Service.ECHOCARDIOGRAM),))
        )
    return proposals


def _cardiac(s: Situation, target: Target) -> Conclusion | None:
    cfg = s.settings
    drug = target.drug
    start = s.first_start(drug) if s.received(drug) else None
    lvef = _lvef(s, start)
    conditions = _heart_conditions(s)
    heart = _Heart(conditions, *_heart_failure_after(s, conditions, start))
    facts = _lvef_facts(s, target, lvef)
    recent = _measured_since(s, (MeasurementKind.LVEF,), cfg.recent_lvef_days, start)
    row = _on_treatment_row(s, drug, lvef, heart.stated) if start is not None else None
    uncertainties = list(row.uncertainties) if row else []
    if row is not None:
        indicator, summary = row.indicator, row.summary
    else:
        problems = _problems_without_row(s, drug, lvef, heart, recent=recent, start=start)
        if not problems:
            return None
        if not recent:
            facts.append(Fact(sentence_case(_no_recent_lvef(s, start))))
        indicator = Indicator.WARNING
        state = "ordered" if target.order else "active"
        summary = f"{sentence_case(short_name(drug))} {state}: {problems[0]}; assess LVEF"
        if len(problems) > 1:
            uncertainties.append(f"Also: {'; '.join(problems[1:])}.")
    facts += [comorbidity_fact(c) for c in heart.conditions]
    facts += [nyha_fact(n) for n in heart.nyha_after]
    proposals = _cardiac_proposals(s, target, row, lvef, recent)
    uncertainties.append(
        f"Thresholds ({cfg.lvef_min_percent:g} %, {cfg.lvef_interrupt_percent:g} %, "
        f"{cfg.lvef_drop_points:g} points) and the {cfg.recent_lvef_days}-day window are "
        "settings; the baseline is the latest LVEF on or before the first dose."
    )
    return Conclusion(
        indicator=indicator,
        summary=summary,
        facts=tuple(facts),
        guidance=_CARDIAC_GUIDANCE[drug],
        proposals=tuple(proposals),
        selection=SelectionBehavior.ANY if proposals else None,
        uncertainties=tuple(uncertainties),
        order_refs=target.refs,
        drug=drug,
        halts_drug=row is not None and row.interrupt and indicator is Indicator.CRITICAL,
        permanent=row is not None and row.permanent,
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
    indicators=(Indicator.INFO, Indicator.WARNING, Indicator.CRITICAL),
    confidence=(L, Q),
    citation=labels.HERNEXEOS_LABEL_LIVER,
    override_set=OverrideSet.SAFETY,
)
def hepatic_tki(s: Situation) -> Iterator[Conclusion]:
    for target in s.targets(ZONG, SEVA):
        conclusion = _hepatic(s, target)
        if conclusion is not None:
            yield conclusion


def _last_liver_test(s: Situation) -> date | None:
    dates = [m.date for k in LIVER for m in s.measurements(k) if m.date and m.date <= s.today]
    return max(dates) if dates else None


def _liver_due_every(s: Situation, drug: Drug, start: date) -> int:
    """Days between liver tests on a running course: zongertinib's label schedule [L];
    sevabertinib's is not read here, so the window setting stands [?]."""
    if drug is ZONG:
        if (s.today - start).days <= labels.ZONGERTINIB_LIVER_TESTS_EARLY_PERIOD_DAYS:
            return labels.ZONGERTINIB_LIVER_TESTS_EARLY_EVERY_DAYS
        return labels.ZONGERTINIB_LIVER_TESTS_LATER_EVERY_DAYS
    return s.settings.recent_liver_panel_days


def _liver_problems(
    s: Situation, latest: dict[MeasurementKind, Measurement]
) -> tuple[list[str], bool]:
    """The on-treatment thresholds crossed, and whether the critical (Hy's law) row is met."""
    cfg = s.settings
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
    return problems, hys


def _latest_liver_tests(s: Situation) -> dict[MeasurementKind, Measurement]:
    """The latest ALT, AST and total bilirubin on record, by kind (absent ones left out)."""
    latest: dict[MeasurementKind, Measurement] = {}
    for kind in LIVER:
        m = s.latest(kind)
        if m is not None:
            latest[kind] = m
    return latest


def _hepatic_summary(
    name: str, problems: list[str], *, hys: bool, last_test: date | None, every: int
) -> tuple[Indicator, str]:
    """Critical for the Hy's law row, warning for another threshold crossed, info when only
    the tests are due."""
    if hys:
        return (
            Indicator.CRITICAL,
            f"{sentence_case(name)}: ALT/AST and bilirubin raised together: discontinue {name}",
        )
    if problems:
        return (
            Indicator.WARNING,
            f"{sentence_case(name)} with {problems[0]}: hepatotoxicity is a labeled warning",
        )
    when = last_test.isoformat() if last_test else "none on record"
    return (
        Indicator.INFO,
        f"{sentence_case(name)}: liver tests due (last {when}; every {every} days now)",
    )


def _hepatic(s: Situation, target: Target) -> Conclusion | None:
    """Before the first dose: baseline tests asked for, abnormal values stated, no start
    threshold invented (the labels give none). On a course: the label's thresholds, and on
    zongertinib the monitoring schedule (every 2 weeks for 12 weeks, then monthly)."""
    cfg = s.settings
    drug = target.drug
    name = short_name(drug)
    start = s.first_start(drug) if s.received(drug) else None
    latest = _latest_liver_tests(s)
    facts = list(target.facts) + [s.measurement_fact(m, _LIVER_LABEL[k]) for k, m in latest.items()]
    last_test = _last_liver_test(s)
    ungraded = [_LIVER_LABEL[k] for k, m in latest.items() if above_uln(m, 1.0) is None]
    uncertainties: list[str] = []
    if ungraded:
        uncertainties.append(
            f"{', '.join(ungraded)} without a reference range: could not be compared with the ULN."
        )
    if start is None:
        return _hepatic_baseline(s, target, latest, facts, uncertainties)
    every = _liver_due_every(s, drug, start)
    overdue = last_test is None or (s.today - last_test).days > every
    problems, hys = _liver_problems(s, latest)
    if ungraded and not problems:
        problems.append(f"{', '.join(ungraded)} could not be graded (no reference range)")
    if overdue:
        last = last_test.isoformat() if last_test else "none on record"
        facts.append(Fact(f"Last liver test: {last}; due every {every} days now"))
    if not problems and not overdue:
        return None
    uncertainties.insert(
        0,
        "[?] The thresholds (ALT/AST above "
        f"{cfg.transaminase_uln_multiple:g} x ULN, bilirubin above {cfg.bilirubin_uln_multiple:g} "
        f"x ULN, and above {cfg.hys_bilirubin_uln_multiple:g} x ULN for the critical row) are "
        "settings; the critical row is not verified against the label's table. This rule can be "
        "switched off.",
    )
    if drug is SEVA and overdue:
        uncertainties.append(
            "[?] Sevabertinib's monitoring schedule was not read; the "
            f"{cfg.recent_liver_panel_days}-day interval is a setting."
        )
    indicator, summary = _hepatic_summary(name, problems, hys=hys, last_test=last_test, every=every)
    proposals: list[Proposal] = []
    if hys and target.order is not None:
        proposals.append(
            Proposal(
                f"Discontinue {name}: remove this draft order",
                (CancelOrder(target.order.reference, drug),),
                recommended=True,
            )
        )
    if overdue:
        proposals.append(_LIVER_PANEL)
    return Conclusion(
        indicator=indicator,
        summary=summary,
        facts=tuple(facts),
        guidance=_HEPATIC_GUIDANCE[drug] + (_HYS_GUIDANCE if hys else ()),
        proposals=tuple(proposals),
        selection=SelectionBehavior.ANY if proposals else None,
        uncertainties=tuple(uncertainties),
        order_refs=target.refs,
        drug=drug,
        halts_drug=hys,
        permanent=hys,
        citation=_HEPATIC_CITATION[drug],
    )


_LIVER_PANEL = Proposal("Order a hepatic function panel", (Request(Service.LIVER_PANEL),))


def _hepatic_baseline(
    s: Situation,
    target: Target,
    latest: dict[MeasurementKind, Measurement],
    facts: list[Fact],
    uncertainties: list[str],
) -> Conclusion | None:
    """First order: ask for baseline tests; state abnormal values, with no start threshold."""
    cfg = s.settings
    drug = target.drug
    name = short_name(drug)
    days = cfg.recent_liver_panel_days
    recent = _measured_since(s, LIVER, days, None)
    abnormal = [
        f"{_LIVER_LABEL[k]} {m.value / m.upper_limit:.1f} x ULN"
        for k, m in latest.items()
        if m.upper_limit and above_uln(m, 1.0) and s.within(m.date, days)
    ]
    ungraded = [
        _LIVER_LABEL[k]
        for k, m in latest.items()
        if above_uln(m, 1.0) is None and s.within(m.date, days)
    ]
    if recent and not abnormal and not ungraded:
        return None
    guidance = (
        *_HEPATIC_GUIDANCE[drug][:1],
        "Check ALT, AST and total bilirubin before the first dose. The label sets no liver "
        "threshold for starting: weigh abnormal baseline values clinically. [L]",
    )
    if not recent:
        facts.append(Fact(f"No ALT, AST or bilirubin in the last {days} days"))
        summary = f"{sentence_case(name)} ordered: no liver tests in {days} days; baseline needed"
        proposals: tuple[Proposal, ...] = (_LIVER_PANEL,)
    elif abnormal:
        summary = (
            f"{sentence_case(name)} ordered with raised baseline liver tests "
            f"({', '.join(abnormal)})"
        )
        proposals = ()
    else:
        summary = (
            f"{sentence_case(name)} ordered: {', '.join(ungraded)} could not be graded "
            "(no reference range)"
        )
        proposals = ()
    return Conclusion(
        indicator=Indicator.WARNING,
        summary=summary,
        facts=tuple(facts),
        guidance=guidance,
        proposals=proposals,
        selection=SelectionBehavior.ANY if proposals else None,
        uncertainties=(*uncertainties, f"The {days}-day baseline window is a setting."),
        order_refs=target.refs,
        drug=drug,
        citation=_HEPATIC_CITATION[drug],
    )


@rule(
    "neutropenia-tdxd",
    title="Neutrophils before T-DXd",
    hooks=ORDERS,
    indicators=(Indicator.INFO, Indicator.WARNING, Indicator.CRITICAL),
    confidence=(L, Q),
    citation=labels.ENHERTU_LABEL_NEUTROPENIA,
    override_set=OverrideSet.SAFETY,
)
def neutropenia_tdxd(s: Situation) -> Iterator[Conclusion]:
    orders = s.orders_of(TDXD)
    if not orders:
        return
    counts = _Counts.read(s)
    for order in orders:
        conclusion = _neutropenia(s, order, counts)
        if conclusion is not None:
            yield conclusion


@dataclass(frozen=True, slots=True)
class _Counts:
    """The ANC and temperatures the neutropenia rows read."""

    latest: Measurement | None
    """The latest ANC within the recent window (an older one never holds)."""
    older: Measurement | None
    """The latest ANC when none is recent (shown, never used to hold)."""
    worst: Measurement | None
    """The lowest ANC since the last T-DXd dose (the recent window when none is recorded)."""
    febrile: tuple[tuple[Measurement, Measurement], ...]
    """(ANC < 1.0, temperature) pairs meeting the label's febrile-neutropenia definition."""
    possible_fever: tuple[Measurement, ...]
    """Single 38.0-38.3 C readings with ANC < 1.0: "sustained for over an hour" unknown."""
    last_dose: LastDose | None

    @classmethod
    def read(cls, s: Situation) -> _Counts:
        days = s.settings.recent_anc_days
        hold = s.settings.anc_min_10e9_per_l
        dated = [
            m
            for m in s.measurements(MeasurementKind.ANC)
            if m.date is not None and m.date <= s.today
        ]
        recent = [m for m in dated if s.within(m.date, days)]
        last = last_dose(s, TDXD)
        since_date = last.record.date if last is not None else None
        if since_date is not None:
            since = [m for m in dated if m.date is not None and m.date > since_date]
        else:
            since = recent
        temps = [
            t
            for t in s.measurements(MeasurementKind.TEMPERATURE)
            if t.date is not None
            and t.date <= s.today
            and (t.date > since_date if since_date else s.within(t.date, days))
        ]
        low = [m for m in since if m.value < hold]
        febrile: list[tuple[Measurement, Measurement]] = []
        possible: list[Measurement] = []
        for t in temps:
            near = [m for m in low if m.date and t.date and abs((m.date - t.date).days) <= 1]
            if not near:
                continue
            same_day_fever = [
                u
                for u in temps
                if u is not t and u.date == t.date and u.value >= labels.FEVER_SUSTAINED_FROM_C
            ]
            if t.value > labels.FEVER_SINGLE_ABOVE_C or (
                t.value >= labels.FEVER_SUSTAINED_FROM_C and same_day_fever
            ):
                febrile.append((min(near, key=lambda m: m.value), t))
            elif t.value >= labels.FEVER_SUSTAINED_FROM_C:
                possible.append(t)
        return cls(
            latest=max(recent, key=lambda m: m.date or date.min) if recent else None,
            older=max(dated, key=lambda m: m.date or date.min) if dated and not recent else None,
            worst=min(since, key=lambda m: m.value) if since else None,
            febrile=tuple(febrile),
            possible_fever=tuple(possible),
            last_dose=last,
        )


def _anc_fact(m: Measurement, label: str = "ANC") -> Fact:
    return Fact(f"{label} {m.value:g} x10^9/L", m.date, m.sources)


_NEUTROPENIA_GUIDANCE = (
    "Check blood counts before every T-DXd dose. [L]",
    "Grade 3 (ANC below 1.0 to 0.5 x 10^9/L): interrupt T-DXd until grade 2 or less, then "
    "keep the dose. [L]",
    "Grade 4 (ANC below 0.5) or febrile neutropenia (ANC below 1.0 with a temperature above "
    "38.3 C, or 38 C or more for over an hour): interrupt until resolved; the next dose one "
    "level lower (5.4 -> 4.4 -> 3.2 mg/kg). [?]",
)
_NEUTROPENIA_UNVERIFIED = (
    "[?] The label's treatment cells for grade 4 and febrile neutropenia were not read: "
    '"one level lower" after them is unverified.',
)


def _neutropenia(s: Situation, order: DraftOrder, c: _Counts) -> Conclusion | None:
    cfg = s.settings
    hold = cfg.anc_min_10e9_per_l
    facts: list[Fact] = [s.order_fact(order)]
    notes: list[str] = [
        f"Only an ANC from the last {cfg.recent_anc_days} days is used (a setting)."
    ]
    if c.possible_fever:
        notes.append(
            "A temperature of 38.0-38.3 C with a low ANC: febrile neutropenia if it lasted over "
            "an hour, which the record does not show."
        )
        facts += [s.measurement_fact(t, "Temperature") for t in c.possible_fever]
    for anc, temp in c.febrile:
        facts += [_anc_fact(anc), s.measurement_fact(temp, "Temperature")]
    latest = c.latest
    if latest is None:
        if c.older is not None:
            facts.append(_anc_fact(c.older, "Latest ANC (too old to judge this dose)"))
        else:
            facts.append(Fact("No ANC on record"))
        return Conclusion(
            indicator=Indicator.INFO,
            summary=(
                f"No ANC in the {cfg.recent_anc_days} days before this T-DXd dose: check a CBC"
            ),
            facts=tuple(facts),
            guidance=_NEUTROPENIA_GUIDANCE[:1],
            proposals=(Proposal("Order a CBC with differential", (Request(Service.CBC),)),),
            selection=SelectionBehavior.ANY,
            uncertainties=tuple(notes),
            order_refs=(order.reference,),
            drug=TDXD,
        )
    facts.insert(0, _anc_fact(latest))
    when = latest.date.isoformat() if latest.date else "date not stated"
    fever = bool(c.febrile)
    if latest.value < hold:
        critical = latest.value < labels.ANC_GRADE4_BELOW or fever
        with_fever = " with fever" if fever else ""
        return Conclusion(
            indicator=Indicator.CRITICAL if critical else Indicator.WARNING,
            summary=(
                f"ANC {latest.value:g} x10^9/L on {when}{with_fever}: hold T-DXd until ANC is "
                f"{hold:.1f} or more"
            ),
            facts=tuple(facts),
            guidance=_NEUTROPENIA_GUIDANCE,
            proposals=(
                Proposal(
                    "Hold T-DXd: remove this draft order",
                    (CancelOrder(order.reference, TDXD),),
                    recommended=True,
                ),
            ),
            selection=AT_MOST_ONE,
            uncertainties=(*notes, *_NEUTROPENIA_UNVERIFIED),
            order_refs=(order.reference,),
            drug=TDXD,
            halts_drug=critical,
        )
    return _after_severe_neutropenia(s, order, c, facts, notes)


def _after_severe_neutropenia(
    s: Situation, order: DraftOrder, c: _Counts, facts: list[Fact], notes: list[str]
) -> Conclusion | None:
    """Recovered, but grade 4 or febrile neutropenia since the last dose: one level down [?]."""
    worst = c.worst
    grade4 = worst is not None and worst.value < labels.ANC_GRADE4_BELOW
    if not grade4 and not c.febrile:
        return None
    if worst is not None and grade4:
        facts.append(_anc_fact(worst, "Lowest ANC since the last T-DXd dose"))
    last_level = c.last_dose.level if c.last_dose is not None else None
    if last_level is None:
        last_level = labels.TDXD_NSCLC_START_MG_PER_KG
        notes.append("The last T-DXd dose is not recorded as a label level; 5.4 mg/kg assumed.")
    elif c.last_dose is not None:
        facts.append(c.last_dose.fact)
    lower = tdxd_level_below(last_level)
    ordered = tdxd_mg_per_kg(s, order.dose) if order.dose else None
    tolerance = s.settings.dose_tolerance_fraction
    if (
        lower is not None
        and ordered is not None
        and (ordered < lower or matches(ordered, lower, tolerance))
    ):
        return None  # already one level down
    event = "Febrile neutropenia" if c.febrile else "Grade 4 neutropenia"
    proposals: tuple[Proposal, ...] = ()
    if lower is None:
        summary = f"{event} since the last T-DXd dose at 3.2 mg/kg: no lower level (unverified)"
    else:
        summary = f"{event} since the last T-DXd dose: next dose {lower:g} mg/kg (unverified)"
        proposals = (
            Proposal(
                f"Change the T-DXd dose to {lower:g} mg/kg",
                (ChangeDose(order.reference, labels.tdxd_dosage(lower)),),
            ),
        )
    if ordered is None:
        notes.append("The draft order's dose could not be read as mg/kg.")
    return Conclusion(
        indicator=Indicator.WARNING,
        summary=summary,
        facts=tuple(facts),
        guidance=_NEUTROPENIA_GUIDANCE,
        proposals=proposals,
        selection=AT_MOST_ONE if proposals else None,
        uncertainties=(*notes, *_NEUTROPENIA_UNVERIFIED),
        order_refs=(order.reference,),
        drug=TDXD,
    )

"""Treatment options that several rules suggest, and the modifiers that reorder them
(clinical-rules.md, 6.2: the modifiers of `seq-after-platinum`).

An option is a :class:`~cds_service.rules.base.Proposal`: on patient-view it creates a
draft order; on order-select / order-sign it replaces the anticancer orders under
consideration (delete them, create the option).
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.rules import labels
from cds_service.rules.base import CancelOrder, Fact, Prescribe, Proposal, SuggestedAction
from cds_service.rules.situation import TDM1, TDXD, Situation, comorbidity_fact
from fhir_mappings.model import ComorbidityKind, DraftOrder, Drug, Measurement, MeasurementKind


def prescription(s: Situation, drug: Drug) -> Prescribe:
    """A draft order of ``drug`` at its label dose where the spec gives one."""
    if drug is TDXD:
        return Prescribe(drug, labels.tdxd_dosage(labels.TDXD_NSCLC_START_MG_PER_KG))
    if drug is Drug.SEVABERTINIB:
        return Prescribe(drug, labels.SEVABERTINIB_DOSAGE)
    if drug is Drug.ZONGERTINIB:
        weight = s.weight
        if weight is None:
            return Prescribe(
                drug,
                None,
                note=f"no body weight recorded; {labels.ZONGERTINIB_WEIGHT_RULE}",
            )
        mg = labels.zongertinib_dose_for_weight(weight.value)
        return Prescribe(drug, labels.zongertinib_dosage(mg))
    if drug is TDM1:
        return Prescribe(drug, None, note="not approved in NSCLC, dose per institutional protocol")
    return Prescribe(drug, None, note="dose per regimen protocol")


def option(
    s: Situation, label: str, drugs: tuple[Drug, ...], *, recommended: bool = False
) -> Proposal:
    """Create ``drugs`` (patient-view) or replace the anticancer orders with them (orders)."""
    actions: list[SuggestedAction] = [
        CancelOrder(o.reference, o.drug) for o in s.anticancer_orders if o.drug not in drugs
    ]
    actions += [prescription(s, d) for d in drugs]
    if s.anticancer_orders and actions and isinstance(actions[0], CancelOrder):
        label = f"Instead: {label}"
    return Proposal(label, tuple(actions), recommended)


def zongertinib_label(s: Situation) -> str:
    weight = s.weight
    if weight is None:
        return "Zongertinib (weight not recorded: set dose by weight)"
    mg = labels.zongertinib_dose_for_weight(weight.value)
    return f"Zongertinib {mg:g} mg once daily (weight {weight.value:g} kg)"


OPTION_LABELS = {
    TDXD: "T-DXd 5.4 mg/kg IV every 3 weeks",
    Drug.SEVABERTINIB: "Sevabertinib 20 mg twice daily with food",
    TDM1: "T-DM1 (not approved in NSCLC)",
}


def not_ordered(s: Situation, drugs: tuple[Drug, ...]) -> tuple[Drug, ...]:
    """``drugs`` without those already among the orders under consideration."""
    ordered = {o.drug for o in s.anticancer_orders}
    return tuple(d for d in drugs if d not in ordered)


def replace_order(
    s: Situation, order: DraftOrder, drug: Drug, *, recommended: bool = False
) -> Proposal:
    """Delete one draft order and create ``drug`` instead (per-order cards)."""
    return Proposal(
        f"Instead: {option_label(s, drug)}",
        (CancelOrder(order.reference, order.drug), prescription(s, drug)),
        recommended,
    )


def option_label(s: Situation, drug: Drug) -> str:
    if drug is Drug.ZONGERTINIB:
        return zongertinib_label(s)
    return OPTION_LABELS.get(drug, drug.value)


def drug_option(s: Situation, drug: Drug, *, recommended: bool = False) -> Proposal:
    return option(s, option_label(s, drug), (drug,), recommended=recommended)


def platinum_option(s: Situation) -> Proposal:
    return option(
        s,
        "Platinum doublet: carboplatin + pemetrexed (add an ICI per protocol)",
        (Drug.CARBOPLATIN, Drug.PEMETREXED),
    )


# --- Modifiers --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Modifier:
    """A patient factor that cautions some of the HER2 agents."""

    text: str
    cautions: frozenset[Drug]
    facts: tuple[Fact, ...]


def above_uln(m: Measurement, multiple: float) -> bool | None:
    """None when the result has no upper limit of normal to compare with."""
    if not m.upper_limit:
        return None
    return m.value > multiple * m.upper_limit


def liver_elevations(s: Situation) -> tuple[tuple[Measurement, str], ...]:
    """Latest ALT / AST above the transaminase multiple, bilirubin above its multiple."""
    cfg = s.settings
    found = []
    for kind, label, multiple in (
        (MeasurementKind.ALT, "ALT", cfg.transaminase_uln_multiple),
        (MeasurementKind.AST, "AST", cfg.transaminase_uln_multiple),
        (MeasurementKind.BILIRUBIN, "Total bilirubin", cfg.bilirubin_uln_multiple),
    ):
        m = s.latest(kind)
        if m is not None and above_uln(m, multiple):
            found.append((m, label))
    return tuple(found)


def modifiers(s: Situation) -> tuple[Modifier, ...]:
    found: list[Modifier] = []
    tdxd = frozenset({TDXD})
    if s.ild_episodes:
        found.append(
            Modifier(
                "ILD/pneumonitis history: T-DXd placed last",
                tdxd,
                tuple(s.ild_fact(ep) for ep in s.ild_episodes),
            )
        )
    for kind, text in (
        (ComorbidityKind.COPD, "COPD: T-DXd placed last (higher ILD risk)"),
        (ComorbidityKind.THORACIC_RADIATION, "Prior thoracic radiation: T-DXd placed last"),
        (
            ComorbidityKind.RENAL_IMPAIRMENT,
            "Moderate or worse renal impairment: T-DXd placed last (more ILD)",
        ),
    ):
        comorbid = [c for c in s.patient.comorbidities if c.kind is kind]
        if comorbid:
            facts = tuple(comorbidity_fact(c) for c in comorbid)
            found.append(Modifier(text, tdxd, facts))
    cardiac = frozenset({TDXD, Drug.ZONGERTINIB})
    lvef = s.latest(MeasurementKind.LVEF)
    if lvef is not None and lvef.value < s.settings.lvef_min_percent:
        found.append(
            Modifier(
                f"LVEF below {s.settings.lvef_min_percent:g} %: T-DXd and zongertinib cautioned",
                cardiac,
                (s.measurement_fact(lvef, "LVEF"),),
            )
        )
    heart = [
        c
        for c in s.patient.comorbidities
        if c.kind in (ComorbidityKind.HEART_FAILURE, ComorbidityKind.LV_DYSFUNCTION)
    ]
    if heart:
        found.append(
            Modifier(
                "Heart failure / LV dysfunction: T-DXd and zongertinib cautioned",
                cardiac,
                tuple(comorbidity_fact(c) for c in heart),
            )
        )
    liver = liver_elevations(s)
    if liver:
        found.append(
            Modifier(
                "Liver tests above grade 1: zongertinib and sevabertinib cautioned",
                frozenset({Drug.ZONGERTINIB, Drug.SEVABERTINIB}),
                tuple(s.measurement_fact(m, label) for m, label in liver),
            )
        )
    return tuple(found)


def her2_options(
    s: Situation, drugs: tuple[Drug, ...]
) -> tuple[tuple[Proposal, ...], tuple[Modifier, ...]]:
    """The HER2 agents in ``drugs`` (table order), reordered by the modifiers: cautioned
    agents after the others. Recommended only when exactly one is free of modifiers and
    at least one modifier applies."""
    mods = modifiers(s)
    cautioned = {d for m in mods for d in m.cautions}
    ordered = sorted(drugs, key=lambda d: (d in cautioned, drugs.index(d)))
    free = [d for d in ordered if d not in cautioned]
    recommend = free[0] if mods and len(free) == 1 else None
    proposals = tuple(drug_option(s, d, recommended=d is recommend) for d in ordered)
    return proposals, mods


def tki_eligible(s: Situation) -> tuple[Drug, ...]:
    """Labeled HER2 TKIs for this patient: TKD-activating mutation, not squamous;
    sevabertinib only after a prior systemic line."""
    if not s.tkd or s.squamous:
        return ()
    drugs = [Drug.ZONGERTINIB]
    if s.prior_lines(excluding=Drug.SEVABERTINIB):
        drugs.append(Drug.SEVABERTINIB)
    return tuple(drugs)


def tdxd_eligible(s: Situation) -> bool:
    """Labeled T-DXd: activating mutation or IHC 3+, after a prior systemic line, and no
    grade >= 2 ILD on T-DXd."""
    if not s.tdxd_eligible_biomarker or not s.prior_lines(excluding=TDXD):
        return False
    return not any(s.began_on_tdxd(ep) and (ep.grade or 0) >= 2 for ep in s.ild_episodes)

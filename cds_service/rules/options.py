"""Treatment options that several rules suggest, and the modifiers that reorder them
(clinical-rules.md, 6.2: the modifiers of `seq-after-platinum`; 9.1 for version 2).

An option is a :class:`~cds_service.rules.base.Proposal`: on patient-view it creates a
draft order; on order-select / order-sign it replaces the anticancer orders under
consideration (delete them, create the option).

Version 2 (clinical-rules.md 9.1):

- **Specimen.** The zongertinib and sevabertinib labels select patients on a TKD
  mutation in tumour specimens [L]. When every TKD-activating mutation on file was found
  in plasma, a HER2 TKI option says "confirm in tumour specimen (tissue or cytology)
  before a HER2 TKI" and is never marked recommended; T-DXd options stand (its NSCLC
  selection accepts tumour or plasma specimens [L]). A mutation of unknown specimen is
  not treated as plasma-only (the card's other notes ask for an FDA-approved test).
- **No bare chemotherapy drafts.** A platinum doublet is a regimen, never drafted drug
  by drug: rules name it in the card detail, and :func:`regimen_options` is the single
  place where it would become a suggestion (through a site order set).
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.rules import labels
from cds_service.rules.base import (
    CancelOrder,
    DoseInstruction,
    Fact,
    Prescribe,
    Proposal,
    SuggestedAction,
    UseOrderSet,
)
from cds_service.rules.situation import (
    LABELED_HER2_TKIS,
    TDM1,
    TDXD,
    Situation,
    comorbidity_fact,
)
from fhir_mappings.model import (
    ComorbidityKind,
    Dose,
    DoseUnit,
    DraftOrder,
    Drug,
    Her2Mutation,
    Measurement,
    MeasurementKind,
    Specimen,
)

TDM1_START_MG_PER_KG = labels.TDM1_DOSE_LEVELS_MG_PER_KG[0]
"""T-DM1 3.6 mg/kg IV every 3 weeks (Kadcyla label) [L]; not approved in NSCLC."""
TDM1_CYCLE_WEEKS = 3

TUMOUR_SPECIMEN_CAVEAT = "confirm in tumour specimen (tissue or cytology) before a HER2 TKI"
"""Added to a HER2 TKI option when the TKD mutation was found in plasma only (9.1)."""

PLATINUM_DOUBLET = "platinum doublet chemotherapy with or without an ICI"
REGIMEN_ORDER_SETS = {PLATINUM_DOUBLET: "platinum-doublet"}
"""Each regimen a rule may name, and its order-set name in the site order catalog."""
"""A regimen (section 5): named in card details, never drafted drug by drug (9.1)."""


def tdm1_dosage() -> DoseInstruction:
    return DoseInstruction(
        dose=Dose(TDM1_START_MG_PER_KG, DoseUnit.MG_PER_KG),
        frequency=1,
        period=TDM1_CYCLE_WEEKS,
        period_unit="wk",
        route="Intravenous",
        text=f"{TDM1_START_MG_PER_KG:g} mg/kg intravenously every {TDM1_CYCLE_WEEKS} weeks",
    )


def plasma_only_tkd(s: Situation) -> tuple[Her2Mutation, ...]:
    """The TKD-activating mutations when every one was found in plasma; else ()."""
    tkd = s.tkd
    if tkd and all(m.specimen is Specimen.PLASMA for m in tkd):
        return tkd
    return ()


def specimen_caveat(s: Situation, drug: Drug) -> str | None:
    """The tumour-specimen caveat for a labeled HER2 TKI option, when it applies."""
    if drug in LABELED_HER2_TKIS and plasma_only_tkd(s):
        return TUMOUR_SPECIMEN_CAVEAT
    return None


def specimen_guidance(s: Situation) -> tuple[str, ...]:
    """What the labels say about specimens, for cards that offer a HER2 TKI (9.1)."""
    if not plasma_only_tkd(s):
        return ()
    return (
        "The ERBB2 TKD mutation was found in plasma only. The zongertinib and sevabertinib "
        "labels select patients on a TKD-activating mutation in tumour specimens: confirm "
        "it in a tumour specimen (tissue or cytology) before a HER2 TKI. T-DXd's NSCLC "
        "selection accepts a mutation in tumour or plasma specimens. [L]",
    )


def regimen_options(s: Situation, regimen: str) -> tuple[Proposal, ...]:
    """The single place where a regimen (e.g. a platinum doublet +/- ICI) becomes a card
    suggestion.

    A regimen is never drafted drug by drug (clinical-rules.md 9.1, "no bare chemotherapy
    drafts"): the suggestion orders the site's order set (``order-set:<name>`` in the site
    order catalog), replacing the anticancer drafts on order hooks. Card rendering offers it
    only when the site's catalog has that order set; otherwise the rules' detail names the
    regimen and no suggestion is shown.
    """
    name = REGIMEN_ORDER_SETS[regimen]
    actions: list[SuggestedAction] = [CancelOrder(o.reference, o.drug) for o in s.anticancer_orders]
    actions.append(UseOrderSet(name, regimen))
    label = f"{'Instead: ' if s.anticancer_orders else ''}{regimen} (site order set)"
    return (Proposal(label, tuple(actions)),)


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
        return Prescribe(drug, tdm1_dosage())
    return Prescribe(drug, None, note="dose per regimen protocol")


def option(
    s: Situation, label: str, drugs: tuple[Drug, ...], *, recommended: bool = False
) -> Proposal:
    """Create ``drugs`` (patient-view) or replace the anticancer orders with them (orders).
    A HER2 TKI option carries the tumour-specimen caveat when it applies, and is then
    never recommended."""
    actions: list[SuggestedAction] = [
        CancelOrder(o.reference, o.drug) for o in s.anticancer_orders if o.drug not in drugs
    ]
    actions += [prescription(s, d) for d in drugs]
    if s.anticancer_orders and actions and isinstance(actions[0], CancelOrder):
        label = f"Instead: {label}"
    caveats = {c for d in drugs if (c := specimen_caveat(s, d)) is not None}
    if caveats:
        label = f"{label} ({'; '.join(sorted(caveats))})"
        recommended = False
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
    TDM1: f"T-DM1 {TDM1_START_MG_PER_KG:g} mg/kg IV every 3 weeks (not approved in NSCLC)",
}


def not_ordered(s: Situation, drugs: tuple[Drug, ...]) -> tuple[Drug, ...]:
    """``drugs`` without those already among the orders under consideration."""
    ordered = {o.drug for o in s.anticancer_orders}
    return tuple(d for d in drugs if d not in ordered)


def replace_order(
    s: Situation, order: DraftOrder, drug: Drug, *, recommended: bool = False
) -> Proposal:
    """Delete one draft order and create ``drug`` instead (per-order cards). A HER2 TKI
    carries the tumour-specimen caveat when it applies, and is then never recommended."""
    label = f"Instead: {option_label(s, drug)}"
    caveat = specimen_caveat(s, drug)
    if caveat is not None:
        label = f"{label} ({caveat})"
        recommended = False
    return Proposal(
        label,
        (CancelOrder(order.reference, order.drug), prescription(s, drug)),
        recommended,
    )


def option_label(s: Situation, drug: Drug) -> str:
    if drug is Drug.ZONGERTINIB:
        return zongertinib_label(s)
    return OPTION_LABELS.get(drug, drug.value)


def drug_option(s: Situation, drug: Drug, *, recommended: bool = False) -> Proposal:
    return option(s, option_label(s, drug), (drug,), recommended=recommended)


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

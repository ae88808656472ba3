"""6.2 Sequencing: which HER2 agent, when.

| rule | hooks | when |
|---|---|---|
| seq-first-line-tkd | PV; OS/SG (other first line) | tkd-activating, not squamous, no line yet |
| seq-first-line-cns | PV | as above, untreated brain metastases or leptomeningeal disease |
| seq-after-platinum | PV; OS/SG | platinum line, no HER2 drug yet, tkd-activating |
| seq-non-tkd | PV; OS/SG | non-tkd-activating only |
| seq-ihc3 | PV; OS/SG | IHC 3+, prior line, no activating mutation |
| seq-amplification-only | PV | amplification without activating mutation or IHC 3+ |
| seq-after-zongertinib | PV; OS/SG | progression on zongertinib |
| seq-after-tdxd | PV | progression on T-DXd, or T-DXd stopped for ILD; tkd-activating |
| seq-tki-after-tki | OS, SG | HER2 TKI ordered after progression on another (info: no data) |
| seq-ici-monotherapy | OS, SG | single-agent ICI ordered, activating ERBB2 mutation |
| seq-adc-tki-together | OS, SG | T-DXd with an active or ordered HER2 TKI, or the reverse |
| seq-not-her2-agent | OS, SG | poziotinib, mobocertinib or amivantamab ordered for HER2 disease |
| seq-off-label-tki | OS, SG | zongertinib / sevabertinib outside the label |
| seq-off-label-tdxd | OS, SG | T-DXd outside the labels |

Version 2 (clinical-rules.md 9.1), where the rows above changed:

- TKI options carry the tumour-specimen caveat for a plasma-only mutation and are then
  never recommended (``options.option`` / ``options.replace_order``).
- No platinum-doublet drafts: the regimen is named in the detail; ``options.regimen_options``
  is where a site order set would turn it into a suggestion.
- ``seq-after-platinum`` on orders: silent when T-DXd, zongertinib or sevabertinib is ordered.
- ``seq-after-zongertinib``: T-DM1 at 3.6 mg/kg IV every 3 weeks; a prior grade >= 2 ILD
  (or a grade-unknown episode with hypoxia, read as >= 2: the safer reading) adds a
  caution and T-DM1 is never recommended.
- ``seq-after-tdxd``: also after a T-DXd stop for ILD (T-DXd not active and an ILD episode
  attributed to it or begun on it): info, TKI ILD cautions, nothing recommended.
- ``seq-tki-after-tki``: info "no data", and it silences no other card (answer (b)).
- ``seq-not-her2-agent``: silent with an EGFR-sensitising mutation (EGFR gene only) or a
  prior EGFR-TKI line; an EGFR variant of unstated type is said, not assumed either way.
- Off-label cards name "only an ERBB2 variant of uncertain significance on file" when that
  is the cause, and replace ``test-vus`` for the same order (answer (c)).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from cds_service.rules import labels
from cds_service.rules.base import (
    ALL_HOOKS,
    ORDERS,
    PV,
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
from cds_service.rules.interplay import (
    AMPLIFICATION_ONLY_IHC,
    NOT_HER2_AGENT_OPTIONS,
    OFF_LABEL_TDXD_VUS,
    OFF_LABEL_TKI_OPTIONS,
    TKI_AFTER_TKI_OPTIONS,
    silences,
)
from cds_service.rules.labels import sentence_case, short_name
from cds_service.rules.options import (
    PLATINUM_DOUBLET,
    drug_option,
    her2_options,
    not_ordered,
    option,
    plasma_only_tkd,
    regimen_options,
    replace_order,
    specimen_guidance,
    tdxd_eligible,
    tki_eligible,
    zongertinib_label,
)
from cds_service.rules.situation import (
    CHEMOTHERAPY,
    HER2_TKIS,
    ICIS,
    NOT_HER2_AGENTS,
    TDM1,
    TDXD,
    Situation,
)
from cds_service.rules.testing import only_vus
from cds_service.wire import MAX_SUMMARY_CHARS, Indicator, SelectionBehavior
from fhir_mappings.model import DRUG_CLASS, Drug, DrugClass, Histology, IldEpisode, LineClass

L, S, E = Confidence.LABEL, Confidence.SEEDS, Confidence.EXPERT
ZONG, SEVA = Drug.ZONGERTINIB, Drug.SEVABERTINIB
AT_MOST_ONE = SelectionBehavior.AT_MOST_ONE
PREFERRED_AFTER_PLATINUM = frozenset({TDXD, ZONG, SEVA})
"""The preferred HER2 agents after platinum: an order of one of them silences
``seq-after-platinum`` (9.1: no "instead" options against a preferred choice)."""
EGFR_TKIS = frozenset(
    {d for d, c in DRUG_CLASS.items() if c is DrugClass.EGFR_TKI} | {Drug.MOBOCERTINIB}
)
"""EGFR TKIs, mobocertinib included (an EGFR exon 20 TKI): a prior line of one of them
means EGFR-mutant disease (``seq-not-her2-agent``)."""
VUS_CAUSE = "only an ERBB2 variant of uncertain significance on file"
"""The off-label cause named when the only ERBB2 finding is a VUS (9.1, answer (c))."""
VUS_CAUSE_SHORT = "only an ERBB2 VUS on file"


def _short_summary(summary: str) -> str:
    """Card summaries stay under 140 characters: with several off-label reasons the VUS
    cause is abbreviated."""
    return (
        summary if len(summary) < MAX_SUMMARY_CHARS else summary.replace(VUS_CAUSE, VUS_CAUSE_SHORT)
    )


PLATINUM_TEXT = (
    "A platinum doublet with or without an ICI is a regimen: order it through the site's "
    "order set (no single-drug draft is suggested)."
)

ROUTE_NOTE = (
    "Patient preference is not in the record: T-DXd is given IV every 3 weeks, zongertinib "
    "and sevabertinib are taken orally every day; discuss this with the patient. [S]"
)
DL02_NOTE = (
    "T-DXd's NSCLC dose is 5.4 mg/kg (DESTINY-Lung02: responses in about half of patients, "
    "ILD in about 15 %, mostly grade 1-2); the 6.4 mg/kg DESTINY-Lung01 figures do not apply. [L]"
)


def _selection(proposals: tuple[Proposal, ...]) -> SelectionBehavior | None:
    return AT_MOST_ONE if proposals else None


def _first_line_candidate(s: Situation) -> bool:
    return s.in_scope and bool(s.tkd) and not s.squamous and not s.lines


def _histology_note(s: Situation) -> tuple[str, ...]:
    if s.histology is Histology.UNKNOWN:
        return (
            "Histology is not stated: the HER2 TKI labels cover non-squamous NSCLC; confirm "
            "the histology.",
        )
    return ()


def _weight_fact(s: Situation) -> Fact:
    weight = s.weight
    if weight is None:
        return Fact("No body weight recorded")
    return s.measurement_fact(weight, "Body weight")


@rule(
    "seq-first-line-tkd",
    title="First line for a HER2 TKD-activating mutation",
    hooks=ALL_HOOKS,
    indicators=(Indicator.INFO,),
    confidence=(S, L),
    citation=labels.HERNEXEOS_LABEL,
    override_set=OverrideSet.TREATMENT_CHOICE,
)
def seq_first_line_tkd(s: Situation) -> Iterator[Conclusion]:
    if not _first_line_candidate(s):
        return
    orders = s.anticancer_orders
    if not s.on_patient_view and (not orders or any(o.drug is ZONG for o in orders)):
        return
    weight = s.weight
    dose_text = (
        f"{labels.zongertinib_dose_for_weight(weight.value):g} mg daily"
        if weight is not None
        else "dose by weight"
    )
    proposals = [option(s, zongertinib_label(s), (ZONG,), recommended=True)]
    if not any(o.drug in CHEMOTHERAPY for o in orders):
        proposals += regimen_options(s, PLATINUM_DOUBLET)
    plasma_only = bool(plasma_only_tkd(s))
    uncertainties = list(s.tkd_uncertainties(s.tkd)) + list(_histology_note(s))
    uncertainties += s.scope_uncertainties()
    if weight is None:
        uncertainties.append(
            "No body weight is recorded: the zongertinib dose depends on it "
            f"({labels.ZONGERTINIB_WEIGHT_RULE}); the suggested order carries no dose."
        )
    if plasma_only:
        summary = (
            "HER2 TKD mutation in plasma only: confirm in a tumour specimen; zongertinib is "
            "the preferred first line"
        )
    elif s.on_patient_view:
        summary = (
            f"HER2 TKD mutation, no treatment yet: zongertinib preferred first line ({dose_text})"
        )
    else:
        summary = "First line for a HER2 TKD mutation: zongertinib is preferred"
    yield Conclusion(
        indicator=Indicator.INFO,
        summary=summary,
        facts=(
            s.cancer_fact(),
            *(s.mutation_fact(m) for m in s.tkd),
            Fact("No line of therapy for advanced disease in the record"),
            _weight_fact(s),
            *(s.order_fact(o) for o in orders),
        ),
        guidance=(
            "Zongertinib received accelerated approval on "
            f"{labels.ZONGERTINIB_APPROVAL_FIRST_LINE.isoformat()} for unresectable or "
            "metastatic non-squamous NSCLC whose tumours have a HER2 TKD-activating mutation "
            f"detected by {labels.ZONGERTINIB_FIRST_LINE_TEST}, an indication that no longer "
            "requires prior systemic therapy (FDA notice of the approval). [L]",
            "NCCN lists zongertinib as the preferred first line for this group; platinum "
            "doublet chemotherapy with or without an ICI remains an alternative. [S]",
            PLATINUM_TEXT,
            f"Zongertinib dose by body weight: {labels.ZONGERTINIB_WEIGHT_RULE}. [L]",
            *specimen_guidance(s),
        ),
        proposals=tuple(proposals),
        selection=AT_MOST_ONE,
        uncertainties=tuple(uncertainties),
        order_refs=tuple(o.reference for o in orders),
    )


@rule(
    "seq-first-line-cns",
    title="First line with untreated CNS disease",
    hooks=PV,
    indicators=(Indicator.INFO,),
    confidence=(E,),
    citation=labels.EXPERT_COMMENTARY,
    override_set=OverrideSet.TREATMENT_CHOICE,
)
def seq_first_line_cns(s: Situation) -> Iterator[Conclusion]:
    cancer = s.patient.cancer
    if not _first_line_candidate(s) or cancer is None:
        return
    untreated_brain = (
        cancer.brain_metastases is True and cancer.brain_metastases_treated is not True
    )
    if not (untreated_brain or cancer.leptomeningeal is True):
        return
    what = []
    if untreated_brain:
        what.append("brain metastases")
    if cancer.leptomeningeal:
        what.append("leptomeningeal disease")
    uncertainties = list(s.tkd_uncertainties(s.tkd))
    if untreated_brain and cancer.brain_metastases_treated is None:
        uncertainties.append("The record does not say whether the brain metastases were treated.")
    yield Conclusion(
        indicator=Indicator.INFO,
        summary=f"HER2 TKD mutation with untreated {' and '.join(what)}: CNS activity of options",
        facts=(s.cancer_fact(), *(s.mutation_fact(m) for m in s.tkd)),
        guidance=(
            "T-DXd, zongertinib and sevabertinib all have intracranial activity. [E]",
            "Some experts start with T-DXd for untreated CNS disease; this is off-label as a "
            "first line and rests on expert opinion without prospective comparison. [E]",
        ),
        uncertainties=tuple(uncertainties),
    )


@rule(
    "seq-after-platinum",
    title="Second line after platinum for a HER2 TKD-activating mutation",
    hooks=ALL_HOOKS,
    indicators=(Indicator.INFO,),
    confidence=(S,),
    citation=labels.NCCN_AS_REPORTED,
    override_set=OverrideSet.TREATMENT_CHOICE,
)
def seq_after_platinum(s: Situation) -> Iterator[Conclusion]:
    if not s.in_scope or not s.tkd or not s.platinum_lines or s.her2_directed_received:
        return
    if not s.on_patient_view and (
        not s.anticancer_orders
        or any(o.drug in PREFERRED_AFTER_PLATINUM for o in s.anticancer_orders)
    ):
        return
    candidates = (TDXD,) if s.squamous else (TDXD, ZONG, SEVA)
    proposals, mods = her2_options(s, not_ordered(s, candidates))
    ordered = [short_name(o.drug) for o in s.anticancer_orders if o.drug]
    guidance = [
        "After platinum chemotherapy (with or without an ICI), T-DXd 5.4 mg/kg, zongertinib "
        "and sevabertinib are the preferred options; T-DM1 may be considered. [S]",
        DL02_NOTE,
        ROUTE_NOTE,
        *specimen_guidance(s),
    ]
    if mods:
        guidance.append(
            "Order of the options adjusted for this patient: "
            + "; ".join(m.text for m in mods)
            + ". [S]"
        )
    uncertainties = list(s.tkd_uncertainties(s.tkd)) + list(s.scope_uncertainties())
    if s.squamous:
        uncertainties.append(
            "Squamous histology: the zongertinib and sevabertinib labels cover non-squamous "
            "NSCLC, so only T-DXd is suggested."
        )
    uncertainties += _histology_note(s)
    yield Conclusion(
        indicator=Indicator.INFO,
        summary=(
            "HER2 TKD mutation after platinum (squamous): T-DXd is the labeled HER2 option"
            if s.squamous
            else "HER2 TKD mutation after platinum: T-DXd, zongertinib or sevabertinib preferred"
        ),
        facts=(
            s.cancer_fact(),
            *(s.mutation_fact(m) for m in s.tkd),
            *(s.line_fact(line) for line in s.platinum_lines),
            Fact("No HER2-directed drug in the record"),
            *(s.order_fact(o) for o in s.anticancer_orders),
            *(f for m in mods for f in m.facts),
        ),
        guidance=tuple(guidance) + ((f"Ordered: {', '.join(ordered)}.",) if ordered else ()),
        proposals=proposals,
        selection=_selection(proposals),
        uncertainties=tuple(uncertainties),
        show_lines=True,
        order_refs=tuple(o.reference for o in s.anticancer_orders),
    )


@rule(
    "seq-non-tkd",
    title="ERBB2 activating mutation outside the kinase domain",
    hooks=ALL_HOOKS,
    indicators=(Indicator.INFO,),
    confidence=(L,),
    citation=labels.HER2_AGENT_LABELS,
    override_set=OverrideSet.TREATMENT_CHOICE,
)
def seq_non_tkd(s: Situation) -> Iterator[Conclusion]:
    if not s.in_scope or not s.non_tkd or s.tkd:
        return
    orders = s.anticancer_orders
    if not s.on_patient_view and (not orders or any(o.drug is TDXD for o in orders)):
        return
    proposals: tuple[Proposal, ...] = ()
    if tdxd_eligible(s) and not s.received(TDXD):
        proposals = (drug_option(s, TDXD),)
    prior = s.prior_lines(excluding=TDXD)
    names = ", ".join(m.protein_change or m.notation for m in s.non_tkd)
    yield Conclusion(
        indicator=Indicator.INFO,
        summary=(
            f"ERBB2 {names} is outside the kinase domain: TKIs not labeled; "
            "T-DXd after prior therapy"
        ),
        facts=(
            s.cancer_fact(),
            *(s.mutation_fact(m) for m in s.non_tkd),
            *(s.line_fact(line) for line in prior),
            *(() if prior else (Fact("No prior systemic line for advanced disease"),)),
            *(s.order_fact(o) for o in orders),
        ),
        guidance=(
            "Zongertinib and sevabertinib are labeled for HER2 tyrosine-kinase-domain activating "
            "mutations only. [L]",
            "T-DXd is labeled for activating HER2 mutations after prior systemic therapy, "
            "without a kinase-domain restriction. [L]",
        )
        + (
            ()
            if prior
            else ("There is no prior systemic line yet, which T-DXd's label requires. [L]",)
        ),
        proposals=proposals,
        selection=_selection(proposals),
        uncertainties=s.tkd_uncertainties(s.non_tkd) + s.scope_uncertainties(),
        show_lines=True,
        order_refs=tuple(o.reference for o in orders),
    )


@rule(
    "seq-ihc3",
    title="HER2 IHC 3+ without an activating mutation",
    hooks=ALL_HOOKS,
    indicators=(Indicator.INFO,),
    confidence=(L, S),
    citation=labels.ENHERTU_LABEL,
    override_set=OverrideSet.TREATMENT_CHOICE,
)
def seq_ihc3(s: Situation) -> Iterator[Conclusion]:
    prior = s.prior_lines(excluding=TDXD)
    if not s.in_scope or not s.ihc3 or s.activating or not prior or s.received(TDXD):
        return
    orders = s.anticancer_orders
    if not s.on_patient_view and (not orders or any(o.drug is TDXD for o in orders)):
        return
    proposals = (drug_option(s, TDXD, recommended=True),)
    yield Conclusion(
        indicator=Indicator.INFO,
        summary=(
            "HER2 IHC 3+ after prior therapy: T-DXd 5.4 mg/kg if no satisfactory alternative "
            "treatment exists"
        ),
        facts=(
            s.cancer_fact(),
            *(s.ihc_fact(i) for i in s.ihc3),
            Fact("No activating ERBB2 mutation in the record"),
            *(s.line_fact(line) for line in prior),
            *(s.order_fact(o) for o in orders),
        ),
        guidance=(
            "T-DXd is the only HER2-directed agent approved for unresectable or metastatic "
            f"HER2-positive (IHC 3+) solid tumours, in patients {labels.TDXD_IHC3_CONDITION} "
            "(accelerated approval, 5.4 mg/kg every 3 weeks). [L]",
            "Zongertinib and sevabertinib need a HER2 kinase-domain mutation. [L]",
        ),
        proposals=proposals,
        selection=AT_MOST_ONE,
        uncertainties=s.scope_uncertainties(),
        show_lines=True,
        order_refs=tuple(o.reference for o in orders),
    )


@rule(
    "seq-amplification-only",
    title="HER2 amplification alone",
    hooks=PV,
    indicators=(Indicator.INFO,),
    confidence=(L,),
    citation=labels.HER2_AGENT_LABELS,
    override_set=OverrideSet.TREATMENT_CHOICE,
)
def seq_amplification_only(s: Situation) -> Iterator[Conclusion]:
    if not s.in_scope or not s.amplified or s.activating or s.ihc3:
        return
    no_ihc = not s.patient.her2.ihc
    proposals = (
        (Proposal("Order HER2 IHC on tumour tissue", (Request(Service.HER2_IHC),)),)
        if no_ihc
        else ()
    )
    yield Conclusion(
        indicator=Indicator.INFO,
        summary=(
            "HER2 amplification alone: no approved HER2 agent; HER2 IHC not done yet"
            if no_ihc
            else "HER2 amplification alone: no approved HER2 agent; consider a clinical trial"
        ),
        facts=(
            s.cancer_fact(),
            *(s.amplification_fact(a) for a in s.amplified),
            *(s.ihc_fact(i) for i in s.patient.her2.ihc),
            *((Fact("No HER2 IHC result found"),) if no_ihc else ()),
        ),
        guidance=(
            "No HER2-directed agent is approved on amplification alone in NSCLC. [L]",
            "IHC 3+ would make T-DXd an option after prior systemic therapy; otherwise "
            "consider a clinical trial. [L][S]",
        ),
        proposals=proposals,
        selection=SelectionBehavior.ANY if proposals else None,
        uncertainties=s.scope_uncertainties(),
        supersedes=silences(AMPLIFICATION_ONLY_IHC),
    )


@rule(
    "seq-after-zongertinib",
    title="After progression on zongertinib",
    hooks=ALL_HOOKS,
    indicators=(Indicator.INFO,),
    confidence=(S, L, E),
    citation=labels.NCCN_AS_REPORTED,
    override_set=OverrideSet.TREATMENT_CHOICE,
)
def seq_after_zongertinib(s: Situation) -> Iterator[Conclusion]:
    progression = s.progression_on(ZONG)
    if not s.in_scope or progression is None:
        return
    if not s.on_patient_view and not s.anticancer_orders:
        return
    candidates = [d for d in (TDXD, TDM1) if not s.received(d)]
    severe_ild = _severe_ild(s)
    proposals: list[Proposal] = []
    for drug in not_ordered(s, tuple(candidates)):
        proposal = drug_option(s, drug)
        if drug is TDM1 and severe_ild:
            proposal = replace(proposal, label=f"{proposal.label}: caution, prior ILD grade >= 2")
        proposals.append(proposal)
    platinum_given = any(line.contains_class(DrugClass.PLATINUM) for line in s.lines)
    ordered_platinum = any(o.drug in CHEMOTHERAPY for o in s.anticancer_orders)
    name_platinum = not platinum_given and not ordered_platinum
    if name_platinum:
        proposals += regimen_options(s, PLATINUM_DOUBLET)
    if not proposals and not name_platinum:
        return
    named = [short_name(d) for d in candidates] + ([] if platinum_given else ["platinum +/- ICI"])
    guidance = [
        "After progression on zongertinib, T-DXd, T-DM1 and platinum-based chemotherapy "
        "with or without an ICI are reasonable options; T-DM1 is not approved in NSCLC. [S]",
        "Switching to another HER2 TKI at progression is not supported. [S][E]",
        DL02_NOTE,
    ]
    if TDM1 in candidates:
        guidance.append(
            "T-DM1 dose per its label: 3.6 mg/kg IV every 3 weeks; its label says to "
            "permanently discontinue it for ILD or pneumonitis. [L]"
        )
    if TDM1 in candidates and severe_ild:
        guidance.append(
            "A grade 2 or higher ILD/pneumonitis is on file: T-DM1 is cautioned and not "
            "recommended here; T-DXd also carries a boxed ILD warning. [E][L]"
        )
    if name_platinum:
        guidance.append(PLATINUM_TEXT)
    yield Conclusion(
        indicator=Indicator.INFO,
        summary=f"Progression on zongertinib: options not yet received are {', '.join(named)}",
        facts=(
            s.cancer_fact(),
            progression.fact,
            *(s.mutation_fact(m) for m in s.activating),
            *(s.ild_fact(ep) for ep in severe_ild),
            *(s.order_fact(o) for o in s.anticancer_orders),
        ),
        guidance=tuple(guidance),
        proposals=tuple(proposals),
        selection=_selection(tuple(proposals)),
        uncertainties=s.scope_uncertainties(),
        show_lines=True,
        order_refs=tuple(o.reference for o in s.anticancer_orders),
    )


def _severe_ild(s: Situation) -> tuple[IldEpisode, ...]:
    """ILD/pneumonitis episodes of grade >= 2, or of unknown grade with hypoxia or oxygen
    need (read as grade >= 2, as ``ild-grade2-tdxd`` does)."""
    return tuple(
        ep
        for ep in s.ild_episodes
        if (ep.grade is not None and ep.grade >= 2) or (ep.grade is None and ep.hypoxia)
    )


TKI_ILD_NOTE = (
    "Zongertinib and sevabertinib both carry ILD/pneumonitis warnings; Beamion LUNG-1 "
    "(zongertinib) excluded patients with a history of non-infectious ILD/pneumonitis. [L]"
)
SEVABERTINIB_ILD_EXCLUSION_NOTE = (
    "Whether SOHO-01 (sevabertinib) excluded patients with prior ILD is unverified: the "
    "trial's exclusion criteria were not read."
)


@rule(
    "seq-after-tdxd",
    title="After progression on T-DXd, or after T-DXd stopped for ILD",
    hooks=PV,
    indicators=(Indicator.INFO,),
    confidence=(L,),
    citation=labels.HER2_TKI_LABELS,
    override_set=OverrideSet.TREATMENT_CHOICE,
)
def seq_after_tdxd(s: Situation) -> Iterator[Conclusion]:
    if not s.in_scope or not s.tkd:
        return
    progression = s.progression_on(TDXD)
    ild_stop = _tdxd_stopped_for_ild(s)
    if progression is None and not ild_stop:
        return
    drugs = tuple(d for d in tki_eligible(s) if not s.received(d))
    if not drugs:
        return
    proposals, _ = her2_options(s, drugs)
    guidance = [
        "After a prior HER2 antibody-drug conjugate, responses were about "
        f"{labels.ZONGERTINIB_ORR_AFTER_ADC_PERCENT} % with zongertinib and about "
        f"{labels.SEVABERTINIB_ORR_AFTER_ADC_PERCENT} % with sevabertinib. [L]",
        ROUTE_NOTE,
        *specimen_guidance(s),
    ]
    uncertainties = s.tkd_uncertainties(s.tkd) + s.scope_uncertainties()
    if ild_stop:
        proposals = tuple(replace(p, recommended=False) for p in proposals)
        guidance.insert(0, TKI_ILD_NOTE)
        uncertainties += (SEVABERTINIB_ILD_EXCLUSION_NOTE,)
        summary = (
            "T-DXd stopped for ILD, HER2 TKD mutation: TKIs are options with ILD caution "
            "(both carry ILD warnings)"
        )
    else:
        summary = "Progression on T-DXd with a HER2 TKD mutation: zongertinib or sevabertinib next"
    yield Conclusion(
        indicator=Indicator.INFO,
        summary=summary,
        facts=(
            s.cancer_fact(),
            *((progression.fact,) if progression is not None else ()),
            *(s.ild_fact(ep) for ep in ild_stop),
            *(s.mutation_fact(m) for m in s.tkd),
        ),
        guidance=tuple(guidance),
        proposals=proposals,
        selection=AT_MOST_ONE,
        uncertainties=uncertainties,
        show_lines=True,
    )


def _tdxd_stopped_for_ild(s: Situation) -> tuple[IldEpisode, ...]:
    """The ILD episodes attributed to T-DXd (named as its cause, or begun on it) when
    T-DXd is no longer active: a stop for ILD. () while T-DXd is active."""
    if not s.received(TDXD) or s.active(TDXD):
        return ()
    return tuple(
        ep for ep in s.ild_episodes if ep.cause_drug is TDXD or s.began_on_tdxd(ep) is True
    )


@rule(
    "seq-tki-after-tki",
    title="HER2 TKI after progression on another HER2 TKI: no data",
    hooks=ORDERS,
    indicators=(Indicator.INFO,),
    confidence=(L,),
    citation=labels.HER2_TKI_LABELS,
    override_set=OverrideSet.TREATMENT_CHOICE,
)
def seq_tki_after_tki(s: Situation) -> Iterator[Conclusion]:
    """Info, and it silences no other card: the sevabertinib start card (its safety
    content) stays (clinical-rules.md 9.1, answer (b))."""
    for order in s.orders_of(*HER2_TKIS):
        if order.drug is None:
            continue
        others = HER2_TKIS - {order.drug}
        progression = s.progression_on(*others)
        if progression is None:
            continue
        name = short_name(order.drug)
        proposals = [
            Proposal(f"Remove the draft {name} order", (CancelOrder(order.reference, order.drug),))
        ]
        if tdxd_eligible(s) and not s.received(TDXD):
            proposals.append(replace_order(s, order, TDXD))
        guidance = [
            "No data: patients previously treated with a HER2 TKI were not in the labeled "
            "study population (Beamion LUNG-1 for zongertinib, SOHO-01 for sevabertinib). [L]",
        ]
        if order.drug is SEVA and s.received(ZONG):
            guidance.append(
                "Sevabertinib after zongertinib is within the words of its indication (after "
                "a prior systemic therapy). [L]"
            )
        guidance.append(
            "T-DXd is the HER2 option after a TKI when the patient is eligible (activating "
            "mutation or IHC 3+, prior systemic therapy). [S][L]"
        )
        yield Conclusion(
            indicator=Indicator.INFO,
            summary=(
                f"{sentence_case(name)} after progression on another HER2 TKI: no data "
                "(prior HER2 TKI not in the labeled study population)"
            ),
            facts=(progression.fact, s.order_fact(order)),
            guidance=tuple(guidance),
            proposals=tuple(proposals),
            selection=AT_MOST_ONE,
            show_lines=True,
            order_refs=(order.reference,),
            drug=order.drug,
            supersedes=silences(TKI_AFTER_TKI_OPTIONS),
        )


@rule(
    "seq-ici-monotherapy",
    title="Single-agent ICI with an activating ERBB2 mutation",
    hooks=ORDERS,
    indicators=(Indicator.WARNING,),
    confidence=(S,),
    citation=labels.NCCN_AS_REPORTED,
    override_set=OverrideSet.TREATMENT_CHOICE,
)
def seq_ici_monotherapy(s: Situation) -> Iterator[Conclusion]:
    ici_orders = s.orders_of(*ICIS)
    if not ici_orders or not s.activating:
        return
    if s.all_drafts_of(*CHEMOTHERAPY) or s.active(*CHEMOTHERAPY):
        return
    current = s.lines[-1] if s.lines else None
    if current is not None and current.drugs & CHEMOTHERAPY and not current.progressed:
        return  # maintenance of a chemo-immunotherapy regimen
    names = ", ".join(sorted({short_name(o.drug) for o in ici_orders if o.drug}))
    yield Conclusion(
        indicator=Indicator.WARNING,
        summary=(
            f"{sentence_case(names)} alone with an activating ERBB2 mutation: "
            "ICI alone has limited activity"
        ),
        facts=(*(s.mutation_fact(m) for m in s.activating), *(s.order_fact(o) for o in ici_orders)),
        guidance=(
            "Immune checkpoint inhibitors given alone have limited activity in NSCLC driven by "
            "an oncogenic mutation such as ERBB2. [S]",
            "HER2-directed therapy, or platinum chemotherapy with or without an ICI, are the "
            "supported choices. [S]",
        ),
        uncertainties=s.tkd_uncertainties(s.tkd) if s.tkd else (),
        show_lines=True,
        order_refs=tuple(o.reference for o in ici_orders),
    )


@rule(
    "seq-adc-tki-together",
    title="HER2 ADC and HER2 TKI together",
    hooks=ORDERS,
    indicators=(Indicator.WARNING,),
    confidence=(S,),
    citation=labels.NCCN_AS_REPORTED,
    override_set=OverrideSet.TREATMENT_CHOICE,
)
def seq_adc_tki_together(s: Situation) -> Iterator[Conclusion]:
    tki_orders = s.orders_of(*HER2_TKIS)
    tdxd_orders = s.orders_of(TDXD)
    guidance = (
        "No data support giving T-DXd together with a HER2 TKI. [S]",
        "If the other drug has been stopped, record its stop; otherwise remove one of them. [S]",
    )
    paired: set[str] = set()
    # Both ordered together: one card, remove one of the two.
    for adc in tdxd_orders:
        for tki in s.all_drafts_of(*HER2_TKIS):
            key = "|".join(sorted((adc.reference, tki.reference)))
            if key in paired:
                continue
            paired.add(key)
            if tki.drug is None:
                continue
            name = short_name(tki.drug)
            proposals = (
                Proposal(f"Remove the draft {name} order", (CancelOrder(tki.reference, tki.drug),)),
                Proposal("Remove the draft T-DXd order", (CancelOrder(adc.reference, TDXD),)),
            )
            yield Conclusion(
                indicator=Indicator.WARNING,
                summary=f"T-DXd and {name} ordered together: no data support combining them",
                facts=(s.order_fact(adc), s.order_fact(tki)),
                guidance=guidance,
                proposals=proposals,
                selection=AT_MOST_ONE,
                order_refs=(adc.reference, tki.reference),
            )
    for order in (*tdxd_orders, *tki_orders):
        if any(order.reference in key.split("|") for key in paired):
            continue
        others = s.active(*HER2_TKIS) if order.drug is TDXD else s.active(TDXD)
        if not others:
            continue
        if order.drug is None:
            continue
        name = short_name(order.drug)
        other = short_name(others[0].drug)
        yield Conclusion(
            indicator=Indicator.WARNING,
            summary=f"{name} ordered while {other} is active: no data support combining them",
            facts=(s.order_fact(order), *(s.exposure_fact(e) for e in others)),
            guidance=guidance,
            proposals=(
                Proposal(
                    f"Remove the draft {name} order", (CancelOrder(order.reference, order.drug),)
                ),
            ),
            selection=AT_MOST_ONE,
            order_refs=(order.reference,),
            drug=order.drug,
        )


_NOT_HER2_REASON = {
    Drug.AMIVANTAMAB: "has no HER2 indication; labeled for EGFR-mutant NSCLC",
    Drug.MOBOCERTINIB: "targeted EGFR exon 20 insertions; US withdrawal announced October 2023",
    Drug.POZIOTINIB: "was never approved (complete response letter, 2022)",
}


def _egfr_disease(s: Situation) -> bool:
    """An EGFR-sensitising mutation in the EGFR gene (an ERBB2 exon 20 insertion never
    counts: EGFR status holds EGFR results only), or a prior EGFR-TKI line."""
    egfr = s.patient.egfr
    if egfr.sensitising is True or egfr.exon20_insertion is True:
        return True
    if any(line.line_class is LineClass.EGFR_TKI for line in s.lines):
        return True
    return bool(s.exposures(*EGFR_TKIS))


def _egfr_fact(s: Situation) -> Fact:
    egfr = s.patient.egfr
    if egfr.sensitising is False:
        return Fact("No EGFR-sensitising mutation", egfr.date, egfr.sources)
    if egfr.mutated is True:
        return Fact(
            "EGFR variant on file, type not stated (sensitising or not)", egfr.date, egfr.sources
        )
    return Fact("EGFR-sensitising mutation: not found in the record; no EGFR-TKI line")


@rule(
    "seq-not-her2-agent",
    title="Agent not approved for HER2 disease",
    hooks=ORDERS,
    indicators=(Indicator.WARNING,),
    confidence=(L,),
    citation=labels.NOT_HER2_AGENTS,
    override_set=OverrideSet.TREATMENT_CHOICE,
)
def seq_not_her2_agent(s: Situation) -> Iterator[Conclusion]:
    if not s.her2_disease or _egfr_disease(s):
        return
    for order in s.orders_of(*NOT_HER2_AGENTS):
        if order.drug is None:
            continue
        name = short_name(order.drug)
        proposals = [
            Proposal(f"Remove the draft {name} order", (CancelOrder(order.reference, order.drug),))
        ]
        eligible = [d for d in tki_eligible(s) if not s.received(d)]
        if tdxd_eligible(s) and not s.received(TDXD):
            eligible.insert(0, TDXD)
        proposals += [replace_order(s, order, d) for d in eligible]
        uncertainties: list[str] = []
        if s.patient.egfr.mutated is True and s.patient.egfr.sensitising is None:
            uncertainties.append(
                "An EGFR variant is on file but the record does not say which: if it is an "
                "EGFR-sensitising mutation, this order may serve the EGFR disease and this "
                "warning does not apply."
            )
        yield Conclusion(
            indicator=Indicator.WARNING,
            summary=(
                f"{sentence_case(name)} is not a HER2 therapy: it {_NOT_HER2_REASON[order.drug]}"
            ),
            facts=(
                *(s.mutation_fact(m) for m in s.activating),
                *(s.ihc_fact(i) for i in s.ihc3),
                *(s.amplification_fact(a) for a in s.amplified),
                _egfr_fact(s),
                s.order_fact(order),
            ),
            guidance=(
                "Amivantamab has no HER2 indication: it is labeled for EGFR-mutant NSCLC (exon "
                "20 insertions; exon 19 deletions and L858R in combinations). [L]",
                "Mobocertinib targeted EGFR exon 20 insertions; its US withdrawal was announced "
                "in October 2023. Poziotinib was never approved (complete response letter, "
                "2022). [L]",
                "None of them should be used for HER2-altered NSCLC; with an EGFR-sensitising "
                "mutation or a prior EGFR-TKI line this card is not shown. [L]",
                *(specimen_guidance(s) if any(d in (ZONG, SEVA) for d in eligible) else ()),
            ),
            proposals=tuple(proposals),
            selection=AT_MOST_ONE,
            uncertainties=tuple(uncertainties),
            order_refs=(order.reference,),
            drug=order.drug,
            supersedes=silences(NOT_HER2_AGENT_OPTIONS),
        )


@rule(
    "seq-off-label-tki",
    title="HER2 TKI outside the labeled indication",
    hooks=ORDERS,
    indicators=(Indicator.WARNING,),
    confidence=(L,),
    citation=labels.HER2_TKI_LABELS,
    override_set=OverrideSet.TREATMENT_CHOICE,
)
def seq_off_label_tki(s: Situation) -> Iterator[Conclusion]:
    for order in s.orders_of(ZONG, SEVA):
        if order.drug is None:
            continue
        reasons: list[str] = []
        facts: list[Fact] = []
        if not s.tkd:
            reasons.append(VUS_CAUSE if only_vus(s) else "no HER2 TKD-activating mutation")
            facts += [s.mutation_fact(m) for m in s.patient.her2.mutations]
            facts += [s.ihc_fact(i) for i in s.patient.her2.ihc]
            if not s.patient.her2.mutations:
                facts.append(Fact("No ERBB2 TKD-activating mutation in the record"))
        if s.squamous:
            reasons.append("squamous histology")
            facts.append(s.cancer_fact())
        prior = s.prior_lines(excluding=order.drug)
        if order.drug is SEVA and not prior:
            reasons.append("no prior systemic therapy")
            facts.append(Fact("No prior systemic line for advanced disease"))
        if not reasons:
            continue
        name = short_name(order.drug)
        proposals: list[Proposal] = []
        if tdxd_eligible(s) and not s.received(TDXD):
            proposals.append(replace_order(s, order, TDXD))
        elif order.drug is SEVA and s.tkd and not s.squamous and not prior:
            proposals.append(replace_order(s, order, ZONG))
        yield Conclusion(
            indicator=Indicator.WARNING,
            summary=_short_summary(
                f"{sentence_case(name)} outside its labeled indication: {', '.join(reasons)}"
            ),
            facts=(*facts, s.order_fact(order)),
            guidance=(
                "Zongertinib is labeled for unresectable or metastatic non-squamous NSCLC with a "
                "HER2 TKD-activating mutation (FDA-approved test), first line or after prior "
                "therapy. [L]",
                "Sevabertinib is labeled for the same mutations after prior systemic therapy. [L]",
                *(specimen_guidance(s) if proposals and proposals[0].creates(ZONG) else ()),
            )
            + (
                ("The on-label option for this patient is suggested below. [L]",)
                if proposals
                else ()
            ),
            proposals=tuple(proposals),
            selection=_selection(tuple(proposals)),
            uncertainties=s.tkd_uncertainties(s.tkd) if s.tkd else (),
            show_lines=order.drug is SEVA,
            order_refs=(order.reference,),
            drug=order.drug,
            supersedes=silences(OFF_LABEL_TKI_OPTIONS),
        )


@rule(
    "seq-off-label-tdxd",
    title="T-DXd outside the labeled indications",
    hooks=ORDERS,
    indicators=(Indicator.WARNING,),
    confidence=(L,),
    citation=labels.ENHERTU_LABEL,
    override_set=OverrideSet.TREATMENT_CHOICE,
)
def seq_off_label_tdxd(s: Situation) -> Iterator[Conclusion]:
    for order in s.orders_of(TDXD):
        reasons: list[str] = []
        facts: list[Fact] = []
        if not s.tdxd_eligible_biomarker:
            reasons.append(VUS_CAUSE if only_vus(s) else "no activating ERBB2 mutation or IHC 3+")
            facts += [s.mutation_fact(m) for m in s.patient.her2.mutations]
            facts += [s.ihc_fact(i) for i in s.patient.her2.ihc]
            if not (s.patient.her2.mutations or s.patient.her2.ihc):
                facts.append(Fact("No activating ERBB2 mutation or HER2 IHC 3+ in the record"))
        if not s.prior_lines(excluding=TDXD):
            reasons.append("no prior systemic therapy")
            facts.append(Fact("No prior systemic line for advanced disease"))
        if not reasons:
            continue
        yield Conclusion(
            indicator=Indicator.WARNING,
            summary=f"T-DXd outside its labeled indications: {', '.join(reasons)}",
            facts=(*facts, s.order_fact(order)),
            guidance=(
                "T-DXd is labeled in NSCLC for activating HER2 mutations after prior systemic "
                "therapy, and for HER2-positive (IHC 3+) solid tumours after prior systemic "
                "treatment with no satisfactory alternative treatment options. [L]",
            ),
            show_lines=True,
            order_refs=(order.reference,),
            drug=TDXD,
            supersedes=silences(OFF_LABEL_TDXD_VUS),
        )

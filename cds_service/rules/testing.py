"""6.1 Testing: molecular results should precede the first-line choice.

| rule | hooks | when |
|---|---|---|
| test-broad-ngs | PV; OS/SG (anticancer order) | advanced NSCLC, no ERBB2 mutation result at all |
| test-tissue-after-plasma | PV | ERBB2 negative on plasma only, no tissue result |
| test-her2-ihc | PV | progression on a first line, no HER2 IHC, no actionable ERBB2 mutation |
| test-retest-on-resistance | PV | progression on an EGFR TKI, no HER2 test dated after it |
| test-vus | PV, OS, SG | only ERBB2 finding a VUS; HER2-directed drug active (PV) or ordered |

Version 2 (clinical-rules.md 9.1):

- ``test-broad-ngs`` says "no ERBB2 result" (or "no ERBB2 mutation result" when HER2 IHC or
  ISH is on file) when other molecular results exist, never "no molecular results".
- ``test-vus`` on patient-view only while a HER2-directed drug is active; an off-label
  card for the same order replaces it and names the VUS (answer (c), in ``sequencing``).
- ``test-retest-on-resistance`` may replace ``test-her2-ihc``; it then also suggests HER2
  IHC on the re-biopsy tissue (plasma cannot show overexpression) (answer (a)).
- ``test-her2-ihc``: the tumour-agnostic IHC 3+ indication's "no satisfactory alternative
  treatment options" clause [L].
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.rules import labels
from cds_service.rules.base import (
    ALL_HOOKS,
    PV,
    Conclusion,
    Confidence,
    Fact,
    OverrideSet,
    Proposal,
    Request,
    Service,
    rule,
)
from cds_service.rules.interplay import RETEST_ON_RESISTANCE_IHC, silences
from cds_service.rules.labels import sentence_case, short_name
from cds_service.rules.situation import HER2_DIRECTED, Situation
from cds_service.wire import Indicator, SelectionBehavior
from fhir_mappings.model import DrugClass, Her2Mutation, Specimen, VariantClass

L, S = Confidence.LABEL, Confidence.SEEDS


def only_vus(s: Situation) -> bool:
    """The only ERBB2 finding is a variant of uncertain significance: no activating or
    resistance mutation, no IHC 3+, no amplification."""
    vus = s.mutations(VariantClass.VUS)
    others = s.mutations(
        VariantClass.TKD_ACTIVATING, VariantClass.NON_TKD_ACTIVATING, VariantClass.RESISTANCE
    )
    return bool(vus) and not others and not s.ihc3 and not s.amplified


def _other_molecular_results(s: Situation) -> bool:
    her2 = s.patient.her2
    return s.patient.egfr.mutated is not None or bool(her2.ihc or her2.amplification)


@rule(
    "test-broad-ngs",
    title="Broad molecular testing before first-line therapy",
    hooks=ALL_HOOKS,
    indicators=(Indicator.INFO, Indicator.WARNING),
    confidence=(S,),
    citation=labels.NCCN_TESTING,
    override_set=OverrideSet.TESTING,
)
def test_broad_ngs(s: Situation) -> Iterator[Conclusion]:
    if not s.in_scope or s.patient.her2.mutation_tested:
        return
    if not s.on_patient_view and not s.anticancer_orders:
        return
    facts = [s.cancer_fact(), Fact("No ERBB2 mutation result (positive, negative or VUS) found")]
    facts += [s.order_fact(o) for o in s.anticancer_orders]
    her2 = s.patient.her2
    if not _other_molecular_results(s):
        missing = "No molecular results"
    elif her2.ihc or her2.amplification:
        missing = "No ERBB2 mutation result"
    else:
        missing = "No ERBB2 result"
    yield Conclusion(
        indicator=Indicator.INFO if s.on_patient_view else Indicator.WARNING,
        summary=(
            f"{missing}: order broad NGS (tissue and plasma) before first-line therapy"
            if s.on_patient_view
            else f"{missing} yet: broad NGS (tissue, plasma) should precede this order"
        ),
        facts=tuple(facts),
        guidance=(
            "Advanced NSCLC needs a broad NGS panel that includes ERBB2 before the first-line "
            "choice: a HER2 TKD-activating mutation makes zongertinib the preferred first "
            "line. [S]",
            "Plasma ctDNA sent at the same time as tissue shortens the time to a result; a "
            "negative plasma result does not exclude a mutation. [S]",
        ),
        proposals=(
            Proposal("Order a broad NGS panel on tissue", (Request(Service.NGS_TISSUE),)),
            Proposal("Order plasma ctDNA NGS at the same time", (Request(Service.CTDNA_PLASMA),)),
        ),
        selection=SelectionBehavior.ANY,
        uncertainties=s.scope_uncertainties(),
        order_refs=tuple(o.reference for o in s.anticancer_orders),
    )


@rule(
    "test-tissue-after-plasma",
    title="Tissue testing after a negative plasma result",
    hooks=PV,
    indicators=(Indicator.INFO,),
    confidence=(L,),
    citation=labels.ENHERTU_LABEL,
    override_set=OverrideSet.TESTING,
)
def test_tissue_after_plasma(s: Situation) -> Iterator[Conclusion]:
    her2 = s.patient.her2
    if not s.in_scope or s.mutations(VariantClass.TKD_ACTIVATING, VariantClass.NON_TKD_ACTIVATING):
        return
    plasma = [n for n in her2.negative_results if n.specimen is Specimen.PLASMA]
    other = [n for n in her2.negative_results if n.specimen is not Specimen.PLASMA]
    tissue_mutations = [m for m in her2.mutations if m.specimen is not Specimen.PLASMA]
    if not plasma or other or tissue_mutations:
        return
    yield Conclusion(
        indicator=Indicator.INFO,
        summary="ERBB2 negative on plasma only: a tissue NGS panel is still needed",
        facts=(s.cancer_fact(), *(s.negative_fact(n) for n in plasma)),
        guidance=(
            "A negative plasma (ctDNA) result does not exclude an ERBB2 mutation: the T-DXd "
            "label's patient selection says to test tumour tissue when plasma finds none. [L]",
        ),
        proposals=(Proposal("Order a broad NGS panel on tissue", (Request(Service.NGS_TISSUE),)),),
        selection=SelectionBehavior.ANY,
        uncertainties=s.scope_uncertainties(),
    )


@rule(
    "test-her2-ihc",
    title="HER2 IHC after progression on first line",
    hooks=PV,
    indicators=(Indicator.INFO,),
    confidence=(S, L),
    citation=labels.ENHERTU_LABEL,
    override_set=OverrideSet.TESTING,
)
def test_her2_ihc(s: Situation) -> Iterator[Conclusion]:
    if not s.in_scope or s.patient.her2.ihc or s.activating or not s.lines:
        return
    first = s.lines[0]
    if not (first.progressed or len(s.lines) > 1):
        return
    yield Conclusion(
        indicator=Indicator.INFO,
        summary="Progression after first line, no HER2 IHC: IHC 3+ would make T-DXd an option",
        facts=(s.cancer_fact(), s.line_fact(first), Fact("No HER2 IHC result found")),
        guidance=(
            "T-DXd is approved for unresectable or metastatic HER2-positive (IHC 3+) solid "
            f"tumours, NSCLC included, in patients {labels.TDXD_IHC3_CONDITION}. [L]",
            "Without an actionable ERBB2 mutation, HER2 IHC on tissue decides this option. [S]",
        ),
        proposals=(Proposal("Order HER2 IHC on tumour tissue", (Request(Service.HER2_IHC),)),),
        selection=SelectionBehavior.ANY,
        uncertainties=s.scope_uncertainties(),
        show_lines=True,
    )


@rule(
    "test-retest-on-resistance",
    title="Re-test HER2 at EGFR-TKI resistance",
    hooks=PV,
    indicators=(Indicator.INFO,),
    confidence=(S,),
    citation=labels.NCCN_TESTING,
    override_set=OverrideSet.TESTING,
)
def test_retest_on_resistance(s: Situation) -> Iterator[Conclusion]:
    progression = s.progression_on_class(DrugClass.EGFR_TKI)
    if not s.in_scope or progression is None:
        return
    dates = s.her2_test_dates()
    if progression.date is not None and any(d is not None and d > progression.date for d in dates):
        return
    uncertainties = list(s.scope_uncertainties())
    if progression.date is None and dates:
        uncertainties.append(
            "The progression date is not recorded, so HER2 results on file cannot be placed "
            "before or after it."
        )
    yield Conclusion(
        indicator=Indicator.INFO,
        summary="Progression on an EGFR TKI: re-test including ERBB2 (re-biopsy or ctDNA)",
        facts=(
            s.cancer_fact(),
            progression.fact,
            Fact("No HER2 result dated after this progression"),
        ),
        guidance=(
            "HER2 amplification or overexpression is a recognised mechanism of resistance to "
            "EGFR TKIs; a post-progression biopsy (NGS, with HER2 IHC) or a ctDNA panel "
            "including ERBB2 can find it. [S]",
            "Plasma cannot show HER2 overexpression: HER2 IHC needs the re-biopsy tissue. [S]",
        ),
        proposals=(
            Proposal(
                "Re-biopsy with an NGS panel including ERBB2", (Request(Service.REBIOPSY_NGS),)
            ),
            Proposal("Plasma ctDNA NGS including ERBB2", (Request(Service.CTDNA_ERBB2),)),
            Proposal(
                "HER2 IHC on the re-biopsy tissue (plasma cannot show overexpression)",
                (Request(Service.HER2_IHC),),
            ),
        ),
        selection=SelectionBehavior.ANY,
        uncertainties=tuple(uncertainties),
        show_lines=True,
        supersedes=silences(RETEST_ON_RESISTANCE_IHC),
    )


@rule(
    "test-vus",
    title="ERBB2 variant of uncertain significance is not actionable",
    hooks=ALL_HOOKS,
    indicators=(Indicator.INFO, Indicator.WARNING),
    confidence=(S,),
    citation=labels.HER2_AGENT_LABELS,
    override_set=OverrideSet.TREATMENT_CHOICE,
)
def test_vus(s: Situation) -> Iterator[Conclusion]:
    if not s.in_scope or not only_vus(s):
        return
    vus = s.mutations(VariantClass.VUS)
    if s.on_patient_view:
        active = s.active(*HER2_DIRECTED)
        if not active:
            return
        drug_facts = [s.exposure_fact(e) for e in active]
        refs: tuple[str, ...] = ()
    else:
        # One card per order: an off-label card replaces the VUS card of its own order only.
        for order in s.orders_of(*HER2_DIRECTED):
            name = sentence_case(short_name(order.drug)) if order.drug else "HER2-directed drug"
            summary = f"{name} ordered, but the only ERBB2 finding is a VUS: not actionable"
            yield _vus_conclusion(s, summary, vus, (s.order_fact(order),), (order.reference,))
        return
    summary = "HER2-directed drug active, but the only ERBB2 finding is a VUS: not actionable"
    yield _vus_conclusion(s, summary, vus, tuple(drug_facts), refs)


def _vus_conclusion(
    s: Situation,
    summary: str,
    vus: tuple[Her2Mutation, ...],
    drug_facts: tuple[Fact, ...],
    refs: tuple[str, ...],
) -> Conclusion:
    return Conclusion(
        indicator=Indicator.INFO if s.on_patient_view else Indicator.WARNING,
        summary=summary,
        facts=(*(s.mutation_fact(m) for m in vus), *drug_facts),
        guidance=(
            "HER2-directed therapy is labeled for activating ERBB2 mutations (or IHC 3+ for "
            "T-DXd); a variant of uncertain significance does not qualify. [S]",
            "Consider HER2 IHC on tissue or re-testing if the result could change. [S]",
        ),
        uncertainties=s.scope_uncertainties(),
        order_refs=refs,
    )

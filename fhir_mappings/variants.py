"""The ERBB2 variant classifier (clinical-rules.md, section 4).

Order of evidence: the protein change (p.HGVS); the coding DNA change (c.HGVS) only when
no protein change is given; free text ("exon 20 insertion", "YVMA") as a last resort.
The first affected residue decides the position.

Decisions, where section 4 leaves room (safer behaviour chosen):

- A stated significance wins over position and over the known lists: benign or likely
  benign -> ``benign``; uncertain -> ``vus`` (the lab's call is not overridden).
- Known lists first: resistance (T798I, C805S [?]), then known non-kinase-domain
  activating changes (S310F/Y, V659E, G660D, R678Q), then the kinase-domain rule.
- Kinase-domain rule: pathogenic, likely pathogenic or unstated, first residue within the
  configured bounds (default 720-987 [?]) -> ``tkd-activating``. Nonsense, frameshift,
  extension and synonymous changes are never activating: ``vus`` ("not classifiable";
  not called benign because no lab said so).
- Outside the kinase domain and not on the known list: ``non-tkd-activating`` only when
  the lab states pathogenic / likely pathogenic (a pathogenic call in an oncogene is read
  as activating); unstated -> ``vus``.
- c.HGVS: intronic or frame-shifting -> ``vus``; an in-frame insertion, duplication or
  deletion-insertion is placed by its first codon like a protein change; a substitution's
  protein effect cannot be known without translation, so it is placed by codon only when
  the lab states it pathogenic, else ``vus``.
- Text: an exon 20 insertion phrase (or "YVMA") -> ``tkd-activating`` with the exon 20
  flag; any other text -> ``vus``.
- The exon 20 flag marks insertion-like changes (ins, dup, delins adding residues) whose
  first residue is in ERBB2 exon 20, taken as residues 770-831 [?] (approximate; not in
  the spec). For EGFR the same is done with residues 762-823 [?].
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fhir_mappings.hgvs import (
    ChangeKind,
    DnaChange,
    DnaChangeKind,
    ProteinChange,
    find_dna_change,
    find_protein_change,
    parse_dna_change,
    parse_protein_change,
)
from fhir_mappings.model import Significance, VariantClass

KNOWN_NON_TKD_ACTIVATING = frozenset({"p.S310F", "p.S310Y", "p.V659E", "p.G660D", "p.R678Q"})
"""Known activating changes outside the kinase domain (clinical-rules.md section 4)."""
KNOWN_RESISTANCE = frozenset({"p.T798I", "p.C805S"})
"""Known resistance changes (section 4; C805S is [?])."""
ERBB2_EXON20 = (770, 831)
"""ERBB2 exon 20 residues [?] (approximation, not in the spec)."""
EGFR_EXON20 = (762, 823)
"""EGFR exon 20 residues [?] (approximation, not in the spec)."""
EGFR_EXON19 = (729, 761)
"""EGFR exon 19 residues [?] (approximation, not in the spec), for exon 19 deletions."""
EGFR_SENSITISING_POINT = frozenset({"p.L858R", "p.S768I", "p.L861Q", "p.L861R"})
"""EGFR point mutations read as sensitising: L858R (exon 21, osimertinib and amivantamab
labels [L]); S768I, L861Q/R [?] (uncommon sensitising mutations; not re-read in a label)."""
EGFR_SENSITISING_CODON = 719
"""G719X (any substitution of glycine 719, exon 18) [?] (uncommon sensitising mutation)."""
EGFR_RESISTANCE = frozenset({"p.T790M", "p.C797S"})
"""EGFR resistance changes: not sensitising on their own (clinical-rules.md section 9.1)."""

_NOT_ACTIVATING_KINDS = frozenset(
    {ChangeKind.NONSENSE, ChangeKind.FRAMESHIFT, ChangeKind.EXTENSION, ChangeKind.SYNONYMOUS}
)
_STATED_PATHOGENIC = frozenset({Significance.PATHOGENIC, Significance.LIKELY_PATHOGENIC})
_EGFR_SENSITISING_TEXT = re.compile(
    r"\b(?:exon\s*19\s*(?:deletion|del)s?|ex\s*19\s*del|e19\s*del|l858r|sensiti[sz]ing)\b",
    re.IGNORECASE,
)
_EXON20_TEXT = re.compile(
    r"\b(?:exon\s*20\s*(?:insertion|ins|duplication|dup)s?|ex\s*20\s*ins|e20\s*ins|yvma)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class KinaseDomain:
    first: int = 720
    last: int = 987

    def __contains__(self, residue: object) -> bool:
        return isinstance(residue, int) and self.first <= residue <= self.last


@dataclass(frozen=True, slots=True)
class Classification:
    variant_class: VariantClass
    protein_change: str | None
    """Normalised one-letter p.HGVS (None when only c.HGVS or text was given)."""
    exon20_insertion: bool
    basis: str
    """"protein", "dna" or "text": which evidence decided."""


def mentions_exon20_insertion(text: str) -> bool:
    return bool(_EXON20_TEXT.search(text))


def _in(bounds: tuple[int, int], residue: int) -> bool:
    return bounds[0] <= residue <= bounds[1]


def _by_protein(
    change: ProteinChange, significance: Significance, domain: KinaseDomain
) -> VariantClass:
    if change.notation in KNOWN_RESISTANCE:
        return VariantClass.RESISTANCE
    if change.notation in KNOWN_NON_TKD_ACTIVATING:
        return VariantClass.NON_TKD_ACTIVATING
    if change.kind in _NOT_ACTIVATING_KINDS:
        return VariantClass.VUS
    if change.first_position in domain:
        return VariantClass.TKD_ACTIVATING
    if significance in _STATED_PATHOGENIC:
        return VariantClass.NON_TKD_ACTIVATING
    return VariantClass.VUS


def _by_dna(change: DnaChange, significance: Significance, domain: KinaseDomain) -> VariantClass:
    if change.intronic or change.in_frame is False:
        return VariantClass.VUS
    stated = significance in _STATED_PATHOGENIC
    if change.kind is DnaChangeKind.SUBSTITUTION and not stated:
        return VariantClass.VUS
    if change.in_frame is None and not stated:
        return VariantClass.VUS
    if change.first_codon in domain:
        return VariantClass.TKD_ACTIVATING
    return VariantClass.NON_TKD_ACTIVATING if stated else VariantClass.VUS


def _dna_gains_residues(change: DnaChange) -> bool:
    return change.kind in (DnaChangeKind.INSERTION, DnaChangeKind.DUPLICATION) or (
        change.kind is DnaChangeKind.DELINS and change.in_frame is True
    )


def classify_erbb2(
    *,
    protein: str | None = None,
    dna: str | None = None,
    text: str | None = None,
    significance: Significance = Significance.UNSTATED,
    domain: KinaseDomain | None = None,
) -> Classification:
    """Classify one ERBB2 variant from whatever notation the record gives."""
    domain = domain or KinaseDomain()
    protein_change = _protein(protein, text)
    dna_change = _dna(dna, text) if protein_change is None else None
    exon20 = _exon20(protein_change, dna_change, text, ERBB2_EXON20)
    notation = protein_change.notation if protein_change else None
    basis = "protein" if protein_change else "dna" if dna_change else "text"
    if significance in (Significance.BENIGN, Significance.LIKELY_BENIGN):
        return Classification(VariantClass.BENIGN, notation, exon20, basis)
    if significance is Significance.UNCERTAIN:
        return Classification(VariantClass.VUS, notation, exon20, basis)
    if protein_change is not None:
        variant_class = _by_protein(protein_change, significance, domain)
    elif dna_change is not None:
        variant_class = _by_dna(dna_change, significance, domain)
    elif text and mentions_exon20_insertion(text):
        variant_class = VariantClass.TKD_ACTIVATING
    else:
        variant_class = VariantClass.VUS
    return Classification(variant_class, notation, exon20, basis)


def _protein(protein: str | None, text: str | None) -> ProteinChange | None:
    if protein:
        parsed = parse_protein_change(protein) or find_protein_change(protein)
        if parsed is not None:
            return parsed
    return find_protein_change(text) if text else None


def _dna(dna: str | None, text: str | None) -> DnaChange | None:
    if dna:
        parsed = parse_dna_change(dna) or find_dna_change(dna)
        if parsed is not None:
            return parsed
    return find_dna_change(text) if text else None


def _exon20(
    protein: ProteinChange | None,
    dna: DnaChange | None,
    text: str | None,
    exon: tuple[int, int],
) -> bool:
    if protein is not None:
        return protein.is_insertion_like and _in(exon, protein.first_position)
    if dna is not None:
        return _dna_gains_residues(dna) and _in(exon, dna.first_codon) and dna.in_frame is not False
    return bool(text) and mentions_exon20_insertion(text or "")


def egfr_exon20_insertion(notation: str) -> bool | None:
    """Whether an EGFR notation is an exon 20 insertion; None when it cannot be told."""
    change = find_protein_change(notation)
    if change is not None:
        return change.is_insertion_like and _in(EGFR_EXON20, change.first_position)
    dna = find_dna_change(notation)
    if dna is not None:
        return _dna_gains_residues(dna) and _in(EGFR_EXON20, dna.first_codon)
    if mentions_exon20_insertion(notation):
        return True
    return None


def egfr_sensitising(notation: str, significance: Significance) -> bool | None:
    """Whether an EGFR result is a sensitising (activating) mutation (section 9.1,
    ``seq-not-her2-agent``); None when the record does not say which variant it is.

    True: exon 19 in-frame deletion (residues 729-761 [?]), L858R, an exon 20 insertion,
    G719X, S768I, L861Q/R, or any other EGFR protein change a lab calls pathogenic or
    likely pathogenic (a pathogenic call in an oncogene is read as activating, as for
    ERBB2). False: T790M or C797S alone (resistance changes). None: any other change of
    unstated significance, or a text that names no variant ("EGFR mutated").
    Only EGFR-gene results reach this function: an ERBB2 exon 20 insertion never counts.
    """
    change = find_protein_change(notation)
    if change is not None:
        if change.notation in EGFR_SENSITISING_POINT:
            return True
        if change.kind is ChangeKind.MISSENSE and change.first_position == EGFR_SENSITISING_CODON:
            return change.first_residue == "G"
        if change.notation in EGFR_RESISTANCE:
            return False
        if change.kind in (ChangeKind.DELETION, ChangeKind.DELINS) and _in(
            EGFR_EXON19, change.first_position
        ):
            return not change.is_insertion_like
        if change.is_insertion_like and _in(EGFR_EXON20, change.first_position):
            return True
        return True if significance in _STATED_PATHOGENIC else None
    if egfr_exon20_insertion(notation) is True:
        return True
    if _EGFR_SENSITISING_TEXT.search(notation):
        return True
    return None

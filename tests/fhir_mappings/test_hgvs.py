"""The HGVS parser: protein changes as labs write them, normalised to one-letter p. notation."""

from __future__ import annotations

import pytest

from fhir_mappings.hgvs import (
    ChangeKind,
    DnaChangeKind,
    find_protein_change,
    parse_dna_change,
    parse_protein_change,
)


@pytest.mark.parametrize(
    ("notation", "normalised", "kind", "first_position"),
    [
        ("p.Y772_A775dup", "p.Y772_A775dup", ChangeKind.DUPLICATION, 772),
        ("p.Tyr772_Ala775dup", "p.Y772_A775dup", ChangeKind.DUPLICATION, 772),
        ("NP_004439.2:p.Tyr772_Ala775dup", "p.Y772_A775dup", ChangeKind.DUPLICATION, 772),
        ("NP_004439.2:p.(Tyr772_Ala775dup)", "p.Y772_A775dup", ChangeKind.DUPLICATION, 772),
        ("p.(Y772_A775dup)", "p.Y772_A775dup", ChangeKind.DUPLICATION, 772),
        ("Y772_A775dup", "p.Y772_A775dup", ChangeKind.DUPLICATION, 772),
        ("p.Y772_A775dupYVMA", "p.Y772_A775dup", ChangeKind.DUPLICATION, 772),
        ("p.A775_G776insYVMA", "p.A775_G776insYVMA", ChangeKind.INSERTION, 775),
        ("p.Ala775_Gly776insTyrValMetAla", "p.A775_G776insYVMA", ChangeKind.INSERTION, 775),
        ("p.G776delinsVC", "p.G776delinsVC", ChangeKind.DELINS, 776),
        ("p.Gly776delinsValCys", "p.G776delinsVC", ChangeKind.DELINS, 776),
        ("p.G778_P780dup", "p.G778_P780dup", ChangeKind.DUPLICATION, 778),
        ("p.V777L", "p.V777L", ChangeKind.MISSENSE, 777),
        ("p.Val777Leu", "p.V777L", ChangeKind.MISSENSE, 777),
        ("S310F", "p.S310F", ChangeKind.MISSENSE, 310),
        ("p.(Ser310Phe)", "p.S310F", ChangeKind.MISSENSE, 310),
        ("ERBB2:p.V842I", "p.V842I", ChangeKind.MISSENSE, 842),
        ("p.L755_T759del", "p.L755_T759del", ChangeKind.DELETION, 755),
        ("p.R678Qfs*10", "p.R678Qfs*10", ChangeKind.FRAMESHIFT, 678),
        ("p.Arg678GlnfsTer10", "p.R678Qfs*10", ChangeKind.FRAMESHIFT, 678),
        ("p.Arg103Ter", "p.R103*", ChangeKind.NONSENSE, 103),
        ("p.R103*", "p.R103*", ChangeKind.NONSENSE, 103),
        ("p.L755=", "p.L755=", ChangeKind.SYNONYMOUS, 755),
        ("p.E770_A771ins4", "p.E770_A771ins", ChangeKind.INSERTION, 770),
    ],
)
def test_protein_notations_normalise_to_one_letter(
    notation: str, normalised: str, kind: ChangeKind, first_position: int
) -> None:
    change = parse_protein_change(notation)
    assert change is not None
    assert change.notation == normalised
    assert change.kind is kind
    assert change.first_position == first_position


@pytest.mark.parametrize(
    "notation",
    ["", "ERBB2", "exon 20 insertion", "ALA775VAL", "p.Y772", "p.V777insA", "c.2313_2324dup"],
)
def test_non_protein_notations_are_rejected(notation: str) -> None:
    assert parse_protein_change(notation) is None


def test_insertion_like_changes() -> None:
    assert parse_protein_change("p.G776delinsVC").is_insertion_like  # type: ignore[union-attr]
    assert not parse_protein_change("p.G776delinsV").is_insertion_like  # type: ignore[union-attr]
    assert parse_protein_change("p.A775_G776insYVMA").is_insertion_like  # type: ignore[union-attr]
    assert not parse_protein_change("p.V777L").is_insertion_like  # type: ignore[union-attr]


def test_protein_change_found_inside_free_text() -> None:
    found = find_protein_change("ERBB2 exon 20 insertion (p.Y772_A775dup) detected, VAF 21%")
    assert found is not None
    assert found.notation == "p.Y772_A775dup"
    assert find_protein_change("HER2 S310F mutation").notation == "p.S310F"  # type: ignore[union-attr]
    assert find_protein_change("no ERBB2 alteration detected") is None


@pytest.mark.parametrize(
    ("notation", "kind", "position", "intronic", "in_frame"),
    [
        ("NM_004448.4:c.2313_2324dup", DnaChangeKind.DUPLICATION, 2313, False, True),
        ("c.2326_2327insTGT", DnaChangeKind.INSERTION, 2326, False, True),
        ("c.2326dupT", DnaChangeKind.DUPLICATION, 2326, False, False),
        ("c.929C>T", DnaChangeKind.SUBSTITUTION, 929, False, True),
        ("c.2300+1G>A", DnaChangeKind.SUBSTITUTION, 2300, True, True),
        ("c.2326_2327delinsTGTGGG", DnaChangeKind.DELINS, 2326, False, False),
    ],
)
def test_dna_changes(
    notation: str, kind: DnaChangeKind, position: int, intronic: bool, in_frame: bool
) -> None:
    change = parse_dna_change(notation)
    assert change is not None
    assert (change.kind, change.first_position, change.intronic, change.in_frame) == (
        kind,
        position,
        intronic,
        in_frame,
    )


def test_dna_codon_of_first_position() -> None:
    assert parse_dna_change("c.2313_2324dup").first_codon == 771  # type: ignore[union-attr]
    assert parse_dna_change("c.1A>G").first_codon == 1  # type: ignore[union-attr]
    assert parse_dna_change("c.3A>G").first_codon == 1  # type: ignore[union-attr]
    assert parse_dna_change("c.4A>G").first_codon == 2  # type: ignore[union-attr]
    assert parse_dna_change("c.*12A>G") is None

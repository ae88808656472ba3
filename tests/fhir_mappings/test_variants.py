"""The ERBB2 variant classifier of clinical-rules.md section 4."""

from __future__ import annotations

import pytest

from fhir_mappings.model import Significance, VariantClass
from fhir_mappings.variants import (
    KinaseDomain,
    classify_erbb2,
    egfr_exon20_insertion,
    egfr_sensitising,
)


@pytest.mark.parametrize(
    ("protein", "expected", "normalised", "exon20"),
    [
        ("p.A775_G776insYVMA", VariantClass.TKD_ACTIVATING, "p.A775_G776insYVMA", True),
        ("NP_004439.2:p.(Tyr772_Ala775dup)", VariantClass.TKD_ACTIVATING, "p.Y772_A775dup", True),
        ("p.G776delinsVC", VariantClass.TKD_ACTIVATING, "p.G776delinsVC", True),
        ("G778_P780dup", VariantClass.TKD_ACTIVATING, "p.G778_P780dup", True),
        ("p.Val777Leu", VariantClass.TKD_ACTIVATING, "p.V777L", False),
        ("p.L755S", VariantClass.TKD_ACTIVATING, "p.L755S", False),
        ("p.(Asp769Tyr)", VariantClass.TKD_ACTIVATING, "p.D769Y", False),
        ("p.V842I", VariantClass.TKD_ACTIVATING, "p.V842I", False),
        ("p.Ser310Phe", VariantClass.NON_TKD_ACTIVATING, "p.S310F", False),
        ("p.S310Y", VariantClass.NON_TKD_ACTIVATING, "p.S310Y", False),
        ("p.V659E", VariantClass.NON_TKD_ACTIVATING, "p.V659E", False),
        ("p.Gly660Asp", VariantClass.NON_TKD_ACTIVATING, "p.G660D", False),
        ("p.R678Q", VariantClass.NON_TKD_ACTIVATING, "p.R678Q", False),
        ("p.Thr798Ile", VariantClass.RESISTANCE, "p.T798I", False),
        ("p.C805S", VariantClass.RESISTANCE, "p.C805S", False),
        ("p.R103*", VariantClass.VUS, "p.R103*", False),
        ("p.L755=", VariantClass.VUS, "p.L755=", False),
        ("p.P1170A", VariantClass.VUS, "p.P1170A", False),
    ],
)
def test_protein_change_classes(
    protein: str, expected: VariantClass, normalised: str, exon20: bool
) -> None:
    result = classify_erbb2(protein=protein)
    assert result.variant_class is expected
    assert result.protein_change == normalised
    assert result.exon20_insertion is exon20
    assert result.basis == "protein"


def test_stated_benign_wins_over_position_and_lists() -> None:
    assert classify_erbb2(protein="p.V777L", significance=Significance.BENIGN).variant_class is (
        VariantClass.BENIGN
    )
    likely_benign = classify_erbb2(protein="p.S310F", significance=Significance.LIKELY_BENIGN)
    assert likely_benign.variant_class is VariantClass.BENIGN


def test_stated_uncertain_is_vus_even_in_the_kinase_domain() -> None:
    result = classify_erbb2(protein="p.V777L", significance=Significance.UNCERTAIN)
    assert result.variant_class is VariantClass.VUS
    assert result.protein_change == "p.V777L"


def test_pathogenic_outside_the_kinase_domain_is_non_tkd_but_unstated_is_vus() -> None:
    stated = classify_erbb2(protein="p.P1170A", significance=Significance.PATHOGENIC)
    assert stated.variant_class is VariantClass.NON_TKD_ACTIVATING
    assert classify_erbb2(protein="p.P1170A").variant_class is VariantClass.VUS


def test_frameshift_in_the_kinase_domain_is_not_activating() -> None:
    result = classify_erbb2(protein="p.L755Pfs*12", significance=Significance.PATHOGENIC)
    assert result.variant_class is VariantClass.VUS


def test_kinase_domain_bounds_come_from_the_options() -> None:
    assert classify_erbb2(protein="p.D769Y").variant_class is VariantClass.TKD_ACTIVATING
    narrow = KinaseDomain(first=770, last=987)
    assert classify_erbb2(protein="p.D769Y", domain=narrow).variant_class is VariantClass.VUS


def test_dna_change_used_only_without_a_protein_change() -> None:
    both = classify_erbb2(protein="p.V777L", dna="c.2329G>T")
    assert both.basis == "protein"
    dna_only = classify_erbb2(dna="NM_004448.4:c.2313_2324dup")
    assert dna_only.basis == "dna"
    assert dna_only.variant_class is VariantClass.TKD_ACTIVATING
    assert dna_only.exon20_insertion is True
    assert dna_only.protein_change is None


def test_dna_substitution_needs_a_stated_pathogenic_call() -> None:
    assert classify_erbb2(dna="c.2329G>T").variant_class is VariantClass.VUS
    stated = classify_erbb2(dna="c.2329G>T", significance=Significance.LIKELY_PATHOGENIC)
    assert stated.variant_class is VariantClass.TKD_ACTIVATING


def test_dna_frameshift_and_intronic_are_vus() -> None:
    assert classify_erbb2(dna="c.2326dupT").variant_class is VariantClass.VUS
    intronic = classify_erbb2(dna="c.2300+1G>A", significance=Significance.PATHOGENIC)
    assert intronic.variant_class is VariantClass.VUS


@pytest.mark.parametrize(
    "text",
    ["ERBB2 exon 20 insertion", "HER2 YVMA", "HER2 ex20ins positive", "exon 20 duplication"],
)
def test_text_exon20_insertion_is_tkd_activating(text: str) -> None:
    result = classify_erbb2(text=text)
    assert result.variant_class is VariantClass.TKD_ACTIVATING
    assert result.exon20_insertion is True
    assert result.basis == "text"


def test_text_with_a_notation_is_parsed() -> None:
    result = classify_erbb2(text="HER2 mutation p.S310F detected")
    assert result.basis == "protein"
    assert result.variant_class is VariantClass.NON_TKD_ACTIVATING


def test_unclassifiable_text_is_vus() -> None:
    assert classify_erbb2(text="ERBB2 mutation").variant_class is VariantClass.VUS


def test_egfr_exon20_insertion() -> None:
    assert egfr_exon20_insertion("p.D770_N771insSVD") is True
    assert egfr_exon20_insertion("p.L858R") is False
    assert egfr_exon20_insertion("EGFR exon 20 insertion") is True
    assert egfr_exon20_insertion("EGFR mutated") is None


@pytest.mark.parametrize(
    ("notation", "significance", "expected"),
    [
        ("p.E746_A750del", Significance.UNSTATED, True),
        ("p.(Glu746_Ala750del)", Significance.UNSTATED, True),
        ("p.L747_P753delinsS", Significance.UNSTATED, True),
        ("p.Leu858Arg", Significance.UNSTATED, True),
        ("p.D770_N771insSVD", Significance.UNSTATED, True),
        ("p.G719A", Significance.UNSTATED, True),
        ("p.L861Q", Significance.UNSTATED, True),
        ("p.T790M", Significance.PATHOGENIC, False),
        ("p.C797S", Significance.PATHOGENIC, False),
        ("p.R108K", Significance.PATHOGENIC, True),
        ("p.R108K", Significance.UNSTATED, None),
        ("EGFR exon 19 deletion detected", Significance.UNSTATED, True),
        ("EGFR L858R positive", Significance.UNSTATED, True),
        ("EGFR mutated", Significance.UNSTATED, None),
    ],
)
def test_egfr_sensitising(notation: str, significance: Significance, expected: bool | None) -> None:
    assert egfr_sensitising(notation, significance) is expected

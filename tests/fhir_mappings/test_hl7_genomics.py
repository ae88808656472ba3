"""Genomics Reporting IG 3.0.0, mCODE 4.0.0 and FHIR R4 core genetics shapes (issue 9).

Each fixture is a published example, or one edited only as ``hl7_examples/README.md``
says (mostly: the gene made ERBB2)."""

from __future__ import annotations

from datetime import date

from fhir_mappings.model import IhcScore, MatchedBy, Significance, VariantClass
from tests.fhir_mappings.hl7 import patient_of, reasons_for

GR = "genomics-reporting-3.0.0"
MCODE = "mcode-4.0.0"
R4 = "r4-core-4.0.1"


def test_absent_erbb2_insertion_is_a_tested_negative_never_a_mutation() -> None:
    model = patient_of("edited/Observation-ERBB2-ex20ins-absent")
    assert model.her2.mutations == ()
    assert len(model.her2.negative_results) == 1
    assert model.her2.negative_results[0].sources == ("Observation/ERBB2-ex20ins-absent",)
    assert model.her2.negative_results[0].date == date(2023, 2, 1)


def test_present_exon20_insertion_in_the_discrete_variant_component_is_tkd_activating() -> None:
    model = patient_of("edited/Observation-ERBB2-ex20ins-var")
    (mutation,) = model.her2.mutations
    assert mutation.variant_class is VariantClass.TKD_ACTIVATING
    assert mutation.exon20_insertion
    assert mutation.notation == "ERBB2 exon 20 insertion"
    assert mutation.matched_by is MatchedBy.TEXT


def test_pertinent_negative_over_several_genes_counts_each_gene() -> None:
    model = patient_of("edited/Observation-pertinent-negative-nras-erbb2-braf")
    assert len(model.her2.negative_results) == 1
    assert model.her2.mutations == ()
    assert model.data_issues == ()


def test_pertinent_negative_of_other_genes_only_says_nothing_about_erbb2() -> None:
    model = patient_of(f"{MCODE}/Observation-gx-genomic-variant-pertinent-negative-nras-kit-braf")
    assert not model.her2.mutation_tested
    assert model.data_issues == ()


def test_a_separate_uncertain_implication_governs_a_kinase_domain_residue() -> None:
    alone = patient_of("edited/Observation-ERBB2-uncertain-var")
    assert alone.her2.mutations[0].variant_class is VariantClass.TKD_ACTIVATING
    model = patient_of(
        "edited/Observation-ERBB2-uncertain-var", "edited/Observation-ERBB2-significance"
    )
    (mutation,) = model.her2.mutations
    assert mutation.protein_change == "p.R896C"
    assert mutation.significance is Significance.UNCERTAIN
    assert mutation.variant_class is VariantClass.VUS


def test_implication_order_in_the_bundle_does_not_matter() -> None:
    model = patient_of(
        "edited/Observation-ERBB2-significance", "edited/Observation-ERBB2-uncertain-var"
    )
    assert model.her2.mutations[0].variant_class is VariantClass.VUS


def test_copy_number_gain_is_an_amplification_not_a_mutation() -> None:
    model = patient_of("edited/Observation-gx-genomic-variant-somatic-erbb2-cnv")
    assert model.her2.mutations == ()
    (amplification,) = model.her2.amplification
    assert amplification.positive


def test_copy_number_loss_of_another_gene_is_nothing_for_erbb2() -> None:
    model = patient_of(f"{MCODE}/Observation-gx-genomic-variant-somatic-cdkn2a-cnv")
    assert model.her2.amplification == ()
    assert model.data_issues == ()


def test_r4_core_genetics_extensions_gene_region_and_amino_acid_change() -> None:
    model = patient_of("edited/Observation-example-genetics-erbb2")
    (mutation,) = model.her2.mutations
    assert mutation.protein_change == "p.Y772_A775dup"
    assert mutation.variant_class is VariantClass.TKD_ACTIVATING
    assert mutation.exon20_insertion
    assert mutation.matched_by is MatchedBy.CODE


def test_r4_core_egfr_gene_extension_without_hgnc_prefix() -> None:
    model = patient_of(f"{R4}/Observation-example-genetics-1")
    assert model.egfr.mutated is True
    assert model.her2.mutations == ()


def test_genomics_reporting_egfr_variant_and_its_implication() -> None:
    model = patient_of(
        f"{GR}/Observation-EGFR-L858R-var", f"{GR}/Observation-EGFR-L858R-significance"
    )
    assert model.egfr.mutated is True
    assert model.egfr.exon20_insertion is False
    assert model.her2.mutations == ()


def test_variant_of_another_stated_gene_is_not_a_data_issue() -> None:
    model = patient_of(f"{GR}/Observation-NOTCH1-uncertain-var")
    assert model.data_issues == ()
    assert model.her2 == type(model.her2)()


def test_variant_with_no_gene_at_all_is_a_data_issue() -> None:
    model = patient_of(f"{GR}/Observation-VariantExample1")
    assert reasons_for(model, "VariantExample1") == ["variant without a gene"]


def test_tumour_marker_her2_negative_is_tested_and_not_3_plus() -> None:
    model = patient_of(f"{MCODE}/Observation-tumor-marker-test-her2-jenny-m")
    (ihc,) = model.her2.ihc
    assert ihc.score is IhcScore.NEGATIVE
    assert ihc.date == date(2018, 3, 10)


def test_her2_immune_stain_present_without_a_score_is_a_data_issue_not_3_plus() -> None:
    model = patient_of(f"{GR}/Observation-HER2byImmuneStainExample")
    assert model.her2.ihc == ()
    assert reasons_for(model, "HER2byImmuneStainExample") == ["HER2 IHC without a score"]

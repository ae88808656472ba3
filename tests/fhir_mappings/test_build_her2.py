"""HER2 and EGFR results in the shapes real systems send (fixtures under fixtures/)."""

from __future__ import annotations

from datetime import date

from fhir_mappings.build import build_patient
from fhir_mappings.model import (
    Her2Amplification,
    IhcScore,
    MatchedBy,
    Significance,
    Specimen,
    VariantClass,
)
from tests.fhir_mappings.support import AS_OF, patient_from


def test_mcode_exon20_insertion_on_tissue() -> None:
    her2 = patient_from("exon20_insertion_mcode_tissue").her2
    assert len(her2.mutations) == 1
    mutation = her2.mutations[0]
    assert mutation.notation == "NP_004439.2:p.(Tyr772_Ala775dup)"
    assert mutation.protein_change == "p.Y772_A775dup"
    assert mutation.variant_class is VariantClass.TKD_ACTIVATING
    assert mutation.significance is Significance.PATHOGENIC
    assert mutation.specimen is Specimen.TISSUE
    assert mutation.exon20_insertion is True
    assert mutation.fda_approved_test is True
    assert mutation.date == date(2024, 1, 15)
    assert mutation.sources == ("Observation/erbb2-variant-1",)
    assert mutation.matched_by is MatchedBy.CODE
    assert her2.mutation_tested


def test_hgvs_in_the_value_and_plasma_specimen() -> None:
    mutation = patient_from("s310f_missense_plasma_ctdna").her2.mutations[0]
    assert mutation.protein_change == "p.S310F"
    assert mutation.variant_class is VariantClass.NON_TKD_ACTIVATING
    assert mutation.specimen is Specimen.PLASMA
    assert mutation.significance is Significance.UNSTATED
    assert mutation.fda_approved_test is None


def test_text_only_yvma_result() -> None:
    mutation = patient_from("variant_text_only_her2_yvma").her2.mutations[0]
    assert mutation.notation == "HER2 YVMA exon 20 insertion detected"
    assert mutation.protein_change is None
    assert mutation.variant_class is VariantClass.TKD_ACTIVATING
    assert mutation.exon20_insertion is True
    assert mutation.matched_by is MatchedBy.TEXT


def test_absent_on_plasma_is_a_negative_result_not_a_mutation() -> None:
    her2 = patient_from("erbb2_negative_plasma_only").her2
    assert her2.mutations == ()
    assert len(her2.negative_results) == 1
    negative = her2.negative_results[0]
    assert negative.specimen is Specimen.PLASMA
    assert negative.date == date(2024, 4, 10)
    assert negative.sources == ("Observation/erbb2-neg-plasma",)
    assert her2.mutation_tested


def test_report_conclusion_text_gives_her2_and_egfr() -> None:
    patient = patient_from("genetic_report_conclusion_text")
    mutation = patient.her2.mutations[0]
    assert mutation.protein_change == "p.G776delinsVC"
    assert mutation.variant_class is VariantClass.TKD_ACTIVATING
    assert mutation.significance is Significance.LIKELY_PATHOGENIC
    assert mutation.specimen is Specimen.TISSUE
    assert mutation.sources == ("DiagnosticReport/ngs-report-1",)
    assert [n.sources for n in patient.her2.negative_results] == [("Observation/ngs-report-obs",)]
    assert patient.egfr.mutated is False
    assert patient.egfr.sensitising is False
    assert patient.egfr.sources == ("DiagnosticReport/ngs-report-1",)


def test_ihc_scores_from_strings_and_unreadable_positive() -> None:
    patient = patient_from("ihc3_positive_string_value")
    assert [(i.score, i.date) for i in patient.her2.ihc] == [
        (IhcScore.TWO_PLUS, date(2023, 12, 1)),
        (IhcScore.THREE_PLUS, date(2024, 6, 1)),
    ]
    latest = patient.her2.latest_ihc
    assert latest is not None
    assert latest.sources == ("Observation/her2-ihc-2024",)
    assert [(d.resource_id, d.reason) for d in patient.data_issues] == [
        ("her2-ihc-noscore", "HER2 IHC without a score")
    ]


def test_amplification_by_text_and_by_number() -> None:
    patient = patient_from("her2_amplification_fish_ratio")
    assert patient.her2.amplification == (
        Her2Amplification(True, 2.6, 6.8, date(2024, 2, 10), ("Observation/her2-fish-1",)),
        Her2Amplification(False, None, 3.1, date(2024, 3, 10), ("Observation/her2-ngs-copies",)),
    )
    assert [d.resource_id for d in patient.data_issues] == ["her2-fish-equivocal"]


def test_egfr_exon20_insertion() -> None:
    patient = patient_from("egfr_exon20_insertion_variant")
    assert patient.egfr.mutated is True
    assert patient.egfr.exon20_insertion is True
    assert patient.egfr.sensitising is True
    assert patient.egfr.date == date(2024, 1, 20)
    assert patient.her2.mutations == ()


def _variant(value: dict[str, object], **extra: object) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": "v1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "69548-6"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-01-01",
        **value,
        **extra,
    }


def test_variant_without_a_gene_is_not_assumed_to_be_erbb2() -> None:
    raw = _variant(
        {},
        component=[
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "48005-3"}]},
                "valueString": "p.V777L",
            }
        ],
    )
    patient = build_patient([raw], as_of=AS_OF)
    assert patient.her2.mutations == ()
    assert [d.reason for d in patient.data_issues] == ["variant without a gene"]


def test_vus_and_benign_significance_components() -> None:
    gene = {
        "code": {"coding": [{"system": "http://loinc.org", "code": "48018-6"}]},
        "valueCodeableConcept": {
            "coding": [{"system": "http://www.genenames.org", "code": "HGNC:3430"}]
        },
    }

    def with_significance(code: str, display: str) -> dict[str, object]:
        return _variant(
            {},
            component=[
                gene,
                {
                    "code": {"coding": [{"system": "http://loinc.org", "code": "48005-3"}]},
                    "valueString": "p.V777L",
                },
                {
                    "code": {"coding": [{"system": "http://loinc.org", "code": "53037-8"}]},
                    "valueCodeableConcept": {
                        "coding": [{"system": "http://loinc.org", "code": code, "display": display}]
                    },
                },
            ],
        )

    vus = build_patient([with_significance("LA6682-4", "Uncertain significance")], as_of=AS_OF)
    assert vus.her2.mutations[0].variant_class is VariantClass.VUS
    assert vus.her2.mutations[0].significance is Significance.UNCERTAIN
    benign = build_patient([with_significance("LA6675-8", "Benign")], as_of=AS_OF)
    assert benign.her2.mutations[0].variant_class is VariantClass.BENIGN


def test_never_tested_is_not_tested_negative() -> None:
    patient = build_patient([], as_of=AS_OF)
    assert not patient.her2.mutation_tested
    assert patient.egfr.mutated is None
    assert patient.egfr.sensitising is None


def _egfr_variant(protein: str, ident: str = "egfr-1") -> dict[str, object]:
    return _variant(
        {"id": ident},
        component=[
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "48018-6"}]},
                "valueCodeableConcept": {"text": "EGFR"},
            },
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "48005-3"}]},
                "valueString": protein,
            },
        ],
    )


def test_egfr_exon19_deletion_is_sensitising() -> None:
    patient = build_patient([_egfr_variant("p.E746_A750del")], as_of=AS_OF)
    assert patient.egfr.mutated is True
    assert patient.egfr.exon20_insertion is False
    assert patient.egfr.sensitising is True
    assert patient.egfr.sources == ("Observation/egfr-1",)


def test_egfr_t790m_alone_is_not_sensitising_but_with_l858r_it_is() -> None:
    alone = build_patient([_egfr_variant("p.T790M")], as_of=AS_OF)
    assert alone.egfr.mutated is True
    assert alone.egfr.sensitising is False
    both = build_patient(
        [_egfr_variant("p.T790M"), _egfr_variant("p.L858R", "egfr-2")], as_of=AS_OF
    )
    assert both.egfr.sensitising is True


def test_erbb2_exon20_insertion_never_makes_egfr_sensitising() -> None:
    patient = patient_from("exon20_insertion_mcode_tissue")
    assert patient.her2.mutations[0].exon20_insertion is True
    assert patient.egfr.sensitising is None
    assert patient.egfr.mutated is None

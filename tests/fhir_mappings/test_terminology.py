"""Terminology: codes by (system, code) with aliases, text fallbacks, drugs by code and name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fhir_mappings.model import Drug, MatchedBy
from fhir_mappings.terminology import (
    ALL_CODE_SETS,
    COPD,
    DRUGS,
    ERBB2_GENE,
    ILD,
    LUNG_CANCER,
    drug_by_name,
    drugs_named,
    match,
    match_drug,
    mentions,
)

SPEC = Path(__file__).resolve().parents[1] / "spec" / "clinical-rules.md"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def test_hgnc_both_uris_and_https_variant_match_erbb2() -> None:
    for system in (
        "http://www.genenames.org",
        "http://www.genenames.org/geneId",
        "https://www.genenames.org/geneId/",
    ):
        concept = {"coding": [{"system": system, "code": "HGNC:3430"}]}
        assert match(concept, ERBB2_GENE) is MatchedBy.CODE
    other_gene = {"coding": [{"system": "http://www.genenames.org/geneId", "code": "HGNC:3236"}]}
    assert match(other_gene, ERBB2_GENE) is None


def test_icd10_prefix_and_undotted_codes() -> None:
    for code in ("C34.90", "C3490", "C34", "c34.11"):
        concept = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]}
        assert match(concept, LUNG_CANCER) is MatchedBy.CODE
    c79 = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C79.31"}]}
    assert match(c79, LUNG_CANCER) is None
    j44 = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "J44.1"}]}
    assert match(j44, COPD) is MatchedBy.CODE


def test_the_same_code_in_another_system_does_not_match() -> None:
    concept = {"coding": [{"system": "http://example.org/local", "code": "233703007"}]}
    assert match(concept, ILD) is None


def test_text_fallback_is_recorded_and_word_bounded() -> None:
    assert match({"text": "Pneumonitis, grade 1"}, ILD) is MatchedBy.TEXT
    assert match({"coding": [{"display": "ILD"}]}, ILD) is MatchedBy.TEXT
    assert match({"text": "mild asthma"}, ILD) is None
    assert match({"text": "bacterial pneumonia"}, ILD) is None


@pytest.mark.parametrize(
    ("text", "drug"),
    [
        ("fam-trastuzumab deruxtecan-nxki 100 MG Injection", Drug.TRASTUZUMAB_DERUXTECAN),
        ("ENHERTU", Drug.TRASTUZUMAB_DERUXTECAN),
        ("DS-8201a", Drug.TRASTUZUMAB_DERUXTECAN),
        ("T-DXd 5.4 mg/kg", Drug.TRASTUZUMAB_DERUXTECAN),
        ("Hernexeos 120 mg tablet", Drug.ZONGERTINIB),
        ("BI 1810631", Drug.ZONGERTINIB),
        ("Hyrnuo", Drug.SEVABERTINIB),
        ("BAY 2927088", Drug.SEVABERTINIB),
        ("Kadcyla", Drug.TRASTUZUMAB_EMTANSINE),
        ("T-DM1", Drug.TRASTUZUMAB_EMTANSINE),
        ("Exkivity", Drug.MOBOCERTINIB),
        ("Rybrevant", Drug.AMIVANTAMAB),
        ("paclitaxel protein-bound (Abraxane)", Drug.NAB_PACLITAXEL),
        ("nab-paclitaxel", Drug.NAB_PACLITAXEL),
        ("PACLitaxel 175 mg/m2", Drug.PACLITAXEL),
        ("CARBOplatin", Drug.CARBOPLATIN),
        ("pembrolizumab (KEYTRUDA)", Drug.PEMBROLIZUMAB),
    ],
)
def test_drugs_by_normalised_name(text: str, drug: Drug) -> None:
    assert drug_by_name(text) is drug


@pytest.mark.parametrize("text", ["trastuzumab", "Herceptin", "ondansetron", "dexamethasone"])
def test_other_drugs_are_not_recognised(text: str) -> None:
    assert drug_by_name(text) is None


def test_verified_code_unverified_code_and_name() -> None:
    verified = match_drug({"coding": [{"system": RXNORM, "code": "2267581"}]})
    assert verified is not None
    assert (verified.drug, verified.matched_by, verified.verified) == (
        Drug.TRASTUZUMAB_DERUXTECAN,
        MatchedBy.CODE,
        True,
    )
    from_memory = match_drug({"coding": [{"system": RXNORM, "code": "40048"}]})
    assert from_memory is not None
    assert (from_memory.drug, from_memory.verified) == (Drug.CARBOPLATIN, False)
    named = match_drug({"coding": [{"system": RXNORM, "code": "40048", "display": "cisplatin"}]})
    assert named is not None
    assert (named.drug, named.matched_by, named.verified) == (Drug.CISPLATIN, MatchedBy.TEXT, True)


def test_drug_suggestion_concept_carries_only_verified_codes() -> None:
    tdxd = DRUGS[Drug.TRASTUZUMAB_DERUXTECAN].codeable_concept()
    assert tdxd["coding"] == [
        {"system": RXNORM, "code": "2267576"},
        {"system": RXNORM, "code": "2267581"},
    ]
    kadcyla_codes = [c["code"] for c in DRUGS[Drug.TRASTUZUMAB_EMTANSINE].codings()]
    assert kadcyla_codes == ["1658084", "1658087", "1658089", "1658091"]
    assert DRUGS[Drug.ZONGERTINIB].codeable_concept() == {"text": "zongertinib (Hernexeos)"}
    assert "coding" not in DRUGS[Drug.CARBOPLATIN].codeable_concept()


def test_every_drug_of_the_model_has_terminology() -> None:
    assert set(DRUGS) == set(Drug)


def test_drugs_named_finds_several() -> None:
    assert drugs_named("pneumonitis after pembrolizumab, then T-DXd") == [
        Drug.PEMBROLIZUMAB,
        Drug.TRASTUZUMAB_DERUXTECAN,
    ]


def test_mentions_skips_negated_phrases() -> None:
    assert mentions("requires supplemental oxygen", ["oxygen"])
    assert not mentions("no oxygen requirement", ["oxygen"])
    assert not mentions("not requiring oxygen", ["oxygen"])
    assert not mentions("non-curative intent", ["curative"])


def test_every_code_is_written_in_section_7_of_the_spec() -> None:
    """No invented codes: each code held here appears in clinical-rules.md section 7."""
    text = SPEC.read_text(encoding="utf-8")
    section7 = text[text.index("## 7. Terminology") : text.index("## 8.")]
    codes = {code.code for code_set in ALL_CODE_SETS for code in code_set.codes}
    codes |= {code.code for info in DRUGS.values() for code in info.codes}
    codes.discard("J70.3")  # written as the range "J70.2-J70.4"
    assert "J70.2-J70.4" in section7
    for code in sorted(codes):
        assert re.search(rf"(?<![\w.]){re.escape(code)}", section7), code


def test_codes_tagged_unverified_in_the_spec_are_unverified_here() -> None:
    unverified = {
        code.code for code_set in ALL_CODE_SETS for code in code_set.codes if not code.verified
    }
    assert unverified == {"LA26332-9", "26499-4", "59529006", "C79.32"}
    rx_unverified = {c.code for info in DRUGS.values() for c in info.codes if not c.verified}
    assert rx_unverified == {
        "40048", "2555", "68446", "56946", "72962", "1547545", "1597876", "1792776",
        "1919503", "1094833", "1721560", "1371041",
    }  # fmt: skip

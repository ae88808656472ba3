"""Terminology: codes by (system, code) with aliases, text fallbacks, drugs by code and name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fhir_mappings import terminology
from fhir_mappings.model import DRUG_CLASS, Drug, DrugClass, MatchedBy
from fhir_mappings.terminology import (
    ALL_CODE_SETS,
    COPD,
    DRUGS,
    ERBB2_GENE,
    ILD,
    LUNG_CANCER,
    coded_drug_named_in_text,
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


@pytest.mark.parametrize("text", ["ondansetron", "dexamethasone", "atorvastatin"])
def test_other_drugs_are_not_recognised(text: str) -> None:
    assert drug_by_name(text) is None


@pytest.mark.parametrize(
    ("text", "drug"),
    [
        ("trastuzumab-anns (Kanjinti)", Drug.TRASTUZUMAB),
        ("Herceptin 6 mg/kg", Drug.TRASTUZUMAB),
        ("ado-trastuzumab emtansine", Drug.TRASTUZUMAB_EMTANSINE),
        ("fam-trastuzumab deruxtecan-nxki", Drug.TRASTUZUMAB_DERUXTECAN),
    ],
)
def test_trastuzumab_is_its_own_drug_and_the_longest_name_wins(text: str, drug: Drug) -> None:
    """9.3: trastuzumab is recognised (class other); the ADC names are never trastuzumab."""
    assert drug_by_name(text) is drug


@pytest.mark.parametrize("text", ["ondansetron", "dexamethasone", "pegfilgrastim", "loperamide"])
def test_supportive_drugs_are_not_anticancer_drugs(text: str) -> None:
    assert drug_by_name(text) is None


@pytest.mark.parametrize("text", ["trastuzumab", "Herceptin", "trastuzumab-dkst (Ogivri)"])
def test_trastuzumab_is_recognised_as_its_own_drug_of_class_other(text: str) -> None:
    """clinical-rules.md 9.3: recognised, never T-DXd or T-DM1, not HER2-directed."""
    assert drug_by_name(text) is Drug.TRASTUZUMAB
    assert DRUG_CLASS[Drug.TRASTUZUMAB] is DrugClass.OTHER


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
    # 9.1: a coded concept is never identified by its text; an unverified code that its
    # own text contradicts identifies neither drug.
    contradicted = {"coding": [{"system": RXNORM, "code": "40048", "display": "cisplatin"}]}
    assert match_drug(contradicted) is None
    confirmed = match_drug(
        {"coding": [{"system": RXNORM, "code": "40048", "display": "carboplatin"}]}
    )
    assert confirmed is not None
    assert (confirmed.drug, confirmed.matched_by, confirmed.verified) == (
        Drug.CARBOPLATIN,
        MatchedBy.CODE,
        True,
    )
    named = match_drug({"text": "cisplatin 75 mg/m2"})
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
    """No invented codes: each code sourced to the spec appears in its section 7."""
    text = SPEC.read_text(encoding="utf-8")
    section7 = text[text.index("## 7. Terminology") : text.index("## 8.")]
    if "**New codes**" in text:  # version 2: the new codes of section 9.3
        section7 += text[text.index("**New codes**") :]
    codes = {
        code.code
        for code_set in ALL_CODE_SETS
        for code in code_set.codes
        if code.source == terminology.SPEC
    }
    codes |= {
        code.code
        for info in DRUGS.values()
        for code in info.codes
        if code.source == terminology.SPEC
    }
    codes.discard("J70.3")  # written as the range "J70.2-J70.4"
    assert "J70.2-J70.4" in section7
    for code in sorted(codes):
        assert re.search(rf"(?<![\w.]){re.escape(code)}", section7), code


def test_codes_outside_section_7_name_the_package_they_were_checked_against() -> None:
    """Codes added for the HL7 oncology guides (issue 9) each name the published package
    (name@version) where they were read, and are verified; the version 2 codes (9.3) name the
    published page they were checked against, or say they are unverified."""
    checked = (terminology.GR3, terminology.MCODE4, terminology.R4CORE, terminology.LOINC_SEARCH)
    others = [
        code
        for code_set in ALL_CODE_SETS
        for code in code_set.codes
        if code.source != terminology.SPEC
    ]
    others += [c for info in DRUGS.values() for c in info.codes if c.source != terminology.SPEC]
    assert others
    for code in others:
        if code.source in checked:
            assert code.verified, code
        elif code.verified:  # version 2 codes (9.3): the published source they were read in
            assert "http" in code.source or "HL7" in code.source, code
        else:
            assert "unverified" in code.source, code


def test_codes_tagged_unverified_in_the_spec_are_unverified_here() -> None:
    unverified = {
        code.code for code_set in ALL_CODE_SETS for code in code_set.codes if not code.verified
    }
    assert unverified == {"LA26332-9", "26499-4", "59529006", "C79.32", "2118-8"}
    rx_unverified = {c.code for info in DRUGS.values() for c in info.codes if not c.verified}
    assert rx_unverified == {
        "40048", "2555", "68446", "56946", "72962", "1547545", "1597876", "1792776",
        "1919503", "1094833", "1721560", "1371041",
    }  # fmt: skip


def test_version_2_codes_name_the_source_they_were_checked_against() -> None:
    """9.3 codes: a checked code names its published source (a URL); an unchecked one says
    it is unverified."""
    from fhir_mappings.terminology import PLATELETS, PREGNANCY_TEST

    for code_set in (PLATELETS, PREGNANCY_TEST):
        for code in code_set.codes:
            if code.verified:
                assert "https://" in code.source or "HL7" in code.source, code.code
            else:
                assert "unverified" in code.source, code.code
    assert [c.code for c in PLATELETS.codes] == ["777-3"]
    assert [(c.code, c.verified) for c in PREGNANCY_TEST.codes] == [
        ("2106-3", True),
        ("2118-8", False),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("itraconazole 100 mg capsule", ("itraconazole", "strong CYP3A inhibitor")),
        ("rifAMPin 300 mg", ("rifampin", "strong CYP3A inducer")),
        ("Rifampicin", ("rifampin", "strong CYP3A inducer")),
        ("diltiazem ER 180 mg", ("diltiazem", "moderate CYP3A inhibitor")),
        ("modafinil", ("modafinil", "moderate CYP3A inducer")),
        ("atorvastatin 20 mg", None),
        ("itraconazole or fluconazole", None),  # two names: ambiguous, neither
        ("carbamazepine with pemetrexed", None),  # names an anticancer drug too
    ],
)
def test_cyp3a_modulators_by_name(text: str, expected: tuple[str, str] | None) -> None:
    from fhir_mappings.terminology import cyp3a_modulator

    found = cyp3a_modulator({"text": text})
    assert (None if found is None else (found[0], found[1].value)) == expected


def test_text_naming_a_supportive_drug_and_enhertu_identifies_nothing() -> None:
    assert match_drug({"text": "dexamethasone premed for Enhertu"}) is None
    assert match_drug({"text": "ondansetron before T-DXd"}) is None


def test_coded_concept_is_never_identified_by_its_text() -> None:
    concept = {
        "coding": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.698288", "code": "123456"}],
        "text": "fam-trastuzumab deruxtecan-nxki 100 mg injection",
    }
    assert match_drug(concept) is None
    assert coded_drug_named_in_text(concept) is Drug.TRASTUZUMAB_DERUXTECAN


def test_longest_name_wins() -> None:
    found = match_drug({"text": "ado-trastuzumab emtansine 3.6 mg/kg"})
    assert found is not None
    assert found.drug is Drug.TRASTUZUMAB_EMTANSINE


# --- Site codes (the site order catalog's statement of which drug a code is, 9.1) ---------

SITE_SYSTEM = "https://ehr.example.org/fhir/CodeSystem/orderables"
PLACEHOLDER_SCD = "TEST-ZONG-120-SCD"
"""A stand-in for a site's RxNorm SCD code of zongertinib: not a real RXCUI (the project
has verified none for zongertinib)."""


def test_a_site_code_identifies_its_drug_after_the_verified_codes() -> None:
    from fhir_mappings.terminology import site_drug_codes

    site = site_drug_codes([(RXNORM, PLACEHOLDER_SCD, Drug.ZONGERTINIB)])
    concept = {
        "coding": [{"system": RXNORM, "code": PLACEHOLDER_SCD}],
        "text": "zongertinib 120 mg tablet",
    }
    assert match_drug(concept) is None  # without the site's statement: not identified
    found = match_drug(concept, site)
    assert found is not None
    assert (found.drug, found.matched_by, found.verified) == (
        Drug.ZONGERTINIB,
        MatchedBy.CODE,
        True,
    )
    # Systems compare as elsewhere (https, trailing slash, case).
    assert match_drug({"coding": [{"system": RXNORM.upper() + "/", "code": PLACEHOLDER_SCD}]}, site)
    # A code only, no text: still the site's drug (identified by code, never by text).
    coded_only = match_drug({"coding": [{"system": RXNORM, "code": PLACEHOLDER_SCD}]}, site)
    assert coded_only is not None
    assert coded_only.drug is Drug.ZONGERTINIB
    # A verified code of the service wins over a site code on the same concept.
    both = {
        "coding": [
            {"system": SITE_SYSTEM, "code": "EX-1"},
            {"system": RXNORM, "code": "2267581"},
        ]
    }
    mixed = match_drug(both, site_drug_codes([(SITE_SYSTEM, "EX-1", Drug.TRASTUZUMAB_DERUXTECAN)]))
    assert mixed is not None
    assert mixed.drug is Drug.TRASTUZUMAB_DERUXTECAN


def test_a_site_code_confirms_an_unverified_code_of_the_same_drug() -> None:
    from fhir_mappings.terminology import site_drug_codes

    site = site_drug_codes([(RXNORM, "40048", Drug.CARBOPLATIN)])
    found = match_drug({"coding": [{"system": RXNORM, "code": "40048"}]}, site)
    assert found is not None
    assert (found.drug, found.verified) == (Drug.CARBOPLATIN, True)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([(RXNORM, "2267581", Drug.ZONGERTINIB)], "is trastuzumab deruxtecan in the service"),
        ([(RXNORM, "40048", Drug.CISPLATIN)], "is carboplatin in the service"),
        (
            [(SITE_SYSTEM, "EX-1", Drug.ZONGERTINIB), (SITE_SYSTEM, "EX-1", Drug.SEVABERTINIB)],
            "given for both zongertinib and sevabertinib",
        ),
    ],
)
def test_site_codes_that_conflict_are_refused(
    entries: list[tuple[str, str, Drug]], message: str
) -> None:
    from fhir_mappings.terminology import SiteDrugCodeConflict, site_drug_codes

    with pytest.raises(SiteDrugCodeConflict, match=message):
        site_drug_codes(entries)

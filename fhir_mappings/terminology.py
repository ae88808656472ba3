"""Every code and code set the mapping recognises, by name, with its source.

Source of every code: clinical-rules.md section 7 (``SPEC``), or, for the shapes of the
HL7 oncology guides (issue 9), the published guide or package the code was checked
against, named in the code's ``source`` (``GR3``: HL7 Genomics Reporting IG 3.0.0
examples; ``MCODE4``: mCODE 4.0.0 examples; ``R4CORE``: FHIR R4 4.0.1 core examples and
definitions; ``LOINC_SEARCH``: the LOINC term pages found with the search tool). A code
tagged [?] in the spec is ``verified=False`` here. Concepts with no checked code (stage
group words, CT chest, echocardiogram, renal impairment, specimen type) are matched by
text only, and the match is recorded as ``MatchedBy.TEXT``.

Matching, in order:

1. (system, code). Systems are compared after normalisation: lower-case, ``https`` read
   as ``http``, a trailing ``/`` dropped (both spellings occur in real feeds; noted here
   as the one tolerance beyond section 7). HGNC has two URIs, both accepted. ICD-10-CM
   codes are compared without their dot (``C3490`` = ``C34.90``), and ``C34.*`` style
   entries match by prefix.
2. Text, as a recorded fallback: the concept's ``text`` and its codings' ``display``,
   normalised to lower-case words (punctuation becomes a word break), matched as whole
   word sequences (``"ild"`` does not match ``"mild"``). The text phrases are the
   project's own choice, listed beside each code set.

Version 2 (clinical-rules.md 9.2 / 9.3) adds the codes its new checks need, each with the
named source it was checked against (``source``); a code that could not be checked is
``verified=False`` and says so. Concepts with no checked code (menopause, hysterectomy,
oophorectomy, the CYP3A inhibitors and inducers) are matched by text only, recorded as
``MatchedBy.TEXT``.


Drugs (clinical-rules.md 9.1 and 9.3): a medication concept that carries any coding
(RxNorm of any term type, NDC, Medi-Span GPI, a site's own system) is identified by its
code only: a verified code, or an unverified ("from memory") ingredient code flagged
``verified=False`` (its own text confirming it clears the flag; contradicting it
identifies nothing). Its text is never used to identify it; a coded concept whose code
is unknown but whose text names one anticancer drug is reported (``build``) instead.
A text-only concept is identified by name (generic, brand, development code) only when
exactly one recognised name occurs, the supportive drugs (corticosteroids, antiemetics,
G-CSF, antidiarrheals) counting as recognised names; the longest name wins. RxNorm
codes beyond section 7 are the SCD / IN codes paired with their names in the mCODE 4.0.0
examples (``MCODE4``). Common US brand names of the older drugs are added as names (not
codes) and marked as the project's additions.

Site codes (9.1, "a site's own system"): the project lists verified codes for only a few
products (no zongertinib or sevabertinib code at all), so a real order under a site's
RxNorm SCD/SBD or local code would not be identified. The site order catalog
(``CDS_ORDER_CATALOG``, ``cds_service.catalog``) is the site's own statement of which drug
each of its orderable codes is: its ``medication:<drug>...`` entries become a
``SiteDrugCodes`` (built once at start-up, carried by ``MappingOptions.site_drug_codes``;
data flows settings -> mapping options -> patient model). ``match_drug`` consults it
after the verified codes of ``DRUGS`` and before the unverified ones. A catalog code that
``DRUGS`` gives another drug, or that two catalog entries give two drugs, is a start-up
error naming the entry (``site_drug_codes``). A coded draft order that is still not
identified but whose text names one drug keeps ``DraftOrder.named_in_text`` (the
``order-drug-not-identified`` card says its checks did not run).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from fhir_mappings.model import Cyp3aModulator, Drug, MatchedBy
from fhir_mappings.parse import as_object, objects, string

SPEC = "clinical-rules.md section 7"
GR3 = "HL7 Genomics Reporting IG 3.0.0 (npm hl7.fhir.uv.genomics-reporting@3.0.0) examples"
MCODE4 = "mCODE 4.0.0 (npm hl7.fhir.us.mcode@4.0.0) examples"
LOINC_SEARCH = (
    "LOINC term page (loinc.org or its healthassure.in/codes mirror), read with the project's"
    " search tool on 2026-11-29"
)
R4CORE = "FHIR R4 4.0.1 core (npm hl7.fhir.r4.examples@4.0.1) examples and definitions"

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
HGNC = "http://www.genenames.org"
HGNC_GENE_ID = "http://www.genenames.org/geneId"
UCUM = "http://unitsofmeasure.org"

_SYSTEM_ALIASES: dict[str, str] = {HGNC_GENE_ID: HGNC}


@lru_cache(maxsize=256)
def normalise_system(system: str) -> str:
    value = system.strip().lower().rstrip("/")
    if value.startswith("https://"):
        value = "http://" + value[len("https://") :]
    return _SYSTEM_ALIASES.get(value, value)


def _normalise_code(system: str, code: str) -> str:
    value = code.strip()
    return value.replace(".", "").upper() if system == ICD10CM else value


@dataclass(frozen=True, slots=True)
class Code:
    system: str
    code: str
    display: str
    """A label for people reading this module; not the code system's official display."""
    verified: bool = True
    prefix: bool = False
    """ICD-10-CM ``X00.*``: matches the code and every code below it."""
    source: str = SPEC

    def matches(self, system: str, code: str) -> bool:
        if normalise_system(system) != normalise_system(self.system):
            return False
        mine, theirs = _normalise_code(self.system, self.code), _normalise_code(self.system, code)
        return theirs.startswith(mine) if self.prefix else theirs == mine

    def coding(self) -> dict[str, str]:
        """As a FHIR Coding, without ``display`` (the labels here are the project's own,
        not the code system's official displays)."""
        return {"system": self.system, "code": self.code}


def _key(system: str, code: str) -> tuple[str, str]:
    normalised = normalise_system(system)
    return normalised, _normalise_code(normalised, code)


_WORD = re.compile(r"[a-z0-9]+")
_CACHED_TEXT_CHARS = 256


def _words(text: str) -> str:
    """Lower-case words of ``text`` joined by single spaces, padded with one at both ends.

    Short texts (codes' texts and displays: a record repeats the same few hundred) are
    normalised once per process (``_cached_words``); the result depends on the text only."""
    if len(text) <= _CACHED_TEXT_CHARS:
        return _cached_words(text)
    return _normalised_words(text)


def _normalised_words(text: str) -> str:
    return " " + " ".join(_WORD.findall(text.lower())) + " "


@lru_cache(maxsize=8192)
def _cached_words(text: str) -> str:
    return _normalised_words(text)


def normalise_text(text: str) -> str:
    """Lower-case words separated by single spaces, padded with a space at both ends."""
    return _words(text)


@lru_cache(maxsize=4096)
def _phrase_words(phrase: str) -> str:
    """``_words`` of a phrase, cached: the phrases are the modules' constant lists, and
    normalising them again for every resource was a measurable share of a hook call."""
    return _words(phrase)


def has_phrase(normalised: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs as whole words in an already ``normalise_text``-ed text."""
    return _phrase_words(phrase) in normalised


NEGATORS = frozenset({"no", "not", "non", "without", "denies", "denied", "nor"})


def mentions(text: str, phrases: Iterable[str]) -> bool:
    """A phrase occurs as whole words, not negated ("no", "not", "non", "without", "denies"
    within the three words before it)."""
    words = normalise_text(text)
    for phrase in phrases:
        target = _phrase_words(phrase)
        start = words.find(target)
        while start >= 0:
            if not NEGATORS.intersection(words[max(0, start - 64) : start].split()[-3:]):
                return True
            start = words.find(target, start + 1)
    return False


@dataclass(frozen=True, slots=True)
class CodeSet:
    name: str
    codes: tuple[Code, ...]
    texts: tuple[str, ...] = ()
    """Text fallback phrases (project's own)."""
    _phrases: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    _exact: frozenset[tuple[str, str]] = field(init=False, repr=False, compare=False)
    _prefixes: tuple[tuple[str, str, bool], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_phrases", tuple(_words(t) for t in self.texts))
        # One compiled alternation of the padded phrases: a match of any of them, found in
        # one pass of the regular expression engine instead of one ``in`` per phrase.
        pattern = "|".join(re.escape(p) for p in self._phrases)
        object.__setattr__(self, "_pattern", re.compile(pattern) if pattern else None)
        exact = {_key(c.system, c.code) for c in self.codes if not c.prefix}
        object.__setattr__(self, "_exact", frozenset(exact))
        # Prefix codes with their system and code normalised once (``Code.matches`` did it
        # for every coding looked at): (system, code, whether the code is ICD-10-CM's).
        prefixes = tuple(
            (normalise_system(c.system), _normalise_code(c.system, c.code), c.system == ICD10CM)
            for c in self.codes
            if c.prefix
        )
        object.__setattr__(self, "_prefixes", prefixes)

    def match_coding(self, system: str | None, code: str | None) -> bool:
        if not system or not code:
            return False
        if _key(system, code) in self._exact:
            return True
        if not self._prefixes:
            return False
        theirs_system = normalise_system(system)
        for mine_system, mine, icd in self._prefixes:
            if theirs_system == mine_system:
                theirs = code.strip().replace(".", "").upper() if icd else code.strip()
                if theirs.startswith(mine):
                    return True
        return False

    def match_text(self, text: str) -> bool:
        return self.match_words(_words(text))

    def match_words(self, normalised: str) -> bool:
        """``match_text`` on a text already passed through ``normalise_text``."""
        return self._pattern is not None and self._pattern.search(normalised) is not None


# --- reading CodeableConcepts ------------------------------------------------------------


def codings(concept: object) -> list[tuple[str, str]]:
    """(system, code) pairs of a CodeableConcept, a lone Coding, or a list of either
    (a list where one concept belongs is malformed, but is still looked at so that the
    resource reaches validation and is reported rather than silently skipped)."""
    if isinstance(concept, list):
        return [pair for item in concept for pair in codings(item)]
    obj = as_object(concept)
    if obj is None:
        return []
    items = objects(obj.get("coding")) or [obj]
    return [
        (system, code)
        for c in items
        if (system := string(c, "system")) is not None and (code := string(c, "code")) is not None
    ]


def concept_text(concept: object) -> str:
    """The concept's text and its codings' displays, joined (for text matching)."""
    if isinstance(concept, list):
        return " | ".join(t for item in concept if (t := concept_text(item)))
    if not isinstance(concept, dict):
        return ""
    # The accessors (string, objects) inlined: this runs on most resources of a record.
    parts = [
        value
        for value in (concept.get("text"), concept.get("display"))
        if isinstance(value, str) and value.strip()
    ]
    coding = concept.get("coding")
    items = (coding,) if isinstance(coding, dict) else coding if isinstance(coding, list) else ()
    for item in items:
        if isinstance(item, dict):
            value = item.get("display")
            if isinstance(value, str) and value.strip():
                parts.append(value)
    return " | ".join(parts)


def match(concept: object, code_set: CodeSet) -> MatchedBy | None:
    """CODE when a coding is in the set, TEXT when only the text matches, else None."""
    if any(code_set.match_coding(s, c) for s, c in codings(concept)):
        return MatchedBy.CODE
    text = concept_text(concept)
    if text and code_set.match_text(text):
        return MatchedBy.TEXT
    return None


def _loinc(code: str, display: str, *, verified: bool = True) -> Code:
    return Code(LOINC, code, display, verified)


def _sct(code: str, display: str, *, verified: bool = True) -> Code:
    return Code(SNOMED, code, display, verified)


def _icd(code: str, display: str, *, verified: bool = True, prefix: bool = False) -> Code:
    return Code(ICD10CM, code, display, verified, prefix)


def _src(system: str, code: str, display: str, source: str) -> Code:
    """A code checked against a published HL7 package (not in section 7)."""
    return Code(system, code, display, True, False, source)


GR_TBD = "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs"
SEQUENCE_ONTOLOGY = "http://www.sequenceontology.org"
MCODE_SD = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
CORE_SD = "http://hl7.org/fhir/StructureDefinition/"


# --- genomics ------------------------------------------------------------------------

ERBB2_GENE = CodeSet(
    "ERBB2 gene",
    (Code(HGNC, "HGNC:3430", "ERBB2"), Code(HGNC_GENE_ID, "HGNC:3430", "ERBB2")),
    ("erbb2", "her2", "her 2"),
)
EGFR_GENE = CodeSet(
    "EGFR gene",
    (_src(HGNC, "HGNC:3236", "EGFR", GR3), _src(HGNC_GENE_ID, "HGNC:3236", "EGFR", GR3)),
    ("egfr",),
)
VARIANT_PRESENT = CodeSet(
    "Variant present", (_src(LOINC, "LA9633-4", "Present", GR3),), ("present", "detected")
)
VARIANT_ABSENT = CodeSet(
    "Variant absent (looked for, not found: a tested negative)",
    (_src(LOINC, "LA9634-2", "Absent", GR3),),
    ("absent", "not detected"),
)
DISCRETE_VARIANT = CodeSet(
    "Discrete genetic variant (ClinVar or other coded / text variant)",
    (_src(LOINC, "81252-9", "Discrete genetic variant", GR3),),
)
MOLECULAR_CONSEQUENCE = CodeSet(
    "Molecular consequence",
    (_src(GR_TBD, "molecular-consequence", "Molecular consequence", GR3),),
    ("molecular consequence",),
)
DIAGNOSTIC_IMPLICATION = CodeSet(
    "Diagnostic / therapeutic implication",
    (
        _src(GR_TBD, "diagnostic-implication", "Diagnostic implication", GR3),
        _src(GR_TBD, "therapeutic-implication", "Therapeutic implication", GR3),
    ),
    ("diagnostic implication", "therapeutic implication"),
)
COPY_NUMBER_GAIN = CodeSet(
    "Copy-number gain / amplification",
    (_src(SEQUENCE_ONTOLOGY, "SO:0001742", "copy_number_gain", GR3),),
    ("copy number gain", "amplification", "amplified", "gain"),
)
COPY_NUMBER_LOSS = CodeSet(
    "Copy-number loss",
    (_src(SEQUENCE_ONTOLOGY, "SO:0001743", "copy_number_loss", MCODE4),),
    ("copy number loss", "deletion of gene", "loss"),
)
COPY_NUMBER_CHANGE = CodeSet(
    "Copy-number variation (direction not stated)",
    (_src(SEQUENCE_ONTOLOGY, "SO:0001019", "copy_number_variation", GR3),),
    ("copy number variation", "copy number variant", "cnv"),
)
PROCEDURE_INTENT_EXTENSION = MCODE_SD + "mcode-procedure-intent"
CURATIVE_INTENT = CodeSet(
    "Curative - procedure intent (mcode-procedure-intent-vs)",
    (_src(SNOMED, "373808002", "Curative - procedure intent", MCODE4),),
    ("curative",),
)
NON_CURATIVE_INTENT = CodeSet(
    "Other procedure intents (mcode-procedure-intent-vs)",
    (
        _src(SNOMED, "363676003", "Palliative - procedure intent", MCODE4),
        _src(SNOMED, "399707004", "Supportive - procedure intent", MCODE4),
    ),
    ("palliative", "supportive"),
)
RADIOTHERAPY_COURSE = CodeSet(
    "Radiotherapy course of treatment (fixed code of mcode-radiotherapy-course-summary)",
    (_src(SNOMED, "1217123003", "Radiotherapy course of treatment", MCODE4),),
    ("radiotherapy course", "radiation therapy course"),
)
TEST_NEGATIVE = CodeSet(
    "Negative (test result answer)", (_src(LOINC, "LA6577-6", "Negative", MCODE4),)
)
GENETICS_GENE_EXTENSION = CORE_SD + "observation-geneticsGene"
GENETICS_DNA_REGION_EXTENSION = CORE_SD + "observation-geneticsDNARegionName"
GENETICS_AMINO_ACID_CHANGE_EXTENSION = CORE_SD + "observation-geneticsAminoAcidChange"
GENETICS_VARIANT_EXTENSION = CORE_SD + "observation-geneticsVariant"
GENETICS_COPY_NUMBER_EXTENSION = CORE_SD + "observation-geneticsCopyNumberEvent"
"""The FHIR R4 core genetics extensions (R4CORE: StructureDefinition-observation-genetics*)."""
VARIANT_ASSESSMENT = CodeSet(
    "Genetic variant assessment", (_loinc("69548-6", "Genetic variant assessment"),)
)
GENE_STUDIED = CodeSet("Gene studied", (_loinc("48018-6", "Gene studied [ID]"),), ("gene studied",))
AMINO_ACID_CHANGE = CodeSet(
    "Amino acid change (p.HGVS)",
    (_loinc("48005-3", "Amino acid change (pHGVS)"),),
    ("amino acid change", "protein change", "phgvs"),
)
DNA_CHANGE = CodeSet(
    "DNA change (c.HGVS)",
    (_loinc("48004-6", "DNA change (c.HGVS)"),),
    ("dna change", "chgvs", "cdna change"),
)
GENOMIC_DNA_CHANGE = CodeSet(
    "Genomic DNA change (g.HGVS)", (_loinc("81290-9", "Genomic DNA change (gHGVS)"),)
)
DNA_CHANGE_TYPE = CodeSet(
    "DNA change type", (_loinc("48019-4", "DNA change type"),), ("dna change type",)
)
CLINICAL_SIGNIFICANCE = CodeSet(
    "Clinical significance",
    (_loinc("53037-8", "Genetic variation clinical significance"),),
    ("clinical significance", "pathogenicity"),
)
GENOMIC_SOURCE_CLASS = CodeSet(
    "Genomic source class", (_loinc("48002-0", "Genomic source class"),), ("genomic source",)
)
ALLELIC_FREQUENCY = CodeSet(
    "Allelic frequency", (_loinc("81258-6", "Sample variant allelic frequency"),)
)
GENETIC_ANALYSIS_REPORT = CodeSet(
    "Genetic analysis report", (_loinc("51969-4", "Genetic analysis report"),)
)
SIGNIFICANCE_PATHOGENIC = CodeSet(
    "Pathogenic", (_loinc("LA6668-3", "Pathogenic"),), ("pathogenic", "oncogenic")
)
SIGNIFICANCE_LIKELY_PATHOGENIC = CodeSet(
    "Likely pathogenic",
    (
        _loinc("LA26332-9", "Likely pathogenic", verified=False),
        _src(LOINC, "LA26332-9", "Likely Pathogenic", GR3),
    ),
    ("likely pathogenic", "likely oncogenic"),
)
SIGNIFICANCE_UNCERTAIN = CodeSet(
    "Uncertain significance",
    (
        _loinc("LA6682-4", "Uncertain significance"),
        _src(LOINC, "LA26333-7", "Uncertain significance", GR3),
    ),
    ("uncertain significance", "unknown significance", "vus"),
)
SIGNIFICANCE_BENIGN = CodeSet("Benign", (_loinc("LA6675-8", "Benign"),), ("benign",))
SIGNIFICANCE_LIKELY_BENIGN = CodeSet(
    "Likely benign (no code in section 7: text only)", (), ("likely benign",)
)
HER2_IHC = CodeSet(
    "HER2 immunohistochemistry",
    (
        _loinc("18474-7", "HER2 Ag [Presence] in Tissue by Immune stain"),
        _loinc("72383-3", "HER2 [Presence] in Tissue by Immune stain"),
        _loinc("48676-1", "HER2 [Interpretation] in Tissue"),
        _loinc("85319-2", "HER2 [Presence] in Breast cancer specimen by Immune stain"),
    ),
    ("her2 ihc", "her2 immunohistochemistry", "her2 by ihc", "her2 neu ihc", "ihc her2"),
)
HER2_ISH = CodeSet(
    "HER2 in situ hybridisation / amplification",
    (
        _loinc("31150-6", "ERBB2 gene dup [Presence] in Tissue by FISH"),
        _loinc("49683-6", "ERBB2 gene copy number / CEP17 ratio"),
        _loinc("74860-8", "ERBB2 gene amplification in Tissue by ISH"),
        _loinc("96893-3", "ERBB2 gene copy number"),
        _loinc("85318-4", "ERBB2 gene dup in Breast cancer specimen by FISH"),
    ),
    (
        "her2 fish",
        "her2 ish",
        "erbb2 fish",
        "erbb2 ish",
        "her2 amplification",
        "erbb2 amplification",
        "her2 copy number",
        "erbb2 copy number",
    ),
)
PDL1 = CodeSet("PD-L1", (_loinc("83053-9", "PD-L1 by immune stain"),))

# --- measurements, status ----------------------------------------------------------------

ECOG = CodeSet(
    "ECOG performance status", (_loinc("89247-1", "ECOG Performance Status"),), ("ecog",)
)
DISEASE_STATUS = CodeSet(
    "Disease status", (_loinc("97509-4", "Cancer disease status"),), ("disease status",)
)
CONDITION_WORSENED = CodeSet(
    "Condition worsened (progression)",
    (_sct("271299001", "Patient's condition worsened"),),
    ("worsened", "progression", "progressive disease", "disease progression"),
)
LVEF = CodeSet(
    "Left ventricular ejection fraction",
    (
        _loinc("10230-1", "Left ventricular Ejection fraction"),
        _src(LOINC, "18043-0", "Left ventricular Ejection fraction by US", LOINC_SEARCH),
        _src(
            LOINC,
            "77891-0",
            "Left ventricular Ejection fraction by US.2D+Calculated by Teichholz method",
            LOINC_SEARCH,
        ),
        _src(
            LOINC,
            "77889-4",
            "Left ventricular Ejection fraction by US.M-mode+Calculated by cube method",
            LOINC_SEARCH,
        ),
        _src(
            LOINC,
            "104255-5",
            "Left ventricular Ejection fraction by US.3D.A3C+Estimated",
            LOINC_SEARCH,
        ),
    ),
    ("lvef", "left ventricular ejection fraction", "lv ejection fraction", "ejection fraction"),
)
ALT = CodeSet(
    "ALT",
    (_loinc("1742-6", "ALT [Enzymatic activity/volume]"),),
    ("alt", "alanine aminotransferase"),
)
AST = CodeSet(
    "AST",
    (_loinc("1920-8", "AST [Enzymatic activity/volume]"),),
    ("ast", "aspartate aminotransferase"),
)
BILIRUBIN_TOTAL = CodeSet(
    "Total bilirubin",
    (_loinc("1975-2", "Bilirubin.total [Mass/volume]"),),
    ("total bilirubin", "bilirubin total"),
)
ANC = CodeSet(
    "Absolute neutrophil count",
    (
        _loinc("751-8", "Neutrophils [#/volume] in Blood by Automated count"),
        _loinc("26499-4", "Neutrophils [#/volume] in Blood", verified=False),
    ),
    ("absolute neutrophil count", "anc", "neutrophils absolute", "absolute neutrophils"),
)
BODY_WEIGHT = CodeSet("Body weight", (_loinc("29463-7", "Body weight"),), ("body weight",))
BODY_TEMPERATURE_SOURCE = (
    "clinical-rules.md section 9.3 [?], checked against the FHIR R4 Body Temperature profile "
    "(http://hl7.org/fhir/R4/bodytemp.html: Observation.code 8310-5; units Cel or [degF])"
)
BODY_TEMPERATURE = CodeSet(
    "Body temperature",
    (Code(LOINC, "8310-5", "Body temperature", source=BODY_TEMPERATURE_SOURCE),),
    ("body temperature",),
)

# --- version 2 (clinical-rules.md 9.3, "New codes") ---------------------------------------

US_CORE_PLATELETS = (
    "HL7 US Core Implementation Guide STU7, example Observation cbc-platelets "
    "(https://hl7.org/fhir/us/core/STU7/Observation-cbc-platelets.html): LOINC 777-3 "
    '"Platelets [#/volume] in Blood by Automated count"'
)
IBCM_PREGNANCY_TEST = (
    "HL7 International Birth and Child Model IG (2024Sep ballot), Observation "
    "uc3-pregnancytest-firstMOHVisit: LOINC 2106-3 "
    '"Choriogonadotropin (pregnancy test) [Presence] in Urine"'
)
NOT_CHECKED = "not checked against a published source: unverified [?]"

PLATELETS = CodeSet(
    "Platelet count",
    (
        Code(
            LOINC,
            "777-3",
            "Platelets [#/volume] in Blood by Automated count",
            source=US_CORE_PLATELETS,
        ),
    ),
    ("platelet count", "platelets", "plt"),
)
PREGNANCY_TEST = CodeSet(
    "Pregnancy test (hCG, serum or urine)",
    (
        Code(
            LOINC,
            "2106-3",
            "Choriogonadotropin (pregnancy test) [Presence] in Urine",
            source=IBCM_PREGNANCY_TEST,
        ),
        Code(
            LOINC,
            "2118-8",
            "Choriogonadotropin (pregnancy test) [Presence] in Serum or Plasma",
            verified=False,
            source=NOT_CHECKED,
        ),
    ),
    (
        "pregnancy test",
        "hcg",
        "beta hcg",
        "b hcg",
        "choriogonadotropin",
        "chorionic gonadotropin",
    ),
)
NYHA_LOINC_SOURCE = (
    'LOINC 88020-3 "Functional capacity NYHA" (the patient\'s functional class I-IV), as '
    "LOINC describes it, read on the HealthAssure LOINC code page healthassure.in/codes/"
    "loinc-88020-3-functional-capacity-nyha. The other part of the New York Heart "
    'Association Functional Classification, 88021-1 "Objective assessment of '
    'cardiovascular disease NYHA", grades objective evidence (A-D), not the class, and is '
    "not read; panel 93124-6"
)
NYHA_SNOMED_SOURCE = (
    "SNOMED CT NYHA class answers 420300004 (I), 421704003 (II), 420913000 (III), "
    '422293003 (IV): DICOM CID 3736 "NYHA Classification" (as published in FHIR by '
    "bvdh/dicom-terminology-in-fhir, ValueSet dicom-cid-3736-NYHAClassification) and the "
    'HL7 Austria ELGA heart-failure IG ValueSet "Symptomatik" (HL7Austria/ELGA-IV-'
    "Herzinsuffizienz-R4), which agree"
)
NYHA_CLASS = CodeSet(
    "NYHA functional class (Observation code)",
    (Code(LOINC, "88020-3", "Functional capacity NYHA", source=NYHA_LOINC_SOURCE),),
    ("nyha", "new york heart association"),
)
"""An Observation stating an NYHA class (clinical-rules.md 9.3, symptomatic heart failure).
The text phrases are the project's own fallback (``MatchedBy.TEXT``)."""
NYHA_CLASS_ANSWERS: Mapping[str, int] = {
    "420300004": 1,
    "421704003": 2,
    "420913000": 3,
    "422293003": 4,
}
"""SNOMED CT answer codes of the NYHA class, and the class each states
(``NYHA_SNOMED_SOURCE``)."""
MENOPAUSE = CodeSet(
    "Menopause (no checked code: text only)",
    (),
    ("postmenopausal", "post menopausal", "menopause", "menopausal"),
)
HYSTERECTOMY = CodeSet(
    "Hysterectomy (no checked code: text only)",
    (),
    ("hysterectomy",),
)
BILATERAL_OOPHORECTOMY = CodeSet(
    "Bilateral oophorectomy (no checked code: text only)",
    (),
    ("bilateral oophorectomy", "bilateral salpingo oophorectomy", "bso"),
)

PLAUSIBILITY_SOURCE_DEFINITION = "definition of the quantity (cannot lie outside)"
PLAUSIBILITY_SOURCE_PROJECT = (
    "[?] project's data-quality bound, far beyond any clinical value (not a clinical"
    " threshold; a value outside it is a data issue, never a fact)"
)


@dataclass(frozen=True, slots=True)
class PlausibleRange:
    """Values a measurement can take, in the mapping's normalised unit (inclusive)."""

    low: float
    high: float
    source: str


PLAUSIBLE_RANGES: dict[str, PlausibleRange] = {
    "lvef": PlausibleRange(0.0, 100.0, PLAUSIBILITY_SOURCE_DEFINITION + ": a percentage"),
    "alt": PlausibleRange(0.0, 100_000.0, PLAUSIBILITY_SOURCE_PROJECT),
    "ast": PlausibleRange(0.0, 100_000.0, PLAUSIBILITY_SOURCE_PROJECT),
    "bilirubin-total": PlausibleRange(0.0, 100.0, PLAUSIBILITY_SOURCE_PROJECT),
    "anc": PlausibleRange(0.0, 1_000.0, PLAUSIBILITY_SOURCE_PROJECT),
    "body-weight": PlausibleRange(0.5, 700.0, PLAUSIBILITY_SOURCE_PROJECT),
    "ecog": PlausibleRange(0.0, 5.0, PLAUSIBILITY_SOURCE_DEFINITION + ": the ECOG scale 0-5"),
}
"""Per analyte (``MeasurementKind`` value) in the normalised unit of ``measurements``
(%, U/L, mg/dL, 10*9/L, kg). Table-driven so that new measurement kinds add a row."""

# --- conditions ------------------------------------------------------------------------

NSCLC = CodeSet(
    "Non-small cell lung cancer",
    (_sct("254637007", "Non-small cell lung cancer"),),
    ("non small cell lung", "nsclc", "non small cell carcinoma of lung"),
)
LUNG_ADENOCARCINOMA = CodeSet(
    "Adenocarcinoma of lung (non-squamous)",
    (_sct("254626006", "Adenocarcinoma of lung"),),
    ("adenocarcinoma of lung", "lung adenocarcinoma", "adenocarcinoma of the lung"),
)
LUNG_SQUAMOUS = CodeSet(
    "Squamous cell carcinoma of lung",
    (_sct("59529006", "Squamous cell carcinoma of lung", verified=False),),
    ("squamous cell carcinoma of lung", "squamous cell carcinoma of the lung", "lung squamous"),
)
LUNG_CANCER = CodeSet(
    "Malignant neoplasm of bronchus and lung",
    (_icd("C34", "Malignant neoplasm of bronchus and lung", prefix=True),),
    ("lung cancer", "carcinoma of lung", "lung carcinoma", "malignant neoplasm of lung"),
)
BRAIN_METASTASIS = CodeSet(
    "Brain metastasis",
    (
        _sct("94225005", "Metastatic malignant neoplasm to brain"),
        _icd("C79.31", "Secondary malignant neoplasm of brain"),
    ),
    (
        "brain metastasis",
        "brain metastases",
        "metastasis to brain",
        "metastatic to brain",
        "neoplasm to brain",
        "neoplasm of brain",
        "cerebral metastases",
        "cerebral metastasis",
        "brain mets",
    ),
)
LEPTOMENINGEAL = CodeSet(
    "Leptomeningeal disease",
    (_icd("C79.32", "Secondary malignant neoplasm of cerebral meninges", verified=False),),
    ("leptomeningeal", "meningeal carcinomatosis", "carcinomatous meningitis"),
)
ILD = CodeSet(
    "Interstitial lung disease / pneumonitis",
    (
        _sct("233703007", "Interstitial lung disease"),
        _sct("205237003", "Pneumonitis"),
        _sct("427046006", "Drug-induced pneumonitis"),
        _sct("196051003", "Drug-induced interstitial lung disorder"),
        _sct("64667001", "Interstitial pneumonia"),
        _sct("84004001", "Radiation pneumonitis"),
        _sct("719218000", "Organizing pneumonia"),
        _icd("J84", "Other interstitial pulmonary diseases", prefix=True),
        _icd("J70.0", "Acute pulmonary manifestations due to radiation"),
        _icd("J70.1", "Chronic pulmonary manifestations due to radiation"),
        _icd("J70.2", "Acute drug-induced interstitial lung disorders"),
        _icd("J70.3", "Chronic drug-induced interstitial lung disorders"),
        _icd("J70.4", "Drug-induced interstitial lung disorders, unspecified"),
    ),
    (
        "interstitial lung disease",
        "ild",
        "pneumonitis",
        "interstitial pneumonia",
        "organizing pneumonia",
        "organising pneumonia",
        "interstitial lung disorder",
    ),
)
ILD_DRUG_INDUCED = CodeSet(
    "Drug-induced ILD / pneumonitis",
    (
        _sct("427046006", "Drug-induced pneumonitis"),
        _sct("196051003", "Drug-induced interstitial lung disorder"),
        _icd("J70.2", "Acute drug-induced interstitial lung disorders"),
        _icd("J70.3", "Chronic drug-induced interstitial lung disorders"),
        _icd("J70.4", "Drug-induced interstitial lung disorders, unspecified"),
    ),
    ("drug induced", "drug related"),
)
ILD_RADIATION = CodeSet(
    "Radiation pneumonitis",
    (
        _sct("84004001", "Radiation pneumonitis"),
        _icd("J70.0", "Acute pulmonary manifestations due to radiation"),
        _icd("J70.1", "Chronic pulmonary manifestations due to radiation"),
    ),
    ("radiation", "radiotherapy", "radiation induced"),
)
COPD = CodeSet(
    "Chronic obstructive pulmonary disease",
    (_sct("13645005", "Chronic obstructive lung disease"), _icd("J44", "COPD", prefix=True)),
    ("copd", "chronic obstructive pulmonary disease", "chronic obstructive lung disease"),
)
HEART_FAILURE = CodeSet(
    "Heart failure",
    (
        _sct("84114007", "Heart failure"),
        _sct("42343007", "Congestive heart failure"),
        _icd("I50", "Heart failure", prefix=True),
    ),
    ("heart failure", "cardiac failure"),
)
LV_SYSTOLIC_DYSFUNCTION = CodeSet(
    "Left ventricular systolic dysfunction",
    (_sct("134401001", "Left ventricular systolic dysfunction"),),
    ("left ventricular systolic dysfunction", "lv systolic dysfunction", "lvsd"),
)
RENAL_IMPAIRMENT_MODERATE_OR_WORSE = CodeSet(
    "Moderate or worse renal impairment (no code in section 7: text only)",
    (),
    (
        "moderate renal impairment",
        "severe renal impairment",
        "chronic kidney disease stage 3",
        "chronic kidney disease stage 3a",
        "chronic kidney disease stage 3b",
        "chronic kidney disease stage 4",
        "chronic kidney disease stage 5",
        "ckd stage 3",
        "ckd stage 3a",
        "ckd stage 3b",
        "ckd stage 4",
        "ckd stage 5",
        "ckd 3",
        "ckd 3a",
        "ckd 3b",
        "ckd 4",
        "ckd 5",
        "end stage renal disease",
        "end stage kidney disease",
        "esrd",
    ),
)

ALL_CODE_SETS: tuple[CodeSet, ...] = (
    ERBB2_GENE,
    EGFR_GENE,
    VARIANT_ASSESSMENT,
    GENE_STUDIED,
    AMINO_ACID_CHANGE,
    DNA_CHANGE,
    GENOMIC_DNA_CHANGE,
    DNA_CHANGE_TYPE,
    CLINICAL_SIGNIFICANCE,
    GENOMIC_SOURCE_CLASS,
    ALLELIC_FREQUENCY,
    GENETIC_ANALYSIS_REPORT,
    VARIANT_PRESENT,
    VARIANT_ABSENT,
    DISCRETE_VARIANT,
    MOLECULAR_CONSEQUENCE,
    DIAGNOSTIC_IMPLICATION,
    COPY_NUMBER_GAIN,
    COPY_NUMBER_LOSS,
    COPY_NUMBER_CHANGE,
    TEST_NEGATIVE,
    RADIOTHERAPY_COURSE,
    CURATIVE_INTENT,
    NON_CURATIVE_INTENT,
    SIGNIFICANCE_PATHOGENIC,
    SIGNIFICANCE_LIKELY_PATHOGENIC,
    SIGNIFICANCE_UNCERTAIN,
    SIGNIFICANCE_BENIGN,
    SIGNIFICANCE_LIKELY_BENIGN,
    HER2_IHC,
    HER2_ISH,
    PDL1,
    ECOG,
    DISEASE_STATUS,
    CONDITION_WORSENED,
    LVEF,
    ALT,
    AST,
    BILIRUBIN_TOTAL,
    ANC,
    BODY_WEIGHT,
    BODY_TEMPERATURE,
    PLATELETS,
    PREGNANCY_TEST,
    MENOPAUSE,
    HYSTERECTOMY,
    BILATERAL_OOPHORECTOMY,
    NSCLC,
    LUNG_ADENOCARCINOMA,
    LUNG_SQUAMOUS,
    LUNG_CANCER,
    BRAIN_METASTASIS,
    LEPTOMENINGEAL,
    ILD,
    ILD_DRUG_INDUCED,
    ILD_RADIATION,
    COPD,
    HEART_FAILURE,
    LV_SYSTOLIC_DYSFUNCTION,
    RENAL_IMPAIRMENT_MODERATE_OR_WORSE,
)


# --- drugs -------------------------------------------------------------------------------

BRAND_SOURCE = "common US brand name, added by the project (a name, not a code)"


@dataclass(frozen=True, slots=True)
class DrugInfo:
    drug: Drug
    display: str
    names: tuple[str, ...]
    """Generic, brand and development names from section 7."""
    codes: tuple[Code, ...] = ()
    extra_names: tuple[str, ...] = ()
    """Names added by the project (``BRAND_SOURCE``)."""

    @property
    def verified_codes(self) -> tuple[Code, ...]:
        return tuple(c for c in self.codes if c.verified)

    def codings(self) -> list[dict[str, str]]:
        """The verified codes as FHIR Codings (for a suggestion's medication)."""
        return [c.coding() for c in self.verified_codes]

    def codeable_concept(self) -> dict[str, object]:
        """``{"text": name, "coding": [verified codes]}``; no coding when none is known."""
        concept: dict[str, object] = {"text": self.display}
        if self.verified_codes:
            concept["coding"] = self.codings()
        return concept


def _rx(code: str, display: str, *, verified: bool) -> Code:
    return Code(RXNORM, code, display, verified)


DRUGS: dict[Drug, DrugInfo] = {
    info.drug: info
    for info in (
        DrugInfo(
            Drug.TRASTUZUMAB_DERUXTECAN,
            "fam-trastuzumab deruxtecan-nxki (Enhertu)",
            (
                "trastuzumab deruxtecan",
                "fam-trastuzumab deruxtecan-nxki",
                "Enhertu",
                "DS-8201",
                "T-DXd",
            ),
            (
                _rx("2267576", "Enhertu product", verified=True),
                _rx("2267581", "Enhertu product", verified=True),
            ),
            ("DS-8201a", "TDXd"),
        ),
        DrugInfo(
            Drug.ZONGERTINIB,
            "zongertinib (Hernexeos)",
            ("zongertinib", "Hernexeos", "BI 1810631", "BI-1810631"),
        ),
        DrugInfo(
            Drug.SEVABERTINIB,
            "sevabertinib (Hyrnuo)",
            ("sevabertinib", "Hyrnuo", "BAY 2927088", "BAY-2927088"),
        ),
        DrugInfo(
            Drug.TRASTUZUMAB_EMTANSINE,
            "ado-trastuzumab emtansine (Kadcyla)",
            ("ado-trastuzumab emtansine", "trastuzumab emtansine", "Kadcyla", "T-DM1"),
            (
                _rx("1658084", "Kadcyla product", verified=True),
                _rx("1658087", "Kadcyla product", verified=True),
                _rx("1658089", "Kadcyla product", verified=True),
                _rx("1658091", "Kadcyla product", verified=True),
                _rx("1371041", "ado-trastuzumab emtansine", verified=False),
            ),
            ("TDM1",),
        ),
        DrugInfo(Drug.POZIOTINIB, "poziotinib", ("poziotinib",)),
        DrugInfo(Drug.MOBOCERTINIB, "mobocertinib (Exkivity)", ("mobocertinib", "Exkivity")),
        DrugInfo(Drug.AMIVANTAMAB, "amivantamab (Rybrevant)", ("amivantamab", "Rybrevant")),
        DrugInfo(
            Drug.CARBOPLATIN,
            "carboplatin",
            ("carboplatin",),
            (_rx("40048", "carboplatin", verified=False),),
            ("Paraplatin",),
        ),
        DrugInfo(
            Drug.CISPLATIN,
            "cisplatin",
            ("cisplatin",),
            (
                _rx("2555", "cisplatin", verified=False),
                Code(
                    RXNORM,
                    "309311",
                    "cisplatin 1 MG/ML Injectable Solution (SCD)",
                    True,
                    False,
                    MCODE4,
                ),
            ),
            ("Platinol",),
        ),
        DrugInfo(
            Drug.PEMETREXED,
            "pemetrexed",
            ("pemetrexed",),
            (_rx("68446", "pemetrexed", verified=False),),
            ("Alimta", "Pemfexy"),
        ),
        DrugInfo(
            Drug.PACLITAXEL,
            "paclitaxel",
            ("paclitaxel",),
            (
                _rx("56946", "paclitaxel", verified=False),
                Code(RXNORM, "56946", "paclitaxel (IN)", True, False, MCODE4),
            ),
            ("Taxol",),
        ),
        DrugInfo(
            Drug.NAB_PACLITAXEL,
            "nab-paclitaxel",
            ("nab-paclitaxel",),
            (),
            ("paclitaxel protein-bound", "protein-bound paclitaxel", "Abraxane"),
        ),
        DrugInfo(
            Drug.DOCETAXEL,
            "docetaxel",
            ("docetaxel",),
            (_rx("72962", "docetaxel", verified=False),),
            ("Taxotere",),
        ),
        DrugInfo(
            Drug.PEMBROLIZUMAB,
            "pembrolizumab",
            ("pembrolizumab",),
            (_rx("1547545", "pembrolizumab", verified=False),),
            ("Keytruda",),
        ),
        DrugInfo(
            Drug.NIVOLUMAB,
            "nivolumab",
            ("nivolumab",),
            (_rx("1597876", "nivolumab", verified=False),),
            ("Opdivo",),
        ),
        DrugInfo(
            Drug.ATEZOLIZUMAB,
            "atezolizumab",
            ("atezolizumab",),
            (_rx("1792776", "atezolizumab", verified=False),),
            ("Tecentriq",),
        ),
        DrugInfo(
            Drug.DURVALUMAB,
            "durvalumab",
            ("durvalumab",),
            (_rx("1919503", "durvalumab", verified=False),),
            ("Imfinzi",),
        ),
        DrugInfo(Drug.CEMIPLIMAB, "cemiplimab", ("cemiplimab",), (), ("Libtayo",)),
        DrugInfo(
            Drug.IPILIMUMAB,
            "ipilimumab",
            ("ipilimumab",),
            (_rx("1094833", "ipilimumab", verified=False),),
            ("Yervoy",),
        ),
        DrugInfo(Drug.TREMELIMUMAB, "tremelimumab", ("tremelimumab",), (), ("Imjudo",)),
        DrugInfo(
            Drug.OSIMERTINIB,
            "osimertinib",
            ("osimertinib",),
            (_rx("1721560", "osimertinib", verified=False),),
            ("Tagrisso",),
        ),
        DrugInfo(
            Drug.GEFITINIB,
            "gefitinib",
            ("gefitinib",),
            (Code(RXNORM, "349472", "gefitinib 250 MG Oral Tablet (SCD)", True, False, MCODE4),),
            ("Iressa",),
        ),
        DrugInfo(Drug.ERLOTINIB, "erlotinib", ("erlotinib",), (), ("Tarceva",)),
        DrugInfo(Drug.AFATINIB, "afatinib", ("afatinib",), (), ("Gilotrif",)),
        DrugInfo(
            Drug.TRASTUZUMAB,
            "trastuzumab",
            ("trastuzumab",),
            (),
            (
                "Herceptin",
                "Herceptin Hylecta",
                "Ogivri",
                "Herzuma",
                "Ontruzant",
                "Trazimera",
                "Kanjinti",
                "Hercessi",
            ),
        ),
        DrugInfo(Drug.TUCATINIB, "tucatinib (Tukysa)", ("tucatinib",), (), ("Tukysa",)),
        DrugInfo(Drug.OTHER_ANTICANCER, "other anticancer drug", ()),
    )
}


@dataclass(frozen=True, slots=True)
class DrugMatch:
    drug: Drug
    matched_by: MatchedBy
    verified: bool = True
    """False when only an unverified ("from memory") RxNorm code recognised the drug."""


@lru_cache(maxsize=1)
def _name_index() -> tuple[tuple[str, Drug], ...]:
    """Normalised names, longest first, so "nab-paclitaxel" wins over "paclitaxel"."""
    pairs = [
        (_words(name), info.drug)
        for info in DRUGS.values()
        for name in (*info.names, *info.extra_names)
    ]
    return tuple(sorted(pairs, key=lambda pair: -len(pair[0])))


SUPPORTIVE_DRUG_NAMES: tuple[str, ...] = (
    # corticosteroids
    "dexamethasone", "decadron", "prednisone", "prednisolone", "methylprednisolone",
    "solu medrol", "medrol", "hydrocortisone", "budesonide",
    # antiemetics
    "ondansetron", "zofran", "granisetron", "palonosetron", "aprepitant", "fosaprepitant",
    "emend", "netupitant", "akynzeo", "metoclopramide", "prochlorperazine", "olanzapine",
    # G-CSF
    "filgrastim", "pegfilgrastim", "neupogen", "neulasta", "zarxio", "udenyca",
    "lipegfilgrastim", "sargramostim",
    # antidiarrheals
    "loperamide", "imodium", "diphenoxylate", "lomotil", "octreotide",
)  # fmt: skip
"""Recognised supportive drugs (clinical-rules.md 9.3): a text naming one of them and an
anticancer drug is ambiguous and identifies neither. Generic and common US brand names,
the project's list (names, not codes)."""


@lru_cache(maxsize=1)
def _supportive_index() -> tuple[str, ...]:
    return tuple(sorted({_words(n) for n in SUPPORTIVE_DRUG_NAMES}, key=len, reverse=True))


@lru_cache(maxsize=4096)
def is_supportive(text: str) -> bool:
    """Whether a text names a recognised supportive drug (9.3)."""
    normalised = _words(text)
    return any(name in normalised for name in _supportive_index())


@lru_cache(maxsize=4096)
def drug_by_name(text: str) -> Drug | None:
    """The anticancer drug a free text names, when it names exactly one recognised drug
    (anticancer or supportive; clinical-rules.md 9.1 and 9.3). The longest name wins
    ("ado-trastuzumab emtansine" is T-DM1, never trastuzumab)."""
    normalised = _words(text)
    found: list[Drug] = []
    for name, drug in _name_index():
        if name in normalised:
            normalised = normalised.replace(name, " ")
            if drug not in found:
                found.append(drug)
    supportive = sum(1 for name in _supportive_index() if name in normalised)
    return found[0] if len(found) == 1 and supportive == 0 else None


def drugs_named(text: str) -> list[Drug]:
    """Every recognised drug named in a text (e.g. an ILD cause note)."""
    normalised = _words(text)
    found: list[Drug] = []
    for name, drug in _name_index():
        if name in normalised and drug not in found:
            normalised = normalised.replace(name, " ")
            found.append(drug)
    return found


@lru_cache(maxsize=1)
def _drug_code_index() -> dict[tuple[str, str], tuple[Drug, bool]]:
    return {
        _key(code.system, code.code): (info.drug, code.verified)
        for info in DRUGS.values()
        for code in info.codes
    }


def builtin_drug_code(system: str, code: str) -> tuple[Drug, bool] | None:
    """The drug a (system, code) is in the service's own table (``DRUGS``), and whether
    that code is verified; None when the table does not list it."""
    return _drug_code_index().get(_key(system, code))


def code_key(system: str, code: str) -> tuple[str, str]:
    """(system, code) as matching compares them (see "Matching" above)."""
    return _key(system, code)


class SiteDrugCodeConflict(ValueError):
    """A site code that the service's own table, or another site entry, gives another drug."""


@dataclass(frozen=True, slots=True)
class SiteDrugCodes:
    """A site's own statement of which drug a code is (clinical-rules.md 9.1 names "a
    site's own system"): built once at start-up from the site order catalog's medication
    entries (``cds_service.catalog``), passed to the mapping in ``MappingOptions``.
    Consulted by ``match_drug`` after the verified codes of ``DRUGS``. Build it with
    ``site_drug_codes``, which refuses conflicts."""

    entries: frozenset[tuple[str, str, Drug]] = frozenset()
    """(system, code, drug) as the site gave them."""
    _index: dict[tuple[str, str], Drug] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {_key(s, c): d for s, c, d in self.entries})

    def drug(self, system: str, code: str) -> Drug | None:
        return self._index.get(_key(system, code))

    def __len__(self) -> int:
        return len(self._index)


NO_SITE_DRUG_CODES = SiteDrugCodes()


def site_drug_codes(entries: Iterable[tuple[str, str, Drug]]) -> SiteDrugCodes:
    """The site's drug codes, checked: a code that ``DRUGS`` gives another drug (verified or
    not), or that the site gives two drugs, raises ``SiteDrugCodeConflict`` naming it."""
    seen: dict[tuple[str, str], Drug] = {}
    kept: set[tuple[str, str, Drug]] = set()
    for system, code, drug in entries:
        builtin = builtin_drug_code(system, code)
        if builtin is not None and builtin[0] is not drug:
            raise SiteDrugCodeConflict(
                f"{system}|{code} is {builtin[0].value} in the service's drug codes, "
                f"not {drug.value}"
            )
        key = _key(system, code)
        if key in seen and seen[key] is not drug:
            raise SiteDrugCodeConflict(
                f"{system}|{code} is given for both {seen[key].value} and {drug.value}"
            )
        seen[key] = drug
        kept.add((system, code, drug))
    return SiteDrugCodes(frozenset(kept))


def match_drug(concept: object, site: SiteDrugCodes = NO_SITE_DRUG_CODES) -> DrugMatch | None:
    """A medication CodeableConcept (clinical-rules.md 9.1, "Drug identity"): a concept
    that carries any coding is identified by its code only (a verified code of ``DRUGS``,
    then a code of the site's order catalog, ``site``, then an unverified code of
    ``DRUGS``, flagged), never by its text; a text-only concept by its text, when exactly
    one recognised drug name occurs."""
    pairs = codings(concept)
    if pairs:
        index = _drug_code_index()
        unverified: Drug | None = None
        for system, code in pairs:
            hit = index.get(_key(system, code))
            if hit is not None:
                if hit[1]:
                    return DrugMatch(hit[0], MatchedBy.CODE)
                unverified = unverified or hit[0]
        if site:
            for system, code in pairs:
                at_site = site.drug(system, code)
                if at_site is not None:
                    return DrugMatch(at_site, MatchedBy.CODE)
        if unverified is None:
            return None
        # A code from memory: the text confirms it, contradicts it (ambiguous: neither),
        # or says nothing (kept, flagged unverified).
        text = concept_text(concept)
        named = drug_by_name(text) if text else None
        if named is None:
            return DrugMatch(unverified, MatchedBy.CODE, verified=False)
        return DrugMatch(unverified, MatchedBy.CODE) if named is unverified else None
    text = concept_text(concept)
    by_name = drug_by_name(text) if text else None
    return DrugMatch(by_name, MatchedBy.TEXT) if by_name is not None else None


def coded_drug_named_in_text(concept: object) -> Drug | None:
    """A coded medication whose code is not recognised but whose text names one anticancer
    drug: not identified (9.1), but it must not vanish silently (a data issue)."""
    if not codings(concept):
        return None
    text = concept_text(concept)
    return drug_by_name(text) if text else None


# --- CYP3A inhibitors and inducers (interaction-cyp3a-tki) ----------------------------------

CYP3A_SOURCE = (
    "FDA, For Healthcare Professionals | FDA's Examples of Drugs that Interact with CYP "
    "Enzymes and Transporter Systems (https://www.fda.gov/drugs/drug-interactions-labeling/"
    "healthcare-professionals-fdas-examples-drugs-interact-cyp-enzymes-and-transporter-"
    "systems): its Table 1 was not read here; the strengths below follow tables that state "
    "they are based on FDA guidance. Examples only, matched by name (no code checked) [?]"
)
CYP3A_MODULATORS: dict[str, tuple[Cyp3aModulator, tuple[str, ...]]] = {
    # strong inhibitors
    "clarithromycin": (Cyp3aModulator.STRONG_INHIBITOR, ("Biaxin",)),
    "itraconazole": (Cyp3aModulator.STRONG_INHIBITOR, ("Sporanox",)),
    "ketoconazole": (Cyp3aModulator.STRONG_INHIBITOR, ()),
    "posaconazole": (Cyp3aModulator.STRONG_INHIBITOR, ("Noxafil",)),
    "voriconazole": (Cyp3aModulator.STRONG_INHIBITOR, ("Vfend",)),
    "ritonavir": (Cyp3aModulator.STRONG_INHIBITOR, ("Norvir", "Paxlovid")),
    "cobicistat": (Cyp3aModulator.STRONG_INHIBITOR, ()),
    "nefazodone": (Cyp3aModulator.STRONG_INHIBITOR, ()),
    "idelalisib": (Cyp3aModulator.STRONG_INHIBITOR, ()),
    # moderate inhibitors
    "diltiazem": (Cyp3aModulator.MODERATE_INHIBITOR, ("Cardizem",)),
    "verapamil": (Cyp3aModulator.MODERATE_INHIBITOR, ("Calan",)),
    "erythromycin": (Cyp3aModulator.MODERATE_INHIBITOR, ()),
    "fluconazole": (Cyp3aModulator.MODERATE_INHIBITOR, ("Diflucan",)),
    "aprepitant": (Cyp3aModulator.MODERATE_INHIBITOR, ("Emend",)),
    "dronedarone": (Cyp3aModulator.MODERATE_INHIBITOR, ("Multaq",)),
    # strong inducers
    "rifampin": (Cyp3aModulator.STRONG_INDUCER, ("rifampicin", "Rifadin")),
    "carbamazepine": (Cyp3aModulator.STRONG_INDUCER, ("Tegretol",)),
    "phenytoin": (Cyp3aModulator.STRONG_INDUCER, ("fosphenytoin", "Dilantin")),
    "apalutamide": (Cyp3aModulator.STRONG_INDUCER, ("Erleada",)),
    "enzalutamide": (Cyp3aModulator.STRONG_INDUCER, ("Xtandi",)),
    "mitotane": (Cyp3aModulator.STRONG_INDUCER, ()),
    "St. John's wort": (Cyp3aModulator.STRONG_INDUCER, ("St John's wort", "hypericum")),
    # moderate inducers
    "bosentan": (Cyp3aModulator.MODERATE_INDUCER, ("Tracleer",)),
    "efavirenz": (Cyp3aModulator.MODERATE_INDUCER, ()),
    "etravirine": (Cyp3aModulator.MODERATE_INDUCER, ()),
    "modafinil": (Cyp3aModulator.MODERATE_INDUCER, ("Provigil",)),
    "nafcillin": (Cyp3aModulator.MODERATE_INDUCER, ()),
    "rifabutin": (Cyp3aModulator.MODERATE_INDUCER, ()),
}
"""Generic name -> (strength, other names). St. John's wort is strong in some versions of
the FDA examples and moderate in others: the stronger class is kept (the safer reading).
Phenobarbital, primidone and dexamethasone are classed differently by different sources
and are left out until the FDA table is read."""


@lru_cache(maxsize=1)
def _cyp3a_index() -> tuple[tuple[str, str], ...]:
    pairs = [
        (_words(name), generic)
        for generic, (_, others) in CYP3A_MODULATORS.items()
        for name in (generic, *others)
    ]
    return tuple(sorted(pairs, key=lambda pair: -len(pair[0])))


def cyp3a_modulator(concept: object) -> tuple[str, Cyp3aModulator] | None:
    """The one CYP3A inhibitor or inducer a medication concept names, by text (no code of
    these drugs is checked); None when none, or more than one, is named, or when the text
    also names a recognised anticancer drug (an ambiguous text identifies neither)."""
    text = concept_text(concept)
    if not text:
        return None
    if len(text) <= _CACHED_TEXT_CHARS:
        return _cached_cyp3a_of_text(text)
    return _cyp3a_of_text(text)


def _cyp3a_of_text(text: str) -> tuple[str, Cyp3aModulator] | None:
    """``cyp3a_modulator`` of a concept whose text is ``text`` (it depends on the text only)."""
    normalised = _words(text)
    found: list[str] = []
    for name, generic in _cyp3a_index():
        if name in normalised:
            normalised = normalised.replace(name, " ")
            if generic not in found:
                found.append(generic)
    if len(found) != 1 or drugs_named(text):
        return None
    return found[0], CYP3A_MODULATORS[found[0]][0]


_cached_cyp3a_of_text = lru_cache(maxsize=4096)(_cyp3a_of_text)
"""Medication texts repeat across a record and across calls: each short one is read once
per process."""

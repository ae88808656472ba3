"""HER2 (ERBB2) and EGFR results from Observations and DiagnosticReports.

Shapes read:

- HL7 Genomics Reporting (STU2 / STU3) and mCODE variant Observations: code 69548-6
  with components 48018-6 gene studied (every one: a pertinent negative over several
  genes is a tested negative for each; HGNC:3430 = ERBB2, HGNC:3236 = EGFR), 48005-3
  p.HGVS, 48004-6 c.HGVS, 81290-9 g.HGVS, 81252-9 discrete variant (a ClinVar or other
  coded display, or text such as "ERBB2 exon 20 insertion"), 53037-8 clinical
  significance, 48019-4 DNA change type and the molecular-consequence component; the
  HGVS may be a coding code, a text, a display or a ``valueString``. The value LA9633-4
  is "present"; LA9634-2 "absent" means that variant was looked for and not found: a
  tested negative, never a mutation.
- The FHIR R4 core genetics extensions: ``observation-geneticsGene`` (HGNC id with or
  without the ``HGNC:`` prefix), ``-DNARegionName`` ("Exon 20"), ``-AminoAcidChange``,
  ``-Variant`` and ``-CopyNumberEvent``.
- Implications: a separate Observation (Genomics Reporting diagnostic / therapeutic
  implication, or any Observation with a 53037-8 component) that refers to the variant
  by ``derivedFrom`` or ``hasMember`` states the significance, and it governs the class
  (a lab's VUS call is never overridden by the residue range). Two implications that
  disagree make the significance "uncertain". ``build`` links them before reading.
- A stated gene other than ERBB2 / EGFR is "nothing for this service" (no fact, no data
  issue); a variant with no gene anywhere is a ``DataIssue`` ("variant without a gene").
- Copy number: a copy-number gain / amplification (SO:0001742, "amplification") of
  ERBB2 is an amplification, never a mutation; a loss is "not amplified"; a change with
  no direction is read from its copy number (>= 6 [?]) or is a ``DataIssue``.
- Simpler EHR shapes: a variant Observation whose value (``valueString`` or
  ``valueCodeableConcept``) carries the notation or only text ("ERBB2 exon 20
  insertion", "HER2 YVMA"), with the gene in the code's text.
- 51969-4 genetic analysis report Observations and DiagnosticReports: the conclusion
  text is read clause by clause (a clause names a gene and a result). A report's
  conclusion is used only when none of its ``result`` Observations gave a structured
  genomic fact (``build`` checks that), so one finding is not counted twice.
- HER2 IHC (18474-7, 72383-3, 48676-1, 85319-2) and ISH / copy number (31150-6,
  49683-6, 74860-8, 96893-3, 85318-4), or text ("HER2 IHC", "HER2 FISH").

Decisions (safer behaviour where the spec is silent):

- The gene must be stated (gene component, code text, value or note). A variant with no
  identifiable gene is not assumed to be ERBB2: it becomes a ``DataIssue``.
- "Tested negative" needs an explicit negative: the LOINC answer LA9634-2 (absent), or
  the words ("absent", "not detected", "negative", "wild type", "no ... mutation /
  alteration / variant"). Anything else is never read as negative.
- An IHC result given only as "negative" (LA6577-6 or the word, e.g. an mCODE tumour
  marker test) is ``IhcScore.NEGATIVE`` ("0 or 1+": tested, not 3+); one given only as
  "positive" / "present" is not mapped (a ``DataIssue``): it must not become 3+.
- Amplification: the text wins ("amplified", "not amplified"); with numbers only, a
  ratio >= 2.0 or a copy number >= 6 is positive [?] (ASCO/CAP breast criteria: no NSCLC
  standard exists); an equivocal result or an unlabelled number is a ``DataIssue``.
- Specimen: plasma words (plasma, blood, cfDNA, ctDNA, liquid biopsy) are checked before
  tissue words (tissue, tumor, biopsy, FFPE, resection), in the specimen reference
  display, a referenced/contained Specimen's type, the method and the code; else unknown.
- ``fda_approved_test`` is True only when the method/device text says "FDA-approved" or
  "companion diagnostic"; otherwise None (unknown), never False.
- EGFR has no code in section 7 (HGNC:3236 is not listed), so EGFR is matched by the
  symbol in text; a pathogenic or unstated EGFR variant counts as mutated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from fhir_mappings.hgvs import parse_dna_change, parse_protein_change
from fhir_mappings.model import (
    DataIssue,
    Her2Amplification,
    Her2Ihc,
    Her2Mutation,
    Her2NegativeResult,
    IhcScore,
    MatchedBy,
    Significance,
    Specimen,
)
from fhir_mappings.parse import (
    JsonObject,
    Resource,
    ResourceIndex,
    as_object,
    choice_date,
    objects,
    parse_date,
    string,
)
from fhir_mappings.terminology import (
    AMINO_ACID_CHANGE,
    CLINICAL_SIGNIFICANCE,
    COPY_NUMBER_CHANGE,
    COPY_NUMBER_GAIN,
    COPY_NUMBER_LOSS,
    DISCRETE_VARIANT,
    DNA_CHANGE,
    DNA_CHANGE_TYPE,
    EGFR_GENE,
    ERBB2_GENE,
    GENE_STUDIED,
    GENETIC_ANALYSIS_REPORT,
    GENETICS_AMINO_ACID_CHANGE_EXTENSION,
    GENETICS_COPY_NUMBER_EXTENSION,
    GENETICS_DNA_REGION_EXTENSION,
    GENETICS_GENE_EXTENSION,
    GENETICS_VARIANT_EXTENSION,
    GENOMIC_DNA_CHANGE,
    HER2_IHC,
    HER2_ISH,
    HGNC,
    MOLECULAR_CONSEQUENCE,
    SIGNIFICANCE_BENIGN,
    SIGNIFICANCE_LIKELY_PATHOGENIC,
    SIGNIFICANCE_PATHOGENIC,
    SIGNIFICANCE_UNCERTAIN,
    TEST_NEGATIVE,
    VARIANT_ABSENT,
    VARIANT_ASSESSMENT,
    VARIANT_PRESENT,
    CodeSet,
    codings,
    concept_text,
    has_phrase,
    match,
    normalise_system,
    normalise_text,
)
from fhir_mappings.variants import (
    KinaseDomain,
    classify_erbb2,
    egfr_exon20_insertion,
    egfr_sensitising,
    mentions_exon20_insertion,
)

AMPLIFICATION_RATIO_POSITIVE = 2.0
"""[?] ASCO/CAP (breast) ERBB2/CEP17 ratio threshold; no NSCLC standard."""
AMPLIFICATION_COPIES_POSITIVE = 6.0
"""[?] ASCO/CAP (breast) average ERBB2 copy number threshold; no NSCLC standard."""

GENOMIC_CODES = frozenset(
    c.code
    for s in (VARIANT_ASSESSMENT, GENETIC_ANALYSIS_REPORT, HER2_IHC, HER2_ISH, GENE_STUDIED)
    for c in s.codes
)
_GENE_WORDS = re.compile(r"erbb2|her-?2|egfr", re.IGNORECASE)


# --- cheap pre-filter ------------------------------------------------------------------


def has_genetics_extension(raw: JsonObject) -> bool:
    """An R4 core ``observation-genetics*`` extension (gene, region, change...)."""
    extensions = raw.get("extension")
    return type(extensions) is list and any(
        type(e) is dict and str(e.get("url", "")).startswith(_GENETICS_EXTENSION_PREFIX)
        for e in extensions
    )


_GENETICS_EXTENSION_PREFIX = GENETICS_GENE_EXTENSION.removesuffix("Gene")


def is_genomic(raw: JsonObject) -> bool:
    """Cheap test on raw JSON: a genomic code, a gene named in the code or conclusion, or
    an R4 core genetics extension."""
    if has_genetics_extension(raw):
        return True
    code = as_object(raw.get("code"))
    if any(c in GENOMIC_CODES for _, c in codings(code)):
        return True
    text = concept_text(code) + " " + (string(raw, "conclusion") or "")
    if raw.get("resourceType") == "Observation":
        text += " " + (string(raw, "valueString") or "")
    return bool(_GENE_WORDS.search(text))


# --- facts ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EgfrFinding:
    mutated: bool | None
    exon20_insertion: bool | None
    date: date | None
    source: str
    sensitising: bool | None = None


@dataclass(slots=True)
class GenomicFacts:
    """What one resource yielded (an accumulator, merged by ``build``)."""

    mutations: list[Her2Mutation] = field(default_factory=list)
    negatives: list[Her2NegativeResult] = field(default_factory=list)
    ihc: list[Her2Ihc] = field(default_factory=list)
    amplification: list[Her2Amplification] = field(default_factory=list)
    egfr: list[EgfrFinding] = field(default_factory=list)
    issues: list[DataIssue] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.mutations or self.negatives or self.ihc or self.amplification or self.egfr)


# --- text helpers ----------------------------------------------------------------------

_NEGATIVE = re.compile(
    r"\b(?:not\s+detected|none\s+detected|undetected|absent|negative|wild[\s-]?type"
    r"|no\s+(?:[\w-]+\s+){0,4}(?:alterations?|mutations?|variants?|insertions?)\b)",
    re.IGNORECASE,
)
_POSITIVE = re.compile(r"\b(?:detected|present|positive|identified|mutated)\b", re.IGNORECASE)
_NEGATED_POSITIVE = re.compile(r"\bnot\s+(?:detected|present|identified)\b", re.IGNORECASE)
_PLASMA = ("plasma", "blood", "cfdna", "cell free dna", "ctdna", "circulating tumor dna",
           "circulating tumour dna", "liquid biopsy", "liquid")  # fmt: skip
_TISSUE = ("tissue", "tumor", "tumour", "biopsy", "ffpe", "paraffin", "resection", "block")


def _significance_from_text(text: str) -> Significance:
    words = normalise_text(text)
    for phrase, significance in (
        ("likely benign", Significance.LIKELY_BENIGN),
        ("benign", Significance.BENIGN),
        ("uncertain significance", Significance.UNCERTAIN),
        ("unknown significance", Significance.UNCERTAIN),
        ("vus", Significance.UNCERTAIN),
        ("likely pathogenic", Significance.LIKELY_PATHOGENIC),
        ("likely oncogenic", Significance.LIKELY_PATHOGENIC),
        ("pathogenic", Significance.PATHOGENIC),
        ("oncogenic", Significance.PATHOGENIC),
    ):
        if has_phrase(words, phrase):
            return significance
    return Significance.UNSTATED


def significance_of(concept: object) -> Significance:
    """53037-8 value: coded answers of section 7, then text."""
    for code_set, significance in (
        (SIGNIFICANCE_PATHOGENIC, Significance.PATHOGENIC),
        (SIGNIFICANCE_LIKELY_PATHOGENIC, Significance.LIKELY_PATHOGENIC),
        (SIGNIFICANCE_UNCERTAIN, Significance.UNCERTAIN),
        (SIGNIFICANCE_BENIGN, Significance.BENIGN),
    ):
        if any(code_set.match_coding(s, c) for s, c in codings(concept)):
            return significance
    return _significance_from_text(concept_text(concept))


def _specimen_from_text(text: str) -> Specimen:
    words = normalise_text(text)
    if any(has_phrase(words, w) for w in _PLASMA):
        return Specimen.PLASMA
    if any(has_phrase(words, w) for w in _TISSUE):
        return Specimen.TISSUE
    return Specimen.UNKNOWN


def specimen_of(resource: JsonObject, index: ResourceIndex) -> Specimen:
    texts: list[str] = []
    for ref in objects(resource.get("specimen")):
        texts.append(string(ref, "display") or "")
        specimen = index.resolve(ref, resource)
        if specimen is not None:
            texts.append(concept_text(specimen.get("type")))
            texts.append(concept_text(child_concept(specimen, "collection", "method")))
            texts.append(concept_text(child_concept(specimen, "collection", "bodySite")))
    texts.append(concept_text(resource.get("method")))
    texts.append(concept_text(resource.get("code")))
    for text in texts:
        found = _specimen_from_text(text) if text else Specimen.UNKNOWN
        if found is not Specimen.UNKNOWN:
            return found
    return Specimen.UNKNOWN


def child_concept(obj: JsonObject, *path: str) -> JsonObject | None:
    current: JsonObject | None = obj
    for key in path:
        current = as_object(current.get(key)) if current is not None else None
    return current


def _fda_approved(resource: JsonObject) -> bool | None:
    text = normalise_text(
        concept_text(resource.get("method"))
        + " "
        + (string(as_object(resource.get("device")) or {}, "display") or "")
    )
    if has_phrase(text, "fda approved") or has_phrase(text, "companion diagnostic"):
        return True
    return None


def result_date(resource: JsonObject) -> date | None:
    return choice_date(resource, "effective") or parse_date(resource.get("issued"))


def _value_concept_text(value: object) -> str:
    """Text of a value CodeableConcept, including its codes (HGVS travels as a code)."""
    obj = as_object(value)
    if obj is None:
        return ""
    parts = [concept_text(obj)]
    parts.extend(code for _, code in codings(obj))
    return " | ".join(p for p in parts if p)


def value_text(obj: JsonObject) -> str:
    parts = [
        string(obj, "valueString") or "",
        _value_concept_text(obj.get("valueCodeableConcept")),
    ]
    return " | ".join(p for p in parts if p)


def _gene_of(text: str) -> str | None:
    words = normalise_text(text)
    erbb2 = any(has_phrase(words, t) for t in ERBB2_GENE.texts)
    egfr = has_phrase(words, "egfr")
    if erbb2 and not egfr:
        return "ERBB2"
    if egfr and not erbb2:
        return "EGFR"
    return "both" if erbb2 and egfr else None


# --- implications ------------------------------------------------------------------------


def implication_significance(raw: JsonObject) -> Significance | None:
    """The clinical significance a separate implication Observation states (Genomics
    Reporting diagnostic / therapeutic implication, or any Observation with a 53037-8
    component that points at a variant by ``derivedFrom`` / ``hasMember``); None when it
    states none. A variant Observation (69548-6) is never an implication of another."""
    code = raw.get("code")
    if match(code, VARIANT_ASSESSMENT) is not None:
        return None
    for component in objects(raw.get("component")):
        if match(component.get("code"), CLINICAL_SIGNIFICANCE) is not None:
            found = significance_of(component.get("valueCodeableConcept"))
            return None if found is Significance.UNSTATED else found
    return None


# --- readers -----------------------------------------------------------------------------


def read_genomic(
    resource: Resource,
    index: ResourceIndex,
    domain: KinaseDomain,
    implied: Significance | None = None,
) -> GenomicFacts:
    """All HER2 / EGFR facts of one validated Observation or DiagnosticReport.

    ``implied``: the clinical significance stated by a separate implication Observation
    that refers to this variant (it governs the class)."""
    data = resource.data
    facts = GenomicFacts()
    code = data.get("code")
    if resource.resource_type == "DiagnosticReport":
        text = " ; ".join(
            [string(data, "conclusion") or ""]
            + [concept_text(c) for c in objects(data.get("conclusionCode"))]
        )
        _read_text(text, resource, index, domain, facts)
        return facts
    if match(code, HER2_IHC) is not None or _looks_like(code, ("ihc", "immunohistochemistry")):
        _read_ihc(resource, facts)
    elif match(code, HER2_ISH) is not None or _looks_like(
        code, ("fish", "ish", "amplification", "copy number")
    ):
        _read_amplification(resource, facts)
    elif match(code, GENETIC_ANALYSIS_REPORT) is not None:
        text = " ; ".join(
            [value_text(data), *(string(n, "text") or "" for n in objects(data.get("note")))]
        )
        _read_text(text, resource, index, domain, facts)
    else:
        _read_variant(resource, index, domain, facts, implied)
    return facts


def _looks_like(code: object, words: tuple[str, ...]) -> bool:
    text = normalise_text(concept_text(code))
    return _gene_of(text) == "ERBB2" and any(has_phrase(text, w) for w in words)


def _components(data: JsonObject) -> dict[str, list[JsonObject]]:
    """Components by role; every component of a role is kept (several genes studied)."""
    found: dict[str, list[JsonObject]] = {}
    for component in objects(data.get("component")):
        code = component.get("code")
        for name, code_set in _COMPONENT_ROLES:
            if match(code, code_set) is not None:
                found.setdefault(name, []).append(component)
                break
    return found


_COMPONENT_ROLES: tuple[tuple[str, CodeSet], ...] = (
    ("gene", GENE_STUDIED),
    ("protein", AMINO_ACID_CHANGE),
    ("dna", DNA_CHANGE),
    ("genomic", GENOMIC_DNA_CHANGE),
    ("discrete", DISCRETE_VARIANT),
    ("significance", CLINICAL_SIGNIFICANCE),
    ("change_type", DNA_CHANGE_TYPE),
    ("consequence", MOLECULAR_CONSEQUENCE),
)
_HGNC_NUMBERS = {"3430": "ERBB2", "3236": "EGFR"}
"""HGNC ids without the ``HGNC:`` prefix, as the FHIR R4 core genetics example writes
them (``"code": "3236"`` under ``http://www.genenames.org``)."""


def _genes_of_concept(concept: object) -> tuple[set[str], bool, bool]:
    """(ERBB2 / EGFR named, any gene stated at all, ERBB2 identified by its HGNC code)."""
    found: set[str] = set()
    by_code = False
    pairs = codings(concept)
    for system, code in pairs:
        number = code.strip().upper().removeprefix("HGNC:")
        hgnc = normalise_system(system) == HGNC
        if ERBB2_GENE.match_coding(system, code) or (hgnc and _HGNC_NUMBERS.get(number) == "ERBB2"):
            found.add("ERBB2")
            by_code = True
        elif EGFR_GENE.match_coding(system, code) or (hgnc and _HGNC_NUMBERS.get(number) == "EGFR"):
            found.add("EGFR")
    text = _value_concept_text(concept)
    if not found:
        named = _gene_of(text)
        if named == "both":
            found.update(("ERBB2", "EGFR"))
        elif named is not None:
            found.add(named)
    return found, bool(pairs) or bool(text.strip()), by_code


def _extensions(data: JsonObject, url: str) -> list[JsonObject]:
    return [e for e in objects(data.get("extension")) if string(e, "url") == url]


def _extension_text(extension: JsonObject) -> str:
    """Every value text of an extension and its nested extensions (complex R4 genetics
    extensions nest ``Name`` / ``Type`` parts)."""
    parts = [
        string(extension, "valueString") or "",
        _value_concept_text(extension.get("valueCodeableConcept")),
    ]
    parts.extend(_extension_text(inner) for inner in objects(extension.get("extension")))
    return " | ".join(p for p in parts if p)


def _values_text(components: list[JsonObject]) -> str:
    return " ; ".join(
        t
        for c in components
        if (
            t := " | ".join(
                p
                for p in (
                    string(c, "valueString") or "",
                    _value_concept_text(c.get("valueCodeableConcept")),
                )
                if p
            )
        )
    )


def _copy_number_direction(concepts: list[object], text: str) -> bool | None:
    """True: copy-number gain / amplification; False: loss; None: not a copy-number call
    or no direction stated."""
    pairs = [pair for concept in concepts for pair in codings(concept)]
    if any(COPY_NUMBER_GAIN.match_coding(s, c) for s, c in pairs) or _is_amplification(text):
        return True
    if any(COPY_NUMBER_LOSS.match_coding(s, c) for s, c in pairs) or has_phrase(
        normalise_text(text), "copy number loss"
    ):
        return False
    return None


def _is_copy_number_change(concepts: list[object], text: str) -> bool:
    pairs = [pair for concept in concepts for pair in codings(concept)]
    return any(COPY_NUMBER_CHANGE.match_coding(s, c) for s, c in pairs) or any(
        has_phrase(normalise_text(text), w) for w in ("copy number variation", "cnv")
    )


@dataclass(slots=True)
class _Variant:
    """What a variant Observation states, gathered from components and extensions."""

    genes: set[str]
    gene_stated: bool
    erbb2_by_code: bool
    protein: str | None
    dna: str | None
    genomic: str | None
    discrete: str
    extension_change: str
    region: str
    change_concepts: list[object]
    change_type: str
    significance: list[JsonObject]
    """The clinical-significance components."""

    @property
    def has_change(self) -> bool:
        return bool(
            self.protein or self.dna or self.genomic or self.discrete or self.extension_change
        )


def _variant_genes(
    data: JsonObject, parts: dict[str, list[JsonObject]]
) -> tuple[set[str], bool, bool]:
    """Every 48018-6 component and the R4 core ``observation-geneticsGene`` extension."""
    concepts: list[object] = [
        c.get("valueCodeableConcept") or {"text": string(c, "valueString") or ""}
        for c in parts.get("gene", [])
    ]
    concepts.extend(
        e.get("valueCodeableConcept") for e in _extensions(data, GENETICS_GENE_EXTENSION)
    )
    genes: set[str] = set()
    gene_stated = erbb2_by_code = False
    for concept in concepts:
        named, stated, by_code = _genes_of_concept(concept)
        genes |= named
        gene_stated = gene_stated or stated
        erbb2_by_code = erbb2_by_code or by_code
    return genes, gene_stated, erbb2_by_code


def _variant(data: JsonObject) -> _Variant:
    parts = _components(data)
    genes, gene_stated, erbb2_by_code = _variant_genes(data, parts)
    protein = _first_value(parts.get("protein", []))
    dna = _first_value(parts.get("dna", []))
    extension_change = " ; ".join(
        _extension_text(e)
        for url in (GENETICS_AMINO_ACID_CHANGE_EXTENSION, GENETICS_VARIANT_EXTENSION)
        for e in _extensions(data, url)
    )
    if protein is None and dna is None:
        protein, dna = _hgvs_in_value(data)
    if protein is None and extension_change:
        protein = next(
            (
                t.strip()
                for t in re.split(r"[|;]", extension_change)
                if parse_protein_change(t.strip())
            ),
            None,
        )
    change_concepts: list[object] = [
        c.get("valueCodeableConcept")
        for c in parts.get("change_type", []) + parts.get("consequence", [])
    ]
    change_concepts.extend(
        e.get("valueCodeableConcept") for e in _extensions(data, GENETICS_COPY_NUMBER_EXTENSION)
    )
    return _Variant(
        genes=genes,
        gene_stated=gene_stated,
        erbb2_by_code=erbb2_by_code,
        protein=protein,
        dna=dna,
        genomic=_first_value(parts.get("genomic", [])),
        discrete=_values_text(parts.get("discrete", [])),
        extension_change=extension_change,
        region=" ; ".join(
            _extension_text(e) for e in _extensions(data, GENETICS_DNA_REGION_EXTENSION)
        ),
        change_concepts=change_concepts,
        change_type=" ; ".join(concept_text(c) for c in change_concepts if c is not None),
        significance=parts.get("significance", []),
    )


def _read_variant(
    resource: Resource,
    index: ResourceIndex,
    domain: KinaseDomain,
    facts: GenomicFacts,
    implied: Significance | None = None,
) -> None:
    """A variant Observation (Genomics Reporting / mCODE, R4 core genetics, or simpler).

    The gene is read from every gene-studied component and the core gene extension; a
    stated gene other than ERBB2 / EGFR is read as "nothing for this service" (not a data
    issue). Value LA9634-2 (absent) is a tested negative, never a mutation."""
    data = resource.data
    variant = _variant(data)
    if variant.gene_stated and not variant.genes:
        return
    notes = " ; ".join(string(n, "text") or "" for n in objects(data.get("note")))
    value = value_text(data)
    if not variant.genes:
        # No gene stated anywhere structured: the discrete variant text, the code, the
        # value or the notes may name it ("EGFR L858R", "ERBB2 exon 20 insertion").
        named = _gene_of(
            " ".join(
                (
                    variant.discrete,
                    variant.extension_change,
                    concept_text(data.get("code")),
                    value,
                    notes,
                )
            )
        )
        variant.genes = {"ERBB2", "EGFR"} if named == "both" else {named} if named else set()
    if not variant.genes and not variant.has_change:
        # No gene and no change: a text result, read clause by clause with the gene the
        # code names (e.g. "HER2 mutation analysis": "exon 20 insertion").
        code_gene = _gene_of(concept_text(data.get("code")))
        text = " ; ".join([value or concept_text(data.get("code")), notes])
        if code_gene is None and not _GENE_WORDS.search(text):
            if match(data.get("code"), VARIANT_ASSESSMENT) is not None:
                facts.issues.append(
                    DataIssue(
                        resource.resource_type, resource.resource_id, "variant without a gene"
                    )
                )
            return
        _read_text(text, resource, index, domain, facts, default_gene=code_gene)
        return
    if not variant.genes:
        facts.issues.append(
            DataIssue(resource.resource_type, resource.resource_id, "variant without a gene")
        )
        return
    value_concept = data.get("valueCodeableConcept")
    absent = any(VARIANT_ABSENT.match_coding(s, c) for s, c in codings(value_concept))
    present = any(VARIANT_PRESENT.match_coding(s, c) for s, c in codings(value_concept))
    negative = absent or (
        not present and not variant.protein and not variant.dna and _is_negative(value)
    )
    significance_parts = variant.significance
    significance = implied or (
        significance_of(significance_parts[0].get("valueCodeableConcept"))
        if significance_parts
        else _significance_from_text(concept_text(data.get("interpretation")) + " " + notes)
    )
    if len(variant.genes) > 1 and not negative:
        facts.issues.append(
            DataIssue(
                resource.resource_type, resource.resource_id, "variant names both ERBB2 and EGFR"
            )
        )
        return
    if "EGFR" in variant.genes:
        _egfr(
            variant.protein or variant.dna or variant.discrete or variant.genomic or value,
            negative,
            significance,
            when=result_date(data),
            resource=resource,
            facts=facts,
        )
    if "ERBB2" in variant.genes:
        _erbb2_variant(
            resource, index, domain, facts, variant, negative=negative, significance=significance
        )


def _erbb2_variant(
    resource: Resource,
    index: ResourceIndex,
    domain: KinaseDomain,
    facts: GenomicFacts,
    variant: _Variant,
    *,
    negative: bool,
    significance: Significance,
) -> None:
    data = resource.data
    specimen = specimen_of(data, index)
    when = result_date(data)
    value = value_text(data)
    if negative:
        facts.negatives.append(Her2NegativeResult(specimen, when, (resource.reference,)))
        return
    direction = _copy_number_direction(
        variant.change_concepts, " ; ".join((variant.change_type, variant.discrete, value))
    )
    copies = _copy_number(data)
    if direction is None and _is_copy_number_change(
        variant.change_concepts, variant.change_type + " " + variant.discrete
    ):
        if copies is None:
            facts.issues.append(
                DataIssue(
                    resource.resource_type,
                    resource.resource_id,
                    "ERBB2 copy-number change without direction or copy number",
                )
            )
            return
        direction = copies >= AMPLIFICATION_COPIES_POSITIVE
    if direction is not None:
        facts.amplification.append(
            Her2Amplification(direction, None, copies, when, (resource.reference,))
        )
        return
    protein, dna = variant.protein, variant.dna
    text = variant.discrete or variant.extension_change or variant.genomic or value
    if variant.region and not (protein or dna):
        text = " ; ".join(t for t in (text, f"{variant.region} {variant.change_type}") if t.strip())
    if not (protein or dna or text):
        facts.issues.append(
            DataIssue(resource.resource_type, resource.resource_id, "variant without a change")
        )
        return
    result = classify_erbb2(
        protein=protein,
        dna=dna,
        text=None if (protein or dna) else text,
        significance=significance,
        domain=domain,
    )
    facts.mutations.append(
        Her2Mutation(
            notation=protein or dna or text,
            protein_change=result.protein_change,
            variant_class=result.variant_class,
            significance=significance,
            specimen=specimen,
            fda_approved_test=_fda_approved(data),
            exon20_insertion=result.exon20_insertion,
            date=when,
            sources=(resource.reference,),
            matched_by=MatchedBy.CODE
            if (protein or dna) and variant.erbb2_by_code
            else MatchedBy.TEXT,
        )
    )


def _first_value(components: list[JsonObject]) -> str | None:
    for component in components:
        found = _component_value(component)
        if found:
            return found
    return None


def _hgvs_in_value(data: JsonObject) -> tuple[str | None, str | None]:
    """(p.HGVS, c.HGVS) carried as the Observation's value code or valueString."""
    candidates = [code for _, code in codings(data.get("valueCodeableConcept"))]
    candidates.append(string(data, "valueString") or "")
    for candidate in candidates:
        if parse_protein_change(candidate) is not None:
            return candidate.strip(), None
    for candidate in candidates:
        if parse_dna_change(candidate) is not None:
            return None, candidate.strip()
    return None, None


def _component_value(component: JsonObject | None) -> str | None:
    """An HGVS component's value: a coding's code, the text, a display, or valueString."""
    if component is None:
        return None
    value_string = string(component, "valueString")
    if value_string:
        return value_string.strip()
    concept = as_object(component.get("valueCodeableConcept"))
    if concept is None:
        return None
    for _, code in codings(concept):
        return code.strip()
    text = concept_text(concept)
    return text.split(" | ")[0].strip() or None


def _is_negative(text: str) -> bool:
    return bool(_NEGATIVE.search(text)) or bool(_NEGATED_POSITIVE.search(text))


def _is_amplification(text: str) -> bool:
    words = normalise_text(text)
    return any(
        has_phrase(words, w) for w in ("amplification", "amplified", "copy number gain")
    ) and not has_phrase(words, "not amplified")


def _copy_number(data: JsonObject) -> float | None:
    for component in objects(data.get("component")):
        if has_phrase(normalise_text(concept_text(component.get("code"))), "copy number"):
            quantity = as_object(component.get("valueQuantity"))
            if quantity is not None and isinstance(quantity.get("value"), int | float):
                return float(quantity["value"])
    return None


def _egfr(
    notation: str,
    negative: bool,
    significance: Significance,
    *,
    when: date | None,
    resource: Resource,
    facts: GenomicFacts,
) -> None:
    if negative:
        facts.egfr.append(EgfrFinding(False, False, when, resource.reference, False))
        return
    if significance in (Significance.BENIGN, Significance.LIKELY_BENIGN, Significance.UNCERTAIN):
        return
    exon20 = egfr_exon20_insertion(notation) if notation else None
    has_result = exon20 is not None or bool(_POSITIVE.search(notation))
    if has_result:
        sensitising = egfr_sensitising(notation, significance) if notation else None
        facts.egfr.append(EgfrFinding(True, exon20, when, resource.reference, sensitising))


_CLAUSE_SPLIT = re.compile(r"[;\n|]|\.(?:\s|$)")


def _read_text(
    text: str,
    resource: Resource,
    index: ResourceIndex,
    domain: KinaseDomain,
    facts: GenomicFacts,
    *,
    default_gene: str | None = None,
) -> None:
    """Free text (a report conclusion, a text-only result), clause by clause."""
    data = resource.data
    specimen = specimen_of(data, index)
    when = result_date(data)
    read_any = False
    for clause in _CLAUSE_SPLIT.split(text):
        gene = _gene_of(clause) or default_gene
        if gene not in ("ERBB2", "EGFR"):
            continue
        negative = _is_negative(clause)
        if gene == "EGFR":
            _egfr(
                clause,
                negative,
                _significance_from_text(clause),
                when=when,
                resource=resource,
                facts=facts,
            )
            read_any = True
            continue
        words = normalise_text(clause)
        if any(has_phrase(words, w) for w in ("ihc", "immunohistochemistry")):
            score = ihc_score_from_text(clause)
            if score is not None:
                facts.ihc.append(Her2Ihc(score, when, (resource.reference,)))
                read_any = True
            continue
        if negative and not _is_amplification(clause):
            facts.negatives.append(Her2NegativeResult(specimen, when, (resource.reference,)))
            read_any = True
            continue
        if _is_amplification(clause):
            facts.amplification.append(
                Her2Amplification(True, None, None, when, (resource.reference,))
            )
            read_any = True
            continue
        significance = _significance_from_text(clause)
        result = classify_erbb2(text=clause, significance=significance, domain=domain)
        if (
            result.basis == "text"
            and not mentions_exon20_insertion(clause)
            and not _POSITIVE.search(clause)
            and significance is Significance.UNSTATED
        ):
            continue
        facts.mutations.append(
            Her2Mutation(
                notation=clause.strip(),
                protein_change=result.protein_change,
                variant_class=result.variant_class,
                significance=significance,
                specimen=specimen,
                fda_approved_test=_fda_approved(data),
                exon20_insertion=result.exon20_insertion,
                date=when,
                sources=(resource.reference,),
                matched_by=MatchedBy.TEXT,
            )
        )
        read_any = True
    if not read_any and text.strip():
        facts.issues.append(
            DataIssue(resource.resource_type, resource.resource_id, "genomic text not understood")
        )


# --- IHC and ISH -------------------------------------------------------------------------

_SCORE_PLUS = re.compile(r"(?<![\d.])([0-3])\s*\+")
_DIGITS = re.compile(r"\d+(?:\.\d+)?")


def ihc_score_from_text(text: str) -> IhcScore | None:
    """ "3+", "IHC 3+", "positive (3+)", "Score 2+ (equivocal)", "IHC 0", "0 (negative)"."""
    found = _SCORE_PLUS.search(text)
    if found is not None:
        return IhcScore(f"{found.group(1)}+" if found.group(1) != "0" else "0")
    digits = _DIGITS.findall(text)
    if len(digits) == 1 and digits[0] in ("0", "1", "2", "3"):
        return IhcScore(f"{digits[0]}+" if digits[0] != "0" else "0")
    return None


def _read_ihc(resource: Resource, facts: GenomicFacts) -> None:
    data = resource.data
    score: IhcScore | None = None
    quantity = as_object(data.get("valueQuantity"))
    numeric = data.get("valueInteger")
    if quantity is not None:
        numeric = quantity.get("value")
    if (
        isinstance(numeric, int | float)
        and not isinstance(numeric, bool)
        and numeric in (0, 1, 2, 3)
    ):
        score = IhcScore(f"{int(numeric)}+" if numeric else "0")
    for text in (value_text(data), concept_text(data.get("interpretation"))):
        if score is None and text:
            score = ihc_score_from_text(text)
    if score is None:
        for interpretation in objects(data.get("interpretation")):
            score = score or ihc_score_from_text(concept_text(interpretation))
    if score is None and _interpreted_negative(data):
        score = IhcScore.NEGATIVE
    if score is None:
        facts.issues.append(
            DataIssue(resource.resource_type, resource.resource_id, "HER2 IHC without a score")
        )
        return
    facts.ihc.append(Her2Ihc(score, result_date(data), (resource.reference,)))


def _interpreted_negative(data: JsonObject) -> bool:
    """A HER2 IHC / tumour-marker result given only as "negative" (LA6577-6, or the word in
    the value or interpretation): tested and not 3+. "Positive" is never read as a score."""
    concepts = [data.get("valueCodeableConcept"), *objects(data.get("interpretation"))]
    if any(TEST_NEGATIVE.match_coding(s, c) for concept in concepts for s, c in codings(concept)):
        return True
    text = normalise_text(" ".join([value_text(data), *(concept_text(c) for c in concepts[1:])]))
    return has_phrase(text, "negative") and not has_phrase(text, "positive")


def _quantity_kind(name: str, quantity: JsonObject) -> str | None:
    label = normalise_text(
        name + " " + (string(quantity, "unit") or "") + " " + (string(quantity, "code") or "")
    )
    if has_phrase(label, "ratio"):
        return "ratio"
    if any(has_phrase(label, w) for w in ("copy number", "copies", "copy", "signals per cell")):
        return "copies"
    return None


def _read_amplification(resource: Resource, facts: GenomicFacts) -> None:
    data = resource.data
    ratio: float | None = None
    copies: float | None = None
    unlabelled = False
    holders = [(concept_text(data.get("code")), data)] + [
        (concept_text(c.get("code")), c) for c in objects(data.get("component"))
    ]
    for name, holder in holders:
        quantity = as_object(holder.get("valueQuantity"))
        if quantity is None or not isinstance(quantity.get("value"), int | float):
            continue
        kind = _quantity_kind(name, quantity)
        if kind == "ratio" and ratio is None:
            ratio = float(quantity["value"])
        elif kind == "copies" and copies is None:
            copies = float(quantity["value"])
        elif kind is None:
            unlabelled = True
    words = normalise_text(
        value_text(data)
        + " "
        + " ".join(concept_text(i) for i in objects(data.get("interpretation")))
    )
    positive: bool | None = None
    if any(has_phrase(words, w) for w in ("equivocal", "indeterminate")):
        positive = None
    elif any(
        has_phrase(words, w)
        for w in ("not amplified", "non amplified", "no amplification", "negative", "not detected")
    ):
        positive = False
    elif any(has_phrase(words, w) for w in ("amplified", "amplification", "positive", "detected")):
        positive = True
    elif ratio is not None or copies is not None:
        positive = (ratio or 0.0) >= AMPLIFICATION_RATIO_POSITIVE or (
            copies or 0.0
        ) >= AMPLIFICATION_COPIES_POSITIVE
    if positive is None:
        reason = (
            "HER2 amplification equivocal or unlabelled"
            if unlabelled or words.strip()
            else ("HER2 amplification without a result")
        )
        facts.issues.append(DataIssue(resource.resource_type, resource.resource_id, reason))
        return
    facts.amplification.append(
        Her2Amplification(positive, ratio, copies, result_date(data), (resource.reference,))
    )

"""HER2 (ERBB2) and EGFR results from Observations and DiagnosticReports.

Shapes read:

- HL7 Genomics Reporting / mCODE variant Observations: code 69548-6 with components
  48018-6 gene studied (HGNC:3430 = ERBB2), 48005-3 p.HGVS, 48004-6 c.HGVS, 53037-8
  clinical significance, 48019-4 DNA change type; the HGVS may be a coding code, a
  text, a display or a ``valueString``.
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
- "Tested negative" needs an explicit negative ("absent", "not detected", "negative",
  "wild type", "no ... mutation/alteration/variant"); the LOINC answer codes for
  present/absent are not in section 7, so the value is read by text. Anything else is
  never read as negative.
- An IHC result without a readable score ("positive", "negative") is not mapped (a
  ``DataIssue``): "positive" must not become 3+ and "negative" is 0 or 1+.
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
    DNA_CHANGE,
    DNA_CHANGE_TYPE,
    ERBB2_GENE,
    GENE_STUDIED,
    GENETIC_ANALYSIS_REPORT,
    HER2_IHC,
    HER2_ISH,
    SIGNIFICANCE_BENIGN,
    SIGNIFICANCE_LIKELY_PATHOGENIC,
    SIGNIFICANCE_PATHOGENIC,
    SIGNIFICANCE_UNCERTAIN,
    VARIANT_ASSESSMENT,
    codings,
    concept_text,
    has_phrase,
    match,
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


def is_genomic(raw: JsonObject) -> bool:
    """Cheap test on raw JSON: a genomic code, or a gene named in the code or conclusion."""
    code = as_object(raw.get("code"))
    if any(c in GENOMIC_CODES for _, c in codings(code)):
        return True
    text = concept_text(code) + " " + (string(raw, "conclusion") or "")
    if string(raw, "resourceType") == "Observation":
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


def _gene_of_concept(concept: object) -> str | None:
    if any(ERBB2_GENE.match_coding(s, c) for s, c in codings(concept)):
        return "ERBB2"
    return _gene_of(_value_concept_text(concept))


# --- readers -----------------------------------------------------------------------------


def read_genomic(resource: Resource, index: ResourceIndex, domain: KinaseDomain) -> GenomicFacts:
    """All HER2 / EGFR facts of one validated Observation or DiagnosticReport."""
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
        _read_variant(resource, index, domain, facts)
    return facts


def _looks_like(code: object, words: tuple[str, ...]) -> bool:
    text = normalise_text(concept_text(code))
    return _gene_of(text) == "ERBB2" and any(has_phrase(text, w) for w in words)


def _components(data: JsonObject) -> dict[str, JsonObject]:
    found: dict[str, JsonObject] = {}
    for component in objects(data.get("component")):
        code = component.get("code")
        for name, code_set in (
            ("gene", GENE_STUDIED),
            ("protein", AMINO_ACID_CHANGE),
            ("dna", DNA_CHANGE),
            ("significance", CLINICAL_SIGNIFICANCE),
            ("change_type", DNA_CHANGE_TYPE),
        ):
            if name not in found and match(code, code_set) is not None:
                found[name] = component
                break
    return found


def _read_variant(
    resource: Resource, index: ResourceIndex, domain: KinaseDomain, facts: GenomicFacts
) -> None:
    data = resource.data
    parts = _components(data)
    notes = " ; ".join(string(n, "text") or "" for n in objects(data.get("note")))
    value = value_text(data)
    gene_component = parts.get("gene")
    gene = (
        _gene_of_concept(gene_component.get("valueCodeableConcept"))
        or _gene_of(string(gene_component, "valueString") or "")
        if gene_component is not None
        else None
    )
    matched_by = (
        MatchedBy.CODE
        if gene_component is not None
        and any(
            ERBB2_GENE.match_coding(s, c)
            for s, c in codings(gene_component.get("valueCodeableConcept"))
        )
        else MatchedBy.TEXT
    )
    protein = _component_value(parts.get("protein"))
    dna = _component_value(parts.get("dna"))
    if protein is None and dna is None:
        protein, dna = _hgvs_in_value(data)
    if gene is None and protein is None and dna is None:
        # No gene component and no HGVS: a text result; read it clause by clause, with the
        # gene named by the code (e.g. "HER2 mutation analysis": "exon 20 insertion").
        code_gene = _gene_of(concept_text(data.get("code")))
        text = " ; ".join([value or concept_text(data.get("code")), notes])
        _read_text(text, resource, index, domain, facts, default_gene=code_gene)
        return
    gene = gene or _gene_of(concept_text(data.get("code")) + " " + value + " " + notes)
    if gene not in ("ERBB2", "EGFR"):
        facts.issues.append(
            DataIssue(resource.resource_type, resource.resource_id, "variant without a gene")
        )
        return
    significance = (
        significance_of(parts["significance"].get("valueCodeableConcept"))
        if "significance" in parts
        else _significance_from_text(concept_text(data.get("interpretation")) + " " + notes)
    )
    change_type = concept_text(_value_of(parts.get("change_type")))
    specimen = specimen_of(data, index)
    when = result_date(data)
    negative = not protein and not dna and _is_negative(value)
    if gene == "EGFR":
        _egfr(
            protein or dna or value,
            negative,
            significance,
            when=when,
            resource=resource,
            facts=facts,
        )
        return
    if negative:
        facts.negatives.append(Her2NegativeResult(specimen, when, (resource.reference,)))
        return
    if _is_amplification(change_type + " " + value):
        facts.amplification.append(
            Her2Amplification(True, None, _copy_number(data), when, (resource.reference,))
        )
        return
    if not (protein or dna or value):
        facts.issues.append(
            DataIssue(resource.resource_type, resource.resource_id, "variant without a change")
        )
        return
    result = classify_erbb2(
        protein=protein,
        dna=dna,
        text=None if (protein or dna) else value,
        significance=significance,
        domain=domain,
    )
    facts.mutations.append(
        Her2Mutation(
            notation=protein or dna or value,
            protein_change=result.protein_change,
            variant_class=result.variant_class,
            significance=significance,
            specimen=specimen,
            fda_approved_test=_fda_approved(data),
            exon20_insertion=result.exon20_insertion,
            date=when,
            sources=(resource.reference,),
            matched_by=matched_by if (protein or dna) else MatchedBy.TEXT,
        )
    )


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


def _value_of(component: JsonObject | None) -> object:
    return component.get("valueCodeableConcept") if component is not None else None


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
    if score is None:
        facts.issues.append(
            DataIssue(resource.resource_type, resource.resource_id, "HER2 IHC without a score")
        )
        return
    facts.ihc.append(Her2Ihc(score, result_date(data), (resource.reference,)))


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

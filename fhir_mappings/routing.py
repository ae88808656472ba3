"""Which readers look at a resource, decided once from the elements the pre-filters read,
and remembered per process for the values of those elements.

A record is mostly Observations nothing reads (a chemistry panel, vital signs), and each
one used to pass through every family's pre-filter: the genomic, measurement, disease
status and stage tests of the main reading, then the NYHA, pregnancy test and reproductive
state tests of the version-2 checks, each taking the code's codings and texts apart again.
``observation_route`` runs them once and returns where the Observation goes.

The pre-filters read only the elements named in ``_ROUTE_ELEMENTS`` (and whether an R4
genetics extension is present), so their answer is a function of those values: the route
is remembered for the values' JSON text (``orjson``; an LRU of ``_CACHED_ROUTES``
entries), so that the codes a site repeats across its records are decided once per
process. The cache lives in the worker's memory only (never written, never logged); it
holds codes, displays and short value texts, and only keys of at most ``_CACHED_KEY_BYTES``
(at most about 2 MB a memo): a longer one (a narrative ``valueString``), or values orjson
cannot write (integers beyond 64 bits), are decided without it.

``tests/fhir_mappings/test_prefilter_parity.py`` holds the route of every Observation of
the repository's fixtures, and of mutations of them, to the pre-filters' answers on the
whole resource.

Conditions, Procedures and DiagnosticReports go the same way (``family_route``): their
family's pre-filter, the imaging test and the reproductive-state test, decided once. A
Procedure with a ``note`` or a report with a ``conclusion`` (narrative, the patient's own)
is decided each time and never remembered. A medication resource goes by its medication
concept (``medication_route``: the drug it identifies, else the drug its text names, else
whether it is a CYP3A inhibitor or inducer), remembered with the site's drug codes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

import orjson

from fhir_mappings import conditions, genomics, imaging, lines, measurements, nyha, reproductive
from fhir_mappings.model import (
    Drug,
    ImagingKind,
    MatchedBy,
    MeasurementKind,
    ReproductiveStatusKind,
)
from fhir_mappings.parse import JsonObject
from fhir_mappings.terminology import (
    DrugMatch,
    SiteDrugCodes,
    coded_drug_named_in_text,
    concept_text,
    cyp3a_modulator,
    match_drug,
)


class Reading(Enum):
    """The main reading an Observation gets (``build._read_observation``)."""

    NONE = "none"
    GENOMIC = "genomic"
    MEASUREMENT = "measurement"
    DISEASE_STATUS = "disease-status"
    STAGE = "stage"


class Version2(Enum):
    """The version-2 check an Observation gets (``build._read_observation_version2``)."""

    NONE = "none"
    NYHA = "nyha"
    PREGNANCY_TEST = "pregnancy-test"
    REPRODUCTIVE = "reproductive"


@dataclass(frozen=True, slots=True)
class ObservationRoute:
    reading: Reading
    version2: Version2
    measurement: tuple[MeasurementKind, MatchedBy] | None = None
    """With ``Reading.MEASUREMENT``: the measurement and how it was recognised."""
    reproductive: ReproductiveStatusKind | None = None
    """With ``Version2.REPRODUCTIVE``: the documented state."""


_ROUTE_ELEMENTS = ("code", "component", "valueString", "valueCodeableConcept", "conclusion")
"""Every element an Observation pre-filter reads, besides the genetics extensions."""
_CACHED_ROUTES = 2048
_CACHED_KEY_BYTES = 1024


def observation_route(raw: JsonObject) -> ObservationRoute:
    """Where an Observation goes: its main reading and its version-2 check."""
    elements = {key: raw[key] for key in _ROUTE_ELEMENTS if key in raw}
    key = _memo_key(elements)
    if key is not None:
        route = _cached_route(key)
    else:
        route = decide({"resourceType": "Observation", **elements})
    if (
        route.reading is not Reading.GENOMIC
        and "extension" in raw
        and genomics.has_genetics_extension(raw)
    ):
        # The gate and the genomic test both pass on a genetics extension, before anything.
        return ObservationRoute(Reading.GENOMIC, route.version2, None, route.reproductive)
    return route


def _memo_key(elements: object) -> bytes | None:
    """The JSON text of ``elements``, the key of a memo; None when it may not be one: longer
    than ``_CACHED_KEY_BYTES``, or holding an integer orjson cannot write (beyond 64 bits)."""
    try:
        key = orjson.dumps(elements)
    except TypeError:  # orjson.JSONEncodeError
        return None
    return key if len(key) <= _CACHED_KEY_BYTES else None


@lru_cache(maxsize=_CACHED_ROUTES)
def _cached_route(key: bytes) -> ObservationRoute:
    return decide({"resourceType": "Observation", **orjson.loads(key)})


def decide(raw: JsonObject) -> ObservationRoute:
    """The route of an Observation by the pre-filters themselves (no cache)."""
    reading, measurement = _reading(raw)
    version2, state = _version2(raw)
    return ObservationRoute(reading, version2, measurement, state)


def _reading(raw: JsonObject) -> tuple[Reading, tuple[MeasurementKind, MatchedBy] | None]:
    if not may_matter(raw):
        return Reading.NONE, None
    if genomics.is_genomic(raw):
        return Reading.GENOMIC, None
    if (kind := measurements.measurement_kind(raw)) is not None:
        return Reading.MEASUREMENT, kind
    if lines.is_disease_status(raw):
        return Reading.DISEASE_STATUS, None
    if conditions.is_stage_observation(raw):
        return Reading.STAGE, None
    return Reading.NONE, None


def _version2(raw: JsonObject) -> tuple[Version2, ReproductiveStatusKind | None]:
    if nyha.is_nyha(raw):
        return Version2.NYHA, None
    code_text = concept_text(raw.get("code"))
    if reproductive.is_pregnancy_test(raw, code_text):
        return Version2.PREGNANCY_TEST, None
    if (state := reproductive.reproductive_kind(raw, code_text)) is not None:
        return Version2.REPRODUCTIVE, state
    return Version2.NONE, None


# --- Conditions, Procedures, DiagnosticReports ----------------------------------------------


@dataclass(frozen=True, slots=True)
class FamilyRoute:
    relevant: bool
    """The family's pre-filter: ``conditions.is_relevant_condition``,
    ``conditions.is_relevant_procedure``, ``genomics.is_genomic`` (a report)."""
    imaging: ImagingKind | None
    """``imaging.imaging_kind`` (Procedure, DiagnosticReport)."""
    reproductive: ReproductiveStatusKind | None
    """``reproductive.reproductive_kind`` (Condition, Procedure)."""


_FAMILY_ELEMENTS: dict[str, tuple[str, ...]] = {
    "Condition": ("code",),
    "Procedure": ("code", "bodySite", "description", "procedureCode", "series"),
    "DiagnosticReport": ("code", "description", "procedureCode", "series"),
}
"""Every element the type's pre-filters read, besides the narrative and the genetics
extensions."""
_NARRATIVE = {"Procedure": "note", "DiagnosticReport": "conclusion"}


def family_route(raw: JsonObject, resource_type: str) -> FamilyRoute:
    """What a Condition, Procedure or DiagnosticReport (``resource_type``) holds for the
    readers."""
    narrative = _NARRATIVE.get(resource_type)
    elements = {key: raw[key] for key in _FAMILY_ELEMENTS[resource_type] if key in raw}
    key = _memo_key(elements) if narrative is None or narrative not in raw else None
    route = _cached_family_route(resource_type, key) if key is not None else decide_family(raw)
    if (
        resource_type == "DiagnosticReport"
        and not route.relevant
        and "extension" in raw
        and genomics.has_genetics_extension(raw)
    ):
        return FamilyRoute(True, route.imaging, route.reproductive)
    return route


@lru_cache(maxsize=_CACHED_ROUTES)
def _cached_family_route(resource_type: str, key: bytes) -> FamilyRoute:
    return decide_family({"resourceType": resource_type, **orjson.loads(key)})


def decide_family(raw: JsonObject) -> FamilyRoute:
    """The route of a Condition, Procedure or DiagnosticReport by the pre-filters themselves
    (no cache)."""
    resource_type = raw.get("resourceType")
    if resource_type == "Condition":
        return FamilyRoute(
            conditions.is_relevant_condition(raw), None, reproductive.reproductive_kind(raw)
        )
    if resource_type == "Procedure":
        return FamilyRoute(
            conditions.is_relevant_procedure(raw),
            imaging.imaging_kind(raw),
            reproductive.reproductive_kind(raw),
        )
    return FamilyRoute(genomics.is_genomic(raw), imaging.imaging_kind(raw), None)


def may_put_in_scope(raw: JsonObject) -> bool:
    """``conditions.may_put_in_scope`` of a Condition (the scope decision's pre-filter, run
    on every Condition of every chart opened), remembered per worker for its ``code``: the
    only element it reads."""
    key = _memo_key(raw.get("code"))
    return _cached_scope(key) if key is not None else conditions.may_put_in_scope(raw)


@lru_cache(maxsize=_CACHED_ROUTES)
def _cached_scope(key: bytes) -> bool:
    return conditions.may_put_in_scope({"code": orjson.loads(key)})


# --- medications -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MedicationRoute:
    drug: DrugMatch | None
    """``terminology.match_drug`` of the concept (clinical-rules.md 9.1)."""
    named: Drug | None
    """Not identified: ``terminology.coded_drug_named_in_text`` (a data issue)."""
    cyp3a: bool
    """Not identified: ``terminology.cyp3a_modulator`` names one (version 2)."""


_NO_MEDICATION = MedicationRoute(None, None, False)


def medication_route(concept: JsonObject | None, site: SiteDrugCodes) -> MedicationRoute:
    """What a medication resource's concept (``medications.medication_of``) is, with the
    site's drug codes."""
    if concept is None:
        return _NO_MEDICATION
    key = _memo_key(concept)
    if key is not None:
        return _cached_medication_route(key, site)
    return decide_medication(concept, site)


@lru_cache(maxsize=_CACHED_ROUTES)
def _cached_medication_route(key: bytes, site: SiteDrugCodes) -> MedicationRoute:
    return decide_medication(orjson.loads(key), site)


def decide_medication(concept: JsonObject, site: SiteDrugCodes) -> MedicationRoute:
    """The route of a medication concept by the terminology itself (no cache)."""
    drug = match_drug(concept, site)
    if drug is not None:
        return MedicationRoute(drug, None, False)
    named = coded_drug_named_in_text(concept)
    return MedicationRoute(None, named, cyp3a_modulator(concept) is not None)


# --- the main reading's gate ----------------------------------------------------------------

_TEXT_GATE = re.compile(
    r"erbb2|her-?\s?2|egfr|ejection|lvef|\balt\b|alanine|\bast\b|aspartate|bilirubin"
    r"|neutrophil|\banc\b|weight|ecog|stage|tnm|metasta|m\s*category|disease status"
    r"|platelet|\bplt\b",
    re.IGNORECASE,
)
_TEXT_GATE_LOWER = re.compile(_TEXT_GATE.pattern)
"""The same pattern without IGNORECASE, for lower-cased ASCII text (twice as fast: case
folding defeats the regular expression engine's literal search). On ASCII text the two
agree exactly; other text keeps the case-insensitive pattern."""
_GATE_CODES = frozenset(
    {*genomics.GENOMIC_CODES, *measurements.MEASUREMENT_CODES, *lines.DISEASE_STATUS_CODES}
)


def has_code(concept: object, codes: frozenset[str]) -> bool:
    """A coding of ``concept`` (a CodeableConcept) has a code in ``codes``."""
    if type(concept) is not dict:
        return False
    items = concept.get("coding")
    if type(items) is not list:
        return False
    # A code that is not a string (a list, an object: unhashable) matches nothing.
    return any(type(c) is dict and type(c.get("code")) is str and c["code"] in codes for c in items)


def may_matter(raw: JsonObject) -> bool:
    """The main reading's gate: a relevant code in the code or a component, a genetics
    extension, or a relevant word in the code's text, displays or ``valueString``."""
    code = raw.get("code")
    if has_code(code, _GATE_CODES) or ("extension" in raw and genomics.has_genetics_extension(raw)):
        return True
    components = raw.get("component")
    if type(components) is list and any(
        type(c) is dict and has_code(c.get("code"), _GATE_CODES) for c in components
    ):
        return True
    texts: list[str] = []
    if type(code) is dict:
        if type(code.get("text")) is str:
            texts.append(code["text"])
        codings = code.get("coding")
        for coding in codings if type(codings) is list else ():
            if type(coding) is dict and type(coding.get("display")) is str:
                texts.append(coding["display"])
    if type(raw.get("valueString")) is str:
        texts.append(raw["valueString"])
    return any(text_gate(t) for t in texts)


def text_gate(text: str) -> bool:
    """A relevant word in ``text`` (the main reading's gate on text)."""
    if text.isascii():
        return _TEXT_GATE_LOWER.search(text.lower()) is not None
    return _TEXT_GATE.search(text) is not None

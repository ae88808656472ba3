"""Chest CT and echocardiogram, from DiagnosticReport, Procedure and ImagingStudy.

Section 7 gives no code for either, so both are recognised by text only (never by an
invented code) and recorded with ``matched_by=TEXT``. Decisions:

- Chest CT: "CT chest", "chest CT", "CT thorax", "CT of the chest", "computed tomography
  of chest", "HRCT", "high resolution CT", "CT lung"; a text that mentions PET is not a
  chest CT (a PET-CT is not the high-resolution study the ILD rules ask for).
  ImagingStudy: modality CT with a chest/thorax/lung body site or description.
- Echocardiogram: "echocardiogram", "echocardiography", "echo", "TTE", "TEE",
  "transthoracic echo" (MUGA is not an echocardiogram; LVEF values are read by
  ``measurements`` whatever the method).
- Date: DiagnosticReport ``effective[x]`` then ``issued``; Procedure ``performed[x]``;
  ImagingStudy ``started``. Reports ``registered`` / ``cancelled`` /
  ``entered-in-error``, procedures not ``completed`` / ``in-progress``, and studies
  ``registered`` / ``cancelled`` / ``entered-in-error`` do not count (not done).
"""

from __future__ import annotations

from fhir_mappings.model import Imaging, ImagingKind, MatchedBy
from fhir_mappings.parse import JsonObject, Resource, choice_date, objects, parse_date, string
from fhir_mappings.terminology import codings, concept_text, has_phrase, normalise_text

CHEST_CT_PHRASES = ("ct chest", "chest ct", "ct thorax", "thorax ct", "ct thoracic",
                    "ct of chest", "ct of the chest", "ct scan of chest",
                    "ct scan of the chest", "ct scan chest", "computed tomography of chest",
                    "computed tomography of the chest", "computed tomography chest",
                    "computed tomography thorax", "hrct", "high resolution ct",
                    "high resolution computed tomography", "ct lung", "ct lungs",
                    "ct chest abdomen")  # fmt: skip
ECHO_PHRASES = ("echocardiogram", "echocardiography", "echo", "tte", "tee",
                "transthoracic echo", "transesophageal echo")  # fmt: skip
_CHEST_WORDS = ("chest", "thorax", "thoracic", "lung", "lungs")
_NOT_DONE = {
    "DiagnosticReport": frozenset({"registered", "cancelled", "entered-in-error"}),
    "ImagingStudy": frozenset({"registered", "cancelled", "entered-in-error"}),
}
_PROCEDURE_DONE = frozenset({"completed", "in-progress"})


def imaging_text(data: JsonObject) -> str:
    parts = [concept_text(data.get("code")), string(data, "description") or ""]
    for code in objects(data.get("procedureCode")):
        parts.append(concept_text(code))
    for series in objects(data.get("series")):
        parts.append(string(series, "description") or "")
        parts.append(concept_text(series.get("bodySite")))
    return " ; ".join(p for p in parts if p)


def imaging_kind(raw: JsonObject) -> ImagingKind | None:
    """Cheap: which study a raw DiagnosticReport / Procedure / ImagingStudy describes."""
    words = normalise_text(imaging_text(raw))
    if any(has_phrase(words, p) for p in CHEST_CT_PHRASES) and not has_phrase(words, "pet"):
        return ImagingKind.CHEST_CT
    if raw.get("resourceType") == "ImagingStudy" and _is_ct_study(raw, words):
        return ImagingKind.CHEST_CT
    if any(has_phrase(words, p) for p in ECHO_PHRASES):
        return ImagingKind.ECHOCARDIOGRAM
    return None


def _is_ct_study(raw: JsonObject, words: str) -> bool:
    modalities = [c for s in objects(raw.get("series")) for _, c in codings(s.get("modality"))]
    modalities.extend(c for m in objects(raw.get("modality")) for _, c in codings(m))
    return "CT" in modalities and any(has_phrase(words, w) for w in _CHEST_WORDS)


def read_imaging(resource: Resource) -> Imaging | None:
    data = resource.data
    status = string(data, "status")
    if resource.resource_type == "Procedure":
        if status not in _PROCEDURE_DONE:
            return None
        when = choice_date(data, "performed")
    elif status in _NOT_DONE.get(resource.resource_type, frozenset()):
        return None
    elif resource.resource_type == "ImagingStudy":
        when = parse_date(data.get("started"))
    else:
        when = choice_date(data, "effective") or parse_date(data.get("issued"))
    kind = imaging_kind(data)
    if kind is None:
        return None
    return Imaging(kind, when, (resource.reference,), MatchedBy.TEXT)

"""Measurements: LVEF, ALT, AST, total bilirubin (with ULN), ANC, platelets, body weight, ECOG.

Decisions:

- Recognised by LOINC code (section 7), then by the code's text as a recorded fallback
  (``matched_by=TEXT``; e.g. an ejection fraction under another LOINC code). Components
  are searched too (an echocardiogram panel carrying LVEF).
- Units are normalised: LVEF % (a fraction <= 1 with unit ``1``/``{ratio}``/none is read
  as a fraction and multiplied by 100); ALT/AST U/L (``[IU]/L``, ``IU/L``; ukat/L x 60);
  bilirubin mg/dL (umol/L / 17.1); ANC and platelets 10*9/L (``10*3/uL``, ``K/uL``,
  ``10^9/L`` as is; ``/uL``, ``cells/uL``, ``/mm3`` / 1000); weight kg (lb x 0.45359237,
  g / 1000); body temperature Cel (``[degF]``: (F - 32) x 5/9, the one unit with an offset). A
  value in any other unit is not read: a ``DataIssue`` when the code matched, silently
  skipped when only the text matched (text matches are looser). The reference range's
  ``high`` is converted with the same factor.
- ECOG from ``valueInteger``, ``valueQuantity``, or the single digit 0-5 of a
  ``valueString`` / ``valueCodeableConcept`` (the LOINC answer codes are not in section 7).
- Observations ``registered``, ``cancelled`` or ``entered-in-error`` carry no result.
- Date (clinical-rules.md 9.3): the Observation's own ``effective[x]``, else the
  ``effective[x]`` of a DiagnosticReport whose ``result`` holds it, else that report's
  ``issued``, else the Observation's ``issued`` (``build`` works this out).
- A converted value outside ``terminology.PLAUSIBLE_RANGES`` for its analyte (e.g. an ANC
  of 3000 "10*9/L", a unit mislabelled) is a ``DataIssue``, never a fact.
- The tables here (code sets, unit factors, plausible ranges) are keyed by
  ``MeasurementKind``: a new kind adds one row to each.
"""

from __future__ import annotations

import re
from datetime import date

from fhir_mappings.model import DataIssue, MatchedBy, Measurement, MeasurementKind
from fhir_mappings.parse import (
    JsonObject,
    Resource,
    as_object,
    choice_date,
    number,
    objects,
    parse_date,
    string,
)
from fhir_mappings.terminology import (
    ALT,
    ANC,
    AST,
    BILIRUBIN_TOTAL,
    BODY_TEMPERATURE,
    BODY_WEIGHT,
    ECOG,
    LVEF,
    PLATELETS,
    PLAUSIBLE_RANGES,
    CodeSet,
    codings,
    concept_text,
    has_phrase,
    normalise_text,
)

_SETS: tuple[tuple[MeasurementKind, CodeSet], ...] = (
    (MeasurementKind.LVEF, LVEF),
    (MeasurementKind.ALT, ALT),
    (MeasurementKind.AST, AST),
    (MeasurementKind.BILIRUBIN, BILIRUBIN_TOTAL),
    (MeasurementKind.ANC, ANC),
    (MeasurementKind.WEIGHT, BODY_WEIGHT),
    (MeasurementKind.ECOG, ECOG),
    (MeasurementKind.TEMPERATURE, BODY_TEMPERATURE),
    (MeasurementKind.PLATELETS, PLATELETS),
)
MEASUREMENT_CODES_BY_CODE: dict[str, MeasurementKind] = {
    c.code: kind for kind, s in _SETS for c in s.codes
}
MEASUREMENT_CODES = frozenset(MEASUREMENT_CODES_BY_CODE)
_NO_RESULT = frozenset({"registered", "cancelled", "entered-in-error"})
_WEIGHT_EXCLUDED = ("birth", "ideal", "change", "loss", "gain", "dosing", "lean")

UNIT_FACTORS: dict[MeasurementKind, dict[str, float]] = {
    MeasurementKind.LVEF: {"%": 1.0, "percent": 1.0},
    MeasurementKind.ALT: {"u/l": 1.0, "iu/l": 1.0, "[iu]/l": 1.0, "units/l": 1.0, "ukat/l": 60.0},
    MeasurementKind.AST: {"u/l": 1.0, "iu/l": 1.0, "[iu]/l": 1.0, "units/l": 1.0, "ukat/l": 60.0},
    MeasurementKind.BILIRUBIN: {"mg/dl": 1.0, "umol/l": 1 / 17.1},
    MeasurementKind.ANC: {
        "10*9/l": 1.0,
        "10*3/ul": 1.0,
        "x10*9/l": 1.0,
        "x10e9/l": 1.0,
        "10e9/l": 1.0,
        "k/ul": 1.0,
        "thou/ul": 1.0,
        "10*3/mm3": 1.0,
        "/ul": 0.001,
        "cells/ul": 0.001,
        "{cells}/ul": 0.001,
        "/mm3": 0.001,
        "cells/mm3": 0.001,
    },
    MeasurementKind.PLATELETS: {
        "10*9/l": 1.0,
        "10*3/ul": 1.0,
        "x10*9/l": 1.0,
        "x10e9/l": 1.0,
        "10e9/l": 1.0,
        "k/ul": 1.0,
        "thou/ul": 1.0,
        "10*3/mm3": 1.0,
        "/ul": 0.001,
        "{cells}/ul": 0.001,
        "/mm3": 0.001,
    },
    MeasurementKind.WEIGHT: {
        "kg": 1.0,
        "[lb_av]": 0.45359237,
        "lb": 0.45359237,
        "lbs": 0.45359237,
        "g": 0.001,
    },
    MeasurementKind.TEMPERATURE: {"cel": 1.0, "[degf]": 5 / 9, "degf": 5 / 9},
}
UNIT_OFFSETS: dict[MeasurementKind, dict[str, float]] = {
    MeasurementKind.TEMPERATURE: {"[degf]": -32.0, "degf": -32.0},
}
"""Added to a value before its factor applies (degrees Fahrenheit: (F - 32) x 5/9 = Cel)."""
NORMALISED_UNIT: dict[MeasurementKind, str | None] = {
    MeasurementKind.LVEF: "%",
    MeasurementKind.ALT: "U/L",
    MeasurementKind.AST: "U/L",
    MeasurementKind.BILIRUBIN: "mg/dL",
    MeasurementKind.ANC: "10*9/L",
    MeasurementKind.WEIGHT: "kg",
    MeasurementKind.ECOG: None,
    MeasurementKind.TEMPERATURE: "Cel",
    MeasurementKind.PLATELETS: "10*9/L",
}


def _kind_by_text(concept: object) -> MeasurementKind | None:
    text = concept_text(concept)
    if not text:
        return None
    for kind, code_set in _SETS:
        if code_set.match_text(text):
            return kind
    words = normalise_text(text)
    if has_phrase(words, "weight") and not any(has_phrase(words, w) for w in _WEIGHT_EXCLUDED):
        return MeasurementKind.WEIGHT
    return None


def measurement_kind(raw: JsonObject) -> tuple[MeasurementKind, MatchedBy] | None:
    """Cheap pre-filter: which measurement an Observation (or one of its components) holds."""
    for holder in (raw, *objects(raw.get("component"))):
        for _, code in codings(holder.get("code")):
            if code in MEASUREMENT_CODES_BY_CODE:
                return MEASUREMENT_CODES_BY_CODE[code], MatchedBy.CODE
    kind = _kind_by_text(raw.get("code"))
    return (kind, MatchedBy.TEXT) if kind is not None else None


def _unit_key(quantity: JsonObject) -> str:
    unit = string(quantity, "code") or string(quantity, "unit") or ""
    return unit.strip().lower().replace(" ", "").replace("µ", "u").replace("^", "*")


def _holder_for(data: JsonObject, kind: MeasurementKind) -> JsonObject:
    for component in objects(data.get("component")):
        component_kind = measurement_kind(component)
        if component_kind is not None and component_kind[0] is kind:
            return component
    return data


_SINGLE_DIGIT = re.compile(r"(?<![\d.])([0-5])(?![\d.])")


def _ecog_value(holder: JsonObject) -> float | None:
    value = holder.get("valueInteger")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 5:
        return float(value)
    quantity_value = number(as_object(holder.get("valueQuantity")), "value")
    if quantity_value is not None and 0 <= quantity_value <= 5:
        return quantity_value
    concept = as_object(holder.get("valueCodeableConcept"))
    for _, code in codings(concept):
        if code.strip() in ("0", "1", "2", "3", "4", "5"):
            return float(code.strip())
    texts = [string(holder, "valueString") or "", concept_text(concept)]
    for text in texts:
        digits = _SINGLE_DIGIT.findall(text)
        if len(set(digits)) == 1:
            return float(digits[0])
    return None


def read_measurement(
    resource: Resource,
    kind: MeasurementKind,
    matched_by: MatchedBy,
    when: date | None = None,
) -> Measurement | DataIssue | None:
    """One measurement; ``when`` is the date ``build`` chose (its own ``effective[x]``,
    else the holding DiagnosticReport's date, else ``issued``)."""
    found = _read_measurement(resource, kind, matched_by, when)
    if isinstance(found, Measurement):
        bounds = PLAUSIBLE_RANGES.get(kind.value)
        if bounds is not None and not bounds.low <= found.value <= bounds.high:
            return DataIssue(
                resource.resource_type, resource.resource_id, f"implausible {kind.value} value"
            )
    return found


def _read_measurement(
    resource: Resource, kind: MeasurementKind, matched_by: MatchedBy, when: date | None
) -> Measurement | DataIssue | None:
    data = resource.data
    if string(data, "status") in _NO_RESULT:
        return None
    holder = _holder_for(data, kind)
    when = when or choice_date(data, "effective") or parse_date(data.get("issued"))
    if kind is MeasurementKind.ECOG:
        value = _ecog_value(holder)
        if value is None:
            return DataIssue(resource.resource_type, resource.resource_id, "ECOG value not read")
        return Measurement(kind, value, None, when, None, (resource.reference,), matched_by)
    quantity = as_object(holder.get("valueQuantity"))
    value = number(quantity, "value")
    if quantity is None or value is None:
        if data.get("dataAbsentReason") is not None or matched_by is MatchedBy.TEXT:
            return None
        return DataIssue(resource.resource_type, resource.resource_id, "no numeric value")
    unit = _unit_key(quantity)
    factor = UNIT_FACTORS[kind].get(unit)
    if kind is MeasurementKind.LVEF and factor is None and unit in ("", "1", "{ratio}"):
        factor = 100.0 if value <= 1.0 else 1.0
    if factor is None:
        if matched_by is MatchedBy.TEXT:
            return None
        return DataIssue(resource.resource_type, resource.resource_id, "unit not recognised")
    upper = None
    for reference_range in objects(holder.get("referenceRange")):
        high = as_object(reference_range.get("high"))
        high_value = number(high, "value")
        if high is not None and high_value is not None:
            high_factor = UNIT_FACTORS[kind].get(
                _unit_key(high), factor if not _unit_key(high) else None
            )
            if high_factor is not None:
                high_offset = UNIT_OFFSETS.get(kind, {}).get(_unit_key(high) or unit, 0.0)
                upper = round((high_value + high_offset) * high_factor, 4)
                break
    offset = UNIT_OFFSETS.get(kind, {}).get(unit, 0.0)
    return Measurement(
        kind=kind,
        value=round((value + offset) * factor, 4),
        unit=NORMALISED_UNIT[kind],
        date=when,
        upper_limit=upper,
        sources=(resource.reference,),
        matched_by=matched_by,
    )

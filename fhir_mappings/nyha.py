"""NYHA functional class statements (clinical-rules.md 9.3: "symptomatic heart failure: a
heart-failure diagnosis (or an NYHA class II-IV statement) dated after the drug's start").

Decisions:

- **Which Observations**: coded with the NYHA LOINC code of ``terminology.NYHA_CLASS``
  (88020-3 functional capacity, the class I-IV; verified, source named there; the
  objective assessment 88021-1 grades A-D and is not a class: never read):
  ``MatchedBy.CODE``; or whose code's text / displays name NYHA ("NYHA", "New York Heart
  Association"): ``MatchedBy.TEXT``, the recorded fallback for sites that code it locally.
- **The class** is read from the value: a SNOMED CT answer code of
  ``terminology.NYHA_CLASS_ANSWERS`` (verified); else the value's text or displays, or a
  ``valueString``: "Class II", "NYHA III", "class 3", "II"; else a ``valueInteger`` 1-4.
  A range ("II-III") is read as its higher class (the safer reading). A value that states
  no class is a ``DataIssue`` naming the Observation, never "class I".
- **Not statements**: status ``registered``, ``cancelled``, ``entered-in-error`` (no
  result).
- **Date**: ``effective[x]``, else ``issued``. An undated statement is kept, but the rules
  never count it as dated after a drug's start.
"""

from __future__ import annotations

import re

from fhir_mappings.model import DataIssue, MatchedBy, NyhaStatement
from fhir_mappings.parse import JsonObject, Resource, choice_date, parse_date, string
from fhir_mappings.terminology import (
    NYHA_CLASS,
    NYHA_CLASS_ANSWERS,
    SNOMED,
    codings,
    concept_text,
    match,
    normalise_system,
)

NYHA_CODES = frozenset(c.code for c in NYHA_CLASS.codes)
OBJECTIVE_ASSESSMENT = "88021-1"
"""LOINC "Objective assessment of cardiovascular disease NYHA": grades A-D, not a class."""
_TEXT_GATE = re.compile(r"nyha|new\s+york\s+heart", re.IGNORECASE)
_NO_RESULT = frozenset({"registered", "cancelled", "entered-in-error"})
_CLASS = r"(iv|iii|ii|i|[1-4])"
_WHOLE = re.compile(
    rf"^\s*(?:nyha\s*)?(?:functional\s+)?(?:class\s*)?{_CLASS}(?:\s*(?:-|/|to)\s*{_CLASS})?\s*"
    r"(?:[(:,;.]|$)"
)
_NAMED = re.compile(rf"\b(?:class|nyha)\s*{_CLASS}(?:\s*(?:-|/|to)\s*{_CLASS})?\b")
_VALUE = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "1": 1, "2": 2, "3": 3, "4": 4}


def is_nyha(raw: JsonObject) -> bool:
    """Cheap pre-filter on a raw Observation (it runs on every one, so no helper calls): a
    NYHA code, or NYHA named in the code's text or displays."""
    concept = raw.get("code")
    if type(concept) is not dict:
        return False
    named = False
    items = concept.get("coding")
    for coding in items if type(items) is list else ():
        if type(coding) is dict:
            code = coding.get("code")
            if type(code) is str and code in NYHA_CODES:  # a list or object is unhashable
                return True
            if code == OBJECTIVE_ASSESSMENT:
                return False
            display = coding.get("display")
            named = named or (type(display) is str and _named_nyha(display))
    text = concept.get("text")
    return named or (type(text) is str and _named_nyha(text))


def _named_nyha(text: str) -> bool:
    lowered = text.lower()
    return ("nyha" in lowered or "new york heart" in lowered) and bool(_TEXT_GATE.search(text))


def read_nyha(resource: Resource) -> NyhaStatement | DataIssue | None:
    data = resource.data
    if string(data, "status") in _NO_RESULT:
        return None
    by = match(data.get("code"), NYHA_CLASS) or MatchedBy.TEXT
    found = _class_of(data)
    if found is None:
        reason = "NYHA class Observation: no class I-IV read from its value"
        return DataIssue(resource.resource_type, resource.resource_id, reason)
    when = choice_date(data, "effective") or parse_date(data.get("issued"))
    return NyhaStatement(found, when, (resource.reference,), by)


def _class_of(data: JsonObject) -> int | None:
    concept = data.get("valueCodeableConcept")
    for system, code in codings(concept):
        if normalise_system(system) == normalise_system(SNOMED) and code in NYHA_CLASS_ANSWERS:
            return NYHA_CLASS_ANSWERS[code]
    for text in (concept_text(concept), string(data, "valueString") or ""):
        found = class_in_text(text)
        if found is not None:
            return found
    value = data.get("valueInteger")
    if type(value) is int and 1 <= value <= 4:
        return value
    return None


def class_in_text(text: str) -> int | None:
    """The NYHA class a value's text states (the higher of a range), if any."""
    lowered = text.lower()
    for part in lowered.split("|"):
        whole = _WHOLE.match(part)
        if whole is not None:
            return max(_VALUE[g] for g in whole.groups() if g)
    named = [_VALUE[g] for m in _NAMED.finditer(lowered) for g in m.groups() if g]
    return max(named) if named else None

"""Facts for the version-2 checks (clinical-rules.md 9.2): the patient's sex and birth date,
pregnancy tests, documented menopause / hysterectomy / bilateral oophorectomy, and the CYP3A
inhibitors and inducers among the medications.

Decisions (the safer reading where the record is silent):

- **Sex and birth date** come from the Patient resource (``gender``, ``birthDate``). A
  missing or unreadable Patient leaves both unknown; the embryo-fetal rule then says so and
  still gives its advice, it never reads "unknown" as "male" or "not of reproductive age".
- **Pregnancy tests** are Observations coded with the hCG codes of
  ``terminology.PREGNANCY_TEST`` (or named so in the code's text, recorded as a text
  match). The result is read from the value's text or coding display ("positive",
  "detected", "negative", "not detected"); anything else is ``UNKNOWN`` (a test that was
  done, result not read). Status ``registered`` / ``cancelled`` / ``entered-in-error``:
  no result.
- **Menopause, hysterectomy, bilateral oophorectomy** are recognised by text only (no code
  checked: see ``terminology``) in a Condition's or Procedure's code, or an Observation's
  value. A negated mention ("no hysterectomy") does not count. A Procedure ``not-done``
  or a Condition that is refuted does not count.
- **CYP3A inhibitors and inducers**: a medication resource whose drug is not an anticancer
  drug is checked against ``terminology.cyp3a_modulator``; active as for the anticancer
  drugs (an active or on-hold statement or order not ended by ``as_of``, or an
  administration within the last 14 days).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from fhir_mappings.model import (
    CoMedication,
    Demographics,
    MatchedBy,
    PregnancyResult,
    PregnancyTest,
    ReproductiveStatus,
    ReproductiveStatusKind,
    Sex,
)
from fhir_mappings.parse import (
    JsonObject,
    Resource,
    ResourceIndex,
    as_object,
    child,
    choice_date,
    objects,
    parse_date,
    period_end,
    period_start,
    string,
)
from fhir_mappings.terminology import (
    BILATERAL_OOPHORECTOMY,
    HYSTERECTOMY,
    MENOPAUSE,
    PREGNANCY_TEST,
    CodeSet,
    codings,
    concept_text,
    cyp3a_modulator,
    match,
    mentions,
    normalise_text,
)

PREGNANCY_TEST_CODES = frozenset(c.code for c in PREGNANCY_TEST.codes)
_NO_RESULT = frozenset({"registered", "cancelled", "entered-in-error"})
_SEX = {"female": Sex.FEMALE, "male": Sex.MALE, "other": Sex.OTHER}


def read_demographics(resource: Resource) -> Demographics:
    data = resource.data
    gender = string(data, "gender")
    return Demographics(
        sex=_SEX.get(gender or "", Sex.UNKNOWN),
        birth_date=parse_date(data.get("birthDate")),
        sources=(resource.reference,),
    )


# --- pregnancy tests -------------------------------------------------------------------------


def is_pregnancy_test(raw: JsonObject, code_text: str | None = None) -> bool:
    """Cheap pre-filter on a raw Observation (code, then the code's text).
    ``code_text``: ``concept_text`` of its code, when the caller has it already."""
    concept = raw.get("code")
    if _coded_pregnancy_test(concept):
        return True
    text = concept_text(concept) if code_text is None else code_text
    if len(text) <= _CACHED_STATUS_CHARS:
        return bool(text) and _named_pregnancy_test(text)
    return PREGNANCY_TEST.match_text(text)


def _coded_pregnancy_test(concept: object) -> bool:
    """``codings(concept)`` holds a pregnancy-test code: the usual shape (an object with a
    list of codings) tested inline, as it runs on every Observation; any other through
    ``codings``."""
    if type(concept) is not dict:
        return any(code in PREGNANCY_TEST_CODES for _, code in codings(concept))
    items = concept.get("coding")
    if items is None and "code" not in concept:
        return False  # a concept of text only (``codings`` finds nothing in it)
    if type(items) is not list or not any(type(c) is dict for c in items):
        return any(code in PREGNANCY_TEST_CODES for _, code in codings(concept))
    for c in items:
        if type(c) is dict:
            code, system = c.get("code"), c.get("system")
            if (
                type(code) is str
                and code in PREGNANCY_TEST_CODES
                and type(system) is str
                and system.strip()
            ):
                return True
    return False


@lru_cache(maxsize=8192)
def _named_pregnancy_test(text: str) -> bool:
    """``PREGNANCY_TEST.match_text``, once per text and process (codes' texts repeat)."""
    return PREGNANCY_TEST.match_text(text)


def _result(data: JsonObject) -> PregnancyResult:
    texts = [string(data, "valueString") or "", concept_text(data.get("valueCodeableConcept"))]
    text = " ".join(t for t in texts if t)
    if not text:
        return PregnancyResult.UNKNOWN
    if mentions(text, ("negative", "not detected", "undetected")):
        return PregnancyResult.NEGATIVE
    if mentions(text, ("positive", "detected")):
        return PregnancyResult.POSITIVE
    return PregnancyResult.UNKNOWN


def read_pregnancy_test(resource: Resource) -> PregnancyTest | None:
    data = resource.data
    if string(data, "status") in _NO_RESULT:
        return None
    by = match(data.get("code"), PREGNANCY_TEST) or MatchedBy.TEXT
    when = choice_date(data, "effective") or parse_date(data.get("issued"))
    return PregnancyTest(_result(data), when, (resource.reference,), by)


# --- menopause, hysterectomy, oophorectomy ---------------------------------------------------

_STATUS_SETS: tuple[tuple[ReproductiveStatusKind, CodeSet], ...] = (
    (ReproductiveStatusKind.MENOPAUSE, MENOPAUSE),
    (ReproductiveStatusKind.HYSTERECTOMY, HYSTERECTOMY),
    (ReproductiveStatusKind.BILATERAL_OOPHORECTOMY, BILATERAL_OOPHORECTOMY),
)


def _status_text(raw: JsonObject, code_text: str | None = None) -> str:
    parts = [concept_text(raw.get("code")) if code_text is None else code_text]
    if raw.get("resourceType") == "Observation":
        parts += [string(raw, "valueString") or "", concept_text(raw.get("valueCodeableConcept"))]
    return " ; ".join(p for p in parts if p)


def reproductive_kind(
    raw: JsonObject, code_text: str | None = None
) -> ReproductiveStatusKind | None:
    """Cheap pre-filter: which documented state a Condition / Procedure / Observation holds.
    ``code_text``: ``concept_text`` of its code, when the caller has it already."""
    text = _status_text(raw, code_text)
    if not text:
        return None
    if len(text) <= _CACHED_STATUS_CHARS:
        return _cached_status_kind(text)
    return _status_kind(text)


def _status_kind(text: str) -> ReproductiveStatusKind | None:
    """The documented state ``text`` names (it depends on the text only)."""
    words = normalise_text(text)  # once, for the three sets
    for kind, code_set in _STATUS_SETS:
        if code_set.match_words(words) and mentions(text, code_set.texts):
            return kind
    return None


_CACHED_STATUS_CHARS = 256
_cached_status_kind = lru_cache(maxsize=8192)(_status_kind)
"""Short texts (a code's text and displays: a record repeats the same few hundred) are
decided once per process; the answer depends on the text only."""


def read_reproductive_status(
    resource: Resource, kind: ReproductiveStatusKind
) -> ReproductiveStatus | None:
    data = resource.data
    status = string(data, "status")
    if status in ("not-done", "entered-in-error", "cancelled"):
        return None
    verification = concept_text(data.get("verificationStatus")).lower()
    if "refuted" in verification or "entered-in-error" in verification:
        return None
    when = (
        choice_date(data, "performed")
        or choice_date(data, "onset")
        or choice_date(data, "effective")
        or parse_date(data.get("recordedDate"))
    )
    return ReproductiveStatus(kind, when, (resource.reference,), MatchedBy.TEXT)


# --- CYP3A inhibitors and inducers -----------------------------------------------------------

_EXCLUDED_STATUS = {
    "MedicationStatement": frozenset({"entered-in-error", "not-taken", "intended", "stopped"}),
    "MedicationRequest": frozenset({"entered-in-error", "cancelled", "draft", "stopped"}),
    "MedicationAdministration": frozenset({"not-done", "entered-in-error"}),
}
_ADMINISTRATION_ACTIVE_DAYS = 14


def co_medication_concept(data: JsonObject, index: ResourceIndex) -> JsonObject | None:
    concept = as_object(data.get("medicationCodeableConcept"))
    if concept is None:
        medication = index.resolve(as_object(data.get("medicationReference")), data)
        if medication is not None:
            concept = as_object(medication.get("code"))
    return concept


def read_co_medication(
    resource: Resource, index: ResourceIndex, as_of: date
) -> CoMedication | None:
    data = resource.data
    kind = resource.resource_type
    if string(data, "status") in _EXCLUDED_STATUS.get(kind, frozenset()):
        return None
    concept = co_medication_concept(data, index)
    found = cyp3a_modulator(concept) if concept is not None else None
    if found is None:
        return None
    if kind == "MedicationAdministration":
        when = choice_date(data, "effective")
        active = when is not None and (
            timedelta(0) <= as_of - when <= timedelta(days=_ADMINISTRATION_ACTIVE_DAYS)
        )
        start = when
    else:
        period = as_object(data.get("effectivePeriod"))
        for dosage in objects(data.get("dosageInstruction")):
            period = period or child(dosage, "timing", "repeat", "boundsPeriod")
        end = period_end(period)
        start = (
            period_start(period)
            or choice_date(data, "effective")
            or parse_date(data.get("authoredOn"))
        )
        active = string(data, "status") in ("active", "on-hold") and (end is None or end >= as_of)
    name, effect = found
    return CoMedication(name, effect, active, start, (resource.reference,), MatchedBy.TEXT)


def draft_co_medication(concept: JsonObject | None, reference: str) -> CoMedication | None:
    """A draft order of a CYP3A inhibitor or inducer (active by definition: it is ordered)."""
    found = cyp3a_modulator(concept) if concept is not None else None
    if found is None:
        return None
    name, effect = found
    return CoMedication(name, effect, True, None, (reference,), MatchedBy.TEXT)

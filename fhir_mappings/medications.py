"""Drug exposures (MedicationStatement / MedicationRequest / MedicationAdministration) and
the hook context's draft orders.

Each medication resource becomes a ``MedicationEvent``; the events of one drug are merged
into courses (``DrugExposure``). Decisions:

- The medication is read from ``medicationCodeableConcept`` or from ``medicationReference``
  to a contained (``#id``) or a sent ``Medication``; it is recognised by
  ``terminology.match_drug`` (code only for a coded concept, see below). Supportive
  drugs (steroids, G-CSF, antiemetics...) are not read, so they never count towards a
  line. A drug outside the list that the record marks as cancer-related (the mCODE
  cancer-related medication profile, or a reason that is the lung cancer) is kept as
  ``Drug.OTHER_ANTICANCER`` (class ``other``, its recorded name kept), never dropped.
  One that the mCODE profile marks cancer-related but whose stated reason is another
  cancer (anastrozole for a breast cancer) is not NSCLC therapy: a ``DataIssue``, not a
  line.
- Not exposures: statements ``entered-in-error`` / ``not-taken`` / ``intended``; requests
  ``entered-in-error`` / ``cancelled`` / ``draft`` or with intent ``proposal`` / ``plan`` /
  ``option``; administrations ``not-done`` / ``entered-in-error``.
- One drug's events split into separate courses when more than ``new_line_gap_days``
  (120) pass between them, or when the stated intent changes (curative vs not).
- ``active``: an active or on-hold statement/order whose own period has not ended by
  ``as_of`` (on-hold counts: an interrupted drug, e.g. T-DXd held for grade 1 ILD, is
  still part of the plan and the safety rules must see it), or a last administration
  within two cycles of ``as_of`` with no stop recorded on or after it. Cycle length: the
  longest standard interval of the drug's labelled schedules, so that a patient on the
  longer schedule is not called inactive: 21 days for q3w IV drugs; 28 for nivolumab,
  atezolizumab, durvalumab, tremelimumab; 42 for pembrolizumab (400 mg q6w) and
  ipilimumab; 7 days for daily oral drugs (a 14-day window: administrations of oral
  drugs are rarely recorded, so an active order is the usual evidence).
- Course end of a completed / stopped order: its bounds or validity period end, else its
  timing (``boundsDuration``, or ``count`` cycles of ``period``), else its
  administrations; a line with none of these ends at the next line's start
  (``lines``), never at the order's first date.
- Stop reason from ``statusReason`` (and notes of stopped/completed records): toxicity
  words (toxicity, adverse event/reaction, intolerance, pneumonitis, ILD) take
  precedence over progression words (progression, progressive disease, no response,
  refractory), because a toxicity stop has safety consequences; progression is still
  recorded for the line when both are stated. Any other stated reason -> OTHER.
- Curative intent: the mCODE ``mcode-procedure-intent`` extension when coded (SNOMED
  373808002 curative; palliative / supportive are not); else when "adjuvant",
  "neoadjuvant", "perioperative", "curative" or "definitive" appears (not negated) in
  reasonCode, category or notes. A curative course is still an exposure of its drug (an
  EGFR TKI is an EGFR TKI), it is only left out of the lines for advanced disease.
- Drug identity (clinical-rules.md 9.1): a coded medication concept is identified by its
  code only. A coded concept whose code is not recognised but whose text names one
  anticancer drug (e.g. an Enhertu order under an RxNorm SCD or a site code this
  service does not list) is NOT identified by that text: the safer choice is a
  ``DataIssue`` naming the resource and the drug, shown by ``explain`` and on the data
  quality card, rather than a silent drop or a guess; a draft order also keeps the drug
  its text names and its code systems (``DraftOrder.named_in_text``, ``code_systems``)
  for the ``order-drug-not-identified`` card. The site order catalog's codes
  (``MappingOptions.site_drug_codes``, passed down as ``site``) identify drugs like the
  service's own codes (``terminology.match_drug``). ``DraftOrder.matched_by`` says
  whether a draft's drug came from its code or its text (rules refuse dose updates on
  text-identified drugs).
- ``medicationReference`` resolves against contained resources, the prefetched
  resources and the draftOrders Bundle (Epic sends the Medication resources there).
- Doses: ``mg/kg`` and ``mg`` (``g`` converted to mg) from UCUM code or unit; others are
  not read. Statements and orders give the dose on their start/authored date.
- Draft orders: every entry of the draftOrders Bundle becomes a ``DraftOrder`` (drug None
  when it is not a recognised anticancer drug or has no medication yet; a CYP3A inhibitor
  or inducer is noted in ``co_medication``, see ``fhir_mappings.reproductive``). A draft
  MedicationRequest that fails validation even after the quirk fixes is recorded as a
  ``DataIssue`` but still read best-effort: it is what the clinician is about to sign, and
  dropping it would silence every check on it. A draft with no id gets the reference of
  its ``fullUrl`` (or ``Type/`` plus nothing) and a ``DataIssue``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from fhir_mappings.model import (
    DataIssue,
    Dose,
    DoseRecord,
    DoseUnit,
    DraftOrder,
    Drug,
    DrugExposure,
    ExposureStatus,
    MatchedBy,
    StopReason,
)
from fhir_mappings.parse import (
    JsonObject,
    Resource,
    ResourceIndex,
    ValidationMemo,
    as_object,
    child,
    choice_date,
    issue,
    number,
    objects,
    parse_date,
    period_end,
    period_start,
    string,
)
from fhir_mappings.reproductive import draft_co_medication
from fhir_mappings.terminology import (
    CURATIVE_INTENT,
    LUNG_ADENOCARCINOMA,
    LUNG_CANCER,
    LUNG_SQUAMOUS,
    NO_SITE_DRUG_CODES,
    NON_CURATIVE_INTENT,
    NSCLC,
    PROCEDURE_INTENT_EXTENSION,
    DrugMatch,
    SiteDrugCodes,
    coded_drug_named_in_text,
    codings,
    concept_text,
    is_supportive,
    match,
    match_drug,
    mentions,
)

MEDICATION_TYPES = frozenset(
    {"MedicationStatement", "MedicationRequest", "MedicationAdministration"}
)

CYCLE_DAYS: dict[Drug, int] = {
    Drug.NIVOLUMAB: 28,
    Drug.ATEZOLIZUMAB: 28,
    Drug.DURVALUMAB: 28,
    Drug.TREMELIMUMAB: 28,
    Drug.PEMBROLIZUMAB: 42,
    Drug.IPILIMUMAB: 42,
    Drug.ZONGERTINIB: 7,
    Drug.SEVABERTINIB: 7,
    Drug.POZIOTINIB: 7,
    Drug.MOBOCERTINIB: 7,
    Drug.OSIMERTINIB: 7,
    Drug.GEFITINIB: 7,
    Drug.ERLOTINIB: 7,
    Drug.AFATINIB: 7,
}
"""Cycle length in days where it is not 21 (see the module docstring)."""
DEFAULT_CYCLE_DAYS = 21


def cycle_days(drug: Drug) -> int:
    return CYCLE_DAYS.get(drug, DEFAULT_CYCLE_DAYS)


# --- medication of a resource ---------------------------------------------------------------


def medication_of(data: JsonObject, index: ResourceIndex) -> tuple[JsonObject | None, str | None]:
    """The medication CodeableConcept (inline or via the referenced Medication) and its text."""
    concept = as_object(data.get("medicationCodeableConcept"))
    if concept is None:
        reference = as_object(data.get("medicationReference"))
        medication = index.resolve(reference, data)
        if medication is not None:
            concept = as_object(medication.get("code"))
        elif reference is not None and string(reference, "display"):
            concept = {"text": string(reference, "display")}
    if concept is None:
        return None, None
    text = string(concept, "text") or next(
        (d for c in objects(concept.get("coding")) if (d := string(c, "display"))), None
    )
    return concept, text


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MedicationEvent:
    drug: Drug
    resource_type: str
    start: date | None
    end: date | None
    status: str | None
    active_record: bool
    administration_date: date | None
    stop_reason: StopReason | None
    progression_stated: bool
    stopped_for_ild: bool
    curative: bool
    doses: tuple[DoseRecord, ...]
    source: str
    unverified_code_only: bool
    name: str | None = None

    @property
    def stop_recorded(self) -> bool:
        if self.resource_type == "MedicationAdministration":
            return False
        if self.status == "stopped" or self.stop_reason is not None:
            return True
        return self.resource_type == "MedicationStatement" and self.status == "completed"

    @property
    def last_date(self) -> date | None:
        return max((d for d in (self.start, self.end, self.administration_date) if d), default=None)


_EXCLUDED_STATUS = {
    "MedicationStatement": frozenset({"entered-in-error", "not-taken", "intended"}),
    "MedicationRequest": frozenset({"entered-in-error", "cancelled", "draft"}),
    "MedicationAdministration": frozenset({"not-done", "entered-in-error"}),
}
_EXCLUDED_INTENT = frozenset({"proposal", "plan", "option"})

_TOXICITY = ("toxicity", "adverse event", "adverse reaction", "side effect", "side effects",
             "intolerance", "intolerant", "not tolerated", "pneumonitis", "ild",
             "interstitial lung disease")  # fmt: skip
_ILD_WORDS = ("pneumonitis", "ild", "interstitial lung disease", "interstitial pneumonia",
              "organizing pneumonia", "organising pneumonia")  # fmt: skip
_ORGAN_TOXICITY = re.compile(r"\b\w+toxicit(?:y|ies)\b", re.IGNORECASE)
_PROGRESSION = ("progression", "progressive disease", "disease progression", "progressed",
                "no response", "not responding", "non response", "refractory")  # fmt: skip
_CURATIVE = ("adjuvant", "neoadjuvant", "neo adjuvant", "perioperative", "curative",
             "definitive")  # fmt: skip


def stop_reason_of(text: str) -> tuple[StopReason | None, bool]:
    """(stop reason, progression stated) of a status reason / note text."""
    if not text.strip():
        return None, False
    progression = mentions(text, _PROGRESSION)
    if mentions(text, _TOXICITY) or _ORGAN_TOXICITY.search(text):
        return StopReason.TOXICITY, progression
    if progression:
        return StopReason.PROGRESSION, True
    return StopReason.OTHER, False


def dose_of(quantity: JsonObject | None) -> Dose | None:
    value = number(quantity, "value")
    if value is None or quantity is None:
        return None
    unit = (string(quantity, "code") or string(quantity, "unit") or "").strip().lower()
    unit = unit.replace(" ", "")
    if unit in ("mg/kg", "mg/kg{bodyweight}", "mg/kg{body_weight}"):
        return Dose(value, DoseUnit.MG_PER_KG)
    if unit in ("mg", "milligram", "milligrams"):
        return Dose(value, DoseUnit.MG)
    if unit in ("g", "gram", "grams"):
        return Dose(value * 1000, DoseUnit.MG)
    return None


def _dosage_quantities(dosages: Iterable[JsonObject]) -> list[JsonObject]:
    found: list[JsonObject] = []
    for dosage in dosages:
        for entry in objects(dosage.get("doseAndRate")):
            quantity = as_object(entry.get("doseQuantity"))
            if quantity is not None:
                found.append(quantity)
        quantity = as_object(dosage.get("doseQuantity")) or as_object(dosage.get("dose"))
        if quantity is not None:
            found.append(quantity)
    return found


def _texts(concepts: Iterable[object]) -> str:
    return " ; ".join(concept_text(c) for c in concepts)


def _notes(data: JsonObject) -> str:
    return " ; ".join(string(n, "text") or "" for n in objects(data.get("note")))


def read_event(
    resource: Resource,
    index: ResourceIndex,
    as_of: date,
    *,
    other_anticancer: bool = False,
    site: SiteDrugCodes = NO_SITE_DRUG_CODES,
) -> MedicationEvent | DataIssue | None:
    """One validated medication resource as an event; None when it is not an exposure.
    ``other_anticancer``: a drug outside the list that the record marks cancer-related."""
    data = resource.data
    kind = resource.resource_type
    status = string(data, "status")
    if status in _EXCLUDED_STATUS.get(kind, frozenset()):
        return None
    if kind == "MedicationRequest" and string(data, "intent") in _EXCLUDED_INTENT:
        return None
    concept, text = medication_of(data, index)
    found = match_drug(concept, site) if concept is not None else None
    if found is None and other_anticancer:
        found = DrugMatch(Drug.OTHER_ANTICANCER, MatchedBy.CODE)
    if found is None:
        return None
    start, end, administered = _dates(kind, data)
    status_reason = _texts(objects(data.get("statusReason")) or [data.get("statusReason")])
    notes = _notes(data)
    stop_text = status_reason
    if status in ("stopped", "completed", "on-hold"):
        stop_text += " ; " + notes
    stop_reason, progression = (
        stop_reason_of(stop_text)
        if status_reason or (status in ("stopped", "completed", "on-hold") and notes)
        else (None, False)
    )
    if stop_reason is StopReason.OTHER and not status_reason:
        stop_reason = None
    intent_text = " ; ".join(
        [_texts(objects(data.get("reasonCode"))), _texts(objects(data.get("category"))), notes]
    )
    dosages = (
        [as_object(data.get("dosage")) or {}]
        if kind == "MedicationAdministration"
        else objects(data.get("dosage") or data.get("dosageInstruction"))
    )
    dose_date = administered or start or parse_date(data.get("authoredOn"))
    doses = tuple(
        DoseRecord(dose, dose_date, resource.reference)
        for q in _dosage_quantities(dosages)
        if (dose := dose_of(q)) is not None
    )
    active_record = (
        kind in ("MedicationStatement", "MedicationRequest")
        and status in ("active", "on-hold")
        and (end is None or end >= as_of)
    )
    return MedicationEvent(
        drug=found.drug,
        resource_type=kind,
        start=start,
        end=end if status in ("completed", "stopped") or kind == "MedicationStatement" else None,
        status=status,
        active_record=active_record,
        administration_date=administered,
        stop_reason=stop_reason,
        progression_stated=progression,
        stopped_for_ild=stop_reason is StopReason.TOXICITY and mentions(stop_text, _ILD_WORDS),
        curative=_curative(data, intent_text),
        doses=doses[:1] if kind != "MedicationAdministration" else doses,
        source=resource.reference,
        unverified_code_only=not found.verified,
        name=(text or "(no name)") if found.drug is Drug.OTHER_ANTICANCER else None,
    )


def _curative(data: JsonObject, intent_text: str) -> bool:
    """The mCODE procedure-intent extension decides when it is coded (curative, or
    palliative / supportive); otherwise the words of reasonCode, category and notes."""
    for extension in objects(data.get("extension")):
        if string(extension, "url") != PROCEDURE_INTENT_EXTENSION:
            continue
        concept = extension.get("valueCodeableConcept")
        if match(concept, CURATIVE_INTENT) is not None:
            return True
        if match(concept, NON_CURATIVE_INTENT) is not None:
            return False
    return mentions(intent_text, _CURATIVE)


_CANCER_RELATED_PROFILE = "mcode-cancer-related-medication"


def marked_cancer_related(raw: JsonObject, index: ResourceIndex) -> bool:
    """The record marks a medication resource as cancer-related while its drug is not one
    this service knows (clinical-rules.md 9.3): the mCODE cancer-related medication
    profile, or a reasonCode / reasonReference that is a lung cancer. Kept as therapy of
    class ``other``. Never for a supportive drug (9.3: corticosteroids, antiemetics,
    G-CSF, antidiarrheals) nor for a medication with no name at all (it could be one)."""
    meta = as_object(raw.get("meta"))
    profiles = meta.get("profile") if meta is not None else None
    profiled = isinstance(profiles, list) and any(
        isinstance(p, str) and _CANCER_RELATED_PROFILE in p for p in profiles
    )
    for_lung = _for_lung_cancer(raw, index)
    if not for_lung and (not profiled or has_stated_reason(raw)):
        return False  # not marked, or marked for another cancer (reported by ``build``)
    concept, text = medication_of(raw, index)
    names = concept_text(concept) if concept is not None else ""
    return bool(text) and not is_supportive(names)


def marked_for_another_cancer(raw: JsonObject, index: ResourceIndex) -> bool:
    """mCODE-profiled as cancer-related, with a stated reason that is not a lung cancer
    (e.g. anastrozole for a breast cancer): not NSCLC therapy, reported, not counted."""
    meta = as_object(raw.get("meta"))
    profiles = meta.get("profile") if meta is not None else None
    profiled = isinstance(profiles, list) and any(
        isinstance(p, str) and _CANCER_RELATED_PROFILE in p for p in profiles
    )
    if not profiled or not has_stated_reason(raw) or _for_lung_cancer(raw, index):
        return False
    concept, _ = medication_of(raw, index)
    return not is_supportive(concept_text(concept)) if concept is not None else True


def has_stated_reason(raw: JsonObject) -> bool:
    return bool(objects(raw.get("reasonCode")) or objects(raw.get("reasonReference")))


def _for_lung_cancer(data: JsonObject, index: ResourceIndex) -> bool:
    concepts: list[object] = list(objects(data.get("reasonCode")))
    for ref in objects(data.get("reasonReference")):
        target = index.resolve(ref, data)
        if target is not None:
            concepts.append(target.get("code"))
    return any(
        match(c, code_set) is not None
        for c in concepts
        for code_set in (NSCLC, LUNG_CANCER, LUNG_ADENOCARCINOMA, LUNG_SQUAMOUS)
    )


def _dates(kind: str, data: JsonObject) -> tuple[date | None, date | None, date | None]:
    """(start, end, administration date) of a medication resource."""
    if kind == "MedicationAdministration":
        when = choice_date(data, "effective")
        return when, period_end(as_object(data.get("effectivePeriod"))) or when, when
    if kind == "MedicationStatement":
        period = as_object(data.get("effectivePeriod"))
        return choice_date(data, "effective"), period_end(period), None
    bounds = None
    for dosage in objects(data.get("dosageInstruction")):
        bounds = bounds or child(dosage, "timing", "repeat", "boundsPeriod")
    validity = child(data, "dispenseRequest", "validityPeriod")
    start = period_start(bounds) or period_start(validity) or parse_date(data.get("authoredOn"))
    end = period_end(bounds) or period_end(validity)
    if end is None and start is not None and string(data, "status") in ("completed", "stopped"):
        end = _timing_end(data, start)
    return start, end, None


_DAYS_PER_UNIT = {"d": 1, "wk": 7}


def _timing_end(data: JsonObject, start: date) -> date | None:
    """The end of a completed / stopped cycle order from its timing: ``boundsDuration``, or
    ``count`` cycles of ``period`` (the last cycle begins (count - 1) periods after the
    first). Only day and week units are read (months vary in length)."""
    for dosage in objects(data.get("dosageInstruction")):
        repeat = child(dosage, "timing", "repeat")
        if repeat is None:
            continue
        duration = as_object(repeat.get("boundsDuration"))
        value = number(duration, "value")
        unit = string(duration, "code") or string(duration, "unit") if duration else None
        if value is not None and unit in _DAYS_PER_UNIT:
            return start + timedelta(days=value * _DAYS_PER_UNIT[unit])
        count, period = number(repeat, "count"), number(repeat, "period")
        period_unit = string(repeat, "periodUnit")
        if (
            count is not None
            and count >= 1
            and period is not None
            and period_unit in _DAYS_PER_UNIT
        ):
            return start + timedelta(days=(count - 1) * period * _DAYS_PER_UNIT[period_unit])
    return None


# --- courses ---------------------------------------------------------------------------------


def _split_courses(events: list[MedicationEvent], gap_days: int) -> list[list[MedicationEvent]]:
    dated = sorted((e for e in events if e.start or e.last_date), key=_sort_key)
    undated = [e for e in events if not (e.start or e.last_date)]
    courses: list[list[MedicationEvent]] = []
    last_seen: date | None = None
    for event in dated:
        first = event.start or event.last_date
        if (
            not courses
            or (last_seen and first and (first - last_seen).days > gap_days)
            or courses[-1][-1].curative != event.curative
        ):
            courses.append([])
        courses[-1].append(event)
        last_seen = max(filter(None, (last_seen, event.last_date, first)), default=None)
    if undated:
        if courses:
            courses[-1].extend(undated)
        else:
            courses.append(undated)
    return courses


def _sort_key(event: MedicationEvent) -> date:
    return event.start or event.last_date or date.min


def _course_exposure(course: list[MedicationEvent], as_of: date) -> DrugExposure:
    drug = course[0].drug
    starts = [d for e in course for d in (e.start, e.administration_date) if d]
    admin_dates = [e.administration_date for e in course if e.administration_date]
    last_admin = max(admin_dates, default=None)
    stops_after = [
        e
        for e in course
        if e.stop_recorded and last_admin and (e.last_date or date.min) >= last_admin
    ]
    recent_admin = (
        last_admin is not None
        and timedelta(0) <= as_of - last_admin <= timedelta(days=2 * cycle_days(drug))
        and not stops_after
    )
    any_active_record = any(e.active_record for e in course)
    active = any_active_record or recent_admin
    stop_events = [e for e in course if e.stop_reason is not None]
    stop_reason = None
    if stop_events:
        reasons = {e.stop_reason for e in stop_events}
        stop_reason = (
            StopReason.TOXICITY
            if StopReason.TOXICITY in reasons
            else StopReason.PROGRESSION
            if StopReason.PROGRESSION in reasons
            else StopReason.OTHER
        )
    if active:
        status = ExposureStatus.ACTIVE
    elif any(e.stop_recorded and e.status != "completed" for e in course):
        status = ExposureStatus.STOPPED
    elif any(
        e.status == "completed" for e in course if e.resource_type != "MedicationAdministration"
    ):
        status = ExposureStatus.COMPLETED
    else:
        status = ExposureStatus.UNKNOWN
    ends = [d for e in course for d in (e.end, e.administration_date) if d]
    doses = tuple(sorted((d for e in course for d in e.doses), key=lambda r: r.date or date.min))
    return DrugExposure(
        drug=drug,
        start=min(starts, default=None),
        end=None if active else max(ends, default=None),
        status=status,
        active=active,
        stop_reason=stop_reason,
        stopped_for_ild=any(e.stopped_for_ild for e in course),
        curative_intent=all(e.curative for e in course),
        doses=doses,
        sources=tuple(dict.fromkeys(e.source for e in course)),
        unverified_code_only=all(e.unverified_code_only for e in course),
        name=course[0].name,
    )


@dataclass(frozen=True, slots=True)
class ProgressionEvent:
    date: date | None
    source: str


def build_exposures(
    events: Sequence[MedicationEvent], as_of: date, gap_days: int
) -> tuple[tuple[DrugExposure, ...], tuple[ProgressionEvent, ...]]:
    """Courses of each drug, ordered by start; and progressions stated as stop reasons."""
    by_drug: dict[tuple[Drug, str | None], list[MedicationEvent]] = {}
    for event in events:
        # Each drug outside the list is its own course (keyed by its recorded name).
        by_drug.setdefault((event.drug, event.name), []).append(event)
    exposures = [
        _course_exposure(course, as_of)
        for drug_events in by_drug.values()
        for course in _split_courses(drug_events, gap_days)
    ]
    exposures.sort(key=lambda e: (e.start or date.max, e.drug.value))
    # 9.1: the progression date is the date of the evidence: the stopped record's own end
    # (its stop), never its start; undated here, it is dated later by the next line's start.
    progressions = tuple(
        ProgressionEvent(e.end or e.administration_date, e.source)
        for e in events
        if e.progression_stated
    )
    return tuple(exposures), progressions


# --- draft orders ----------------------------------------------------------------------------

_PERIOD_UNITS = {"s": "second", "min": "minute", "h": "hour", "d": "day", "wk": "week",
                 "mo": "month", "a": "year"}  # fmt: skip
_TIMES = {1: "once", 2: "twice", 3: "three times", 4: "four times"}


def frequency_text(dosage: JsonObject) -> str | None:
    """A human frequency: "once daily", "twice daily", "every 3 weeks", "every 8 hours"."""
    repeat = child(dosage, "timing", "repeat")
    period, unit = number(repeat, "period"), string(repeat, "periodUnit")
    if period is not None and unit in _PERIOD_UNITS:
        times = int(number(repeat, "frequency") or 1)
        amount = int(period) if period == int(period) else period
        if unit == "d" and isinstance(amount, int) and amount % 7 == 0:
            amount, unit = amount // 7, "wk"
        name = _PERIOD_UNITS[unit]
        if amount == 1:
            adverb = {"d": "daily", "wk": "weekly", "mo": "monthly", "a": "yearly"}.get(
                unit, f"per {name}"
            )
            return f"{_TIMES.get(times, f'{times} times')} {adverb}"
        every = f"every {amount} {name}s"
        return every if times == 1 else f"{_TIMES.get(times, f'{times} times')} {every}"
    code = child(dosage, "timing", "code")
    if code is not None and concept_text(code):
        return concept_text(code).split(" | ")[0]
    return string(dosage, "text")


def _entry_reference(resource: JsonObject, entry: JsonObject) -> str | None:
    resource_type, resource_id = string(resource, "resourceType"), string(resource, "id")
    if resource_type and resource_id:
        return f"{resource_type}/{resource_id}"
    return string(entry, "fullUrl")


def read_draft_orders(
    bundle: Mapping[str, Any] | None,
    selections: Sequence[str] | None,
    index: ResourceIndex,
    site: SiteDrugCodes = NO_SITE_DRUG_CODES,
    *,
    validated: ValidationMemo | None = None,
) -> tuple[tuple[DraftOrder, ...], tuple[DataIssue, ...]]:
    """The context's draftOrders Bundle as DraftOrders (see the module docstring).
    ``validated``: the call's validation results (``build.build_patient``)."""
    if bundle is None:
        return (), ()
    if not isinstance(bundle, Mapping):
        return (), (issue(bundle, "draftOrders is not a Bundle"),)
    orders: list[DraftOrder] = []
    issues: list[DataIssue] = []
    entries = bundle.get("entry")
    if string(bundle, "resourceType") != "Bundle" or not isinstance(entries, list | type(None)):
        issues.append(DataIssue("Bundle", string(bundle, "id"), "draftOrders is not a Bundle"))
    chosen = set(selections) if selections is not None else None
    for entry in entries if isinstance(entries, list) else []:
        entry_obj = as_object(entry)
        resource = as_object(entry_obj.get("resource")) if entry_obj is not None else None
        if entry_obj is None or resource is None:
            issues.append(DataIssue("Bundle", string(bundle, "id"), "draft entry without resource"))
            continue
        resource_type = string(resource, "resourceType")
        if resource_type is None:
            issues.append(issue(resource, "draft order without resourceType"))
            continue
        reference = _entry_reference(resource, entry_obj)
        if reference is None or string(resource, "id") is None:
            issues.append(issue(resource, "draft order without id"))
        reference = reference or f"{resource_type}/"
        selected = chosen is None or reference in chosen or string(entry_obj, "fullUrl") in chosen
        order, problem = _draft_order(
            resource, reference, selected, index, site, validated=validated or ValidationMemo()
        )
        orders.append(order)
        if problem is not None:
            issues.append(problem)
    return tuple(orders), tuple(issues)


def _own_reference(raw: JsonObject) -> str | None:
    """``Type/id`` from the resource itself (what update and delete suggestions name)."""
    kind, ident = raw.get("resourceType"), raw.get("id")
    return f"{kind}/{ident}" if isinstance(kind, str) and isinstance(ident, str) else None


def _draft_order(
    raw: JsonObject,
    reference: str,
    selected: bool,
    index: ResourceIndex,
    site: SiteDrugCodes,
    *,
    validated: ValidationMemo,
) -> tuple[DraftOrder, DataIssue | None]:
    resource_type = string(raw, "resourceType") or "(unknown)"
    base = DraftOrder(
        reference=reference,
        resource_type=resource_type,
        drug=None,
        status=string(raw, "status"),
        selected=selected,
        resource=raw if reference == _own_reference(raw) else None,
    )
    if resource_type != "MedicationRequest":
        return base, None
    checked = validated.validate(raw, draft_order=True)
    problem = checked if isinstance(checked, DataIssue) else None
    data = checked.data if isinstance(checked, Resource) else raw
    concept, text = medication_of(data, index)
    found = match_drug(concept, site) if concept is not None else None
    dosages = objects(data.get("dosageInstruction"))
    dose = next((d for q in _dosage_quantities(dosages) if (d := dose_of(q)) is not None), None)
    frequency = next((f for d in dosages if (f := frequency_text(d)) is not None), None)
    named = coded_drug_named_in_text(concept) if found is None and concept is not None else None
    if named is not None and problem is None:
        problem = DataIssue(
            resource_type,
            string(raw, "id"),
            f"medication code not recognised; its text names {named.value}: not identified",
        )
    order = replace(
        base,
        drug=found.drug if found else None,
        matched_by=found.matched_by if found else MatchedBy.CODE,
        dose=dose,
        frequency=frequency,
        medication_text=text,
        unverified_code_only=bool(found and not found.verified),
        co_medication=None if found else draft_co_medication(concept, reference),
        named_in_text=named,
        code_systems=_code_systems(concept) if named is not None else (),
    )
    return order, problem


def _code_systems(concept: object) -> tuple[str, ...]:
    """The coding systems of a medication concept, each once, as sent."""
    return tuple(dict.fromkeys(system for system, _ in codings(concept)))

"""Tolerant reading of raw FHIR R4 JSON: typed accessors, dates, validation, data issues.

Decisions:

- Validation uses ``fhir.resources.R4B`` (R4B is R4-compatible for every resource this
  package reads; the top-level ``fhir.resources`` models are R5 and reject R4 medication
  resources). It runs one resource at a time and only on resources that a family module's
  cheap pre-filter found relevant, because pydantic validation of a FHIR resource costs
  about 0.1-0.2 ms and a record can hold thousands of resources the rules never read.
- After a resource validates, facts are read from the (normalised) JSON with the typed
  accessors below rather than from the pydantic objects: the shape is then known to be
  R4-conformant, and the accessors keep ``Any`` at this boundary and narrow at once.
- Known quirks of real clients and of the CDS Hooks sandbox examples are normalised on
  purpose (``normalise_quirks``), and validation is retried once; only a resource that
  still fails becomes a ``DataIssue``. The quirks: a 0..* element sent as one object
  (``category``, ``dosageInstruction``, ``reasonCode``, ``note``, ...); ``doseAndRate``
  as an object; ``doseQuantity`` / ``doseRange`` / ``rateQuantity`` directly under a
  dosage instead of inside ``doseAndRate``. Draft orders from the hook context may lack
  ``intent`` or a medication: they are validated with a placeholder for those two
  required elements only, and read without the placeholder.
- Only the elements the mapping reads are validated: elements it never reads (narrative
  ``text``, ``meta``, ``identifier``, ``performer``, ``encounter``, ``basedOn``,
  ``presentedForm``..., and ``category`` except on medication resources) are dropped from
  the copy that is validated and read. This halves to thirds the validation cost of a
  typical EHR resource, and a malformed narrative or identifier no longer costs the
  clinical fact next to it. ``modifierExtension`` is always kept and validated.
- In front of R4B validation, ``quick_check.accepts`` walks only the keys a resource has,
  against the same R4B models; it answers yes only for what R4B validation accepts too
  (a strict subset, tested against R4B on every fixture and on mutations of them), and
  anything it is not sure of goes through R4B validation as before, so the data issues
  reported are unchanged. It takes the validation of the typical record's ~21 read
  resources from 3.9 ms to 0.55 ms of CPU (on a loaded machine; README, Performance).
- A ``DataIssue`` carries the resource type, id and a short reason built from the
  validation error's element paths and error types. Input values are never included
  (pydantic messages quote values, so they are not used).
- Partial dates: ``2024`` and ``2024-05`` are read as the first day of that period.
"""

from __future__ import annotations

import importlib
import re
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

import pydantic
from fhir_core.types import FhirBase

from fhir_mappings import quick_check
from fhir_mappings.model import DataIssue

JsonObject = Mapping[str, Any]


# --- typed accessors -------------------------------------------------------------------


def as_object(value: object) -> JsonObject | None:
    """The value as a JSON object, or None. (JSON objects are ``dict``s: ``isinstance``
    against ``Mapping`` costs an ABC check per call, which shows at thousands of resources.)"""
    return value if isinstance(value, dict) else None


def objects(value: object) -> list[JsonObject]:
    """A 0..* element as a list of objects; a lone object counts as a one-item list."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def string(obj: JsonObject | None, key: str) -> str | None:
    if obj is None:
        return None
    value = obj.get(key)
    # ``not value.isspace()`` is ``value.strip() != ""`` without building the copy
    return value if isinstance(value, str) and value and not value.isspace() else None


def number(obj: JsonObject | None, key: str) -> float | None:
    if obj is None:
        return None
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def child(obj: JsonObject | None, *path: str) -> JsonObject | None:
    current = obj
    for key in path:
        if current is None:
            return None
        current = as_object(current.get(key))
    return current


# --- dates ---------------------------------------------------------------------------

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def parse_date(value: object) -> date | None:
    """A FHIR date, dateTime or instant as a date (partial dates: first day)."""
    if not isinstance(value, str):
        return None
    found = _DATE.match(value.strip())
    if found is None:
        return None
    year, month, day = found.group(1), found.group(2) or "01", found.group(3) or "01"
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def period_start(obj: JsonObject | None) -> date | None:
    return parse_date(obj.get("start")) if obj is not None else None


def period_end(obj: JsonObject | None) -> date | None:
    return parse_date(obj.get("end")) if obj is not None else None


def choice_date(obj: JsonObject, prefix: str) -> date | None:
    """``effective[x]``/``onset[x]``/``performed[x]``: dateTime, instant, or period start."""
    for suffix in ("DateTime", "Instant", "Date"):
        found = parse_date(obj.get(prefix + suffix))
        if found is not None:
            return found
    return period_start(as_object(obj.get(prefix + "Period")))


# --- resources -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resource:
    """A raw resource that passed validation (or is read best-effort), with its reference."""

    resource_type: str
    resource_id: str | None
    data: JsonObject

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.resource_id or '(no id)'}"


def resource_of(raw: JsonObject) -> Resource:
    resource_type = string(raw, "resourceType") or "(unknown)"
    return Resource(resource_type, string(raw, "id"), raw)


def issue(raw: object, reason: str) -> DataIssue:
    obj = as_object(raw)
    if obj is None:
        return DataIssue("(not a resource)", None, reason)
    return DataIssue(string(obj, "resourceType") or "(unknown)", string(obj, "id"), reason)


class ResourceIndex:
    """Resources by reference, for ``medicationReference`` and ``specimen`` look-ups."""

    def __init__(self) -> None:
        self._by_key: dict[str, JsonObject] = {}

    def add(self, raw: JsonObject, full_url: str | None = None) -> None:
        resource_type, resource_id = raw.get("resourceType"), raw.get("id")
        # ``string`` of both, inlined: this runs on every resource of a record.
        if (
            isinstance(resource_type, str)
            and isinstance(resource_id, str)
            and resource_type
            and resource_id
            and not resource_type.isspace()
            and not resource_id.isspace()
        ):
            self._by_key[f"{resource_type}/{resource_id}"] = raw
        if full_url:
            self._by_key[full_url] = raw

    def resolve(self, reference: JsonObject | None, container: JsonObject) -> JsonObject | None:
        """The referenced resource: contained (``#id``), by ``Type/id``, or by full URL."""
        ref = string(reference, "reference")
        if ref is None:
            return None
        if ref.startswith("#"):
            for contained in objects(container.get("contained")):
                if string(contained, "id") == ref[1:]:
                    return contained
            return None
        if ref in self._by_key:
            return self._by_key[ref]
        parts = ref.rstrip("/").split("/")
        if len(parts) >= 2:
            return self._by_key.get(f"{parts[-2]}/{parts[-1]}")
        return None


# --- validation ------------------------------------------------------------------------

VALIDATED_TYPES = frozenset(
    {
        "Observation",
        "Condition",
        "MedicationStatement",
        "MedicationRequest",
        "MedicationAdministration",
        "Medication",
        "Procedure",
        "DiagnosticReport",
        "AdverseEvent",
        "ImagingStudy",
        "Specimen",
    }
)


@cache
def _model_class(resource_type: str) -> Callable[[JsonObject], object]:
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    model: Any = getattr(module, resource_type)
    validate: Callable[[JsonObject], object] = model.model_validate
    return validate


def load_models() -> int:
    """Import the R4B model of every validated type, and of the elements they hold
    (CodeableConcept, Reference, Period, Dosage...), now rather than at their first use.
    The production entry does this before ``gc.freeze()`` and the fork: R4B imports an
    element's model at its first validation, which would be in each worker after the fork,
    outside ``gc.freeze()`` and in memory of its own (about 20 modules, 2 MB, 40 ms of a
    worker's first call). An Extension's ``value[x]`` types are left to their first use
    (about 40 more). Returns how many models were reached."""
    pending: list[type[object]] = []
    for resource_type in sorted(VALIDATED_TYPES):
        _model_class(resource_type)
        module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
        pending.append(getattr(module, resource_type))
    reached: set[type[object]] = set()
    while pending:
        model = pending.pop()
        if model in reached:
            continue
        reached.add(model)
        if model.__name__ != "Extension":
            for info in getattr(model, "model_fields", {}).values():
                pending.extend(_element_models(info.annotation))
    return len(reached)


def _element_models(annotation: object) -> Iterator[type[object]]:
    if isinstance(annotation, type) and issubclass(annotation, FhirBase):
        yield annotation.get_model_klass()
    for argument in typing.get_args(annotation):
        yield from _element_models(argument)


_SAFE_KEY = re.compile(r"^[A-Za-z0-9_\[\]]{1,40}$")


def _reason(error: pydantic.ValidationError) -> str:
    details = error.errors(include_url=False, include_input=False, include_context=False)
    parts = []
    for detail in details[:3]:
        path = ".".join(
            str(p) if isinstance(p, int) or _SAFE_KEY.match(str(p)) else "?" for p in detail["loc"]
        )
        parts.append(f"{path or '(resource)'} ({detail['type']})")
    more = f" and {len(details) - 3} more" if len(details) > 3 else ""
    return f"failed R4B validation: {'; '.join(parts)}{more}"


_LIST_ELEMENTS: dict[str, tuple[str, ...]] = {
    "*": ("reasonCode", "note", "identifier", "basedOn", "partOf"),
    "MedicationRequest": ("category", "dosageInstruction"),
    "MedicationStatement": ("dosage", "statusReason"),
    "MedicationAdministration": ("statusReason",),
    "Observation": ("category", "interpretation", "component", "referenceRange", "performer"),
    "Condition": ("category", "stage", "evidence", "bodySite"),
    "DiagnosticReport": ("category", "result", "conclusionCode", "specimen"),
    "AdverseEvent": ("category", "suspectEntity", "resultingCondition"),
}
_DOSE_AND_RATE_KEYS = ("doseQuantity", "doseRange", "rateQuantity", "rateRange", "rateRatio")


def _normalise_dosage(dosage: JsonObject) -> dict[str, Any]:
    fixed = dict(dosage)
    rate = fixed.get("doseAndRate")
    entries: list[Any] = [rate] if isinstance(rate, Mapping) else list(rate or [])
    loose = {key: fixed.pop(key) for key in _DOSE_AND_RATE_KEYS if key in fixed}
    if loose:
        if entries and isinstance(entries[0], Mapping):
            entries[0] = {**loose, **entries[0]}
        else:
            entries.insert(0, loose)
    if entries:
        fixed["doseAndRate"] = entries
    return fixed


def normalise_quirks(raw: JsonObject) -> dict[str, Any]:
    """A copy with the known client quirks fixed (see the module docstring)."""
    resource_type = string(raw, "resourceType") or ""
    fixed = dict(raw)
    for key in (*_LIST_ELEMENTS["*"], *_LIST_ELEMENTS.get(resource_type, ())):
        if isinstance(fixed.get(key), Mapping):
            fixed[key] = [fixed[key]]
    dosage_key = {"MedicationRequest": "dosageInstruction", "MedicationStatement": "dosage"}.get(
        resource_type
    )
    if dosage_key and isinstance(fixed.get(dosage_key), list):
        fixed[dosage_key] = [
            _normalise_dosage(d) if isinstance(d, Mapping) else d for d in fixed[dosage_key]
        ]
    return fixed


_MEDICATION_CHOICES = ("medicationCodeableConcept", "medicationReference")


def _with_draft_placeholders(raw: JsonObject) -> dict[str, Any]:
    """Placeholders for the two elements a draft order may not have yet (validation only)."""
    patched = dict(raw)
    patched.setdefault("intent", "proposal")
    if not any(key in patched for key in _MEDICATION_CHOICES):
        patched["medicationCodeableConcept"] = {"text": "not yet chosen"}
    return patched


NEVER_READ = frozenset(
    {
        "text", "meta", "implicitRules", "language", "identifier", "performer", "encounter",
        "context", "basedOn", "partOf", "derivedFrom", "hasMember", "focus", "request",
        "requester", "recorder", "asserter", "supportingInformation", "insurance",
        "substitution", "eventHistory", "detectedIssue", "informationSource", "location",
        "reportedBoolean", "reportedReference", "priorRequest", "groupIdentifier",
        "instantiatesCanonical", "instantiatesUri", "presentedForm", "imagingStudy", "media",
        "resultsInterpreter", "reasonReference", "referrer", "endpoint", "interpreter",
        "usedReference", "usedCode", "followUp", "complicationDetail", "focalDevice",
        "report", "contributor", "subjectMedicalHistory", "referenceDocument", "study",
        "participant", "courseOfTherapyType",
    }
)  # fmt: skip
"""Elements no family module reads: not validated, not read."""
_CATEGORY_READ = frozenset({"MedicationRequest", "MedicationStatement"})


def project(raw: JsonObject) -> dict[str, Any]:
    """The copy of a resource that is validated and read (see the module docstring)."""
    keep_category = raw.get("resourceType") in _CATEGORY_READ
    return {
        key: value
        for key, value in raw.items()
        if key not in NEVER_READ and (key != "category" or keep_category)
    }


class ValidationMemo:
    """The validation results of one hook call's resources, by identity: a resource that
    two readings of the same call look at (the scope decision, then the whole record) is
    validated once. One per call, never shared between calls: it keeps each resource it
    has seen alive, so an ``id()`` is never reused while it lives."""

    def __init__(self) -> None:
        self._done: dict[tuple[int, bool], tuple[JsonObject, Resource | DataIssue]] = {}

    def validate(self, raw: JsonObject, *, draft_order: bool = False) -> Resource | DataIssue:
        """``validate(raw, draft_order=...)``, computed once per resource and flag."""
        key = (id(raw), draft_order)
        found = self._done.get(key)
        if found is not None and found[0] is raw:
            return found[1]
        checked = validate(raw, draft_order=draft_order)
        self._done[key] = (raw, checked)
        return checked


def validate(raw: JsonObject, *, draft_order: bool = False) -> Resource | DataIssue:
    """Validate one resource with R4B; fix the known quirks and retry once.

    A resource nested deeply enough to exhaust the stack in validation is a data issue
    too, never an exception: FHIR servers' answers reach this point unchecked for depth."""
    try:
        return _validate(raw, draft_order=draft_order)
    except RecursionError:
        return issue(raw, "failed R4B validation: nested too deeply")


def _validate(raw: JsonObject, *, draft_order: bool) -> Resource | DataIssue:
    resource_type = string(raw, "resourceType")
    if resource_type is None:
        return issue(raw, "no resourceType")
    if resource_type not in VALIDATED_TYPES:
        return resource_of(raw)
    validator = _model_class(resource_type)
    raw = project(raw)
    is_draft_medication = resource_type == "MedicationRequest" and (
        draft_order or string(raw, "status") == "draft"
    )
    candidate: JsonObject = raw
    for attempt in range(2):
        checked = _with_draft_placeholders(candidate) if is_draft_medication else candidate
        if quick_check.accepts(resource_type, checked):
            return resource_of(candidate)
        try:
            validator(checked)
        except pydantic.ValidationError as error:
            if attempt == 0:
                fixed = normalise_quirks(raw)
                if fixed != raw:
                    candidate = fixed
                    continue
            return issue(raw, _reason(error))
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            return issue(raw, f"failed R4B validation ({type(error).__name__})")
        return resource_of(candidate)
    return issue(raw, "failed R4B validation")  # pragma: no cover - loop always returns

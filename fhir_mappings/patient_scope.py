"""Resources about another patient than the hook call's ``context.patientId``: dropped.

A prefetch or fetch can hold a resource about another patient (a wrong search parameter,
a server that ignores ``patient=``, a client that mixed two records). Such a resource is
never used: it is dropped before anything reads it and reported as a ``DataIssue`` (the
response's data-quality extension lists it). A resource is about another patient when

- it is a ``Patient`` whose ``id`` is not the context's patient, or
- its ``subject`` or ``patient`` is a literal reference to ``Patient/<other id>``
  (relative, absolute ``.../Patient/<id>``, or with ``/_history/<v>``).

A reference that cannot be read as a Patient reference (an identifier-only or contained
reference, another resource type) is left for the families to read as they do today.
"""

from __future__ import annotations

from functools import lru_cache

from fhir_mappings.model import DataIssue
from fhir_mappings.parse import JsonObject, as_object, string

__all__ = [
    "FOREIGN_PATIENT_REASON",
    "PatientScope",
    "about_another_patient",
]

FOREIGN_PATIENT_REASON = "about another patient than context.patientId: dropped"

_SUBJECT_FIELDS = ("subject", "patient")


class PatientScope:
    """The call's patient, for one resource at a time (``fhir_mappings.build`` reads the
    record in one pass)."""

    __slots__ = ("_plain", "_wanted")

    def __init__(self, patient_id: str) -> None:
        self._wanted = _plain_id(patient_id)
        self._plain = _own_reference(self._wanted)

    def foreign(self, raw: JsonObject) -> DataIssue | None:
        """The data issue of a resource about another patient; None when it is about the
        call's patient or about no patient."""
        plain = self._plain
        subject, patient = raw.get("subject"), raw.get("patient")
        if (
            # The usual case, decided without the general test: not a Patient, and each
            # of subject and patient absent or exactly the reference ``Patient/<id>``.
            plain is not None
            and (subject is None or (type(subject) is dict and subject.get("reference") == plain))
            and (patient is None or (type(patient) is dict and patient.get("reference") == plain))
            and raw.get("resourceType") != "Patient"
        ):
            return None
        if not about_another_patient(raw, self._wanted):
            return None
        kind = string(raw, "resourceType") or "unknown"
        return DataIssue(kind, string(raw, "id"), FOREIGN_PATIENT_REASON)


def about_another_patient(raw: JsonObject, patient_id: str) -> bool:
    if raw.get("resourceType") == "Patient":
        own = string(raw, "id")
        return own is not None and own != patient_id
    plain = _own_reference(patient_id)
    for name in _SUBJECT_FIELDS:
        reference = raw.get(name)
        if (
            plain is not None
            and isinstance(reference, dict)
            and reference.get("reference") == plain
        ):
            continue  # the usual case, known without splitting the reference
        referenced = _patient_reference(as_object(reference))
        if referenced is not None and referenced != patient_id:
            return True
    return False


@lru_cache(maxsize=64)
def _own_reference(patient_id: str) -> str | None:
    """``Patient/<id>``, which ``_patient_reference`` reads as ``patient_id`` itself; None
    for an id with a character that reading treats specially (then it is read in full)."""
    if any(mark in patient_id for mark in "/?#") or patient_id == "_history":
        return None
    return f"Patient/{patient_id}"


def _patient_reference(reference: JsonObject | None) -> str | None:
    """The id of a literal ``Patient/<id>`` reference; None when it is not one."""
    text = string(reference, "reference")
    if text is None:
        return None
    path = text.split("?", 1)[0].split("#", 1)[0]
    segments = [segment for segment in path.split("/") if segment]
    if "_history" in segments:
        segments = segments[: segments.index("_history")]
    if len(segments) >= 2 and segments[-2] == "Patient":
        return segments[-1]
    return None


def _plain_id(patient_id: str) -> str:
    return patient_id.removeprefix("Patient/")

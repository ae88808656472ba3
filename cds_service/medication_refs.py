"""``medicationReference`` targets a hook call's data lacks, read from ``fhirServer`` (issue 9).

The mapping resolves a ``medicationReference`` against contained resources, the
resources read for the call and the draftOrders Bundle (``fhir_mappings.parse.
ResourceIndex``); it does no I/O. A Medication held elsewhere (a MedicationRequest search
that did not ``_include`` its Medication) would leave the drug unread, and a zongertinib
order would get no zongertinib checks. So, after the prefetch stages of an in-scope call,
``wanted`` lists the references the data cannot resolve, and ``scope.resolve_staged``
reads them with ``PrefetchResolver.read`` (same deadline, byte caps, checks and token as
the other fetches).

Which references (MedicationRequest / MedicationStatement / MedicationAdministration
among the data, and every draft order; only when the resource has no
``medicationCodeableConcept``, which the mapping reads first):

- ``#id``: contained, resolved by the mapping; never read.
- present already, by ``Type/id``, by ``fullUrl`` or by its last two segments (as the
  mapping's index resolves it): never read.
- ``Medication/{id}`` (a FHIR id), or an absolute URL inside the ``fhirServer`` base
  (``cds_service.urls``: after percent-decoding, no dot segments) whose path below the
  base is ``Medication/{id}``: read, at most ``settings.fhir_max_medication_reads`` per
  call, draft orders first (what the clinician is about to sign), then in data order.
- anything else (another host, a query, a versioned or non-Medication reference, no
  ``fhirServer``): never followed; the bearer token goes nowhere but ``fhirServer``.

Every reference not resolved -- not followed, past the count, or whose read failed
(404, error status, deadline, cap) -- becomes a ``DataIssue`` on the resource that
refers to it (shown in the response's data-quality extension and by ``explain``), never
a 412 and never a 500: the medication data is optional for the call.

Draft orders (a choice, the safer one): a draft whose Medication is only on the server
cannot put the call in scope by itself, since the mapping cannot name its drug. When the
first stage finds the call out of scope and a draft's Medication is missing, the drafts'
references (only those) are read before the scope decision, so that an order for a
HER2-directed drug on a patient without a recorded NSCLC still gets its checks. This
costs a read only on order-select / order-sign calls whose drafts refer to a Medication
the client did not send.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cds_service import urls
from fhir_mappings.model import DataIssue

MEDICATION_USERS = frozenset(
    {"MedicationRequest", "MedicationStatement", "MedicationAdministration"}
)
"""Resource types whose ``medicationReference`` is followed."""

READ_KEY = "medicationReference"
"""The name of these reads in logs and the fetch tally."""

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@dataclass(frozen=True, slots=True)
class Wanted:
    reads: tuple[str, ...]
    """Relative ``Medication/{id}`` references to read, each once, in priority order."""
    referrers: Mapping[str, tuple[tuple[str, str | None], ...]]
    """Each read -> the (type, id) of the resources that refer to it."""
    issues: tuple[DataIssue, ...]
    """References not followed (another host, past the count...)."""

    def failed(self, failures: Mapping[str, str]) -> tuple[DataIssue, ...]:
        """A data issue for each referrer of each read that failed."""
        return tuple(
            DataIssue(kind, ident, _reason(reference, why))
            for reference, why in failures.items()
            for kind, ident in self.referrers.get(reference, ())
        )


NOTHING = Wanted((), {}, ())


def draft_resources(draft_orders: Mapping[str, Any] | None) -> list[tuple[Any, str | None]]:
    """The resources of the draftOrders Bundle, with their ``fullUrl``."""
    entries = draft_orders.get("entry") if isinstance(draft_orders, Mapping) else None
    found: list[tuple[Any, str | None]] = []
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            full_url = entry.get("fullUrl")
            found.append((entry["resource"], full_url if isinstance(full_url, str) else None))
    return found


def wanted(
    resources: Sequence[Any],
    draft_orders: Mapping[str, Any] | None,
    *,
    fhir_server: str | None,
    limit: int,
    drafts: bool = True,
    data: bool = True,
) -> Wanted:
    """The ``medicationReference`` targets to read (see the module docstring), of the draft
    orders (``drafts``) and of the data's resources (``data``)."""
    drafted = draft_resources(draft_orders)
    users = [r for r, _ in drafted] if drafts else []
    if data:
        users.extend(resources)
    references = [
        (user, reference)
        for user in users
        if isinstance(user, dict)
        and user.get("resourceType") in MEDICATION_USERS
        and user.get("medicationCodeableConcept") is None  # coded, the usual: no call then
        and (reference := _medication_reference(user)) is not None
        and not reference.startswith("#")
    ]
    if not references:
        return NOTHING  # the usual call: nothing to look up, so no index of what is present
    present = _present_keys([*((r, None) for r in resources), *drafted])
    base = urls.normalise(fhir_server) if fhir_server else None
    referrers: dict[str, list[tuple[str, str | None]]] = {}
    issues: list[DataIssue] = []
    for user, reference in references:
        if _is_present(reference, present):
            continue
        who = (str(user["resourceType"]), _text(user.get("id")))
        relative = _readable(reference, base)
        if relative is None:
            issues.append(DataIssue(*who, _not_followed(reference, base is not None)))
        elif relative in referrers or len(referrers) < max(limit, 0):
            referrers.setdefault(relative, []).append(who)
        else:
            issues.append(
                DataIssue(
                    *who,
                    f"medicationReference {_shown(reference)} not read: more than {limit} "
                    "Medication references in one call (CDS_FHIR_MAX_MEDICATION_READS)",
                )
            )
    return Wanted(
        tuple(referrers), {k: tuple(v) for k, v in referrers.items()}, tuple(dict.fromkeys(issues))
    )


def _medication_reference(resource: Any) -> str | None:
    if not isinstance(resource, dict) or resource.get("resourceType") not in MEDICATION_USERS:
        return None
    if resource.get("medicationCodeableConcept") is not None:
        return None
    reference = resource.get("medicationReference")
    value = reference.get("reference") if isinstance(reference, dict) else None
    return value if isinstance(value, str) and value else None


def _present_keys(resources: Iterable[tuple[Any, str | None]]) -> set[str]:
    keys: set[str] = set()
    for resource, full_url in resources:
        if not isinstance(resource, dict):
            continue
        kind, ident = resource.get("resourceType"), resource.get("id")
        if isinstance(kind, str) and isinstance(ident, str) and kind and ident:
            keys.add(f"{kind}/{ident}")
        if full_url:
            keys.add(full_url)
    return keys


def _is_present(reference: str, present: set[str]) -> bool:
    """As ``ResourceIndex.resolve`` finds it: whole, or by its last two segments."""
    if reference in present:
        return True
    parts = reference.rstrip("/").split("/")
    return len(parts) >= 2 and f"{parts[-2]}/{parts[-1]}" in present


def _readable(reference: str, base: urls.NormalisedUrl | None) -> str | None:
    """``Medication/{id}`` when the reference can be read from ``fhirServer``; else None."""
    if base is None or "?" in reference or "#" in reference:
        return None
    if "://" not in reference:
        kind, _, ident = reference.partition("/")
        return reference if kind == "Medication" and _FHIR_ID.fullmatch(ident) else None
    target = urls.normalise(reference)
    if target is None or not target.within(base):
        return None
    below = target.segments[len(base.segments) :]
    if len(below) == 2 and below[0] == "Medication" and _FHIR_ID.fullmatch(below[1]):
        return f"Medication/{below[1]}"
    return None


def _not_followed(reference: str, has_base: bool) -> str:
    if not has_base:
        where = "the request has no usable fhirServer to read it from"
    elif "://" in reference:
        where = "it is not a Medication on the fhirServer base: not followed"
    else:
        where = "it is not a Medication/{id} reference: not read"
    return f"medicationReference {_shown(reference)} could not be resolved: {where}"


def _reason(reference: str, why: str) -> str:
    return f"medicationReference {reference} could not be read from the FHIR server: {why}"


def _shown(reference: str) -> str:
    """The reference as a data issue may show it: no query, no credentials."""
    if "://" in reference:
        return urls.redacted(reference)
    return reference.partition("?")[0][:200]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None

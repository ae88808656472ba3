"""``python -m fhir_mappings explain FILE [--as-of YYYY-MM-DD]``: show what the mapping read.

Prints the patient model as JSON: every fact with the FHIR references it came from
(``sources``), the data issues, and a count of the resources received by type. Input: a
CDS Hooks request (``prefetch`` values and ``context.draftOrders`` / ``selections``), a
Bundle, a JSON list of resources, or one resource. A developer tool: it prints the
record it is given to the terminal and nowhere else; the service never calls it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any

from fhir_mappings.build import MappingOptions, build_patient
from fhir_mappings.model import PatientModel
from fhir_mappings.parse import as_object, objects, string


@dataclasses.dataclass(frozen=True, slots=True)
class MappingInput:
    resources: list[Any]
    draft_orders: Mapping[str, Any] | None = None
    selections: Sequence[str] | None = None
    unavailable_data: tuple[str, ...] = ()


def _resources_of(value: object) -> list[Any]:
    """Items for ``build_patient`` (which opens Bundles itself and reports bad entries)."""
    if isinstance(value, list):
        return list(value)
    return [value] if value is not None else []


def _received(items: Sequence[Any]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for item in items:
        obj = as_object(item)
        if obj is None:
            counts["(not a resource)"] += 1
        elif string(obj, "resourceType") == "Bundle":
            counts.update(_received([e.get("resource") for e in objects(obj.get("entry"))]))
        else:
            counts[string(obj, "resourceType") or "(invalid)"] += 1
    return counts


def read_input(document: object) -> MappingInput:
    """Recognise a CDS Hooks request, a Bundle, a list of resources or one resource."""
    obj = as_object(document)
    if obj is not None and ("context" in obj or "prefetch" in obj or "hook" in obj):
        resources: list[Any] = []
        unavailable: list[str] = []
        prefetch = as_object(obj.get("prefetch")) or {}
        for key, value in prefetch.items():
            if string(as_object(value), "resourceType") == "OperationOutcome":
                unavailable.append(str(key))
            else:
                resources.extend(_resources_of(value))
        context = as_object(obj.get("context")) or {}
        selections = context.get("selections")
        return MappingInput(
            resources,
            as_object(context.get("draftOrders")),
            [s for s in selections if isinstance(s, str)] if isinstance(selections, list) else None,
            tuple(unavailable),
        )
    return MappingInput(_resources_of(document))


def to_json(value: object) -> Any:
    """Dataclasses (but fields marked ``metadata={"explain": False}``), enums, dates and
    sets as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.metadata.get("explain", True)
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(to_json(v) for v in value)
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def explain(
    document: object,
    as_of: date,
    *,
    options: MappingOptions | None = None,
    patient_id: str | None = None,
) -> dict[str, Any]:
    """The patient model as JSON. ``options`` and ``patient_id`` as for ``build_patient``
    (the SMART app's endpoint passes the site's options and the launch's patient)."""
    given = read_input(document)
    return explained(given, patient_model(given, as_of, options, patient_id=patient_id))


def patient_model(
    given: MappingInput,
    as_of: date,
    options: MappingOptions | None,
    *,
    patient_id: str | None = None,
) -> PatientModel:
    return build_patient(
        given.resources,
        as_of=as_of,
        draft_orders=given.draft_orders,
        selections=given.selections,
        options=options or MappingOptions(),
        unavailable_data=given.unavailable_data,
        patient_id=patient_id,
    )


def explained(given: MappingInput, model: PatientModel) -> dict[str, Any]:
    """What the mapping received and read, as JSON."""
    received = _received(given.resources)
    patient = to_json(model)
    issues = patient.pop("data_issues")
    return {"resources_received": dict(sorted(received.items())), "patient": patient,
            "data_issues": issues}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fhir_mappings")
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("explain", help="show the patient model built from a file")
    command.add_argument("file", type=Path, help="CDS Hooks request, Bundle or resource list")
    command.add_argument(
        "--as-of", type=date.fromisoformat, default=None, help="evaluation date (YYYY-MM-DD)"
    )
    args = parser.parse_args(argv)
    try:
        document = json.loads(args.file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"cannot read {args.file}: {type(error).__name__}", file=sys.stderr)
        return 2
    as_of: date = args.as_of or date.today()
    print(json.dumps(explain(document, as_of), indent=2, ensure_ascii=False))
    return 0

"""A conservative fast path in front of R4B validation: ``accepts(resource_type, raw)``.

R4B validation (``fhir.resources``) costs 0.1-0.25 ms a resource, nearly all of it in
``fhir_core``'s Python validators, which run for every nested element and walk every
field of its model (an Observation has about a hundred). This module reads the same
models once (their fields, aliases, element types, required elements and choice groups,
from ``model_fields``) and checks a resource by walking only the keys it has.

Contract: ``accepts`` answers True only for a resource that R4B validation accepts too;
it answers False whenever it is not sure, and then the caller validates with R4B as
before, so the data issues reported are the ones R4B validation reports, word for word.
It is a strict subset on purpose:

- only elements by their JSON names (no ``_x`` primitive extensions, no
  ``fhir_comments``, no Python field names), no ``null``, no empty object or list;
- no ``contained`` resources or other ``Resource``-typed elements;
- primitive types: ``boolean``, ``string``, ``code``, ``id``, ``uri``, ``canonical``,
  ``markdown``, ``decimal``, ``integer``, ``unsignedInt``, ``positiveInt``, ``date``,
  ``dateTime``, ``instant``, each checked at least as strictly as ``fhir_core`` does
  (its own patterns, with ASCII-only codes and ids; no leap seconds; at most
  microseconds; years from 1000); any other type is "not sure".

``tests/fhir_mappings/test_quick_check.py`` holds the contract against R4B validation on
every fixture resource and on thousands of mutations of them.
"""

from __future__ import annotations

import importlib
import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from fhir_core import constraints as fhir_constraints
from fhir_core import types as fhir_types
from fhir_core.fhirabstractmodel import FHIRAbstractModel

Check = Callable[[object], bool]


def _never(value: object) -> bool:
    return False


def _boolean(value: object) -> bool:
    return type(value) is bool


_VISIBLE_ASCII = re.compile(r"[!-~]")


def _string(value: object) -> bool:
    # fhir_core: pattern ``[ \r\n\t\S]+`` searched anywhere; one visible ASCII
    # character is enough for it, and is what this check asks.
    return type(value) is str and _VISIBLE_ASCII.search(value) is not None


def _any_text(value: object) -> bool:
    """uri, canonical, markdown: fhir_core's patterns (``\\S*``, ``\\s*(\\S|\\s)*``) match
    every string; a non-empty one is asked here."""
    return type(value) is str and value != ""


_CODE = re.compile(r"[!-~]+(?: [!-~]+)*")


def _code(value: object) -> bool:
    return type(value) is str and _CODE.fullmatch(value) is not None


_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def _id(value: object) -> bool:
    return type(value) is str and _ID.fullmatch(value) is not None


_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def _decimal(value: object) -> bool:
    kind = type(value)
    if kind is float:
        if not math.isfinite(typing.cast(float, value)):
            return False
    elif kind is not int:
        return False
    return _DECIMAL.fullmatch(str(value)) is not None


def _integer(low: int, high: int) -> Check:
    def check(value: object) -> bool:
        return type(value) is int and low <= value <= high

    return check


_TIME_PART = re.compile(r"T\d{2}:\d{2}:(?:[0-5]\d)(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})")


def _full_date(text: str) -> bool:
    try:
        date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return False
    return True


def _calendar(pattern: re.Pattern[str], *, time_required: bool) -> Check:
    """date, dateTime, instant: fhir_core's own pattern, then what its date parser needs."""

    def check(value: object) -> bool:
        if type(value) is not str or pattern.fullmatch(value) is None or value[0] == "0":
            return False
        text = value
        if len(text) in (4, 7):
            return not time_required
        if len(text) == 10:
            return not time_required and _full_date(text)
        if _TIME_PART.fullmatch(text, 10) is None or not _full_date(text):
            return False
        try:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return False
        return True

    return check


def _primitive(meta: object) -> Check:
    kind = type(meta)
    if kind is fhir_types.String:
        return _string
    if kind is fhir_types.Code:
        return _code
    if kind is fhir_types.Id:
        return _id
    if kind in (fhir_types.Uri, fhir_types.Canonical, fhir_types.Markdown):
        return _any_text
    if kind is fhir_types.Decimal:
        return _decimal
    if kind in (fhir_types.Integer, fhir_types.UnsignedInt, fhir_types.PositiveInt):
        bounds = typing.cast(fhir_types.Integer, meta)
        return _integer(bounds.min_length, bounds.max_length)
    if kind is fhir_types.Date:
        return _calendar(fhir_types.Date.pattern, time_required=False)
    if kind is fhir_types.DateTime:
        return _calendar(fhir_types.DateTime.pattern, time_required=False)
    if kind is fhir_types.Instant:
        return _calendar(fhir_types.Instant.pattern, time_required=True)
    return _never


@dataclass(frozen=True, slots=True)
class _Field:
    check: Check
    many: bool


@dataclass(frozen=True, slots=True)
class _Model:
    resource_type: str
    fields: dict[str, _Field]
    required: tuple[str, ...]
    choices: tuple[tuple[tuple[str, ...], bool], ...]
    constrained: bool
    """Some element is required, or some choice group exists."""


def _without_none(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        return rest[0] if len(rest) == 1 else None
    return annotation


def _element_check(annotation: Any) -> Check:
    inner = _without_none(annotation)
    if inner is bool:
        return _boolean
    if typing.get_origin(inner) is typing.Annotated:
        metadata: tuple[Any, ...] = getattr(inner, "__metadata__", ())
        return _primitive(metadata[0]) if len(metadata) == 1 else _never
    if (
        isinstance(inner, type)
        and issubclass(inner, fhir_types.FhirBase)
        and not issubclass(inner, fhir_types.FhirElementOrResourceBase)
    ):
        return _nested(inner.get_model_klass())
    return _never


def _nested(model_class: type[FHIRAbstractModel]) -> Check:
    """The check of an element whose type is a model: the model is read at its first use
    (models refer to each other, so reading them all up front would never end)."""
    read: list[_Model] = []

    def check(value: object) -> bool:
        if not read:
            read.append(_model(model_class))
        return _object_ok(read[0], value)

    return check


def _field(annotation: Any) -> _Field:
    inner = _without_none(annotation)
    if typing.get_origin(inner) is list:
        (item,) = typing.get_args(inner)
        return _Field(_element_check(item), many=True)
    return _Field(_element_check(inner), many=False)


@cache
def _model(model_class: type[FHIRAbstractModel]) -> _Model:
    fields: dict[str, _Field] = {}
    alias_of: dict[str, str] = {}
    required: list[str] = []
    for name, info in model_class.model_fields.items():
        alias = info.alias or name
        alias_of[name] = alias
        if name.endswith("__ext") or alias.startswith("_") or name == "fhir_comments":
            continue
        fields[alias] = _field(info.annotation)
        if info.is_required():
            required.append(alias)
    unbound: Any = None  # both methods return class-level constants
    required.extend(element for element, _ in model_class.get_required_fields(unbound))
    choices = []
    for names in model_class.get_one_of_many_fields(unbound).values():
        extra = model_class.model_fields[names[0]].json_schema_extra
        needed = isinstance(extra, dict) and extra.get("one_of_many_required") is True
        choices.append((tuple(alias_of[n] for n in names), needed))
    return _Model(
        model_class.get_resource_type(),
        fields,
        tuple(required),
        tuple(choices),
        constrained=bool(required or choices),
    )


def _object_ok(model: _Model, value: object, *, resource: bool = False) -> bool:
    if type(value) is not dict or not value:
        return False
    obj = typing.cast(dict[str, object], value)
    fields = model.fields
    for key, item in obj.items():
        spec = fields.get(key)
        if spec is None:
            if resource and key == "resourceType" and item == model.resource_type:
                continue
            return False
        # One element's value: a non-empty list of valid items, or one valid item.
        check = spec.check
        if not spec.many:
            if not check(item):
                return False
        elif type(item) is not list or not item:
            return False
        else:
            for element in typing.cast(list[object], item):
                if not check(element):
                    return False
    return not model.constrained or _cardinality_ok(model, obj)


def _cardinality_ok(model: _Model, obj: dict[str, object]) -> bool:
    """Required elements present; at most one of each choice group, one where required."""
    for element in model.required:
        if element not in obj:
            return False
    for names, needed in model.choices:
        present = sum(1 for name in names if name in obj)
        if present > 1 or (needed and present == 0):
            return False
    return True


def _defaults_in_force() -> bool:
    """The checks above assume fhir_core's default constraints (an id of at most 64
    characters passes its limit; an empty string is not a string)."""
    max_length = fhir_constraints.TYPES_ID_MAX_LENGTH
    return (
        (max_length is None or max_length >= 64)
        and fhir_constraints.TYPES_ID_PATTERN == r"^[A-Za-z0-9\-.]+$"
        and fhir_constraints.TYPES_STRING_ALLOW_EMPTY_STR is False
    )


_ENABLED = _defaults_in_force()


@cache
def _resource_model(resource_type: str) -> _Model:
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    model_class: type[FHIRAbstractModel] = getattr(module, resource_type)
    return _model(model_class)


def accepts(resource_type: str, raw: object) -> bool:
    """True only if R4B validation of ``raw`` as ``resource_type`` succeeds (see the
    module docstring); False when not sure. ``resource_type`` is one of
    ``parse.VALIDATED_TYPES``."""
    if not _ENABLED:
        return False
    try:
        return _object_ok(_resource_model(resource_type), raw, resource=True)
    except RecursionError:  # nested too deeply: R4B validation decides and reports it
        return False

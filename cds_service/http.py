"""Reading request bodies: content type, size, JSON, and wire-model validation.

Each failure raises the matching ``ServiceError`` (415, 413, 400). Validation
messages name the offending field paths and the kind of problem, never the
submitted values, so they are safe to log and to return.

Hostile bodies end as a 400 here, before any other code sees them: invalid UTF-8,
JSON that Python's parser refuses (including integers of more than 4,300 digits,
a ``ValueError`` that is not a ``JSONDecodeError``), ``NaN``, ``Infinity`` and numbers
too large for a float such as ``1e999`` (not JSON, or not representable: a response
that echoes part of the request, such as a draft order in an ``update`` action, would
not be JSON), and nesting deeper than ``MAX_DEPTH`` (the recursive code downstream,
pydantic and FHIR validation among it, is never handed a structure that could exhaust
the stack).

Parsing: orjson (a C parser, 5-10 times faster than ``json`` on FHIR bodies) reads the
body first; it refuses ``NaN``, ``Infinity``, out-of-range floats, invalid UTF-8 and lone
surrogates as ``json`` does here. Whatever it refuses, and any text with a run of 19 or
more digits (where orjson would read an integer beyond 64 bits as a float), is parsed
again by ``json`` exactly as before, so what is accepted, what it reads as and every error
message are those of the standard parser. The digit runs and the nesting depth come from
one pass over the bytes in C (``cds_service._jsonscan``, before the parse), about a fifth
of orjson's time on a hook call's body.
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar

import orjson
from flask import Request
from pydantic import BaseModel, ValidationError

from cds_service._jsonscan import scan
from cds_service.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

JSON_MEDIA_TYPES = frozenset({"application/json", "application/fhir+json"})

MAX_DEPTH = 100
"""Most levels of arrays and objects in a request body. A hook call with prefetch
Bundles needs about 15; deeper is refused with 400."""

_M = TypeVar("_M", bound=BaseModel)


def read_json_object(request: Request, *, max_bytes: int) -> dict[str, Any]:
    """The request body as a JSON object, or a ServiceError (cds-hooks_2.0@1)."""
    if request.mimetype not in JSON_MEDIA_TYPES:
        raise UnsupportedMediaType("Content-Type must be application/json")
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(f"Request body is larger than {max_bytes} bytes")
    raw = request.get_data(cache=False)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"Request body is larger than {max_bytes} bytes")
    deepest, longest_digit_run = scan(raw)
    body = _REFUSED if longest_digit_run >= _LONG_RUN else _orjson_loads(raw)
    try:
        if body is _REFUSED:
            body = _standard_loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("Request body is not valid UTF-8") from None
    except (ValueError, RecursionError):  # JSONDecodeError, long integers, NaN, 1e999
        raise BadRequest("Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    if deepest > MAX_DEPTH:  # exact: the text is JSON (parsed above)
        raise BadRequest(f"Request body is nested more than {MAX_DEPTH} levels deep")
    return body


def strict_json_loads(text: str | bytes) -> Any:
    """JSON as the standard defines it: ``NaN``, ``Infinity`` and numbers that overflow a
    float raise ``ValueError`` like any other malformed JSON (Python accepts them)."""
    parsed = _fast_loads(text)
    return _standard_loads(text) if parsed is _REFUSED else parsed


_REFUSED = object()
"""orjson refused the text, or could read a long integer differently: ``json`` decides."""
_LONG_RUN = 19
"""Digits in a row from which orjson could read an integer as a float (beyond 64 bits)."""


def _fast_loads(text: str | bytes) -> Any:
    """orjson's reading of ``text``, or ``_REFUSED`` (then ``_standard_loads`` decides)."""
    try:
        _, longest_digit_run = scan(text)
    except UnicodeEncodeError:  # a str with a lone surrogate, which orjson refuses too
        return _REFUSED
    return _REFUSED if longest_digit_run >= _LONG_RUN else _orjson_loads(text)


def _orjson_loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return _REFUSED


def _standard_loads(text: str | bytes) -> Any:
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def validate(model: type[_M], data: Any, *, prefix: str = "") -> _M:
    """Validate ``data`` against a wire model; 400 naming the fields that are wrong."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        paths = tuple(_path(prefix, err["loc"]) for err in error.errors(include_input=False))
        problems = "; ".join(
            f"{_path(prefix, err['loc']) or '(body)'}: {_problem(err['type'])}"
            for err in error.errors(include_input=False)
        )
        raise BadRequest(f"Invalid request: {problems}", expression=paths) from None


def _path(prefix: str, loc: tuple[int | str, ...]) -> str:
    parts = [prefix] if prefix else []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        else:
            parts.append(item)
    return ".".join(parts)


_PROBLEMS = {
    "missing": "required",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
    "dict_type": "must be an object",
    "list_type": "must be an array",
    "int_type": "must be an integer",
    "bool_type": "must be a boolean",
    "literal_error": "has a value that is not allowed",
    "enum": "has a value that is not allowed",
    "extra_forbidden": "is not allowed",
    "datetime_from_date_parsing": "must be a date-time",
    "datetime_parsing": "must be a date-time",
    "datetime_type": "must be a date-time",
    "too_short": "must not be empty",
}


def _problem(error_type: str) -> str:
    return _PROBLEMS.get(error_type, "is invalid")

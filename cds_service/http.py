"""Reading request bodies: content type, size, JSON, and wire-model validation.

Each failure raises the matching ``ServiceError`` (415, 413, 400). Validation
messages name the offending field paths and the kind of problem, never the
submitted values, so they are safe to log and to return.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from flask import Request
from pydantic import BaseModel, ValidationError

from cds_service.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

JSON_MEDIA_TYPES = frozenset({"application/json", "application/fhir+json"})

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
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("Request body is not valid UTF-8") from None
    except (json.JSONDecodeError, RecursionError):
        raise BadRequest("Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    return body


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

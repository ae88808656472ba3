"""The README's Configuration table, generated from the settings declaration.

``python -m cds_service settings table`` prints it; ``tests/test_settings_table.py`` fails
when the README between its markers differs.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic.fields import FieldInfo

from cds_service.settings import Accepts, declared_variables


def settings_table() -> str:
    lines = ["| variable | value | default | meaning |", "|---|---|---|---|"]
    for variable, info in declared_variables().items():
        meaning = " ".join((info.description or "").split())  # the docstring, one line
        lines.append(f"| `{variable}` | {_accepts(info)} | {_default(info)} | {meaning} |")
    return "\n".join(lines)


def _accepts(info: FieldInfo) -> str:
    if isinstance(info.annotation, type) and issubclass(info.annotation, Enum):
        return " / ".join(f"`{member.value}`" for member in info.annotation)
    said = [meta.text for meta in info.metadata if isinstance(meta, Accepts)]
    return said[0] if said else "text"


def _default(info: FieldInfo) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    shown = extra.get("shown_default")
    text = str(shown) if shown is not None else _value(info.default)
    development = extra.get("development_default")
    if development is not None:
        text = f"{text} (production); development: {_value(development)}"
    return text


def _value(value: Any) -> str:
    if value is None or value in ((), frozenset()):
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Enum):
        return f"`{value.value}`"
    if isinstance(value, tuple):
        return f"`{','.join(value)}`"
    return f"`{value}`"

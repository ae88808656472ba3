"""``cds_service._jsonscan`` (C) against plain Python references, and what ``cds_service.http``
decides from it: the depth limit and the parser that reads long integers.

The references: the nesting depth of the parsed value, walked recursively; the longest
match of ``[0-9]+`` in the text (bytes, or str read as such). Hypothesis generates JSON
whose strings are made of what a scanner could take for structure (brackets, quotes,
backslashes, digits, non-ASCII), and arbitrary bytes for the digit runs.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder

from cds_service import _jsonscan
from cds_service.errors import BadRequest
from cds_service.http import read_json_object, strict_json_loads

BOUNDED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_TRICKY_TEXT = st.text(alphabet='[]{}"\\/:,0123456789aé\n\u2028\U0001f600', max_size=24)
"""Strings made of what the scanner must not take for structure, digits among them."""
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TRICKY_TEXT
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TRICKY_TEXT, inner, max_size=4),
    max_leaves=40,
)


def _reference_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_reference_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_reference_depth(v) for v in value), default=0)
    return 0


def _reference_digit_run(text: bytes) -> int:
    return max((len(m) for m in re.findall(rb"[0-9]+", text)), default=0)


@BOUNDED
@given(value=_VALUES, ascii_only=st.booleans(), indent=st.sampled_from([None, 0, 2]))
def test_depth_and_digit_run_of_json_text_match_the_references(
    value: Any, ascii_only: bool, indent: int | None
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    expected = (_reference_depth(value), _reference_digit_run(text.encode()))
    assert _jsonscan.scan(text.encode()) == expected
    assert _jsonscan.scan(text) == expected  # a str is read as its UTF-8
    assert _jsonscan.scan(bytearray(text.encode())) == expected
    assert _jsonscan.scan(memoryview(text.encode())) == expected


@BOUNDED
@given(raw=st.binary(max_size=300))
def test_digit_run_of_any_bytes_matches_the_reference(raw: bytes) -> None:
    """Before the parse the text may be anything: the digit run is still exact."""
    assert _jsonscan.scan(raw)[1] == _reference_digit_run(raw)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"", (0, 0)),
        (b"7", (0, 1)),
        (b"[]", (1, 0)),
        (b'{"a": [[1], {"b": []}]}', (4, 1)),
        (b'["[[[", "]]]]]", "{"]', (1, 0)),  # brackets inside strings are text
        (rb'["\"[", "\\", ["x"]]', (2, 0)),  # an escaped quote; an escaped backslash
        (rb'["\\\"[[", 1]', (1, 1)),  # backslash pair, then an escaped quote
        (b'{"n": 12345678901234567890}', (1, 20)),
        (b'["2026-11-29", "123", "4567"]', (1, 4)),
    ],
)
def test_scan_cases(text: bytes, expected: tuple[int, int]) -> None:
    assert _jsonscan.scan(text) == expected


def test_a_str_with_a_lone_surrogate_has_no_utf8_and_is_refused() -> None:
    with pytest.raises(UnicodeEncodeError):
        _jsonscan.scan('["\ud800"]')
    # strict_json_loads then leaves it to the standard parser, as orjson refuses it too.
    assert strict_json_loads('["\ud800"]') == ["\ud800"]


def test_what_is_not_a_buffer_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        _jsonscan.scan(12)  # type: ignore[arg-type]


# --- what cds_service.http decides from the scan -------------------------------------------


def _read(raw: bytes) -> dict[str, Any]:
    request: Any = EnvironBuilder(method="POST", data=raw, content_type="application/json")
    return read_json_object(request.get_request(), max_bytes=len(raw) + 1)


@pytest.mark.parametrize(
    "number",
    [
        9_223_372_036_854_775_807,  # 2**63 - 1: 19 digits, the standard parser reads it
        9_999_999_999_999_999_999,  # 19 digits, beyond 64 bits signed
        18_446_744_073_709_551_617,  # 2**64 + 1
        10**40 + 1,
        -(10**30) - 7,
    ],
)
def test_integers_beyond_orjson_are_read_exactly(number: int) -> None:
    """A run of 19 digits or more goes to ``json``, which reads the integer exactly (orjson
    would read some of these as floats and lose the last digits)."""
    raw = json.dumps({"n": number, "s": "x"}).encode()
    assert _read(raw)["n"] == number
    assert strict_json_loads(raw)["n"] == number
    assert strict_json_loads(raw.decode())["n"] == number


def test_digits_inside_a_string_do_not_change_what_is_read() -> None:
    raw = json.dumps({"id": "1" * 40, "n": 5}).encode()
    assert _read(raw) == {"id": "1" * 40, "n": 5}


@pytest.mark.parametrize("inside_strings", [0, 150])
def test_brackets_inside_strings_do_not_count_towards_the_limit(inside_strings: int) -> None:
    value: Any = {"text": "[" * inside_strings, "list": [[["{" * inside_strings]]]}
    assert _read(json.dumps(value).encode()) == value


def test_one_level_over_the_limit_even_after_escapes_is_refused() -> None:
    nested: Any = '\\"'
    for _ in range(101):
        nested = [nested]
    with pytest.raises(BadRequest, match="nested more than 100 levels"):
        _read(json.dumps({"a": nested}).encode())

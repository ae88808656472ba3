"""The stored request fixtures are what ``tests/rules/make_fixtures.py`` builds.

The golden fixtures (``tests/rules/fixtures``) and the vignettes (``tests/vignettes``) are
built again in memory and compared with the stored files, byte for byte: a hand edit of
a stored file, or a change of the builder not written out, fails here with the file's
name and a diff. The fix is ``.venv/bin/python -m tests.rules.make_fixtures``.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from tests.rules.make_fixtures import FIXTURES, VIGNETTES, expected_files

REPOSITORY = Path(__file__).resolve().parents[2]
EXPECTED = expected_files()
REGENERATE = "run `.venv/bin/python -m tests.rules.make_fixtures` and review `git diff`"
DIFF_LINES = 40


def short_diff(path: Path, stored: str, built: str) -> str:
    name = str(path.relative_to(REPOSITORY))
    lines = list(
        difflib.unified_diff(
            stored.splitlines(keepends=True),
            built.splitlines(keepends=True),
            f"{name} (stored)",
            f"{name} (built by make_fixtures)",
            n=2,
        )
    )
    cut = [f"... {len(lines) - DIFF_LINES} more diff lines\n"] if len(lines) > DIFF_LINES else []
    return "".join(lines[:DIFF_LINES] + cut)


@pytest.mark.parametrize(
    "path", sorted(EXPECTED), ids=[str(p.relative_to(REPOSITORY)) for p in sorted(EXPECTED)]
)
def test_stored_fixture_is_what_the_builder_builds(path: Path) -> None:
    if not path.exists():
        pytest.fail(f"{path.relative_to(REPOSITORY)} is missing: {REGENERATE}", pytrace=False)
    stored, built = path.read_text(), EXPECTED[path]
    if stored != built:
        pytest.fail(
            f"{path.relative_to(REPOSITORY)} drifted from its builder; {REGENERATE}\n"
            + short_diff(path, stored, built),
            pytrace=False,
        )


def test_every_stored_fixture_has_a_builder() -> None:
    stored = {*FIXTURES.glob("*.json"), *VIGNETTES.glob("*.json")}
    orphans = sorted(str(p.relative_to(REPOSITORY)) for p in stored - set(EXPECTED))
    assert orphans == [], f"stored fixtures that make_fixtures does not build: {orphans}"


def test_the_diff_names_the_file_and_shows_the_change() -> None:
    path = next(iter(sorted(EXPECTED)))
    built = EXPECTED[path]
    stored = built.replace('"hook": ', '"hook":  ', 1)
    diff = short_diff(path, stored, built)
    assert f"{path.relative_to(REPOSITORY)} (stored)" in diff
    assert '-  "hook":  ' in diff
    assert '+  "hook": ' in diff

"""The README's conformance table is the one the tests' claims generate."""

from __future__ import annotations

from tests.conformance import README, readme_section, table


def test_readme_conformance_table_is_current() -> None:
    assert readme_section(README.read_text(encoding="utf-8")) == table(), (
        "README conformance table is stale: run `.venv/bin/python -m tests.conformance`"
    )


def test_discovery_and_412_requirements_are_claimed_by_tests() -> None:
    assert "| 4 |" in table()
    assert "| 54 |" in table()

"""The README's rule table is the one generated from the registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cds_service.rules.table import rules_table
from tests.rules.test_registry import SPEC_RULES

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- rules-table:start -->", "<!-- rules-table:end -->"


def readme_section() -> str:
    text = README.read_text()
    return text[text.index(START) + len(START) : text.index(END)].strip()


def test_readme_rule_table_matches_the_registry() -> None:
    assert readme_section() == rules_table(), (
        "README rule table is stale: paste the output of `python -m cds_service.rules table`"
    )


def test_table_lists_every_rule_once() -> None:
    rows = [line for line in rules_table().splitlines() if line.startswith("| `")]
    assert len(rows) == len(SPEC_RULES)
    assert rows[0].startswith("| `test-broad-ngs` | PV, OS, SG | info / warning | [S] |")
    assert "| `hepatic-tki` | PV, OS, SG | info / warning / critical | [L][?] |" in "\n".join(rows)
    assert rows[-1].startswith("| `order-drug-not-identified` | OS, SG | warning | [E] |")


def test_command_prints_the_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cds_service.rules", "table"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == rules_table()

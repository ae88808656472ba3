"""The README's conformance table, built from the tests that name requirement numbers.

A test claims a CDS Hooks 2.0 requirement by writing ``cds-hooks_2.0@N`` in its
docstring (or its module's). ``python -m tests.conformance`` rewrites the README
section; ``test_conformance_table.py`` fails when the README is out of date.
"""

from __future__ import annotations

import ast
import csv
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "tests" / "spec" / "cds-hooks-2.0-service-requirements.csv"
README = ROOT / "README.md"
START, END = "<!-- conformance:start -->", "<!-- conformance:end -->"
CLAIM = re.compile(r"cds-hooks_2\.0@(\d+)(?:-@?(\d+))?")


def requirement_texts() -> dict[int, str]:
    with REQUIREMENTS.open(newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle)
        return {int(row["ID"]): " ".join(row["Requirement"].split()) for row in rows}


def claims() -> dict[int, list[str]]:
    """Requirement number -> the tests that claim it, as ``file::function``."""
    found: dict[int, list[str]] = defaultdict(list)
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module_doc = ast.get_docstring(tree) or ""
        relative = path.relative_to(ROOT).as_posix()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                doc = ast.get_docstring(node) or ""
                for number in _numbers(doc):
                    found[number].append(f"{relative}::{node.name}")
        for number in _numbers(module_doc):
            if not found.get(number):
                found[number].append(relative)
    return found


def _numbers(text: str) -> set[int]:
    numbers: set[int] = set()
    for first, last in CLAIM.findall(text):
        numbers.update(range(int(first), int(last or first) + 1))
    return numbers


def table() -> str:
    texts = requirement_texts()
    lines = ["| req | requirement | shown by |", "|---|---|---|"]
    for number, tests in sorted(claims().items()):
        if number not in texts:
            continue
        text = texts[number].replace("|", "/")
        short = text if len(text) <= 110 else text[:107] + "..."
        shown = "<br>".join(f"`{test}`" for test in tests[:3])
        lines.append(f"| {number} | {short} | {shown} |")
    return "\n".join(lines)


def readme_section(text: str) -> str:
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def main() -> int:
    text = README.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{table()}\n{END}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

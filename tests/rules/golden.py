"""The golden answers: each request fixture answered by the real app, and the command
that rewrites them.

    .venv/bin/python -m tests.rules.golden update    # rewrite, print every change
    .venv/bin/python -m tests.rules.golden check     # print the changes, write nothing
    make golden                                      # the same as update

Fixtures (``tests/rules/fixtures``, written by ``make_fixtures``) are CDS Hooks requests
with the FHIR record in ``prefetch``; the whole response to each is stored in
``tests/rules/golden/<name>.json``. ``update`` prints a unified diff of every golden file
it adds, changes or removes, then a count of each; review it (and ``git diff``) before
committing. ``tests/rules/test_golden.py`` only compares: it never writes a golden file.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from tests.conftest import suite_app, suite_settings
from tests.requests import with_empty_adverse_events

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parents[1]
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
UPDATE_COMMAND = ".venv/bin/python -m tests.rules.golden update"

SERVICE = {
    "patient-view": "her2-nsclc-patient-view",
    "order-select": "her2-nsclc-order-select",
    "order-sign": "her2-nsclc-order-sign",
}


def fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


@contextmanager
def golden_client() -> Iterator[FlaskClient]:
    """A test client of the real app, set up as the test suite's (``tests/conftest.py``)."""
    with (
        tempfile.TemporaryDirectory(prefix="golden-") as workdir,
        suite_app(suite_settings(Path(workdir))) as app,
    ):
        yield app.test_client()


def answer(client: FlaskClient, fixture: Path) -> dict[str, Any]:
    """The app's answer to the fixture's request (the adverse events key filled in)."""
    request = with_empty_adverse_events(json.loads(fixture.read_text()))
    response = client.post(f"/cds-services/{SERVICE[request['hook']]}", json=request)
    body = response.get_json()
    if response.status_code != 200 or not isinstance(body, dict):
        raise AssertionError(f"{fixture.name}: HTTP {response.status_code} {body}")
    return body


def render(body: dict[str, Any]) -> str:
    """A golden file's text."""
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def same(stored: str, body: dict[str, Any]) -> bool:
    """Whether a golden file holds this answer (as JSON: the order of keys is not compared,
    so a file is rewritten only when the answer changed)."""
    held: object = json.loads(stored)
    return held == body


def diff(name: str, stored: str | None, answered: str | None) -> str:
    """A unified diff from the stored golden file to the app's answer (None: no file)."""
    path = (
        f"{GOLDEN.relative_to(REPOSITORY) if GOLDEN.is_relative_to(REPOSITORY) else GOLDEN}/{name}"
    )
    return "".join(
        difflib.unified_diff(
            (stored or "").splitlines(keepends=True),
            (answered or "").splitlines(keepends=True),
            f"{path} (stored)" if stored is not None else "/dev/null",
            f"{path} (answered)" if answered is not None else "/dev/null",
        )
    )


@dataclass(frozen=True, slots=True)
class Change:
    name: str
    stored: str | None
    """The golden file's text, None when there is none."""
    answered: str | None
    """The app's answer, None for a golden file without a fixture."""

    @property
    def kind(self) -> str:
        if self.stored is None:
            return "added"
        return "removed" if self.answered is None else "changed"


def changes() -> tuple[list[Change], int]:
    """Every golden file that differs from the app's answer (or has no fixture), and how
    many are unchanged."""
    found: list[Change] = []
    unchanged = 0
    with golden_client() as client:
        for fixture in fixtures():
            golden = GOLDEN / fixture.name
            stored = golden.read_text() if golden.exists() else None
            body = answer(client, fixture)
            if stored is not None and same(stored, body):
                unchanged += 1
            else:
                found.append(Change(fixture.name, stored, render(body)))
    answered_names = {f.name for f in fixtures()}
    for orphan in sorted(GOLDEN.glob("*.json")):
        if orphan.name not in answered_names:
            found.append(Change(orphan.name, orphan.read_text(), None))
    return found, unchanged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.rules.golden", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "command",
        choices=("update", "check"),
        help="update: rewrite the golden files; check: only print what update would change",
    )
    args = parser.parse_args(argv)
    found, unchanged = changes()
    for change in found:
        sys.stdout.write(diff(change.name, change.stored, change.answered))
        if args.command == "update":
            golden = GOLDEN / change.name
            if change.answered is None:
                golden.unlink()
            else:
                GOLDEN.mkdir(exist_ok=True)
                golden.write_text(change.answered)
    counts = {kind: sum(c.kind == kind for c in found) for kind in ("added", "changed", "removed")}
    verb = "" if args.command == "update" else " (would be; nothing written)"
    print(
        f"golden files: {counts['added']} added, {counts['changed']} changed, "
        f"{counts['removed']} removed{verb}, {unchanged} unchanged"
    )
    return 1 if args.command == "check" and found else 0


if __name__ == "__main__":
    sys.exit(main())

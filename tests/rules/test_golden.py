"""Golden files: each request fixture, answered by the real app, against its stored cards.

Fixtures (``tests/rules/fixtures``) are CDS Hooks requests with the FHIR record in
``prefetch``, named ``<rule-id>__fires__<scenario>`` or ``<rule-id>__silent__<scenario>``
(``none__silent__...``: no card at all); ``make_fixtures.py`` writes them. The whole
response is compared with ``tests/rules/golden/<name>.json``. This test never writes a
golden file: after a deliberate change, rewrite them with the command that prints every
change (``tests/rules/golden.py``), and review its diff:

    .venv/bin/python -m tests.rules.golden update
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds_service.selfcheck import check_response
from tests.rules import golden
from tests.rules.golden import (
    GOLDEN,
    REPOSITORY,
    UPDATE_COMMAND,
    answer,
    diff,
    fixtures,
    golden_client,
    render,
    same,
)

FIXTURES = fixtures()


@pytest.fixture(scope="module")
def client() -> Iterator[FlaskClient]:
    """The app the update command answers with (``tests.rules.golden.golden_client``)."""
    with golden_client() as client:
        yield client


def topics(body: dict[str, Any]) -> list[str]:
    return [card["source"]["topic"]["code"] for card in body["cards"]]


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_golden(client: FlaskClient, fixture: Path) -> None:
    rule_id, verdict, _scenario = fixture.stem.split("__")
    body = answer(client, fixture)

    assert check_response(body) == []
    if rule_id == "none":
        assert body["cards"] == []
    elif verdict == "fires":
        assert rule_id in topics(body)
    else:
        assert verdict == "silent"
        assert rule_id not in topics(body)

    golden = GOLDEN / fixture.name
    where = golden.relative_to(REPOSITORY)
    if not golden.exists():
        pytest.fail(f"{where} is missing: run `{UPDATE_COMMAND}` and review it", pytrace=False)
    stored = golden.read_text()
    if not same(stored, body):
        pytest.fail(
            f"{where} differs from the app's answer; if the change is deliberate, run "
            f"`{UPDATE_COMMAND}` and review its diff\n{diff(fixture.name, stored, render(body))}",
            pytrace=False,
        )


def test_every_rule_fires_in_a_golden_fixture_and_has_a_silent_one() -> None:
    from cds_service.rules import REGISTRY

    names = [f.stem.split("__") for f in FIXTURES]
    for rule in REGISTRY:
        assert [rule.id, "fires"] in [n[:2] for n in names], rule.id
        assert [rule.id, "silent"] in [n[:2] for n in names], rule.id


def test_no_orphan_golden_files() -> None:
    assert {g.name for g in GOLDEN.glob("*.json")} <= {f.name for f in FIXTURES}


def test_the_update_command_prints_each_change_and_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``make golden`` on a copy: one golden edited by hand, one missing, one orphan."""
    fixtures_dir, golden_dir = tmp_path / "fixtures", tmp_path / "golden"
    fixtures_dir.mkdir()
    golden_dir.mkdir()
    edited, missing, kept = FIXTURES[:3]
    for fixture in (edited, missing, kept):
        (fixtures_dir / fixture.name).write_text(fixture.read_text())
    for fixture in (edited, kept):
        (golden_dir / fixture.name).write_text((GOLDEN / fixture.name).read_text())
    text = (golden_dir / edited.name).read_text()
    (golden_dir / edited.name).write_text(text.replace('"summary": "', '"summary": "EDITED ', 1))
    (golden_dir / "orphan.json").write_text("{}\n")
    monkeypatch.setattr(golden, "FIXTURES", fixtures_dir)
    monkeypatch.setattr(golden, "GOLDEN", golden_dir)

    assert golden.main(["check"]) == 1
    checked = capsys.readouterr().out
    assert (golden_dir / edited.name).read_text() != (GOLDEN / edited.name).read_text()
    assert not (golden_dir / missing.name).exists()

    assert golden.main(["update"]) == 0
    updated = capsys.readouterr().out
    assert checked.replace(" (would be; nothing written)", "") == updated
    assert '-      "summary": "EDITED ' in updated
    assert f"+++ {golden_dir}/{missing.name} (answered)" in updated
    assert f"--- {golden_dir}/orphan.json (stored)" in updated
    assert updated.endswith("golden files: 1 added, 1 changed, 1 removed, 1 unchanged\n")
    for fixture in (edited, missing, kept):
        assert (golden_dir / fixture.name).read_text() == (GOLDEN / fixture.name).read_text()
    assert not (golden_dir / "orphan.json").exists()
    assert golden.main(["check"]) == 0

"""The interplay table (``cds_service.rules.interplay``): every rule id it names is a
registered rule, the rules silence only through it, ``arrange`` honours only its pairs,
and the README shows it."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from cds_service.rules import REGISTRY, arrange, interplay, rules_for
from cds_service.rules.interplay import (
    INTERPLAY,
    OFF_LABEL_TDXD_VUS,
    Silencing,
    interplay_table,
    silences,
)
from cds_service.rules.situation import Situation
from cds_service.settings import ClinicalSettings
from fhir_mappings.model import Drug, Her2Status
from tests.rules.patients import SG, VUS, exon20_after_platinum, order

ROOT = Path(__file__).resolve().parents[2]
RULES_PACKAGE = ROOT / "cds_service" / "rules"
README = ROOT / "README.md"
START, END = "<!-- interplay-table:start -->", "<!-- interplay-table:end -->"


def unknown_rule_ids(entries: Iterable[Silencing], registered: set[str]) -> list[str]:
    """Rule ids named by ``entries`` (silencing or silenced) that no rule registers."""
    named = [rule_id for e in entries for rule_id in (e.card, *e.silenced)]
    return sorted({r for r in named if r not in registered})


def test_every_rule_id_in_the_interplay_table_is_a_registered_rule() -> None:
    assert unknown_rule_ids(INTERPLAY, {r.id for r in REGISTRY}) == []


def test_a_rule_id_the_registry_does_not_hold_is_reported() -> None:
    """A removed rule left in the table (as `gi-sevabertinib` once was in a list) is caught."""
    stale = Silencing("seq-tki-after-tki", ("gi-sevabertinib",), "stale")
    assert unknown_rule_ids((*INTERPLAY, stale), {r.id for r in REGISTRY}) == ["gi-sevabertinib"]


def test_no_silencing_is_listed_twice_and_no_rule_silences_itself() -> None:
    pairs = [(e.card, s) for e in INTERPLAY for s in e.silenced]
    assert len(pairs) == len(set(pairs))
    assert all(card != silenced for card, silenced in pairs)
    assert all(e.why and e.when for e in INTERPLAY)


def _supersedes_expressions(tree: ast.Module) -> list[ast.expr]:
    """Every value given to ``supersedes`` (a keyword argument or an assigned name)."""
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "supersedes":
            found.append(node.value)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "supersedes" for t in targets):
                assert node.value is not None
                found.append(node.value)
    return found


def _registered_ids(tree: ast.Module) -> set[str]:
    """The rule ids a module registers (``@rule("<id>", ...)``)."""
    return {
        d.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        for d in node.decorator_list
        if isinstance(d, ast.Call)
        and isinstance(d.func, ast.Name)
        and d.func.id == "rule"
        and d.args
        and isinstance(d.args[0], ast.Constant)
        and isinstance(d.args[0].value, str)
    }


RULE_MODULES = sorted(p for p in RULES_PACKAGE.glob("*.py") if p.name != "interplay.py")


def test_rules_name_the_cards_they_silence_only_through_the_table() -> None:
    """No rule module lists rule ids to silence by hand: each ``supersedes`` value is built
    by ``silences(...)`` from the table's entries, with no string in it."""
    for path in RULE_MODULES:
        for value in _supersedes_expressions(ast.parse(path.read_text())):
            names = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
            strings = [n.value for n in ast.walk(value) if isinstance(n, ast.Constant)]
            where = f"{path.name}:{value.lineno}"
            assert "silences" in names or strings == [], where
            assert not any(isinstance(s, str) for s in strings), where


def test_each_table_entry_is_used_by_the_module_of_its_silencing_rule() -> None:
    named = {id(e): name for name, e in vars(interplay).items() if isinstance(e, Silencing)}
    used_by: dict[str, set[str]] = {}
    for path in RULE_MODULES:
        tree = ast.parse(path.read_text())
        registered = _registered_ids(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                used_by.setdefault(node.id, set()).update(registered)
    for e in INTERPLAY:
        assert e.card in used_by.get(named[id(e)], set()), named[id(e)]


def test_arrange_honours_only_the_pairs_of_the_table() -> None:
    """A card naming a rule the table does not let it silence silences nothing."""
    patient = exon20_after_platinum(
        her2=Her2Status(mutations=(VUS,)),
        draft_orders=(order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=5.4),),
    )
    settings = ClinicalSettings()
    situation = Situation(patient, SG, settings)
    raw = [f for r in rules_for(SG, settings) for f in r.conclude(situation)]
    [off_label] = [f for f in raw if f.rule_id == "seq-off-label-tdxd"]
    assert off_label.supersedes == silences(OFF_LABEL_TDXD_VUS) == ("test-vus",)
    assert "test-vus" in [f.rule_id for f in raw]
    assert "test-vus" not in [f.rule_id for f in arrange(raw)]

    not_in_table = replace(off_label, rule_id="dose-tdxd")
    others = [f for f in raw if f is not off_label]
    assert "test-vus" in [f.rule_id for f in arrange([*others, not_in_table])]


def readme_section() -> str:
    text = README.read_text()
    return text[text.index(START) + len(START) : text.index(END)].strip()


def test_readme_interplay_table_matches_the_module() -> None:
    assert readme_section() == interplay_table(), (
        "README interplay table is stale: paste the output of "
        "`python -m cds_service.rules interplay`"
    )


def test_command_prints_the_interplay_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cds_service.rules", "interplay"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == interplay_table()

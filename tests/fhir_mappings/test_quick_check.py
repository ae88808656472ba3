"""``quick_check.accepts`` against R4B validation: whatever the fast path accepts, R4B
validation accepts too (so the data issues reported cannot change), on every resource of
the repository's JSON fixtures and on seeded mutations of each; the patient model, data
issues included, is the same with and without it; and the fast path does accept the
ordinary resources the mapping validates (so it is worth having)."""

from __future__ import annotations

import copy
import importlib
import json
import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pydantic
import pytest

from demo.patients import benchmark_record
from fhir_mappings import parse, quick_check
from fhir_mappings.build import build_patient
from fhir_mappings.explain import read_input
from fhir_mappings.model import PatientModel
from tests.fhir_mappings.support import AS_OF, all_fixture_names, fixture

TESTS = Path(__file__).resolve().parent.parent


def _resources(value: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object with a validated ``resourceType`` inside ``value``."""
    if isinstance(value, dict):
        if value.get("resourceType") in parse.VALIDATED_TYPES:
            yield value
        for item in value.values():
            yield from _resources(item)
    elif isinstance(value, list):
        for item in value:
            yield from _resources(item)


def _fixture_resources() -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(TESTS.rglob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        for resource in _resources(document):
            for candidate in (resource, parse.project(resource)):
                found.setdefault(json.dumps(candidate, sort_keys=True), candidate)
    return list(found.values())


FIXTURES = _fixture_resources()


def _r4b_accepts(resource: dict[str, Any]) -> bool:
    resource_type = resource["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    try:
        getattr(module, resource_type).model_validate(resource)
    except (pydantic.ValidationError, ValueError, TypeError, KeyError, AttributeError):
        return False
    return True


_REPLACEMENTS: tuple[Any, ...] = (
    None, "", " ", "x", "x  y", " x", "final", "2024", "2024-13", "2024-02-30", "2024-05-01",
    "2024-05-01T10:00:00", "2024-05-01T10:00:00Z", "2024-05-01T10:00:60Z",
    "2024-05-01T24:00:00Z", "2024-05-01T10:00:00.1234567+02:00", "0999-01-01", 0, -1, 1.5,
    float("nan"), 10**20, True, [], {}, [None], [{}], {"text": "x"}, [{"text": "x"}],
    {"reference": "Patient/1"}, {"value": 1, "unit": "mg"}, {"coding": [{"code": "x"}]},
    "\u00a0", "caf\u00e9", "a\nb", "urn:oid:1.2",
)  # fmt: skip


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from _paths(item, (*prefix, index))


def _mutants(resource: dict[str, Any], rng: random.Random) -> Iterator[dict[str, Any]]:
    paths = [p for p in _paths(resource) if p != ("resourceType",)]
    for path in rng.sample(paths, min(len(paths), 12)):
        *head, last = path
        for action in ("delete", "replace", "replace", "wrap", "unwrap", "extra"):
            mutant = copy.deepcopy(resource)
            parent: Any = mutant
            for step in head:
                parent = parent[step]
            if action == "delete":
                del parent[last]
            elif action == "replace":
                parent[last] = copy.deepcopy(rng.choice(_REPLACEMENTS))
            elif action == "wrap":
                parent[last] = [parent[last]]
            elif action == "unwrap":
                if not (isinstance(parent[last], list) and parent[last]):
                    continue
                parent[last] = parent[last][0]
            elif isinstance(parent[last], dict):
                parent[last][rng.choice(("foo", "_value", "resourceType", "extension"))] = "x"
            else:
                continue
            yield mutant


def test_the_fixtures_hold_resources_of_every_family() -> None:
    types = {r["resourceType"] for r in FIXTURES}
    assert {"Observation", "Condition", "MedicationRequest", "MedicationStatement"} <= types
    assert len(FIXTURES) > 200


def test_a_resource_accepted_quickly_passes_r4b_validation() -> None:
    accepted = 0
    for resource in FIXTURES:
        if quick_check.accepts(resource["resourceType"], resource):
            accepted += 1
            assert _r4b_accepts(resource), resource
    assert accepted > len(FIXTURES) // 2


@pytest.mark.parametrize("seed", range(3))
def test_a_mutated_resource_accepted_quickly_passes_r4b_validation(seed: int) -> None:
    rng = random.Random(seed)
    checked = rejected_by_r4b = accepted_quickly = 0
    for resource in rng.sample(FIXTURES, min(len(FIXTURES), 80)):
        for mutant in _mutants(resource, rng):
            checked += 1
            r4b = _r4b_accepts(mutant)
            rejected_by_r4b += not r4b
            if quick_check.accepts(mutant["resourceType"], mutant):
                accepted_quickly += 1
                assert r4b, mutant
    assert checked > 1000
    assert rejected_by_r4b > checked // 10  # the mutations reach what R4B rejects
    assert accepted_quickly > checked // 10  # and what the fast path accepts


def test_the_benchmark_record_is_accepted_quickly() -> None:
    """The resources the mapping validates on a typical record take the fast path."""
    record = benchmark_record(200, today=date(2026, 11, 29))
    resources = [parse.project(r) for r in _resources(list(record.resources))]
    assert resources
    assert all(quick_check.accepts(r["resourceType"], r) for r in resources)


@pytest.mark.parametrize(
    ("element", "value"),
    [
        ("status", "final "),
        ("status", ""),
        ("effectiveDateTime", "2024-05-01T10:00:00"),
        ("effectiveDateTime", "2023-02-29"),
        ("valueQuantity", {"value": float("inf")}),
        ("valueString", "  "),
        ("note", {"text": "a lone object"}),
        ("_status", {"extension": []}),
        ("contained", [{"resourceType": "Medication", "id": "m"}]),
    ],
)
def test_not_sure_is_left_to_r4b(element: str, value: Any) -> None:
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    }
    assert quick_check.accepts("Observation", observation)
    assert not quick_check.accepts("Observation", {**observation, element: value})


def test_two_values_of_one_choice_are_left_to_r4b() -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "heart rate"},
        "valueString": "60",
        "valueInteger": 60,
    }
    assert not quick_check.accepts("Observation", observation)
    assert not _r4b_accepts(observation)


def test_a_missing_required_element_is_left_to_r4b() -> None:
    observation = {"resourceType": "Observation", "code": {"text": "heart rate"}}
    assert not quick_check.accepts("Observation", observation)
    assert not _r4b_accepts(observation)


def _models(given: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[PatientModel, PatientModel]:
    """The patient model of ``given`` with the fast path, then with R4B validation only."""

    def build() -> PatientModel:
        return build_patient(
            given.resources,
            as_of=AS_OF,
            draft_orders=given.draft_orders,
            selections=given.selections,
            unavailable_data=given.unavailable_data,
        )

    fast = build()
    with monkeypatch.context() as patched:
        patched.setattr(quick_check, "_ENABLED", False)
        slow = build()
    return fast, slow


@pytest.mark.parametrize("name", all_fixture_names())
def test_the_patient_model_is_the_same_without_the_fast_path(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data issues included, on the fixture and on mutations of each resource it holds."""
    document = fixture(name)
    fast, slow = _models(read_input(document), monkeypatch)
    assert fast == slow
    rng = random.Random(name)
    targets = list(_resources(document))
    for target in rng.sample(targets, min(len(targets), 6)):
        for mutant in _mutants(target, rng):
            original = dict(target)
            target.clear()
            target.update(mutant)
            try:
                fast, slow = _models(read_input(copy.deepcopy(document)), monkeypatch)
            finally:
                target.clear()
                target.update(original)
            assert fast == slow, mutant


@pytest.mark.parametrize(
    "code",
    [
        {"coding": [{"system": "http://loinc.org", "code": ["1742-6"]}]},
        {"coding": [{"system": "http://loinc.org", "code": {"value": "88020-3"}}]},
        {"coding": 5},
    ],
)
def test_a_malformed_code_matches_nothing_and_raises_nothing(code: dict[str, Any]) -> None:
    """Found by the mutations above: such codes raised ``TypeError`` in the pre-filters (a
    500 for the hook call) before they were read as codes of no known meaning."""
    observation = {
        "resourceType": "Observation",
        "id": "odd-code",
        "status": "final",
        "code": code,
        "valueQuantity": {"value": 24.0, "unit": "U/L"},
    }
    model = build_patient([observation], as_of=AS_OF)
    assert model.measurements == ()

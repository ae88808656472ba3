"""Each resource once, in the order received: prefetch resolution and staged merging.

``resolve`` reads each search's entries once, noting the resources' identities (type and
id) on the way, and takes a key whole when it shares no identity with the keys before
it; ``scope``'s merge of the stages does the same. These tests hold the result to the
plain rule, written out here: every key's entries (without ``search.mode`` ``outcome``
entries and informational OperationOutcomes) in template order, then the first of the
resources sharing a type and id -- whatever junk, repeats or filtered resources the keys
hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.prefetch import (
    FetchStats,
    PrefetchResolver,
    PrefetchTemplate,
    ResolvedData,
    _gather,
    _gather_usual,
    unique_union,
)
from cds_service.scope import _merge
from cds_service.settings import Settings
from cds_service.wire import HookRequest
from demo.fhir_server import Reply, ScriptedFhirServer
from tests.requests import patient_view

PATIENT_ID = "unique-1"
KEYS = ("k0", "k1", "k2", "k3")
TEMPLATES = tuple(
    PrefetchTemplate(key, "Observation?patient={{context.patientId}}", required=False)
    for key in KEYS
)
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def request(prefetch: dict[str, Any], fhir_server: str | None = None) -> HookRequest:
    return patient_view(PATIENT_ID, prefetch, fhir_server=fhir_server)


@pytest.fixture(scope="module")
def resolver() -> Iterator[PrefetchResolver]:
    with PrefetchResolver(Settings(fhir_deadline_s=3.0, fhir_request_timeout_s=2.0)) as made:
        yield made


# --- The plain rule ---------------------------------------------------------------------


def identity(resource: Any) -> tuple[str, str] | None:
    if type(resource) is dict:
        kind, ident = resource.get("resourceType"), resource.get("id")
        if type(kind) is str and type(ident) is str and kind and ident:
            return kind, ident
    return None


def first_of_each(resources: list[Any]) -> list[Any]:
    seen: set[tuple[str, str]] = set()
    kept = []
    for resource in resources:
        key = identity(resource)
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        kept.append(resource)
    return kept


def is_outcome(resource: Any) -> bool:
    return type(resource) is dict and resource.get("resourceType") == "OperationOutcome"


def failed(outcome: dict[str, Any]) -> bool:
    issues = outcome.get("issue")
    return isinstance(issues, list) and any(
        isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in issues
    )


def key_resources(value: Any) -> list[Any] | None:
    """A prefetched Bundle's resources as the resolver keeps them; None: the key fails."""
    entries = value.get("entry")
    if entries is None:
        entries = []
    resources = [*entry_resources(entries)] if isinstance(entries, list) else [entries]
    outcomes = [r for r in resources if is_outcome(r)]
    if any(failed(o) for o in outcomes):
        return None
    return [r for r in resources if not is_outcome(r)]


def entry_resources(entries: list[Any]) -> Iterator[Any]:
    """Each entry's resource (none for a search outcome entry); junk as it is."""
    for entry in entries:
        if isinstance(entry, dict) and "resource" in entry:
            search = entry.get("search")
            if not (isinstance(search, dict) and search.get("mode") == "outcome"):
                yield entry["resource"]
        else:
            yield entry


# --- Generated prefetch ---------------------------------------------------------------------

JUNK: st.SearchStrategy[Any] = st.sampled_from(["text", 3, None, [], {}])
KINDS = st.sampled_from(["Observation", "Condition", "", 5])
IDS = st.sampled_from(["a", "b", "c", "", 1, True, 1.0, None])
"""Ids that are not strings, and some equal to each other (1, True, 1.0): no identity."""
USUAL_RESOURCES = st.fixed_dictionaries({"resourceType": KINDS, "id": IDS})
RESOURCES = st.one_of(
    USUAL_RESOURCES,
    st.fixed_dictionaries({"resourceType": st.just("Observation")}),
    st.fixed_dictionaries(
        {
            "resourceType": st.just("OperationOutcome"),
            "id": st.sampled_from(["a", "oo"]),
            "issue": st.lists(
                st.fixed_dictionaries({"severity": st.sampled_from(["warning", "error"])}),
                max_size=1,
            ),
        }
    ),
    JUNK,
)
SEARCHES: st.SearchStrategy[Any] = st.one_of(
    st.fixed_dictionaries({"mode": st.sampled_from(["match", "include", "outcome"])}),
    st.sampled_from([None, {}, "match", ["match"]]),
)
ENTRIES = st.one_of(
    st.builds(lambda r: {"resource": r}, RESOURCES),
    st.builds(lambda r, search: {"resource": r, "search": search}, RESOURCES, SEARCHES),
    st.just({"fullUrl": "urn:uuid:no-resource"}),
    st.just({"fullUrl": "urn:uuid:no-resource", "search": {"mode": "outcome"}}),
    JUNK,
)
USUAL_ENTRIES = st.builds(
    lambda r, mode: {"resource": r, "search": {"mode": mode}},
    USUAL_RESOURCES,
    st.sampled_from(["match", "include"]),
)
BUNDLES = st.one_of(
    st.builds(lambda entries: {"resourceType": "Bundle", "entry": entries}, st.lists(ENTRIES)),
    st.builds(
        lambda entries: {"resourceType": "Bundle", "entry": entries}, st.lists(USUAL_ENTRIES)
    ),
    st.just({"resourceType": "Bundle"}),
    st.builds(lambda entry: {"resourceType": "Bundle", "entry": entry}, RESOURCES),
)


def copied(value: Any) -> Any:
    """A copy of the JSON value: the same resource twice is two equal objects, as parsed."""
    if isinstance(value, dict):
        return {k: copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copied(v) for v in value]
    return value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(BUNDLES, min_size=1, max_size=len(KEYS)))
def test_resolve_keeps_the_first_of_each_resource_in_template_order(
    resolver: PrefetchResolver, bundles: list[dict[str, Any]]
) -> None:
    prefetch = {key: copied(bundle) for key, bundle in zip(KEYS, bundles, strict=False)}
    data = resolver.resolve(request(prefetch), TEMPLATES[: len(bundles)])
    per_key = {key: key_resources(value) for key, value in prefetch.items()}
    expected = first_of_each(list(chain.from_iterable(r for r in per_key.values() if r)))
    assert list(data.resources) == expected
    assert [id(r) for r in data.resources] == [id(r) for r in expected]
    assert data.unavailable == tuple(key for key, r in per_key.items() if r is None)


PARTS = st.lists(st.lists(RESOURCES.map(copied), max_size=6), max_size=4)


@settings(max_examples=300, deadline=None)
@given(PARTS, st.lists(st.booleans(), min_size=4, max_size=4))
def test_unique_union_is_the_first_of_each_of_the_parts_one_after_the_other(
    parts: list[list[Any]], told: list[bool]
) -> None:
    """Whether or not a part comes with its identities (only when none repeats)."""
    given_parts = []
    for part, tell in zip(parts, told, strict=False):
        keys = [key for key in map(identity, part) if key is not None]
        known = set(keys) if tell and len(set(keys)) == len(keys) else None
        given_parts.append((tuple(part), known))
    resources, identities = unique_union(given_parts)
    expected = first_of_each(list(chain.from_iterable(parts)))
    assert [id(r) for r in resources] == [id(r) for r in expected]
    assert identities == {identity(r) for r in resources} - {None}


def test_a_merge_of_the_stages_keeps_the_first_stage_copy() -> None:
    shared = {"resourceType": "Condition", "id": "c1"}
    again = {"resourceType": "Condition", "id": "c1", "note": "the second stage's copy"}
    other = {"resourceType": "Observation", "id": "o1"}
    stats = FetchStats(0, 0.0, 0.0)
    first = ResolvedData((shared,), (), stats, identities={("Condition", "c1")})
    then = ResolvedData((other, again), (), stats)  # identities not known: read again
    merged = _merge(first, then, 0.0)
    assert [id(r) for r in merged.resources] == [id(shared), id(other)]
    assert merged.identities == {("Condition", "c1"), ("Observation", "o1")}
    third = _merge(merged, ResolvedData((copied(other),), (), stats), 0.0)
    assert [id(r) for r in third.resources] == [id(shared), id(other)]


# --- Paths through the FHIR server ------------------------------------------------------------


def observation(ident: str, category: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": ident,
        "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
    }


def test_a_resource_filtered_out_of_one_key_is_still_kept_from_another(
    resolver: PrefetchResolver,
) -> None:
    """The laboratory key's server ignored the category: its vital sign is dropped there,
    but the same vital sign under the vital-signs key is data, and is kept."""
    lab, vital = observation("alt-1", "laboratory"), observation("weight-1", "vital-signs")
    link = f"https://ehr.example/fhir/Observation?patient={PATIENT_ID}"
    lab_key = PrefetchTemplate(
        "labs", "Observation?patient={{context.patientId}}&category=laboratory"
    )
    vitals_key = PrefetchTemplate("vitals", "Observation?patient={{context.patientId}}")
    prefetch: dict[str, Any] = {
        "labs": {
            "resourceType": "Bundle",
            "link": [{"relation": "self", "url": link}],
            "entry": [{"resource": lab}, {"resource": vital}],
        },
        "vitals": {"resourceType": "Bundle", "entry": [{"resource": copied(vital)}]},
    }
    data = resolver.resolve(request(prefetch), [lab_key, vitals_key])
    assert [r["id"] for r in data.resources] == ["alt-1", "weight-1"]
    assert data.resources[1] is prefetch["vitals"]["entry"][0]["resource"]


def test_a_resource_repeated_on_a_next_page_is_kept_once(resolver: PrefetchResolver) -> None:
    first, second = observation("o1", "laboratory"), observation("o2", "laboratory")

    def page_two(_: Any) -> Reply:
        return Reply(
            body={
                "resourceType": "Bundle",
                "entry": [{"resource": copied(first)}, {"resource": second}],
            }
        )

    with ScriptedFhirServer() as server:
        server.routes["/fhir/page-2"] = page_two
        prefetch = {
            "k0": {
                "resourceType": "Bundle",
                "entry": [{"resource": first}],
                "link": [{"relation": "next", "url": f"{server.base_url}/page-2"}],
            }
        }
        data = resolver.resolve(request(prefetch, server.base_url), TEMPLATES[:1])
    assert [r["id"] for r in data.resources] == ["o1", "o2"]
    assert data.resources[0] is first


# --- The usual shape ------------------------------------------------------------------------


def test_entries_of_the_usual_shape_take_the_comprehensions() -> None:
    """The shape of nearly every search answer; any other goes to the general loop, which
    the generated prefetch above holds the comprehensions to."""
    lab, vital = observation("alt-1", "laboratory"), observation("weight-1", "vital-signs")
    usual = [{"resource": lab, "search": {"mode": "match"}}, {"resource": vital}]
    found = _gather_usual(usual)
    assert found is not None
    assert found.resources == (lab, vital)
    assert found.identities == {("Observation", "alt-1"), ("Observation", "weight-1")}
    outcome = {"resourceType": "OperationOutcome", "id": "oo", "issue": []}
    for unusual in (
        [*usual, {"resource": outcome}],
        [*usual, {"resource": lab, "search": {"mode": "outcome"}}],
        [*usual, {"resource": lab, "search": "match"}],
        [*usual, {"fullUrl": "urn:uuid:no-resource"}],
        [*usual, {"fullUrl": "urn:uuid:no-resource", "search": {"mode": "outcome"}}],
        [*usual, {"resource": {"resourceType": "Observation"}}],
        [*usual, {"resource": {"resourceType": "Observation", "id": ["a"]}}],
        [*usual, "not an entry"],
    ):
        assert _gather_usual(unusual) is None
        assert _gather([{"entry": unusual}]).resources == tuple(entry_resources(unusual))
    repeated = _gather_usual([*usual, {"resource": copied(lab)}])
    assert repeated is not None
    assert repeated.identities is None

"""The mapping's fast pre-filters answer as the general readers they stand for: on every
resource of the repository's JSON fixtures and on seeded mutations of them (the same
mutations as the validation fast path's contract, ``test_quick_check``)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from fhir_mappings import conditions, patient_scope, reproductive, routing, terminology
from fhir_mappings.model import Drug
from fhir_mappings.terminology import PREGNANCY_TEST, codings, concept_text
from tests.fhir_mappings.test_quick_check import FIXTURES, _mutants

_ODD_CONCEPTS: tuple[Any, ...] = (
    None, "2106-3", 5, [], {}, {"text": "hCG"}, {"code": "2106-3"},
    {"system": "http://loinc.org", "code": "2106-3"},
    {"system": " ", "code": "2106-3"}, {"coding": None},
    {"coding": {"system": "http://loinc.org", "code": "2106-3"}},
    {"coding": [], "system": "http://loinc.org", "code": "2106-3"},
    {"coding": [None, 1], "system": "http://loinc.org", "code": "2106-3"},
    {"coding": [{"system": "http://loinc.org", "code": ["2106-3"]}]},
    {"coding": [{"code": "2106-3"}]}, {"coding": [{"system": " ", "code": "2106-3"}]},
    {"coding": [{"system": "", "code": "2106-3"}, {"system": "x", "code": "2106-3"}]},
    [{"coding": [{"system": "http://loinc.org", "code": "2106-3"}]}],
)  # fmt: skip


def _by_codings(concept: object) -> bool:
    return any(code in reproductive.PREGNANCY_TEST_CODES for _, code in codings(concept))


def _concepts(seed: int) -> list[Any]:
    rng = random.Random(seed)
    found: list[Any] = list(_ODD_CONCEPTS)
    for resource in FIXTURES:
        if "code" in resource:
            found.append(resource["code"])
            found.extend(m.get("code") for m in _mutants({"code": resource["code"]}, rng))
    return found


@pytest.mark.parametrize("seed", [1, 2])
def test_the_inline_pregnancy_code_test_agrees_with_codings(seed: int) -> None:
    concepts = _concepts(seed)
    assert any(_by_codings(c) for c in concepts)  # the codes occur, coded tests are compared
    for concept in concepts:
        assert reproductive._coded_pregnancy_test(concept) is _by_codings(concept), concept


def test_the_cached_text_decisions_agree_with_the_uncached_ones() -> None:
    texts = {"", " ", "hCG", "HCG qualitative", "Pregnancy test, urine", "no hysterectomy"}
    texts |= {"clarithromycin 500 mg", "rifampin and itraconazole", "osimertinib; ketoconazole"}
    texts |= set(terminology.CYP3A_MODULATORS)
    for resource in FIXTURES:
        concepts = ("code", "valueCodeableConcept", "medicationCodeableConcept")
        for concept in (resource.get(key) for key in concepts):
            texts.add(concept_text(concept))
        if isinstance(resource.get("valueString"), str):
            texts.add(resource["valueString"])
    for text in sorted(texts):
        assert routing.text_gate(text) is (routing._TEXT_GATE.search(text) is not None), text
        assert reproductive._cached_status_kind(text) is reproductive._status_kind(text), text
        assert reproductive._named_pregnancy_test(text) is PREGNANCY_TEST.match_text(text), text
        cyp3a = terminology._cyp3a_of_text(text) if text else None
        assert terminology.cyp3a_modulator({"text": text}) == cyp3a, text
    assert any(terminology._cyp3a_of_text(text) for text in texts)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_observations_route_is_the_pre_filters_answer_on_the_whole_resource(seed: int) -> None:
    """The route read from the pre-filters' elements (and remembered by their JSON text) is
    the one the pre-filters give on the whole resource, on every fixture Observation and
    mutations of it (NaN and 10**20 among the replacements)."""
    rng = random.Random(seed)
    stated = {
        "resourceType": "Observation", "status": "final",
        "code": {"text": "Reproductive status"},
        "valueCodeableConcept": {"text": "Postmenopausal"},
    }  # fmt: skip
    observations = [r for r in FIXTURES if r["resourceType"] == "Observation"] + [stated]
    seen: set[object] = set()
    for resource in observations:
        for candidate in (resource, *_mutants(resource, rng)):
            expected = routing.decide(candidate)
            assert routing.observation_route(candidate) == expected, candidate
            assert routing.observation_route(candidate) == expected, candidate  # remembered
            seen |= {expected.reading, expected.version2}
    # Every reading and every version-2 check occurs: the comparison is not vacuous.
    assert seen == {*routing.Reading, *routing.Version2}


def test_a_genetics_extension_routes_an_observation_to_the_genomic_reading() -> None:
    lab = {"resourceType": "Observation", "code": {"text": "Creatinine"}}
    extension = "http://hl7.org/fhir/StructureDefinition/observation-geneticsGene"
    tagged = {**lab, "extension": [{"url": extension, "valueString": "ERBB2"}]}
    assert routing.observation_route(lab).reading is routing.Reading.NONE
    assert routing.observation_route(tagged).reading is routing.Reading.GENOMIC
    assert routing.decide(tagged).reading is routing.Reading.GENOMIC


def test_a_long_value_text_is_routed_without_the_cache() -> None:
    """A narrative longer than the cache's key limit is decided each time, the same way."""
    narrative = "Next-generation sequencing report. " * 60 + "ERBB2 exon 20 insertion detected."
    observation = {"resourceType": "Observation", "code": {"text": "Molecular pathology"}}
    observation["valueString"] = narrative
    assert len(narrative) > routing._CACHED_KEY_BYTES
    before = routing._cached_route.cache_info().currsize
    route = routing.observation_route(observation)
    assert route == routing.decide(observation)
    assert route.reading is routing.Reading.GENOMIC
    assert routing._cached_route.cache_info().currsize == before


@pytest.mark.parametrize("seed", [1, 2])
def test_the_usual_subject_test_never_keeps_another_patients_resource(seed: int) -> None:
    """``PatientScope.foreign`` decides the usual resource, whose subject is plainly
    ``Patient/<id>``, without the general test: on every resource it must answer what the
    general test answers."""
    rng = random.Random(seed)
    subjects: tuple[Any, ...] = (
        None, {"reference": "Patient/p1"}, {"reference": "Patient/p2"}, {"reference": "p1"},
        {"reference": "https://fhir.example/Patient/p2/_history/1"}, {"display": "x"}, [],
        {"reference": "Patient/p1", "display": "y"}, "Patient/p1",
    )  # fmt: skip
    scope = patient_scope.PatientScope("p1")
    answers = {True: 0, False: 0}
    patients = [{"resourceType": "Patient", "id": "p1"}, {"resourceType": "Patient", "id": "p2"}]
    for resource in [*FIXTURES, *patients]:
        for candidate in (resource, *_mutants(resource, rng)):
            for subject in rng.sample(subjects, 3):
                changed = {**candidate, rng.choice(("subject", "patient")): subject}
                for raw in (candidate, changed):
                    foreign = patient_scope.about_another_patient(raw, "p1")
                    assert (scope.foreign(raw) is not None) is foreign, raw
                    answers[foreign] += 1
    assert answers[True] > 100
    assert answers[False] > 100


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_condition_procedure_or_reports_route_is_the_pre_filters_answer(seed: int) -> None:
    """As for Observations: the remembered route of every fixture Condition, Procedure and
    DiagnosticReport, and of mutations of them, is the pre-filters' answer on the whole
    resource."""
    rng = random.Random(seed)
    stated: list[dict[str, Any]] = [
        {"resourceType": "Condition", "code": {"text": "Postmenopausal state"}},
        {"resourceType": "Procedure", "status": "completed", "code": {"text": "Hysterectomy"},
         "note": [{"text": "Total abdominal hysterectomy"}]},
        {"resourceType": "Procedure", "status": "completed", "code": {"text": "CT chest"}},
        {"resourceType": "Procedure", "status": "completed", "code": {"text": "Treatment"},
         "bodySite": [{"text": "Whole brain"}]},
        {"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "Report"},
         "conclusion": "ERBB2 exon 20 insertion"},
    ]  # fmt: skip
    families = ("Condition", "Procedure", "DiagnosticReport")
    resources = [r for r in FIXTURES if r["resourceType"] in families] + stated
    seen: set[tuple[str, str]] = set()
    for resource in resources:
        for candidate in (resource, *_mutants(resource, rng)):
            kind = candidate["resourceType"]
            expected = routing.decide_family(candidate)
            assert routing.family_route(candidate, kind) == expected, candidate
            assert routing.family_route(candidate, kind) == expected, candidate  # remembered
            seen |= {(kind, "relevant")} if expected.relevant else set()
            seen |= {(kind, "imaging")} if expected.imaging else set()
            seen |= {(kind, "reproductive")} if expected.reproductive else set()
    assert seen == {
        ("Condition", "relevant"), ("Condition", "reproductive"), ("Procedure", "relevant"),
        ("Procedure", "imaging"), ("Procedure", "reproductive"),
        ("DiagnosticReport", "relevant"), ("DiagnosticReport", "imaging"),
    }  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2])
def test_the_remembered_scope_pre_filter_is_the_conditions_answer(seed: int) -> None:
    """``routing.may_put_in_scope`` (remembered for the Condition's code) answers as
    ``conditions.may_put_in_scope`` on every fixture Condition, odd concepts and mutations,
    asked twice (the second answer comes from the memo)."""
    rng = random.Random(seed)
    codes: list[Any] = [
        *_ODD_CONCEPTS,
        {"text": "Non-small cell lung cancer"},
        {"text": "Interstitial lung disease"},
        {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}], "text": "HTN"},
        {"coding": [{"system": "http://loinc.org", "code": "1" * 30}]},
    ]
    conditions_seen = [r for r in FIXTURES if r["resourceType"] == "Condition"]
    resources = [{"resourceType": "Condition", "code": c} for c in codes] + [
        {"resourceType": "Condition"}
    ]
    for resource in conditions_seen:
        resources.extend((resource, *_mutants(resource, rng)))
    answers = {True: 0, False: 0}
    for resource in resources:
        expected = conditions.may_put_in_scope(resource)
        assert routing.may_put_in_scope(resource) is expected, resource
        assert routing.may_put_in_scope(resource) is expected, resource  # remembered
        answers[expected] += 1
    # Both answers are compared.
    assert answers[True] > 10
    assert answers[False] > 10


@pytest.mark.parametrize("seed", [1, 2])
def test_a_medication_concepts_route_is_the_terminologys_answer(seed: int) -> None:
    """The remembered route of every medication concept of the fixtures, and of mutations
    of them, with and without a site's drug codes, is the terminology's own answer."""
    rng = random.Random(seed)
    site = terminology.site_drug_codes(
        [("http://hospital.example/formulary", "T-DXD-100", Drug.TRASTUZUMAB_DERUXTECAN)]
    )
    concepts: list[Any] = [
        {"coding": [{"system": "http://hospital.example/formulary", "code": "T-DXD-100"}]},
        {"text": "clarithromycin 500 mg tablet"},
        {"coding": [{"system": "http://example.org/local", "code": "X1"}],
         "text": "osimertinib 80 mg"},
    ]  # fmt: skip
    for resource in FIXTURES:
        for key in ("medicationCodeableConcept", "code"):
            if resource["resourceType"].startswith("Medication") and key in resource:
                concepts.append(resource[key])
                concepts.extend(m[key] for m in _mutants({key: resource[key]}, rng) if key in m)
    seen: set[str] = set()
    for concept in (c for c in concepts if isinstance(c, dict)):
        for codes in (terminology.NO_SITE_DRUG_CODES, site):
            drug = terminology.match_drug(concept, codes)
            named = terminology.coded_drug_named_in_text(concept) if drug is None else None
            cyp3a = drug is None and terminology.cyp3a_modulator(concept) is not None
            expected = routing.MedicationRoute(drug, named, cyp3a)
            assert routing.medication_route(concept, codes) == expected, concept
            assert routing.medication_route(concept, codes) == expected, concept  # remembered
            values = {"drug": drug, "named": named, "cyp3a": cyp3a}
            seen |= {name for name, value in values.items() if value}
    assert seen == {"drug", "named", "cyp3a"}

"""NYHA functional class statements (clinical-rules.md 9.3; ``fhir_mappings.nyha``).

Codes are spelled out: LOINC 88020-3 "Functional capacity NYHA"; SNOMED CT 421704003
(NYHA class II) and 420913000 (class III), as ``terminology.NYHA_SNOMED_SOURCE`` names."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir_mappings.build import build_patient
from fhir_mappings.model import MatchedBy, NyhaStatement
from fhir_mappings.nyha import class_in_text

AS_OF = date(2026, 11, 21)
NYHA_LOINC = {"coding": [{"system": "http://loinc.org", "code": "88020-3"}]}
SNOMED = "http://snomed.info/sct"


def observation(ident: str, code: dict[str, Any], **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "code": code,
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-11-02",
        **value,
    }


def statements(*resources: dict[str, Any]) -> tuple[NyhaStatement, ...]:
    return build_patient(list(resources), as_of=AS_OF).nyha_statements


def test_a_loinc_coded_class_with_a_snomed_answer() -> None:
    answer = {"coding": [{"system": SNOMED, "code": "420913000"}], "text": "whatever"}
    (stated,) = statements(observation("n1", NYHA_LOINC, valueCodeableConcept=answer))
    assert stated == NyhaStatement(3, date(2026, 11, 2), ("Observation/n1",), MatchedBy.CODE)
    assert stated.symptomatic


def test_a_class_in_words() -> None:
    (ii,) = statements(observation("n2", NYHA_LOINC, valueString="Class II"))
    assert (ii.functional_class, ii.matched_by) == (2, MatchedBy.CODE)
    (i,) = statements(observation("n3", NYHA_LOINC, valueCodeableConcept={"text": "Class I"}))
    assert i.functional_class == 1
    assert not i.symptomatic


def test_an_uncoded_nyha_observation_is_read_by_text_and_says_so() -> None:
    code = {"text": "New York Heart Association functional class"}
    (stated,) = statements(observation("n4", code, valueString="III"))
    assert (stated.functional_class, stated.matched_by) == (3, MatchedBy.TEXT)


def test_a_value_that_states_no_class_is_a_data_issue_not_class_i() -> None:
    patient = build_patient(
        [observation("n5", NYHA_LOINC, valueString="see cardiology note")], as_of=AS_OF
    )
    assert patient.nyha_statements == ()
    assert [(i.resource_id, i.reason) for i in patient.data_issues] == [
        ("n5", "NYHA class Observation: no class I-IV read from its value")
    ]


def test_no_result_and_undated() -> None:
    cancelled = {**observation("n6", NYHA_LOINC, valueString="Class IV"), "status": "cancelled"}
    assert statements(cancelled) == ()
    undated = observation("n7", NYHA_LOINC, valueString="Class IV")
    del undated["effectiveDateTime"]
    (stated,) = statements(undated)
    assert stated.date is None


def test_texts_of_a_class() -> None:
    assert class_in_text("NYHA class III (marked limitation)") == 3
    assert class_in_text("class 2") == 2
    assert class_in_text("NYHA II-III") == 3  # a range: the higher class
    assert class_in_text("IV") == 4
    assert class_in_text("no limitation of physical activity") is None


def test_the_objective_assessment_is_not_a_class() -> None:
    code = {
        "coding": [
            {
                "system": "http://loinc.org",
                "code": "88021-1",
                "display": "Objective assessment of cardiovascular disease NYHA",
            }
        ]
    }
    patient = build_patient(
        [observation("n8", code, valueString="Class B: minimal disease")], as_of=AS_OF
    )
    assert patient.nyha_statements == ()
    assert patient.data_issues == ()

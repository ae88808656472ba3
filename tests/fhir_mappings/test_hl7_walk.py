"""Every vendored example of the Genomics Reporting and mCODE packages (and the R4 core
genetics / adverse-event examples) is read as the fact it states, or reported as a data
issue naming it; never "variant without a gene" when a gene is stated (issue 9).

The expectation for each example is worked out here from the example itself (its
profile, gene components and values), independently of the mapping's code paths."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fhir_mappings.build import build_patient
from fhir_mappings.model import ComorbidityKind, PatientModel
from tests.fhir_mappings.hl7 import AS_OF, HL7_EXAMPLES, example

PACKAGES = ("genomics-reporting-3.0.0", "mcode-4.0.0", "r4-core-4.0.1")
EXAMPLES = sorted(
    f"{package}/{path.stem}"
    for package in PACKAGES
    for path in (HL7_EXAMPLES / package).glob("*.json")
)
NSCLC = example("mcode-4.0.0/Condition-primary-cancer-condition-nsclc")
LUNG_CODES = {"254637007", "254626006", "59529006"}
GENE_URL = "http://hl7.org/fhir/StructureDefinition/observation-geneticsGene"


def _profile(resource: dict[str, Any]) -> str:
    profiles = resource.get("meta", {}).get("profile", [])
    return profiles[0].rsplit("/", 1)[-1] if profiles else ""


def _text(value: Any) -> str:
    return json.dumps(value).upper()


def _stated_genes(resource: dict[str, Any]) -> set[str]:
    holders = [
        c.get("valueCodeableConcept", {})
        for c in resource.get("component", [])
        if any(k.get("code") == "48018-6" for k in c["code"].get("coding", []))
    ]
    holders += [
        e.get("valueCodeableConcept", {})
        for e in resource.get("extension", [])
        if e.get("url") == GENE_URL
    ]
    genes: set[str] = set()
    for holder in holders:
        text = _text(holder)
        if "ERBB2" in text or "HGNC:3430" in text:
            genes.add("ERBB2")
        elif '"EGFR"' in text or "HGNC:3236" in text:
            genes.add("EGFR")
        else:
            genes.add("other")
    return genes


def _issues(model: PatientModel, resource: dict[str, Any]) -> list[str]:
    return [i.reason for i in model.data_issues if i.resource_id == resource.get("id")]


def _her2_facts(model: PatientModel) -> int:
    h = model.her2
    return len(h.mutations) + len(h.negative_results) + len(h.ihc) + len(h.amplification)


@pytest.mark.parametrize("path", EXAMPLES)
def test_each_example_is_read_as_it_states_or_reported(path: str) -> None:
    resource = example(path)
    model = build_patient([resource], as_of=AS_OF)
    issues = _issues(model, resource)
    genes = _stated_genes(resource)
    profile = _profile(resource)
    if genes:
        assert "variant without a gene" not in issues
    if "ERBB2" in genes:
        assert _her2_facts(model) or issues
    elif "EGFR" in genes:
        assert model.egfr.mutated is not None or issues
    elif genes:
        assert _her2_facts(model) == 0
        assert model.egfr.mutated is None
        assert issues == []
    if profile in ("diagnostic-implication", "therapeutic-implication"):
        # An implication alone states nothing about a variant on file.
        assert _her2_facts(model) == 0
        assert issues == []
    if profile == "mcode-tumor-marker-test":
        her2 = "48676-1" in _text(resource["code"]) or "HER2" in _text(resource["code"])
        assert bool(model.her2.ihc or issues) is her2
    if profile.startswith("mcode-primary-cancer-condition"):
        lung = bool(LUNG_CODES & {c.get("code") for c in resource["code"]["coding"]})
        assert (model.cancer is not None and model.cancer.nsclc) is lung
    if profile.startswith("mcode-cancer-related-medication"):
        supportive = "PREDNISONE" in _text(resource.get("medicationCodeableConcept"))
        assert bool(model.exposures or issues) is not supportive
    if profile == "mcode-radiotherapy-course-summary":
        assert [c.kind for c in model.comorbidities] == [ComorbidityKind.THORACIC_RADIATION]
    if resource["resourceType"] == "AdverseEvent":
        assert model.ild_episodes == ()  # the R4 core example is a rash


@pytest.mark.parametrize(
    "path",
    [p for p in EXAMPLES if _profile(example(p)).startswith(("mcode-tnm", "mcode-cancer-stage"))],
)
def test_each_stage_example_says_advanced_only_for_m1_or_stage_iv(path: str) -> None:
    resource = example(path)
    model = build_patient([NSCLC, resource], as_of=AS_OF)
    value = _text(resource.get("valueCodeableConcept"))
    advanced = " CM1" in value or " PM1" in value or "STAGE IV" in value
    assert model.cancer is not None
    assert (model.cancer.advanced is True) is advanced


def test_the_walk_covers_every_vendored_package() -> None:
    assert {p.split("/")[0] for p in EXAMPLES} == set(PACKAGES)
    assert len(EXAMPLES) > 150

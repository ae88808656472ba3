"""Draft orders from the hook context (order-select / order-sign), imperfect as sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fhir_mappings.build import build_patient
from fhir_mappings.explain import explain
from fhir_mappings.model import Dose, DoseUnit, DraftOrder, Drug
from tests.fhir_mappings.support import AS_OF, patient_from

EXAMPLES = Path(__file__).resolve().parents[1] / "spec" / "examples"
DRAFT: dict[str, Any] = {
    "resourceType": "MedicationRequest",
    "status": "draft",
    "intent": "order",
    "medicationCodeableConcept": {"text": "Enhertu"},
    "subject": {"reference": "Patient/p1"},
}


def test_order_sign_drafts_with_sandbox_quirks() -> None:
    patient = patient_from("order_sign_draft_tdxd_quirks")
    tdxd, zongertinib, empty, diet = patient.draft_orders
    assert tdxd == DraftOrder(
        reference="MedicationRequest/draft-tdxd",
        resource_type="MedicationRequest",
        drug=Drug.TRASTUZUMAB_DERUXTECAN,
        dose=Dose(6.4, DoseUnit.MG_PER_KG),
        frequency="every 3 weeks",
        status="draft",
        selected=True,
        medication_text="Enhertu 100 mg vial",
    )
    assert (zongertinib.drug, zongertinib.dose, zongertinib.frequency) == (
        Drug.ZONGERTINIB,
        Dose(120.0, DoseUnit.MG),
        "once daily",
    )
    assert (empty.reference, empty.drug, empty.dose) == (
        "MedicationRequest/draft-empty",
        None,
        None,
    )
    assert (diet.reference, diet.resource_type, diet.drug) == (
        "NutritionOrder/diet",
        "NutritionOrder",
        None,
    )
    assert [(d.resource_type, d.reason) for d in patient.data_issues] == [
        ("Bundle", "draft entry without resource")
    ]
    assert patient.unavailable_data == ("labs",)


def test_order_select_marks_only_the_selections() -> None:
    patient = patient_from("order_select_zongertinib_selected")
    assert [(d.reference, d.selected) for d in patient.draft_orders] == [
        ("MedicationRequest/draft-tdxd", False),
        ("MedicationRequest/draft-zong", True),
        ("MedicationRequest/draft-empty", False),
        ("NutritionOrder/diet", False),
    ]


@pytest.mark.parametrize("name", ["order-select-r4.json", "order-sign-r4.json"])
def test_published_hook_examples_map_without_issues(name: str) -> None:
    context = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))["context"]
    patient = build_patient(
        [], as_of=AS_OF, draft_orders=context["draftOrders"], selections=context.get("selections")
    )
    assert patient.data_issues == ()
    diet, amoxicillin = patient.draft_orders
    assert diet.reference == "NutritionOrder/pureeddiet-simple"
    assert amoxicillin.reference == "MedicationRequest/smart-MedicationRequest-103"
    assert amoxicillin.drug is None
    assert amoxicillin.frequency == "twice daily"
    assert amoxicillin.dose is None  # 5 mL is neither mg nor mg/kg
    assert diet.selected
    assert amoxicillin.selected


def test_draft_that_stays_invalid_is_reported_and_still_read() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "MedicationRequest",
                    "id": "bad",
                    "status": "draft",
                    "intent": "order",
                    "medicationCodeableConcept": {"text": "Enhertu"},
                    "subject": {"reference": "Patient/p1"},
                    "authoredOn": "not a date",
                }
            }
        ],
    }
    patient = build_patient([], as_of=AS_OF, draft_orders=bundle)
    assert [d.drug for d in patient.draft_orders] == [Drug.TRASTUZUMAB_DERUXTECAN]
    assert [(d.resource_id, d.reason) for d in patient.data_issues] == [
        ("bad", "failed R4B validation: authoredOn (value_error)")
    ]


def test_each_draft_keeps_the_order_as_sent_for_update_suggestions() -> None:
    """Parsed once, here: the order resource as sent (invalid dates and all) stays on the
    draft order it became, under its ``Type/id``; one without an id has none to update."""
    as_sent = {
        "resourceType": "MedicationRequest",
        "id": "tdxd",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"text": "Enhertu"},
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "not a date",
    }
    without_id = {key: value for key, value in as_sent.items() if key != "id"}
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": as_sent},
            {"fullUrl": "urn:uuid:9b3c0c1e-3f0d-4d1e-8a52-0f1b2c3d4e5f", "resource": without_id},
        ],
    }
    sent, anonymous = build_patient([], as_of=AS_OF, draft_orders=bundle).draft_orders
    assert sent.reference == "MedicationRequest/tdxd"
    assert sent.resource == as_sent
    assert anonymous.reference == "urn:uuid:9b3c0c1e-3f0d-4d1e-8a52-0f1b2c3d4e5f"
    assert anonymous.resource is None


def test_explain_does_not_repeat_the_orders_as_sent() -> None:
    bundle = {"resourceType": "Bundle", "entry": [{"resource": {**DRAFT, "id": "d"}}]}
    shown = explain({"context": {"draftOrders": bundle}}, AS_OF)
    [draft] = shown["patient"]["draft_orders"]
    assert draft["reference"] == "MedicationRequest/d"
    assert "resource" not in draft


def test_no_draft_orders_for_patient_view() -> None:
    assert build_patient([], as_of=AS_OF).draft_orders == ()


def _zongertinib_draft(coding: dict[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "MedicationRequest",
                    "id": "draft-zong",
                    "status": "draft",
                    "intent": "order",
                    "subject": {"reference": "Patient/p1"},
                    "medicationCodeableConcept": {
                        "coding": [coding],
                        "text": "zongertinib 120 mg tablet",
                    },
                }
            }
        ],
    }


def test_a_draft_under_a_site_catalog_code_is_identified_by_that_code() -> None:
    """9.1: the site order catalog's codes identify drugs (MappingOptions.site_drug_codes);
    without them the draft is not identified, and keeps the drug its text names."""
    from fhir_mappings.build import MappingOptions
    from fhir_mappings.terminology import RXNORM, site_drug_codes

    coding = {"system": RXNORM, "code": "TEST-ZONG-120-SCD"}  # placeholder, not a real RXCUI
    bundle = _zongertinib_draft(coding)
    plain = build_patient([], as_of=AS_OF, draft_orders=bundle)
    (unknown,) = plain.draft_orders
    assert (unknown.drug, unknown.named_in_text, unknown.code_systems) == (
        None,
        Drug.ZONGERTINIB,
        (RXNORM,),
    )
    assert [i.reason for i in plain.data_issues] == [
        "medication code not recognised; its text names zongertinib: not identified"
    ]
    options = MappingOptions(
        site_drug_codes=site_drug_codes([(RXNORM, "TEST-ZONG-120-SCD", Drug.ZONGERTINIB)])
    )
    site = build_patient([], as_of=AS_OF, draft_orders=bundle, options=options)
    (known,) = site.draft_orders
    assert (known.drug, known.named_in_text, known.code_systems) == (Drug.ZONGERTINIB, None, ())
    assert known.dose is None  # no dosage in this draft
    assert site.data_issues == ()


def test_a_coded_draft_whose_text_names_no_drug_names_nothing() -> None:
    bundle = _zongertinib_draft({"system": "urn:oid:1.2.3.4", "code": "777"})
    concept = bundle["entry"][0]["resource"]["medicationCodeableConcept"]
    concept["text"] = "atorvastatin 20 mg tablet"
    (draft,) = build_patient([], as_of=AS_OF, draft_orders=bundle).draft_orders
    assert (draft.drug, draft.named_in_text, draft.code_systems) == (None, None, ())

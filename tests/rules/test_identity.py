"""`order-drug-not-identified` (clinical-rules.md 9.1, drug identity): a coded draft order
whose codes identify no drug while its text names exactly one recognised drug.

The draft orders are read by the real mapping (``build_patient``) from FHIR JSON, so each
exclusion is the mapping's decision as the rules see it, not a hand-set model field.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from cds_service.rules.base import Fact
from cds_service.wire import Indicator
from fhir_mappings.build import MappingOptions, build_patient
from fhir_mappings.model import DraftOrder, Drug, PatientModel
from fhir_mappings.terminology import RXNORM, site_drug_codes
from tests.rules.patients import OS, PV, SG, TODAY, exon20_after_platinum, findings_of, rule_ids

RULE = "order-drug-not-identified"
PLACEHOLDER_SCD = "TEST-ZONG-120-SCD"
"""A stand-in for a site's RxNorm SCD of zongertinib: not a real RXCUI (the project has
verified none for zongertinib)."""
EPIC_OID = "urn:oid:1.2.840.114350.1.13.0.1.7.2.698288"


def draft(
    ident: str,
    text: str | None,
    *codings: dict[str, str],
    mg: float | None = 120,
) -> dict[str, Any]:
    concept: dict[str, Any] = {}
    if codings:
        concept["coding"] = list(codings)
    if text is not None:
        concept["text"] = text
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": ident,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": concept,
    }
    if mg is not None:
        resource["dosageInstruction"] = [
            {
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": mg, "unit": "mg", "code": "mg"}}],
            }
        ]
    return resource


def drafts_of(
    *resources: dict[str, Any],
    selections: list[str] | None = None,
    options: MappingOptions | None = None,
) -> tuple[DraftOrder, ...]:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }
    mapped = build_patient(
        [],
        as_of=TODAY,
        draft_orders=bundle,
        selections=selections,
        options=options or MappingOptions(),
    )
    return mapped.draft_orders


def patient_with(*orders: DraftOrder) -> PatientModel:
    return exon20_after_platinum(draft_orders=orders)


RXNORM_ZONG = {"system": RXNORM, "code": PLACEHOLDER_SCD}


def test_a_zongertinib_order_under_an_unknown_rxnorm_code_gets_the_card() -> None:
    orders = drafts_of(draft("zong", "zongertinib 120 mg tablet", RXNORM_ZONG))
    patient = patient_with(*orders)
    [finding] = findings_of(RULE, patient, SG)
    assert finding.indicator is Indicator.WARNING
    assert finding.summary == (
        "Zongertinib order not identified by its code: the zongertinib checks did not run on it"
    )
    assert finding.facts == (
        Fact(
            f'Draft order: "zongertinib 120 mg tablet", coded in {RXNORM}; its codes identify '
            "no drug this service knows",
            None,
            ("MedicationRequest/zong",),
        ),
    )
    guidance = " ".join(finding.guidance)
    assert "zongertinib (Hernexeos)" in guidance
    assert "dose by body weight, ILD/pneumonitis, LVEF, liver tests" in guidance
    assert "`CDS_ORDER_CATALOG`" in guidance
    assert finding.proposals == ()
    assert finding.order_refs == ("MedicationRequest/zong",)
    assert finding.citation.label.startswith(
        "HER2-NSCLC CDS clinical rules, version 2, section 9.1"
    )
    # None of the zongertinib checks ran: that is what the card says.
    assert "dose-zongertinib" not in rule_ids(patient, SG)


def test_every_code_system_is_named_once() -> None:
    orders = drafts_of(
        draft(
            "tdxd",
            "Enhertu 100 mg vial",
            {"system": EPIC_OID, "code": "424242"},
            {"system": EPIC_OID, "code": "424243"},
            {"system": "http://hl7.org/fhir/sid/ndc", "code": "0000-0000-00"},
            mg=None,
        )
    )
    [finding] = findings_of(RULE, patient_with(*orders), OS)
    assert f"coded in {EPIC_OID}, http://hl7.org/fhir/sid/ndc;" in finding.facts[0].text
    assert finding.summary.startswith("T-DXd order not identified by its code")


def test_with_the_site_catalog_code_the_order_is_zongertinib_and_gets_its_checks() -> None:
    options = MappingOptions(
        site_drug_codes=site_drug_codes([(RXNORM, PLACEHOLDER_SCD, Drug.ZONGERTINIB)])
    )
    orders = drafts_of(
        draft("zong", "zongertinib 180 mg tablet", RXNORM_ZONG, mg=180), options=options
    )
    assert orders[0].drug is Drug.ZONGERTINIB
    fired = rule_ids(patient_with(*orders), SG)
    assert RULE not in fired
    assert "dose-zongertinib" in fired  # 72 kg: 120 mg, not 180 mg


def test_a_verified_code_is_recognised_and_gets_no_card() -> None:
    orders = drafts_of(
        draft("tdxd", "Enhertu 100 mg vial", {"system": RXNORM, "code": "2267581"}, mg=None)
    )
    assert orders[0].drug is Drug.TRASTUZUMAB_DERUXTECAN
    assert RULE not in rule_ids(patient_with(*orders), SG)


@pytest.mark.parametrize(
    "text",
    [
        "atorvastatin 20 mg tablet",  # names no recognised drug
        None,  # no text at all
        "zongertinib or T-DXd per tumour board",  # names two drugs
        "dexamethasone premed for Enhertu",  # a supportive drug and a HER2 drug: neither
    ],
)
def test_a_text_that_names_no_single_drug_gets_no_card(text: str | None) -> None:
    orders = drafts_of(draft("x", text, {"system": EPIC_OID, "code": "777"}, mg=None))
    assert (orders[0].drug, orders[0].named_in_text) == (None, None)
    assert RULE not in rule_ids(patient_with(*orders), SG)


def test_a_text_only_order_is_identified_by_its_text_and_gets_no_card() -> None:
    orders = drafts_of(draft("zong", "zongertinib 120 mg tablet"))
    assert orders[0].drug is Drug.ZONGERTINIB
    assert RULE not in rule_ids(patient_with(*orders), SG)


def test_order_select_speaks_only_about_the_selections() -> None:
    unknown = draft("zong", "zongertinib 120 mg tablet", RXNORM_ZONG)
    statin = draft("statin", "atorvastatin 20 mg tablet", {"system": EPIC_OID, "code": "1"})
    not_selected = drafts_of(unknown, statin, selections=["MedicationRequest/statin"])
    assert RULE not in rule_ids(patient_with(*not_selected), OS)
    selected = drafts_of(unknown, statin, selections=["MedicationRequest/zong"])
    assert [f.order_refs for f in findings_of(RULE, patient_with(*selected), OS)] == [
        ("MedicationRequest/zong",)
    ]
    # order-sign: no selections, every draft is spoken about
    assert findings_of(RULE, patient_with(*drafts_of(unknown, statin)), SG)


def test_patient_view_has_no_orders_to_speak_about() -> None:
    orders = drafts_of(draft("zong", "zongertinib 120 mg tablet", RXNORM_ZONG))
    assert RULE not in rule_ids(patient_with(*orders), PV)


def test_one_card_per_unidentified_order() -> None:
    orders = drafts_of(
        draft("zong", "zongertinib 120 mg tablet", RXNORM_ZONG),
        draft("seva", "sevabertinib 20 mg tablet", {"system": EPIC_OID, "code": "9"}, mg=20),
    )
    findings = findings_of(RULE, patient_with(*orders), SG)
    assert [f.order_refs for f in findings] == [
        ("MedicationRequest/zong",),
        ("MedicationRequest/seva",),
    ]
    assert findings[1].summary.startswith("Sevabertinib order not identified")


def test_not_superseded_by_a_critical_card_about_the_same_drug() -> None:
    """The card has no ``drug``: a hold of the named drug never silences it."""
    [finding] = findings_of(
        RULE,
        replace(
            exon20_after_platinum(),
            draft_orders=drafts_of(draft("zong", "zongertinib 120 mg tablet", RXNORM_ZONG)),
        ),
        SG,
    )
    assert finding.drug is None


def test_an_unverified_code_its_text_contradicts_gets_the_card() -> None:
    """RxNorm 40048 is carboplatin from memory (unverified); a text naming cisplatin
    contradicts it, so the order is identified as neither (9.1) and must not be silent."""
    orders = drafts_of(
        draft("platinum", "cisplatin 75 mg/m2", {"system": RXNORM, "code": "40048"}, mg=None)
    )
    assert (orders[0].drug, orders[0].named_in_text) == (None, Drug.CISPLATIN)
    [finding] = findings_of(RULE, patient_with(*orders), SG)
    assert finding.summary == (
        "Cisplatin order not identified by its code: the cisplatin checks did not run on it"
    )
    assert "(sequencing and line-of-therapy)" in " ".join(finding.guidance)

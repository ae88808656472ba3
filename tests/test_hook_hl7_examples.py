"""Issue 9 end to end: HL7 example shapes in a full prefetch change the cards.

Each test posts a CDS Hooks request (one of the vignettes, with every prefetch key
answered) through the Flask test client, once with the shape the issue names and once
with its counterpart, and shows the card that the shape changes. The FHIR resources are
the vendored HL7 examples of ``tests/fhir_mappings/hl7_examples`` (see its README).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from cds_service.selfcheck import check_response
from tests.fhir_mappings.hl7 import example

VIGNETTES = Path(__file__).resolve().parent / "vignettes"
SERVICE = {"patient-view": "her2-nsclc-patient-view", "order-select": "her2-nsclc-order-select",
           "order-sign": "her2-nsclc-order-sign"}  # fmt: skip
V01 = "v01_exon20_untreated_72kg_patient_view"
V02 = "v02_exon20_after_platinum_order_select_tdxd"


def vignette(name: str) -> dict[str, Any]:
    request: dict[str, Any] = json.loads((VIGNETTES / f"{name}.json").read_text())
    return copy.deepcopy(request)


def entries(request: dict[str, Any], key: str) -> list[dict[str, Any]]:
    bundle = request["prefetch"].setdefault(key, {"resourceType": "Bundle", "type": "searchset"})
    found: list[dict[str, Any]] = bundle.setdefault("entry", [])
    return found


def put(
    request: dict[str, Any], key: str, resource: dict[str, Any], replace: str | None = None
) -> None:
    """Add a resource to a prefetch Bundle, replacing the entry with id ``replace``."""
    bundle = entries(request, key)
    bundle[:] = [e for e in bundle if e["resource"].get("id") != replace]
    bundle.append({"resource": resource})


def for_patient(resource: dict[str, Any], patient: str = "p1") -> dict[str, Any]:
    """The example as this patient's resource (only ``subject`` / ``patient`` change)."""
    copied = copy.deepcopy(resource)
    copied["subject"] = {"reference": f"Patient/{patient}"}
    return copied


def rules_fired(client: FlaskClient, request: dict[str, Any]) -> list[str]:
    response = client.post(f"/cds-services/{SERVICE[request['hook']]}", json=request)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert check_response(body) == []
    return [str(card["source"]["topic"]["code"]) for card in body["cards"]]


def variant(path: str) -> dict[str, Any]:
    return for_patient(example(path))


def test_absent_erbb2_insertion_gets_no_tki_recommendation(client: FlaskClient) -> None:
    present = vignette(V01)
    put(present, "observations", variant("edited/Observation-ERBB2-ex20ins-var"), "erbb2-variant")
    assert "seq-first-line-tkd" in rules_fired(client, present)
    absent = vignette(V01)
    put(absent, "observations", variant("edited/Observation-ERBB2-ex20ins-absent"), "erbb2-variant")
    assert "seq-first-line-tkd" not in rules_fired(client, absent)


def test_exon20_insertion_in_the_discrete_variant_component_is_actionable(
    client: FlaskClient,
) -> None:
    request = vignette(V01)
    put(request, "observations", variant("edited/Observation-ERBB2-ex20ins-var"), "erbb2-variant")
    assert rules_fired(client, request) == ["seq-first-line-tkd"]


def test_lab_vus_implication_is_not_overridden_by_the_residue(client: FlaskClient) -> None:
    alone = vignette(V01)
    put(alone, "observations", variant("edited/Observation-ERBB2-uncertain-var"), "erbb2-variant")
    assert "seq-first-line-tkd" in rules_fired(client, alone)
    with_implication = copy.deepcopy(alone)
    put(with_implication, "observations", variant("edited/Observation-ERBB2-significance"))
    assert "seq-first-line-tkd" not in rules_fired(client, with_implication)


def test_multi_gene_pertinent_negative_is_a_tested_negative(client: FlaskClient) -> None:
    request = vignette(V01)
    put(
        request,
        "observations",
        variant("edited/Observation-pertinent-negative-nras-erbb2-braf"),
        "erbb2-variant",
    )
    fired = rules_fired(client, request)
    assert "seq-first-line-tkd" not in fired
    assert "test-broad-ngs" not in fired  # ERBB2 was tested: no "test for ERBB2" card


def test_copy_number_gain_is_not_a_tki_target(client: FlaskClient) -> None:
    request = vignette(V01)
    put(
        request,
        "observations",
        variant("edited/Observation-gx-genomic-variant-somatic-erbb2-cnv"),
        "erbb2-variant",
    )
    assert "seq-first-line-tkd" not in rules_fired(client, request)


def test_curative_intent_extension_keeps_adjuvant_cisplatin_out_of_the_lines(
    client: FlaskClient,
) -> None:
    cisplatin = for_patient(
        example("mcode-4.0.0/MedicationRequest-cancer-related-medication-request-cisplatin")
    )
    curative = vignette(V01)
    put(curative, "medicationRequests", cisplatin)
    assert "seq-first-line-tkd" in rules_fired(client, curative)
    palliative = vignette(V01)
    without_intent = copy.deepcopy(cisplatin)
    without_intent.pop("extension")
    put(palliative, "medicationRequests", without_intent)
    assert "seq-first-line-tkd" not in rules_fired(client, palliative)


def details(client: FlaskClient, request: dict[str, Any]) -> str:
    response = client.post(f"/cds-services/{SERVICE[request['hook']]}", json=request)
    assert response.status_code == 200
    return " ".join(card["detail"] for card in response.get_json()["cards"])


def test_cm1_observation_makes_the_disease_advanced(client: FlaskClient) -> None:
    caveat = "does not state that the disease is advanced"
    unstaged = vignette(V01)
    condition = entries(unstaged, "conditions")[0]["resource"]
    condition.pop("stage")
    assert caveat in details(client, unstaged)
    staged = copy.deepcopy(unstaged)
    put(
        staged,
        "observations",
        for_patient(example("edited/Observation-tnm-clinical-distant-metastases-category-cm1")),
    )
    text = details(client, staged)
    assert caveat not in text
    assert "tnm-clinical-distant-metastases-category-cm1" in text


def test_ctcae_grade_2_pneumonitis_adverse_event_is_ild_history(client: FlaskClient) -> None:
    event = for_patient(example("edited/AdverseEvent-example-pneumonitis-grade2"))
    event.pop("suspectEntity")
    event["date"] = "2026-04-01"
    grade2 = vignette(V02)
    put(grade2, "conditions", event)
    assert "ild-history-before-tdxd" in rules_fired(client, grade2)
    grade0 = vignette(V02)
    none = for_patient(example("edited/AdverseEvent-example-pneumonitis-grade0"))
    none["date"] = "2026-04-01"
    put(grade0, "conditions", none)
    assert "ild-history-before-tdxd" not in rules_fired(client, grade0)


def test_chest_ct_imaging_study_is_baseline_imaging(client: FlaskClient) -> None:
    request = vignette(V02)
    assert "ild-baseline-imaging" in rules_fired(client, request)
    study = for_patient(example("r4-core-4.0.1/ImagingStudy-example"))
    study["started"] = "2026-11-10T09:00:00Z"
    # The example's body site ("Upper Trunk Structure") made the chest, as a display only.
    study["series"][0]["bodySite"] = {"display": "Chest"}
    put(request, "diagnosticReports", study)
    assert "ild-baseline-imaging" not in rules_fired(client, request)


def test_undated_lvef_takes_its_report_date_and_wins_over_an_older_low_value(
    client: FlaskClient,
) -> None:
    request = vignette(V02)
    lvef = next(
        e["resource"] for e in entries(request, "observations") if e["resource"]["id"] == "lvef"
    )
    old_low = {**copy.deepcopy(lvef), "id": "lvef-old", "effectiveDateTime": "2026-06-01"}
    old_low["valueQuantity"] = {**lvef["valueQuantity"], "value": 35}
    undated = copy.deepcopy(lvef)
    undated.pop("effectiveDateTime", None)
    undated.pop("issued", None)
    undated["valueQuantity"] = {**lvef["valueQuantity"], "value": 62}
    put(request, "observations", old_low)
    put(request, "observations", undated, "lvef")
    without_report = rules_fired(client, request)
    assert "cardiac-lvef" in without_report  # the undated 62 % counts as older than 35 %
    report = {
        "resourceType": "DiagnosticReport",
        "id": "echo-report",
        "status": "final",
        "code": {"text": "Transthoracic echocardiogram"},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-11-10",
        "result": [{"reference": f"Observation/{undated['id']}"}],
    }
    put(request, "diagnosticReports", report)
    assert "cardiac-lvef" not in rules_fired(client, request)


V09 = "v09_tdxd_ordered_at_6_4_mg_per_kg"
IHC_FIXTURE = (
    Path(__file__).resolve().parent / "rules" / "fixtures"
    / "test-her2-ihc__fires__progressed_after_platinum_no_ihc.json"
)  # fmt: skip


def response_body(client: FlaskClient, request: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/cds-services/{SERVICE[request['hook']]}", json=request)
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def draft(request: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = request["context"]["draftOrders"]["entry"][0]["resource"]
    return resource


def test_tumour_marker_her2_negative_means_ihc_is_not_asked_for_again(
    client: FlaskClient,
) -> None:
    request: dict[str, Any] = json.loads(IHC_FIXTURE.read_text())
    assert "test-her2-ihc" in rules_fired(client, request)
    patient = request["context"]["patientId"]
    marker = for_patient(example("mcode-4.0.0/Observation-tumor-marker-test-her2-jenny-m"), patient)
    put(request, "observations", marker)
    assert "test-her2-ihc" not in rules_fired(client, request)


def test_a_dexamethasone_premed_naming_enhertu_is_not_a_t_dxd_order(client: FlaskClient) -> None:
    request = vignette(V09)
    assert "dose-tdxd" in rules_fired(client, request)
    draft(request)["medicationCodeableConcept"] = {"text": "dexamethasone premed for Enhertu"}
    assert "dose-tdxd" not in rules_fired(client, request)


def test_a_coded_t_dxd_draft_with_an_unknown_code_is_reported_not_guessed(
    client: FlaskClient,
) -> None:
    request = vignette(V09)
    draft(request)["medicationCodeableConcept"] = {
        "coding": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.698288", "code": "424242"}],
        "text": "fam-trastuzumab deruxtecan-nxki (Enhertu) 100 mg vial",
    }
    body = response_body(client, request)
    fired = [c["source"]["topic"]["code"] for c in body["cards"]]
    assert "dose-tdxd" not in fired
    assert "order-drug-not-identified" in fired  # never silent (9.1 safety net)
    issues = body["extension"]["her2-nsclc-cds.data-quality"]["issues"]
    assert {
        "resourceType": "MedicationRequest",
        "id": "tdxd-draft",
        "reason": "medication code not recognised; its text names trastuzumab deruxtecan: "
        "not identified",
    } in issues


def test_a_draft_medication_in_the_draft_orders_bundle_is_resolved(client: FlaskClient) -> None:
    request = vignette(V09)
    concept = draft(request).pop("medicationCodeableConcept")
    draft(request)["medicationReference"] = {"reference": "Medication/enhertu"}
    request["context"]["draftOrders"]["entry"].append(
        {"resource": {"resourceType": "Medication", "id": "enhertu", "code": concept}}
    )
    assert "dose-tdxd" in rules_fired(client, request)

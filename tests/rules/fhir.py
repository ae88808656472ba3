"""Small builders of FHIR R4 JSON: the one patient builder of the tests and the demo.

The request fixtures (``make_fixtures``), the demo's and the benchmark's patients
(``demo/patients.py``) and the seeded test FHIR server (``tests/fhir_server.py``) are
built with them. Each builder returns one resource as plain JSON, the way an EHR would
send it: codes from clinical-rules.md section 7 spelled out here, text where the spec
has no code. Pure JSON shaping (no pytest), so that the demo can import it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

Json = dict[str, Any]

PATIENT_ID = "p1"
SUBJECT = {"reference": f"Patient/{PATIENT_ID}"}
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"

PREFETCH_KEYS = {
    "Condition": "conditions",
    "Observation": "observations",
    "MedicationStatement": "medicationStatements",
    "MedicationRequest": "medicationRequests",
    "MedicationAdministration": "medicationAdministrations",
    "Procedure": "procedures",
    "DiagnosticReport": "diagnosticReports",
    "AdverseEvent": "adverseEvents",
}


def coding(system: str, code: str, display: str) -> Json:
    return {"system": system, "code": code, "display": display}


def concept(*codings: Json, text: str | None = None) -> Json:
    value: Json = {}
    if codings:
        value["coding"] = list(codings)
    if text:
        value["text"] = text
    return value


def patient(gender: str | None = "female", birth_date: str | None = "1962-03-14") -> Json:
    resource: Json = {"resourceType": "Patient", "id": PATIENT_ID}
    if gender is not None:
        resource["gender"] = gender
    if birth_date is not None:
        resource["birthDate"] = birth_date
    return resource


# --- Conditions --------------------------------------------------------------------------


def condition(
    ident: str,
    code: Json,
    *,
    onset: str | None = None,
    abatement: str | None = None,
    clinical: str | None = "active",
    note: str | None = None,
    stage: str | None = None,
    severity: str | None = None,
    recorded: str | None = None,
) -> Json:
    resource: Json = {"resourceType": "Condition", "id": ident}
    if clinical:
        resource["clinicalStatus"] = concept(coding(CLINICAL, clinical, clinical.capitalize()))
    resource["verificationStatus"] = concept(coding(VERIFICATION, "confirmed", "Confirmed"))
    resource["code"] = code
    resource["subject"] = SUBJECT
    if onset:
        resource["onsetDateTime"] = onset
    if abatement:
        resource["abatementDateTime"] = abatement
    if recorded:
        resource["recordedDate"] = recorded
    if stage:
        resource["stage"] = [{"summary": {"text": stage}}]
    if severity:
        resource["severity"] = {"text": severity}
    if note:
        resource["note"] = [{"text": note}]
    return resource


def lung_adenocarcinoma(stage: str | None = "Stage IVB", onset: str = "2026-01-05") -> Json:
    return condition(
        "nsclc",
        concept(coding(SNOMED, "254626006", "Adenocarcinoma of lung")),
        onset=onset,
        stage=stage,
    )


def lung_squamous(stage: str = "Stage IVA") -> Json:
    return condition(
        "nsclc",
        concept(coding(SNOMED, "59529006", "Squamous cell carcinoma of lung")),
        onset="2026-01-05",
        stage=stage,
    )


def brain_metastases(note: str = "Untreated; no radiotherapy yet.") -> Json:
    return condition(
        "brain-mets",
        concept(coding(SNOMED, "94225005", "Metastasis to brain")),
        onset="2026-01-10",
        note=note,
    )


def pneumonitis(
    ident: str,
    *,
    onset: str | None,
    abatement: str | None = None,
    note: str | None = None,
    severity: str | None = None,
    recorded: str | None = None,
) -> Json:
    return condition(
        ident,
        concept(coding(SNOMED, "205237003", "Pneumonitis")),
        onset=onset,
        abatement=abatement,
        clinical="resolved" if abatement else "active",
        note=note,
        severity=severity,
        recorded=recorded,
    )


def copd() -> Json:
    return condition(
        "copd",
        concept(coding(ICD10, "J44.9", "Chronic obstructive pulmonary disease, unspecified")),
        onset="2015-06-01",
    )


def heart_failure(onset: str = "2022-03-01") -> Json:
    return condition("hf", concept(coding(SNOMED, "84114007", "Heart failure")), onset=onset)


# --- Observations ----------------------------------------------------------------------------


def erbb2_variant(
    ident: str,
    protein: str,
    *,
    when: str = "2026-01-20",
    significance: tuple[str, str] = ("LA6668-3", "Pathogenic"),
    specimen: str = "Tumor tissue (FFPE lung biopsy)",
    method: str = "Next-generation sequencing panel",
    dna: str | None = None,
) -> Json:
    """An ERBB2 variant (``protein``, and ``dna``: its c.HGVS, if given)."""
    dna_change = [
        {
            "code": concept(coding(LOINC, "48004-6", "DNA change (c.HGVS)")),
            "valueCodeableConcept": concept(text=dna),
        }
    ]
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": concept(coding(LOINC, "69548-6", "Genetic variant assessment")),
        "subject": SUBJECT,
        "effectiveDateTime": when,
        "valueCodeableConcept": concept(coding(LOINC, "LA9633-4", "Present")),
        "method": {"text": method},
        "specimen": {"display": specimen},
        "component": [
            {
                "code": concept(coding(LOINC, "48018-6", "Gene studied [ID]")),
                "valueCodeableConcept": concept(
                    coding("http://www.genenames.org/geneId", "HGNC:3430", "ERBB2")
                ),
            },
            {
                "code": concept(coding(LOINC, "48005-3", "Amino acid change (pHGVS)")),
                "valueCodeableConcept": concept(
                    coding("http://varnomen.hgvs.org", protein, protein)
                ),
            },
            *(dna_change if dna else []),
            {
                "code": concept(
                    coding(LOINC, "53037-8", "Genetic variation clinical significance [Imp]")
                ),
                "valueCodeableConcept": concept(coding(LOINC, *significance)),
            },
        ],
    }


def erbb2_negative(
    ident: str, *, when: str = "2026-01-20", specimen: str = "Tumor tissue (FFPE lung biopsy)"
) -> Json:
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "code": concept(coding(LOINC, "69548-6", "Genetic variant assessment")),
        "subject": SUBJECT,
        "effectiveDateTime": when,
        "valueCodeableConcept": concept(
            coding(LOINC, "LA9634-2", "Absent"), text="No ERBB2 variant detected"
        ),
        "specimen": {"display": specimen},
        "component": [
            {
                "code": concept(coding(LOINC, "48018-6", "Gene studied [ID]")),
                "valueCodeableConcept": concept(
                    coding("http://www.genenames.org/geneId", "HGNC:3430", "ERBB2")
                ),
            }
        ],
    }


def egfr_result(ident: str, protein: str | None, *, when: str = "2025-02-10") -> Json:
    """An EGFR variant (``protein``) or, with None, EGFR tested with no variant found. The
    gene is named by text only: section 7 gives no EGFR gene code."""
    components: list[Json] = [
        {
            "code": concept(coding(LOINC, "48018-6", "Gene studied [ID]")),
            "valueCodeableConcept": concept(text="EGFR"),
        }
    ]
    if protein is not None:
        components.append(
            {
                "code": concept(coding(LOINC, "48005-3", "Amino acid change (pHGVS)")),
                "valueCodeableConcept": concept(
                    coding("http://varnomen.hgvs.org", protein, protein)
                ),
            }
        )
    value = (
        concept(coding(LOINC, "LA9633-4", "Present"))
        if protein is not None
        else concept(coding(LOINC, "LA9634-2", "Absent"), text="No EGFR variant detected")
    )
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "code": concept(coding(LOINC, "69548-6", "Genetic variant assessment")),
        "subject": SUBJECT,
        "effectiveDateTime": when,
        "valueCodeableConcept": value,
        "specimen": {"display": "Tumor tissue (FFPE lung biopsy)"},
        "component": components,
    }


def her2_ihc(score: str, *, when: str = "2026-07-02") -> Json:
    return {
        "resourceType": "Observation",
        "id": "her2-ihc",
        "status": "final",
        "code": concept(coding(LOINC, "18474-7", "HER2 Ag [Presence] in Tissue by Immune stain")),
        "subject": SUBJECT,
        "effectiveDateTime": when,
        "valueString": score,
    }


def her2_ish_amplified(*, when: str = "2026-07-02") -> Json:
    return {
        "resourceType": "Observation",
        "id": "her2-ish",
        "status": "final",
        "code": concept(coding(LOINC, "31150-6", "ERBB2 gene dup [Presence] in Tissue by FISH")),
        "subject": SUBJECT,
        "effectiveDateTime": when,
        "valueCodeableConcept": concept(text="Amplified (HER2/CEP17 ratio 3.1)"),
    }


def quantity_observation(  # noqa: PLR0917 - one positional per FHIR element
    ident: str,
    code: Json,
    value: float,
    unit: str,
    ucum: str,
    when: str,
    *,
    high: float | None = None,
) -> Json:
    resource: Json = {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "code": code,
        "subject": SUBJECT,
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": ucum},
    }
    if high is not None:
        resource["referenceRange"] = [
            {"high": {"value": high, "unit": unit, "system": UCUM, "code": ucum}}
        ]
    return resource


def weight(kg: float, when: str = "2026-11-14") -> Json:
    return quantity_observation(
        "weight", concept(coding(LOINC, "29463-7", "Body weight")), kg, "kg", "kg", when
    )


def lvef(percent: float, when: str = "2026-10-30", ident: str = "lvef") -> Json:
    return quantity_observation(
        ident,
        concept(coding(LOINC, "10230-1", "Left ventricular Ejection fraction")),
        percent,
        "%",
        "%",
        when,
    )


NYHA_ANSWERS = {
    1: ("420300004", "New York Heart Association Classification - Class I"),
    2: ("421704003", "New York Heart Association Classification - Class II"),
    3: ("420913000", "New York Heart Association Classification - Class III"),
    4: ("422293003", "New York Heart Association Classification - Class IV"),
}
"""SNOMED CT NYHA class answers (fhir_mappings.terminology.NYHA_SNOMED_SOURCE)."""


def nyha(functional_class: int, when: str, ident: str = "nyha") -> Json:
    """An NYHA functional class statement: LOINC 88020-3 with a SNOMED CT answer."""
    code, display = NYHA_ANSWERS[functional_class]
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "code": concept(coding(LOINC, "88020-3", "Functional capacity NYHA")),
        "subject": SUBJECT,
        "effectiveDateTime": when,
        "valueCodeableConcept": concept(coding(SNOMED, code, display)),
    }


def ecog(score: int, when: str, ident: str = "ecog") -> Json:
    """ECOG performance status, LOINC 89247-1."""
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "code": concept(coding(LOINC, "89247-1", "ECOG performance status")),
        "subject": SUBJECT,
        "effectiveDateTime": when,
        "valueInteger": score,
    }


def alt(value: float, when: str = "2026-11-14", high: float = 40) -> Json:
    return quantity_observation(
        "alt",
        concept(coding(LOINC, "1742-6", "ALT [Enzymatic activity/volume] in Serum or Plasma")),
        value,
        "U/L",
        "U/L",
        when,
        high=high,
    )


def ast(value: float, when: str = "2026-11-14", high: float = 40) -> Json:
    return quantity_observation(
        "ast",
        concept(coding(LOINC, "1920-8", "AST [Enzymatic activity/volume] in Serum or Plasma")),
        value,
        "U/L",
        "U/L",
        when,
        high=high,
    )


def bilirubin(value: float, when: str = "2026-11-14", high: float = 1.2) -> Json:
    return quantity_observation(
        "bili",
        concept(coding(LOINC, "1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma")),
        value,
        "mg/dL",
        "mg/dL",
        when,
        high=high,
    )


def liver_panel(
    when: str = "2026-11-14", *, alt_value: float = 30, ast_value: float = 28
) -> list[Json]:
    return [alt(alt_value, when), ast(ast_value, when), bilirubin(0.6, when)]


def anc(value: float, when: str = "2026-11-19", ident: str = "anc") -> Json:
    return quantity_observation(
        ident,
        concept(coding(LOINC, "751-8", "Neutrophils [#/volume] in Blood by Automated count")),
        value,
        "10*9/L",
        "10*9/L",
        when,
    )


def temperature(celsius: float, when: str = "2026-11-19", ident: str = "temperature") -> Json:
    return quantity_observation(
        ident, concept(coding(LOINC, "8310-5", "Body temperature")), celsius, "Cel", "Cel", when
    )


def platelets(value: float, when: str = "2026-11-19", ident: str = "platelets") -> Json:
    """LOINC 777-3 (checked in the US Core platelets example)."""
    return quantity_observation(
        ident,
        concept(coding(LOINC, "777-3", "Platelets [#/volume] in Blood by Automated count")),
        value,
        "10*3/uL",
        "10*3/uL",
        when,
    )


def pregnancy_test(result: str, when: str = "2026-11-19") -> Json:
    """Urine hCG, LOINC 2106-3 (checked in the HL7 IBCM pregnancy-test example)."""
    return {
        "resourceType": "Observation",
        "id": "hcg",
        "status": "final",
        "code": concept(
            coding(LOINC, "2106-3", "Choriogonadotropin (pregnancy test) [Presence] in Urine")
        ),
        "subject": SUBJECT,
        "effectiveDateTime": when,
        "valueCodeableConcept": concept(text=result),
    }


def procedure(ident: str, text: str, when: str) -> Json:
    """A completed Procedure named by text only (no checked code)."""
    return {
        "resourceType": "Procedure",
        "id": ident,
        "status": "completed",
        "code": {"text": text},
        "subject": SUBJECT,
        "performedDateTime": when,
    }


def hysterectomy(when: str = "2015-04-20") -> Json:
    return procedure("hysterectomy", "Total abdominal hysterectomy", when)


def progression(ident: str, when: str) -> Json:
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "code": concept(coding(LOINC, "97509-4", "Cancer disease status")),
        "subject": SUBJECT,
        "effectiveDateTime": when,
        "valueCodeableConcept": concept(
            coding(SNOMED, "271299001", "Patient's condition worsened")
        ),
    }


def report(ident: str, text: str, when: str, conclusion: str | None = None) -> Json:
    """A final DiagnosticReport named by text only."""
    resource: Json = {
        "resourceType": "DiagnosticReport",
        "id": ident,
        "status": "final",
        "code": {"text": text},
        "subject": SUBJECT,
        "effectiveDateTime": when,
    }
    if conclusion is not None:
        resource["conclusion"] = conclusion
    return resource


def chest_ct(when: str, ident: str = "ct-chest", conclusion: str = "No new opacities.") -> Json:
    return report(ident, "CT chest without contrast", when, conclusion)


# --- Medications ------------------------------------------------------------------------------

DRUG_CONCEPT: dict[str, Json] = {
    "tdxd": concept(
        coding(RXNORM, "2267581", "Enhertu"), text="fam-trastuzumab deruxtecan-nxki (Enhertu)"
    ),
    "zongertinib": concept(text="zongertinib (Hernexeos) 60 mg tablet"),
    "zongertinib-unknown-code": concept(
        coding(RXNORM, "TEST-ZONG-120-SCD", "zongertinib 120 MG Oral Tablet"),
        text="zongertinib (Hernexeos) 120 mg tablet",
    ),
    # ^ a stand-in for a site's RxNorm SCD: not a real RXCUI (none is verified for
    #   zongertinib); the service does not recognise it without a site order catalog.
    "sevabertinib": concept(text="sevabertinib (Hyrnuo) 10 mg tablet"),
    "carboplatin": concept(text="CARBOplatin IVPB"),
    "pemetrexed": concept(text="pemetrexed (Alimta) IV"),
    "pembrolizumab": concept(text="pembrolizumab (KEYTRUDA) 200 mg IV"),
    "docetaxel": concept(text="docetaxel IV"),
    "amivantamab": concept(text="amivantamab-vmjw (Rybrevant) IV"),
    "osimertinib": concept(text="osimertinib (Tagrisso) 80 mg tablet"),
    "t-dm1": concept(text="ado-trastuzumab emtansine (Kadcyla)"),
    "trastuzumab": concept(text="trastuzumab-anns (Kanjinti) IV"),
    "itraconazole": concept(text="itraconazole 100 mg capsule"),
    "rifampin": concept(text="rifAMPin 300 mg capsule"),
    "atorvastatin": concept(
        coding(RXNORM, "617310", "atorvastatin 20 MG Oral Tablet"), text="atorvastatin 20 mg tablet"
    ),
}


def medication(drug: str | Json) -> Json:
    """A drug's concept: a key of DRUG_CONCEPT, or a concept as it is."""
    return DRUG_CONCEPT[drug] if isinstance(drug, str) else drug


def administration(
    drug: str | Json, when: str, dose: float | None, unit: str, ident: str | None = None
) -> Json:
    """A completed MedicationAdministration (``dose`` None: no dosage recorded)."""
    resource: Json = {
        "resourceType": "MedicationAdministration",
        "id": ident or f"{drug}-{when}",
        "status": "completed",
        "medicationCodeableConcept": medication(drug),
        "subject": SUBJECT,
        "effectiveDateTime": when,
    }
    if dose is not None:
        resource["dosage"] = {"dose": {"value": dose, "unit": unit, "system": UCUM, "code": unit}}
    return resource


def medication_statement(ident: str, drug: str | Json, *, status: str, start: str) -> Json:
    return {
        "resourceType": "MedicationStatement",
        "id": ident,
        "status": status,
        "medicationCodeableConcept": medication(drug),
        "subject": SUBJECT,
        "effectivePeriod": {"start": start},
    }


def medication_request(ident: str, drug: str | Json, *, status: str, authored: str) -> Json:
    """A MedicationRequest with no dosage (``prescription``: with one)."""
    return {
        "resourceType": "MedicationRequest",
        "id": ident,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": medication(drug),
        "subject": SUBJECT,
        "authoredOn": authored,
    }


def course(drug: str, dates: list[str], dose: float, unit: str) -> list[Json]:
    return [administration(drug, when, dose, unit) for when in dates]


def prescription(
    drug: str,
    ident: str,
    *,
    start: str,
    status: str = "active",
    end: str | None = None,
    reason: str | None = None,
    dose: float | None = None,
    unit: str = "mg",
    frequency: tuple[int, int, str] = (1, 1, "d"),
) -> Json:
    resource = medication_request(ident, drug, status=status, authored=start)
    if reason:
        resource["statusReason"] = {"text": reason}
    repeat: Json = {"frequency": frequency[0], "period": frequency[1], "periodUnit": frequency[2]}
    repeat["boundsPeriod"] = {"start": start, **({"end": end} if end else {})}
    dosage: Json = {"timing": {"repeat": repeat}}
    if dose is not None:
        dosage["doseAndRate"] = [
            {"doseQuantity": {"value": dose, "unit": unit, "system": UCUM, "code": unit}}
        ]
    resource["dosageInstruction"] = [dosage]
    return resource


def draft(
    drug: str, ident: str, dose: float | None, unit: str, frequency: tuple[int, int, str]
) -> Json:
    resource = prescription(
        drug, ident, start="2026-11-21", status="draft", dose=dose, unit=unit, frequency=frequency
    )
    resource["intent"] = "order"
    del resource["authoredOn"]
    resource["dosageInstruction"][0]["timing"]["repeat"].pop("boundsPeriod")
    return resource


def draft_tdxd(ident: str = "tdxd-draft", mg_per_kg: float = 5.4) -> Json:
    return draft("tdxd", ident, mg_per_kg, "mg/kg", (1, 3, "wk"))


def draft_zongertinib(mg: float = 120, ident: str = "zong-draft") -> Json:
    return draft("zongertinib", ident, mg, "mg", (1, 1, "d"))


def draft_sevabertinib(ident: str = "seva-draft", mg: float = 20, per_day: int = 2) -> Json:
    return draft("sevabertinib", ident, mg, "mg", (per_day, 1, "d"))


def draft_tdm1(ident: str = "tdm1-draft", mg_per_kg: float = 3.6) -> Json:
    return draft("t-dm1", ident, mg_per_kg, "mg/kg", (1, 3, "wk"))


def draft_oral_or_iv(drug: str, ident: str, dose: float | None = None, unit: str = "mg") -> Json:
    return draft(drug, ident, dose, unit, (1, 3, "wk"))


def nutrition_order() -> Json:
    return {
        "resourceType": "NutritionOrder",
        "id": "diet",
        "status": "draft",
        "intent": "order",
        "patient": SUBJECT,
        "dateTime": "2026-11-21",
        "oralDiet": {"type": [{"text": "Pureed diet"}]},
    }


# --- The request ------------------------------------------------------------------------------


def request(
    name: str,
    hook: str,
    resources: list[Json],
    *,
    drafts: Sequence[Json] = (),
    selections: list[str] | None = None,
    patient_resource: Json | None = None,
) -> Json:
    """A CDS Hooks request: ``resources`` sorted into the prefetch keys of discovery."""
    prefetch: Json = {"patient": patient_resource or patient()}
    for key in PREFETCH_KEYS.values():
        prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    for resource in resources:
        key = PREFETCH_KEYS[resource["resourceType"]]
        prefetch[key]["entry"].append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name + resource['id'])}",
                "resource": resource,
            }
        )
    for bundle in prefetch.values():
        if bundle.get("resourceType") == "Bundle":
            bundle["total"] = len(bundle["entry"])
    context: Json = {"userId": "Practitioner/onc-1", "patientId": PATIENT_ID}
    if hook != "patient-view":
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": d} for d in drafts],
        }
    if hook == "order-select":
        context["selections"] = selections or [f"{d['resourceType']}/{d['id']}" for d in drafts]
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:her2-nsclc-cds:fixture:{name}")),
        "context": context,
        "prefetch": prefetch,
    }

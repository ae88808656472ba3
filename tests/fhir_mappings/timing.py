"""Timing of ``build_patient`` on a generated ~2,000-resource record (a script, not a test).

Run: ``.venv/bin/python -m tests.fhir_mappings.timing``. Two years of 3-weekly visits:
40 irrelevant lab/vital Observations and 5 relevant ones (ALT, AST, bilirubin, ANC,
weight) per visit, carboplatin / pemetrexed / pembrolizumab plus two supportive drugs
per visit, and 80 unrelated Conditions and Procedures.
"""

from __future__ import annotations

import statistics
import time
from datetime import date, timedelta
from typing import Any

from fhir_mappings.build import build_patient
from tests.fhir_mappings.support import fixture

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
IRRELEVANT = ["2093-3", "2345-7", "2160-0", "718-7", "777-3", "2951-2", "2823-3", "8480-6",
              "8462-4", "8867-4", "6690-2", "1751-7", "17861-6", "2075-0", "3094-0", "8310-5",
              "9279-1", "59408-5", "1988-5", "2532-0"]  # fmt: skip
RELEVANT = [("1742-6", "U/L"), ("1920-8", "U/L"), ("1975-2", "mg/dL"), ("751-8", "10*3/uL"),
            ("29463-7", "kg")]  # fmt: skip
DRUGS = ["carboplatin", "pemetrexed", "pembrolizumab", "ondansetron", "dexamethasone"]


def _observation(ident: str, code: str, unit: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "category": [{"coding": [{"code": "laboratory"}]}],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": 12.5, "unit": unit},
        "referenceRange": [{"high": {"value": 40, "unit": unit}}],
    }


def record() -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = [
        e["resource"] for e in fixture("exon20_insertion_mcode_tissue")["entry"]
    ]
    for visit in range(36):
        when = (date(2023, 1, 2) + timedelta(days=21 * visit)).isoformat()
        for n, code in enumerate(IRRELEVANT * 2):
            resources.append(_observation(f"x{visit}-{n}", code, "mg/dL", when))
        for code, unit in RELEVANT:
            resources.append(_observation(f"r{visit}-{code}", code, unit, when))
        for drug in DRUGS:
            resources.append(
                {
                    "resourceType": "MedicationAdministration",
                    "id": f"ma{visit}-{drug}",
                    "status": "completed",
                    "medicationCodeableConcept": {"coding": [{"system": RXNORM, "display": drug}]},
                    "subject": {"reference": "Patient/p1"},
                    "effectiveDateTime": when,
                    "dosage": {"dose": {"value": 100, "unit": "mg", "code": "mg"}},
                }
            )
    for n in range(40):
        other = {"coding": [{"system": "http://snomed.info/sct", "code": str(1000 + n)}]}
        resources.append({"resourceType": "Condition", "id": f"c{n}", "code": other,
                          "subject": {"reference": "Patient/p1"}})  # fmt: skip
        resources.append({"resourceType": "Procedure", "id": f"p{n}", "status": "completed",
                          "code": {"text": f"Procedure {n}"},
                          "subject": {"reference": "Patient/p1"}})  # fmt: skip
    return resources


def main() -> None:
    resources = record()
    as_of = date(2025, 6, 1)
    build_patient(resources, as_of=as_of)  # warm-up: imports and pydantic validators
    times = []
    for _ in range(30):
        started = time.perf_counter()
        build_patient(resources, as_of=as_of)
        times.append((time.perf_counter() - started) * 1000)
    print(
        f"{len(resources)} resources: median {statistics.median(times):.1f} ms, "
        f"min {min(times):.1f} ms, max {max(times):.1f} ms"
    )


if __name__ == "__main__":
    main()

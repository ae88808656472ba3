"""The benchmark's faulty FHIR server (``bench.faulty``), built on the shared scripted
server (``demo.fhir_server.ScriptedFhirServer`` with a ``record``): it serves the record
as a US Core server would, and only the faulty search misbehaves."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import requests

from bench.faulty import CASES, Fault, FaultyFhirServer
from demo.patients import DemoPatient, benchmark_record

PATIENT = benchmark_record(200, today=date(2026, 11, 21))


def serve(fault: Fault, resource_type: str = "MedicationRequest") -> FaultyFhirServer:
    return FaultyFhirServer(PATIENT, resource_type=resource_type, fault=fault, deadline_s=0.1)


def get(server: FaultyFhirServer, relative: str, timeout: float = 30) -> requests.Response:
    return requests.get(f"{server.base_url}/{relative}", timeout=timeout)


def ids(bundle: dict[str, Any]) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle["entry"]]


def of_type(patient: DemoPatient, resource_type: str) -> list[dict[str, Any]]:
    return [r for r in patient.resources if r["resourceType"] == resource_type]


def test_the_record_is_served_and_searches_are_filtered_as_a_us_core_server_would() -> None:
    with serve(Fault.ERROR_500) as server:
        patient = get(server, f"Patient/{PATIENT.patient_id}").json()
        labs = get(server, f"Observation?patient={PATIENT.patient_id}&category=laboratory")
        unknown = get(server, "Patient/someone-else")
        empty = get(server, f"Immunization?patient={PATIENT.patient_id}").json()
    assert patient["id"] == PATIENT.patient_id
    lab_ids = [
        r["id"]
        for r in of_type(PATIENT, "Observation")
        if any(c["code"] == "laboratory" for cat in r.get("category", []) for c in cat["coding"])
    ]
    assert lab_ids
    assert ids(labs.json()) == lab_ids
    assert len(lab_ids) < len(of_type(PATIENT, "Observation"))
    assert unknown.status_code == 404
    assert empty["entry"] == []
    assert [r.path for r in server.requests][:1] == [f"/fhir/Patient/{PATIENT.patient_id}"]


def test_only_the_faulty_search_fails() -> None:
    with serve(Fault.ERROR_500) as server:
        faulty = get(server, f"MedicationRequest?patient={PATIENT.patient_id}")
        healthy = get(server, f"Condition?patient={PATIENT.patient_id}")
    assert faulty.status_code == 500
    assert faulty.json()["resourceType"] == "OperationOutcome"
    assert ids(healthy.json()) == [r["id"] for r in of_type(PATIENT, "Condition")]


def test_a_slow_search_gives_the_normal_answer_late() -> None:
    with serve(Fault.SLOW) as server:
        answer = get(server, f"MedicationRequest?patient={PATIENT.patient_id}")
    assert ids(answer.json()) == [r["id"] for r in of_type(PATIENT, "MedicationRequest")]


def test_an_endless_next_chain_links_one_more_page_each_time() -> None:
    with serve(Fault.ENDLESS_NEXT) as server:
        first = get(server, f"MedicationRequest?patient={PATIENT.patient_id}").json()
        second = requests.get(first["link"][0]["url"], timeout=30).json()
    assert first["entry"] == second["entry"] == []
    assert first["link"][0]["url"].startswith(server.base_url)
    assert first["link"][0]["url"].endswith("&page=2")
    assert second["link"][0]["url"].endswith("&page=3")


def test_a_hanging_search_never_answers() -> None:
    with serve(Fault.HANG, "Procedure") as server, pytest.raises(requests.ReadTimeout):
        get(server, f"Procedure?patient={PATIENT.patient_id}", timeout=0.5)


def test_a_trickling_search_announces_a_large_body_and_sends_a_bundle_start() -> None:
    with (
        serve(Fault.TRICKLE) as server,
        requests.get(
            f"{server.base_url}/MedicationRequest?patient={PATIENT.patient_id}",
            stream=True,
            timeout=30,
        ) as answer,
    ):
        start = answer.raw.read(10)
    assert answer.headers["Content-Length"] == "100000000"
    assert start == b'{"resource'


def test_every_case_names_a_fault_this_server_plays() -> None:
    assert {case.fault for case in CASES} == set(Fault)

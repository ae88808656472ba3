"""The demo environment: generated patients, the demo FHIR server, the feedback report.

The vignettes are checked end to end: loaded by the demo loader into a real SEKMET
behind the demo's sandbox proxy, fetched by the real app (no prefetch), and expected to
earn their cards. Codes are spelled out here, from clinical-rules.md section 7.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from cds_service.feedback_store import open_feedback_store
from cds_service.settings import Settings
from demo import report
from demo.fhir_server import FhirServer, demo_fhir_server, load
from demo.hooks import HOOKS, hook_request
from demo.patients import BENCHMARK_SIZES, DemoPatient, benchmark_record, demo_patients
from fhir_mappings.build import build_patient
from tests.conftest import FIXED_TODAY

# Section 7's codes (RxNorm: the verified ones only). ICD-10-CM is checked by prefix.
# fmt: off
SECTION_7_CODES: dict[str, frozenset[str]] = {
    "http://loinc.org": frozenset(
        {
            "69548-6", "48018-6", "48005-3", "48004-6", "81290-9", "48019-4", "53037-8",
            "LA6668-3", "LA26332-9", "LA6682-4", "LA6675-8", "48002-0", "81258-6", "51969-4",
            "18474-7", "72383-3", "48676-1", "85319-2", "31150-6", "49683-6", "74860-8",
            "96893-3", "85318-4", "83053-9", "89247-1", "97509-4", "10230-1", "1742-6",
            "1920-8", "1975-2", "751-8", "26499-4", "29463-7",
        }
    ),
    "http://snomed.info/sct": frozenset(
        {
            "254637007", "254626006", "59529006", "94225005", "233703007", "205237003",
            "427046006", "196051003", "64667001", "84004001", "719218000", "13645005",
            "84114007", "42343007", "134401001", "271299001",
        }
    ),
    "http://www.genenames.org/geneId": frozenset({"HGNC:3430"}),
    "http://www.genenames.org": frozenset({"HGNC:3430"}),
    "http://www.nlm.nih.gov/research/umls/rxnorm": frozenset(
        {"2267576", "2267581", "1658084", "1658087", "1658089", "1658091"}
    ),
}
# fmt: on
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10CM_PREFIXES = ("C34", "C79.31", "C79.32", "J84", "J70.0", "J70.1", "J70.2", "J70.3",
                    "J70.4", "J44", "I50")  # fmt: skip
FHIR_OWN = {
    "http://terminology.hl7.org/CodeSystem/condition-clinical",
    "http://terminology.hl7.org/CodeSystem/observation-category",
}
TOKEN = "demo-test-token"


def all_patients() -> tuple[DemoPatient, ...]:
    benchmark = tuple(
        benchmark_record(size, today=FIXED_TODAY) for size in BENCHMARK_SIZES.values()
    )
    return demo_patients(today=FIXED_TODAY) + benchmark


def codings(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if "system" in value and "code" in value and isinstance(value["code"], str):
            yield value
        for item in value.values():
            yield from codings(item)
    elif isinstance(value, list):
        for item in value:
            yield from codings(item)


# --- The generator --------------------------------------------------------------------


def test_same_seed_same_json_and_another_seed_other_noise() -> None:
    first = json.dumps([p.resources for p in demo_patients(7, today=FIXED_TODAY)])
    again = json.dumps([p.resources for p in demo_patients(7, today=FIXED_TODAY)])
    other = json.dumps([p.resources for p in demo_patients(8, today=FIXED_TODAY)])
    assert first == again
    assert first != other
    record = json.dumps(benchmark_record(200, 3, today=FIXED_TODAY).resources)
    assert record == json.dumps(benchmark_record(200, 3, today=FIXED_TODAY).resources)


def test_the_ten_vignettes_and_the_noisy_records_are_there() -> None:
    patients = demo_patients(today=FIXED_TODAY)
    assert sum(p.patient_id.startswith("demo-v") for p in patients) == 10
    noisy = [p for p in patients if p.patient_id.startswith("demo-n")]
    assert len(noisy) >= 2
    assert all(len(p.resources) > 150 for p in noisy)
    assert len({p.patient_id for p in patients}) == len(patients)


@pytest.mark.parametrize("size", [20, 200, 2000])
def test_benchmark_records_have_the_size_asked_for(size: int) -> None:
    resources = benchmark_record(size, today=FIXED_TODAY).resources
    assert len(resources) == size
    assert len({(r["resourceType"], r["id"]) for r in resources}) == size


def test_every_generated_patient_maps_without_data_issues() -> None:
    for patient in all_patients():
        drafts = {
            "resourceType": "Bundle",
            "entry": [{"resource": o} for o in patient.draft_orders],
        }
        model = build_patient(patient.resources, as_of=FIXED_TODAY, draft_orders=drafts)
        assert model.data_issues == (), patient.patient_id
        assert model.cancer is not None, patient.patient_id
        assert model.cancer.nsclc, patient.patient_id
        assert len(model.draft_orders) == len(patient.draft_orders), patient.patient_id


def test_only_codes_listed_in_section_7() -> None:
    for patient in all_patients():
        for coding in codings([patient.resources, patient.draft_orders]):
            system, code = coding["system"], coding["code"]
            if system == ICD10CM:
                assert code.startswith(ICD10CM_PREFIXES), (patient.patient_id, code)
            elif system == "http://unitsofmeasure.org" or system in FHIR_OWN:
                continue
            else:
                assert code in SECTION_7_CODES.get(system, ()), (patient.patient_id, system, code)


# --- End to end: demo loader, real SEKMET, real app ----------------------------------


@pytest.fixture(scope="module")
def demo_fhir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirServer]:
    """SEKMET behind the demo proxy, loaded with the demo patients by the demo loader."""
    with demo_fhir_server(tmp_path_factory.mktemp("demo-sekmet"), access_token=TOKEN) as server:
        load(server, [r for p in demo_patients(today=FIXED_TODAY) for r in p.resources])
        yield server


def rule_ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [card["source"]["topic"]["code"] for card in response.get_json()["cards"]]


@pytest.mark.fhir_server
@pytest.mark.parametrize(
    "patient", demo_patients(today=FIXED_TODAY), ids=lambda p: p.patient_id.removeprefix("demo-")
)
def test_vignette_earns_its_cards_fetched_from_the_demo_fhir_server(
    client: FlaskClient, demo_fhir: FhirServer, patient: DemoPatient
) -> None:
    for hook in HOOKS:
        body = hook_request(patient, hook, fhir_server=demo_fhir.base_url, access_token=TOKEN)
        issued = rule_ids(client.post(f"/cds-services/{HOOKS[hook]}", json=body))
        expected = patient.expected["order-sign" if hook == "order-select" else hook]
        assert expected <= set(issued), (hook, issued)


@pytest.mark.fhir_server
def test_the_sandbox_proxy_answers_cors_and_adds_the_token_only_when_none_is_sent(
    demo_fhir: FhirServer,
) -> None:
    origin = {"Origin": "https://sandbox.cds-hooks.org"}
    patient = f"{demo_fhir.base_url}/Patient/demo-v01-exon20-untreated"
    preflight = requests.options(
        patient,
        headers={**origin, "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization"},
        timeout=10,
    )  # fmt: skip
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    metadata = requests.get(f"{demo_fhir.base_url}/metadata", headers=origin, timeout=10)
    assert metadata.status_code == 200
    assert metadata.json()["resourceType"] == "CapabilityStatement"
    assert metadata.headers["Access-Control-Allow-Origin"] == "*"
    assert requests.get(patient, headers=origin, timeout=10).json()["gender"] in {"female", "male"}
    wrong = requests.get(patient, headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert wrong.status_code == 401
    direct = requests.get(demo_fhir.direct_url + "/Patient/demo-v01-exon20-untreated", timeout=10)
    assert direct.status_code == 401


@pytest.mark.fhir_server
def test_a_wrong_token_is_refused_and_the_service_answers_412(
    client: FlaskClient, demo_fhir: FhirServer
) -> None:
    patient = demo_patients(today=FIXED_TODAY)[0]
    body = hook_request(patient, "patient-view", fhir_server=demo_fhir.base_url, access_token="no")
    response = client.post("/cds-services/her2-nsclc-patient-view", json=body)
    assert response.status_code == 412


@pytest.mark.fhir_server
def test_the_access_log_gives_fetch_wall_time_and_the_sum_of_fetch_durations(
    client: FlaskClient, demo_fhir: FhirServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cds_service.access")
    noisy = next(p for p in demo_patients(today=FIXED_TODAY) if len(p.resources) > 300)
    body = hook_request(noisy, "order-sign", fhir_server=demo_fhir.base_url, access_token=TOKEN)
    assert client.post("/cds-services/her2-nsclc-order-sign", json=body).status_code == 200
    (access,) = [r.__dict__["fields"] for r in caplog.records if r.name == "cds_service.access"]
    assert access["fetches"] > 8  # eight keys, and next pages of the longer searches
    assert 0 < access["fetchMs"] <= access["ms"]
    assert 0 < access["fetchSumMs"] <= access["fetches"] * access["fetchMs"]


# --- The feedback report --------------------------------------------------------------

OVERRIDE_SYSTEM = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"


def feedback_item(card: dict[str, Any], *, accept: bool, reason_index: int = 0) -> dict[str, Any]:
    item: dict[str, Any] = {
        "card": card["uuid"],
        "outcomeTimestamp": datetime(2026, 11, 21, 10, 0, tzinfo=UTC).isoformat(),
    }
    if accept:
        item["outcome"] = "accepted"
        item["acceptedSuggestions"] = [{"id": card["suggestions"][0]["uuid"]}]
    else:
        item["outcome"] = "overridden"
        reasons = card.get("overrideReasons") or []
        if reasons:
            item["overrideReason"] = {
                "reason": reasons[reason_index % len(reasons)],
                "userComment": "free text that is never stored",
            }
    return item


def test_report_counts_match_the_feedback_posted_through_the_endpoint(
    client: FlaskClient, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    patients = {p.patient_id: p for p in demo_patients(today=FIXED_TODAY)}
    expected_accepted: Counter[str] = Counter()
    expected_overridden: Counter[str] = Counter()
    expected_reasons: Counter[tuple[str, str, str]] = Counter()
    plan = [("demo-v02-after-platinum", "patient-view"), ("demo-v08-no-molecular-results",
            "patient-view"), ("demo-v10-zongertinib-95kg-alt", "order-sign"),
            ("demo-v04-tdxd-new-pneumonitis", "order-sign")]  # fmt: skip
    turn = 0
    for patient_id, hook in plan:
        for _ in range(2):  # two hook calls per patient: two hook instances, two sets of cards
            service = HOOKS[hook]
            response = client.post(
                f"/cds-services/{service}",
                json=hook_request(patients[patient_id], hook, prefetch=True),
            )
            items = []
            for card in response.get_json()["cards"]:
                rule = card["source"]["topic"]["code"]
                accept = turn % 3 == 0 and bool(card.get("suggestions"))
                item = feedback_item(card, accept=accept, reason_index=turn)
                turn += 1
                items.append(item)
                if accept:
                    expected_accepted[rule] += 1
                    continue
                expected_overridden[rule] += 1
                reason = item.get("overrideReason", {}).get("reason")
                if reason:
                    expected_reasons[(rule, reason["code"], reason["display"])] += 1
                else:  # info cards without suggestions offer no override reasons
                    expected_reasons[(rule, "", "(none given)")] += 1
            assert items, (patient_id, hook)
            posted = client.post(f"/cds-services/{service}/feedback", json={"feedback": items})
            assert posted.status_code == 200, posted.get_json()
            again = client.post(f"/cds-services/{service}/feedback", json={"feedback": items})
            assert again.get_json()["stored"] == 0  # idempotent: counted once

    store = open_feedback_store(settings.feedback_database_url)
    try:
        rows = report.summarise(store.feedback_rows())
    finally:
        store.close()
    assert {r.rule_id: r.accepted for r in rows if r.accepted} == dict(expected_accepted)
    assert {r.rule_id: r.overridden for r in rows if r.overridden} == dict(expected_overridden)
    reasons = Counter(
        {(r.rule_id, code, display): n for r in rows for (code, display), n in r.reasons.items()}
    )
    assert reasons == expected_reasons
    assert expected_accepted
    assert expected_overridden
    assert expected_reasons

    png = tmp_path / "feedback.png"
    assert report.main(["--database-url", settings.feedback_database_url, "--png", str(png)]) == 0
    printed = capsys.readouterr().out
    for rule in expected_accepted | expected_overridden:
        line = next(x for x in printed.splitlines() if x.startswith(rule + " "))
        assert line.split()[1:3] == [str(expected_accepted[rule]), str(expected_overridden[rule])]
    assert "never stored" not in printed
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_report_of_an_empty_store(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main(["--database-url", settings.feedback_database_url]) == 0
    assert "No feedback stored yet." in capsys.readouterr().out


def test_the_demo_adds_cors_origins_from_the_environment_to_its_own() -> None:
    from demo.__main__ import DEMO_CORS_ORIGINS, cors_origins

    assert cors_origins({}).split(",") == list(DEMO_CORS_ORIGINS)
    merged = cors_origins(
        {"CDS_CORS_ORIGINS": "http://127.0.0.1:5173, https://sandbox.cds-hooks.org"}
    )
    assert merged.split(",") == [*DEMO_CORS_ORIGINS, "http://127.0.0.1:5173"]
    assert "https://sandbox.cds-hooks.org" in DEMO_CORS_ORIGINS
    assert {"http://localhost:8080", "http://127.0.0.1:8080"} <= set(DEMO_CORS_ORIGINS)


def test_sandbox_links_carry_the_hook_and_its_screen() -> None:
    from urllib.parse import parse_qs, urlsplit

    from demo.__main__ import sandbox_url
    from demo.service import RunningApp

    service = RunningApp("http://127.0.0.1:8080", None, 0.0, Path("log"))  # type: ignore[arg-type]
    fhir = FhirServer("http://127.0.0.1:8090/fhir", "token")
    screens = {"patient-view": "patient-view", "order-select": "rx-view", "order-sign": "rx-sign"}
    for hook, screen in screens.items():
        query = parse_qs(urlsplit(sandbox_url(service, fhir, "demo-p1", hook)).query)
        assert query["hook"] == [hook]
        assert query["screen"] == [screen]
        assert query["serviceDiscoveryURL"] == ["http://127.0.0.1:8080/cds-services"]
        assert query["patientId"] == ["demo-p1"]

"""Bounded FHIR answers: a 60 MB page and a gzip bomb cost a few MB and stay in the deadline.

The attack (issue 11): a FHIR server answering one page of 60 MB made one hook call use
about 700 MB and answer after 30 s against a 4 s deadline; a gzip bomb likewise. The
server here is a real process (``tests.big_answer_server``) streaming generated bodies;
the prefetch resolver reads them over loopback HTTP. Memory is measured with tracemalloc
(peak of Python allocations during ``resolve``), time with the monotonic clock.
"""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.app import create_app
from cds_service.errors import ConfigurationError, PreconditionFailed
from cds_service.prefetch import PrefetchResolver, PrefetchTemplate, ResolvedData
from cds_service.settings import Profile, Settings
from cds_service.wire import HookRequest
from tests.big_answer_server import PATIENT_ID
from tests.conftest import FIXED_TODAY

pytestmark = pytest.mark.fhir_server

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
PAGE_CAP = 4 * MB
DEADLINE_S = 4.0
MEMORY_BOUND = 4 * PAGE_CAP
"""Peak Python allocations allowed for one call: a few page caps, not the answer's size."""


@pytest.fixture(scope="module")
def big_server() -> Iterator[str]:
    """The hostile server process; yields its FHIR base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.big_answer_server"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/fhir"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def resolver() -> Iterator[Callable[..., PrefetchResolver]]:
    made: list[PrefetchResolver] = []

    def make(**changes: Any) -> PrefetchResolver:
        settings = Settings(
            fhir_max_page_bytes=PAGE_CAP,
            fhir_deadline_s=DEADLINE_S,
            fhir_request_timeout_s=DEADLINE_S,
            **changes,
        )
        made.append(PrefetchResolver(settings))
        return made[-1]

    yield make
    for one in made:
        one.close()


def request_to(base: str) -> HookRequest:
    return HookRequest.model_validate(
        {
            "hook": "patient-view",
            "hookInstance": "5a0f1f0e-1d65-4c8e-b2a4-7c1f6c2d9e11",
            "fhirServer": base,
            "context": {"userId": "Practitioner/1", "patientId": PATIENT_ID},
        }
    )


def measured(
    resolver: PrefetchResolver, request: HookRequest, templates: list[PrefetchTemplate]
) -> tuple[ResolvedData | PreconditionFailed, int, float]:
    """The result (or the 412), the peak of Python allocations, and the wall time."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        result: ResolvedData | PreconditionFailed = resolver.resolve(request, templates)
    except PreconditionFailed as refused:
        result = refused
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, peak, elapsed


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("Condition", "a 60 MB page with Content-Length"),
        ("Observation", "a 60 MB page, chunked"),
        ("MedicationRequest", "a gzip bomb of 1 GiB"),
    ],
)
def test_an_oversized_answer_is_cut_off_at_the_page_cap_in_bounded_memory_and_time(
    big_server: str, resolver: Callable[..., PrefetchResolver], path: str, what: str
) -> None:
    size = 1024 * MB if path == "MedicationRequest" else 60 * MB
    template = PrefetchTemplate("big", f"{path}?patient={{{{context.patientId}}}}&bytes={size}")
    result, peak, elapsed = measured(resolver(), request_to(big_server), [template])
    assert isinstance(result, PreconditionFailed), what
    assert result.status == 412
    assert f"exceed {PAGE_CAP} bytes" in result.diagnostics
    print(f"{what}: peak {peak / MB:.1f} MB, {elapsed:.2f} s")
    assert peak < MEMORY_BOUND, f"{what}: peak {peak / MB:.1f} MB"
    assert elapsed < DEADLINE_S, f"{what}: {elapsed:.2f} s"


def test_four_oversized_answers_at_once_stay_bounded(
    big_server: str, resolver: Callable[..., PrefetchResolver]
) -> None:
    """Four keys, each 60 MB or a gzip bomb, fetched concurrently: still a few page caps."""
    templates = [
        PrefetchTemplate("a", f"Condition?patient={{{{context.patientId}}}}&bytes={60 * MB}"),
        PrefetchTemplate("b", f"Observation?patient={{{{context.patientId}}}}&bytes={60 * MB}"),
        PrefetchTemplate(
            "c", f"MedicationRequest?patient={{{{context.patientId}}}}&bytes={1024 * MB}"
        ),
        PrefetchTemplate("d", f"Observation?patient={{{{context.patientId}}}}&bytes={60 * MB}&d"),
    ]
    optional = [PrefetchTemplate(t.key, t.query, required=False) for t in templates]
    result, peak, elapsed = measured(resolver(), request_to(big_server), optional)
    assert isinstance(result, ResolvedData)
    assert sorted(result.unavailable) == ["a", "b", "c", "d"]
    assert result.resources == ()
    print(f"four at once: peak {peak / MB:.1f} MB, {elapsed:.2f} s")
    assert peak < MEMORY_BOUND, f"peak {peak / MB:.1f} MB"
    assert elapsed < DEADLINE_S


def test_pages_under_the_cap_are_read_until_the_call_cap(
    big_server: str, resolver: Callable[..., PrefetchResolver]
) -> None:
    """Two pages of 3 MB each fit the 4 MB page cap; together they pass a 5 MB call cap."""
    three_mb = 3 * MB
    first = PrefetchTemplate(
        "first", f"Condition?patient={{{{context.patientId}}}}&bytes={three_mb}"
    )
    alone, _, _ = measured(resolver(), request_to(big_server), [first])
    assert isinstance(alone, ResolvedData)
    assert alone.unavailable == ()  # read whole: 3 MB is under the 4 MB page cap
    # the server repeats one Condition thousands of times; a resource is kept once
    assert [r["id"] for r in alone.resources] == ["c000000000"]
    second = PrefetchTemplate(
        "second", f"Observation?patient={{{{context.patientId}}}}&bytes={three_mb}"
    )
    capped = resolver(fhir_max_call_bytes=5 * MB)
    both, _, _ = measured(capped, request_to(big_server), [first, second])
    assert isinstance(both, PreconditionFailed)
    assert f"for this call exceed {5 * MB} bytes" in both.diagnostics


@pytest.mark.parametrize("path", ["Procedure", "DiagnosticReport"])
def test_ordinary_compressed_answers_are_read(
    big_server: str, resolver: Callable[..., PrefetchResolver], path: str
) -> None:
    """gzip and (raw) deflate answers under the cap decode as before."""
    template = PrefetchTemplate("small", f"{path}?patient={{{{context.patientId}}}}")
    result, _, _ = measured(resolver(), request_to(big_server), [template])
    assert isinstance(result, ResolvedData)
    assert [r["id"] for r in result.resources] == ["p1"]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    settings = Settings(
        profile=Profile.DEVELOPMENT,
        feedback_database_url=f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        fhir_deadline_s=DEADLINE_S,
    )
    application = create_app(settings, today=lambda: FIXED_TODAY)
    yield application
    parts = application.extensions["cds_service"]
    parts.resolver.close()
    parts.store.close()


def test_a_hook_call_whose_fhir_server_sends_a_gzip_bomb_is_a_412_outcome(
    app: Flask, big_server: str
) -> None:
    """End to end: the service fetches its own prefetch keys and gets bombs back. The answer
    is the 412 OperationOutcome naming a key, within the deadline."""
    bomb = big_server.replace("/fhir", "/bomb/fhir")  # every path of this fhirServer is a bomb
    started = time.monotonic()
    response = app.test_client().post(
        "/cds-services/her2-nsclc-patient-view",
        json={
            "hook": "patient-view",
            "hookInstance": "0d4b3c2a-1f6e-4b8a-9c7d-2e1f0a9b8c7d",
            "fhirServer": bomb,
            "context": {"userId": "Practitioner/1", "patientId": PATIENT_ID},
        },
    )
    assert time.monotonic() - started < DEADLINE_S + 1
    assert response.status_code == 412
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert f"exceed {Settings().fhir_max_page_bytes} bytes" in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize(("page", "call"), [(0, 10), (10, 5)])
def test_caps_that_cannot_work_are_refused_at_start_up(page: int, call: int) -> None:
    with pytest.raises(ConfigurationError, match="CDS_FHIR_MAX_PAGE_BYTES"):
        PrefetchResolver(Settings(fhir_max_page_bytes=page, fhir_max_call_bytes=call))
    assert Settings.from_env({"CDS_FHIR_MAX_PAGE_BYTES": "1000"}).fhir_max_page_bytes == 1000
    assert Settings.from_env({"CDS_FHIR_MAX_CALL_BYTES": "2000"}).fhir_max_call_bytes == 2000

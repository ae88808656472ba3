"""The SMART app in a real browser, against the real service and a real FHIR server.

Started by the test, on loopback: SEKMET (``demo.fhir_server``) with the demo patients
(``demo.patients``), the service under gunicorn serving the built app
(``cds_service/static/smart/``, ``make smart-app``), and Debian's Chromium driven by
playwright-core (npm, ``smart_app/package-lock.json``) through ``drive.mjs``.

1. Standalone launch on the open demo FHIR server (what ``make demo`` links to), the
   development profile: for five demo patients, what a clinician would check. The lines
   of therapy (count and dates), the ILD episode and its grade, the LVEF (and ANC) points,
   each in the lane tables and as marks in the chart; a tooltip naming the FHIR resource;
   the arrow keys moving between rows; no console error; no Content-Security-Policy
   violation, under the service's policy (whose presence is checked). Screenshots go
   to ``var/screenshots/``.
2. EHR launch through a real authorization server (``smart_auth_server.mjs``:
   oidc-provider from npm, with a FHIR resource server in front of SEKMET that accepts only
   its tokens), the service in the production profile (which checks the app's token with
   the FHIR server): launch URL with ``iss`` and ``launch``, discovery, authorization code
   with PKCE S256, token with the ``patient`` context, FHIR reads with the bearer, the
   patient model, the timeline drawn. An unknown ``launch`` is refused and nothing is read.

Expected values are the vignettes' own (``demo.patients``: dates are days before today)
and, for the dates of every line, the mapping's answer for the same record
(``fhir_mappings.explain``), which the app must show unchanged. Skipped, loudly (a line at
the end of the run), when Chromium is not installed; ``.ci/run`` installs it.
"""

from __future__ import annotations

import json
import queue
import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from demo.__main__ import smart_app_url, smart_environment
from demo.fhir_server import FhirServer, demo_fhir_server, die_with_parent, free_port, load
from demo.fhir_server import stop_process as stop
from demo.hooks import HOOKS, hook_request
from demo.patients import DemoPatient, demo_patients
from demo.service import REPOSITORY, SERVICE_APP, RunningApp, running_app, service_environment
from fhir_mappings.explain import explain

pytestmark = [pytest.mark.fhir_server, pytest.mark.browser]

SKIP_REASON = (
    "BROWSER TEST SKIPPED: Chromium is not installed (Debian package chromium; .ci/run installs it)"
)
HERE = Path(__file__).resolve().parent
APP_DIR = REPOSITORY / "cds_service" / "static" / "smart"
PLAYWRIGHT = REPOSITORY / "smart_app" / "node_modules" / "playwright-core"
SCREENSHOTS = REPOSITORY / "var" / "screenshots"
CLIENT_ID = "her2-journey"
NODE_TIMEOUT_S = 600.0
"""A generous bound on one browser run (several patients), for a hung browser only."""


def chromium_executable() -> str | None:
    found = shutil.which("chromium")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    return found


# --- What a clinician expects, per vignette (dates: days before today) -----------------


@dataclass(frozen=True, slots=True)
class Expected:
    key: str
    line_starts: tuple[int, ...]
    """Start of each line of therapy, in order (the first record of its drugs)."""
    ild: tuple[tuple[int, int | None, str], ...] = ()
    """(onset, resolved or None, grade text) of each ILD / pneumonitis episode."""
    lvef: tuple[tuple[int, float], ...] = ()
    anc: tuple[tuple[int, float], ...] = ()


EXPECTED = (
    # The T-DXd patients first: their dose tables have several rows (keyboard check).
    Expected(
        "v05-grade1-ild-resolved-late",
        line_starts=(270, 161),
        ild=((85, 50, "grade 1"),),
        lvef=((168, 63.0),),
    ),
    Expected("v09-tdxd-6-4-order", line_starts=(270, 64), lvef=((66, 60.0),), anc=((2, 3.1),)),
    Expected(
        "v04-tdxd-new-pneumonitis",
        line_starts=(270, 43),
        ild=((3, None, "grade not recorded"),),
        lvef=((55, 61.0),),
    ),
    Expected("v03-prior-ici-pneumonitis", line_starts=(270,), ild=((190, 150, "grade 2"),)),
    Expected("v07-progression-on-zongertinib", line_starts=(250,)),
)


# --- Servers ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stack:
    today: date
    patients: dict[str, DemoPatient]
    fhir: FhirServer
    service: RunningApp


def _app_environment(out: Path, **extra: str) -> dict[str, str]:
    environment = service_environment(feedback_database_url=f"sqlite:///{out / 'fb.sqlite3'}")
    environment.update(extra)
    return environment


@pytest.fixture(scope="module")
def chromium() -> str:
    executable = chromium_executable()
    if executable is None:
        pytest.skip(SKIP_REASON)
    assert shutil.which("node"), "node is needed (the app is built with npm: make smart-app)"
    assert PLAYWRIGHT.is_dir(), "smart_app/node_modules is missing: run make smart-app"
    assert (APP_DIR / "index.html").is_file(), "the app is not built: run make smart-app"
    return executable


@pytest.fixture(scope="module")
def stack(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """SEKMET with every demo patient, and the service (development profile) in front of
    which the app is launched standalone, as ``make demo`` does."""
    out = tmp_path_factory.mktemp("smart-app")
    (out / "fhir").mkdir()
    today = date.today()
    patients = {p.patient_id: p for p in demo_patients(today=today)}
    port = free_port()
    with ExitStack() as stack:
        fhir = stack.enter_context(
            demo_fhir_server(out / "fhir", access_token=secrets.token_urlsafe(16))
        )
        load(fhir, [r for p in patients.values() for r in p.resources])
        demo_settings = smart_environment(f"http://127.0.0.1:{port}", fhir)
        service = stack.enter_context(
            running_app(
                SERVICE_APP,
                environment=_app_environment(out, **demo_settings),
                workers=1,
                threads=4,
                log_path=out / "service.log",
                port=port,
            )
        )
        page = requests.get(f"{service.url}/smart/launch.html", timeout=30)
        assert page.status_code == 200, f"the service does not serve the app: {page.text[:300]}"
        yield Stack(today, patients, fhir, service)


def drive(chromium: str, pages: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Run drive.mjs on the pages; its JSON report."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    finished = subprocess.run(
        ["node", str(HERE / "drive.mjs"), json.dumps({"chromium": chromium, "pages": pages})],
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        check=False,
        cwd=REPOSITORY,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    report: list[dict[str, Any]] = json.loads(finished.stdout.strip().splitlines()[-1])
    return report


# --- What the page must show ------------------------------------------------------------


def days_ago(today: date, days: int) -> str:
    return (today - timedelta(days=days)).isoformat()


def check_clean(page: dict[str, Any]) -> None:
    """Drawn, with no console error and no CSP violation, under the service's policy."""
    assert page.get("error") is None, page.get("error")
    assert page["state"] == "drawn", page["status"]
    assert page["consoleErrors"] == []
    assert page["cspEvents"] == []
    assert page["cspConsole"] == []
    assert page["policies"], "no Content-Security-Policy header: the check above proves nothing"
    for policy in page["policies"]:
        assert "script-src 'self'" in policy
        assert "unsafe-eval" not in policy
        assert "unsafe-inline" not in policy


def check_patient(page: dict[str, Any], expected: Expected, stack: Stack) -> None:
    check_clean(page)
    patient = stack.patients[f"demo-{expected.key}"]
    lanes = page["lanes"]
    labels = page["svgLabels"]
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for r in patient.resources]}  # fmt: skip
    model = explain(bundle, stack.today)
    lines = model["patient"]["lines"]

    # Lines of therapy: how many, from when to when; one bar each in the chart.
    rows = lanes["lane-lines"]
    assert isinstance(rows, list)
    assert [row[3] for row in rows] == [days_ago(stack.today, d) for d in expected.line_starts]
    assert len(lines) == len(expected.line_starts)
    assert [row[4] for row in rows] == [
        line["end"] or "ongoing (no end recorded)" for line in lines
    ]
    assert sum(1 for label in labels if "; Line: Line " in label) == len(rows)

    # ILD / pneumonitis: onset, resolution, grade, in the table and as a bar.
    if expected.ild:
        ild_rows = lanes["lane-ild"]
        assert isinstance(ild_rows, list)
        assert [(r[0], r[1], r[2]) for r in ild_rows] == [
            (
                days_ago(stack.today, onset),
                days_ago(stack.today, resolved)
                if resolved is not None
                else "not resolved (no end recorded)",
                grade,
            )
            for onset, resolved, grade in expected.ild
        ]
        for onset, _, grade in expected.ild:
            assert any(
                f"Grade: {grade}; Onset: {days_ago(stack.today, onset)}" in label
                for label in labels
            )
    else:
        assert lanes["lane-ild"] == "No ILD / pneumonitis episode recorded."

    # LVEF and ANC: every point, in the table and in the chart, with its source.
    measured = (
        ("lane-lvef", "LVEF", expected.lvef),
        ("lane-anc", "ANC (neutrophils)", expected.anc),
    )
    for lane, title, points in measured:
        if not points:
            assert isinstance(lanes[lane], str)
            assert lanes[lane].endswith("recorded.")
            continue
        table = lanes[lane]
        assert isinstance(table, list)
        assert [(r[0], float(r[1].split()[0])) for r in table] == [
            (days_ago(stack.today, d), v) for d, v in points
        ]
        for days, value in points:
            shown = f"{title}: {value:g} "
            assert any(
                shown in label and f"Date: {days_ago(stack.today, days)}" in label
                for label in labels
            ), shown
    if expected.lvef:
        assert page["tooltip"] is not None
        assert "FHIR source" in page["tooltip"]
        assert f"Observation/{patient.patient_id}-lvef-" in page["tooltip"]

    # Molecular lane: not empty for these vignettes (all were tested).
    assert isinstance(lanes["lane-molecular"], list)
    assert lanes["lane-molecular"]
    if isinstance(lanes["lane-tdxd"], list) and len(lanes["lane-tdxd"]) > 1:
        assert page["keyboard"] is True  # a table of two rows or more: the arrows move


def standalone_url(stack: Stack, patient_id: str) -> str:
    """The link ``make demo`` prints for the patient."""
    return smart_app_url(stack.service.url, stack.fhir, patient_id)


def test_the_demo_cards_carry_the_smart_link(stack: Stack) -> None:
    """The demo's service is configured with its own launch page: an ILD card links to it."""
    patient = stack.patients["demo-v05-grade1-ild-resolved-late"]
    body = hook_request(
        patient,
        "patient-view",
        fhir_server=stack.fhir.base_url,
        access_token=stack.fhir.access_token,
    )
    answer = requests.post(
        f"{stack.service.url}/cds-services/{HOOKS['patient-view']}", json=body, timeout=60
    )
    assert answer.status_code == 200, answer.text[:500]
    links = [
        link
        for card in answer.json()["cards"]
        for link in card.get("links", [])
        if link.get("type") == "smart"
    ]
    assert links
    assert {link["url"] for link in links} == {f"{stack.service.url}/smart/launch.html"}
    launch_page = requests.get(links[0]["url"], timeout=10)
    assert launch_page.status_code == 200
    assert "launch.js" in launch_page.text


def test_the_app_shows_each_patients_journey(chromium: str, stack: Stack) -> None:
    pages = [
        {
            "name": e.key,
            "url": standalone_url(stack, f"demo-{e.key}"),
            "screenshot": str(SCREENSHOTS / f"{e.key}.png"),
            "screenshotTop": str(SCREENSHOTS / f"{e.key}-top.png"),
        }
        for e in EXPECTED
    ]
    report = drive(chromium, pages)
    assert [p["name"] for p in report] == [e.key for e in EXPECTED]
    for page, expected in zip(report, EXPECTED, strict=True):
        check_patient(page, expected, stack)
        assert (SCREENSHOTS / f"{expected.key}.png").stat().st_size > 10_000
    assert sum(1 for page in report if page["keyboard"] is True) >= 3


def test_missing_data_is_shown_as_not_recorded(chromium: str, stack: Stack) -> None:
    """No molecular result, no line, no ILD, no LVEF: each lane says so in words."""
    [page] = drive(
        chromium,
        [
            {
                "name": "v08",
                "url": standalone_url(stack, "demo-v08-no-molecular-results"),
                "screenshot": str(SCREENSHOTS / "v08-no-molecular-results.png"),
            }
        ],
    )
    check_clean(page)
    lanes = page["lanes"]
    assert lanes["lane-molecular"].startswith("No HER2 / ERBB2 result recorded.")
    assert "not the same as negative" in lanes["lane-molecular"]
    assert lanes["lane-lines"] == "No line of anticancer therapy recorded."
    assert lanes["lane-lvef"] == "No LVEF recorded."
    assert any(
        "No dated HER2 result recorded (not a negative result)" in t for t in page["svgLabels"]
    )


# --- The EHR launch through a real authorization server ---------------------------------


class AuthServer:
    """``smart_auth_server.mjs`` as a child process; its event lines collected."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.process = subprocess.Popen(
            ["node", str(HERE / "smart_auth_server.mjs"), json.dumps(settings)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=REPOSITORY,
            start_new_session=True,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - only a prctl call
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        first = self.events.get(timeout=60)
        assert first["event"] == "listening", first
        self.issuer: str = first["issuer"]
        self.fhir_base: str = first["fhirBase"]

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                self.events.put(json.loads(line))

    def drain(self) -> list[dict[str, Any]]:
        drained = []
        while not self.events.empty():
            drained.append(self.events.get_nowait())
        return drained

    def stop(self) -> None:
        stop(self.process)  # type: ignore[arg-type]
        self._reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


Ehr = tuple[AuthServer, RunningApp, dict[str, str]]
"""The authorization server, the service (production profile), launch id -> patient."""


@pytest.fixture(scope="module")
def ehr(chromium: str, stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ehr]:
    """The authorization server and its FHIR front, and the service in the production
    profile trusting that FHIR server for SMART launches."""
    out = tmp_path_factory.mktemp("smart-ehr")
    service_port = free_port()
    launches = {secrets.token_urlsafe(12): f"demo-{e.key}" for e in EXPECTED[:2]}
    auth = AuthServer(
        {
            "authPort": free_port(),
            "fhirPort": free_port(),
            "upstream": stack.fhir.base_url,
            "upstreamToken": stack.fhir.access_token,
            "clientId": CLIENT_ID,
            "redirectUri": f"http://127.0.0.1:{service_port}/smart/index.html",
            "launches": launches,
        }
    )
    try:
        environment = _app_environment(
            out,
            CDS_PROFILE="production",
            CDS_SMART_ISSUERS=auth.fhir_base,
            CDS_SMART_CONNECT_SRC=auth.issuer,
        )
        with running_app(
            SERVICE_APP,
            environment=environment,
            workers=1,
            threads=4,
            log_path=out / "service.log",
            port=service_port,
        ) as service:
            yield auth, service, launches
    finally:
        auth.stop()


def test_the_fhir_front_wants_a_token(ehr: Ehr) -> None:
    auth, _, launches = ehr
    patient = next(iter(launches.values()))
    for headers in ({}, {"Authorization": "Bearer not-a-token-it-issued"}):
        answer = requests.get(f"{auth.fhir_base}/Patient/{patient}", headers=headers, timeout=10)
        assert answer.status_code == 401
    discovery = requests.get(f"{auth.fhir_base}/.well-known/smart-configuration", timeout=10)
    assert discovery.json()["code_challenge_methods_supported"] == ["S256"]


def test_the_ehr_launch_goes_through_smart_authorization(
    chromium: str, stack: Stack, ehr: Ehr
) -> None:
    auth, service, launches = ehr
    auth.drain()
    by_patient = {f"demo-{e.key}": e for e in EXPECTED}
    pages = [
        {
            "name": patient,
            "url": f"{service.url}/smart/launch.html?"
            + urlencode({"iss": auth.fhir_base, "launch": launch}),
            "screenshot": str(SCREENSHOTS / f"ehr-{patient}.png"),
        }
        for launch, patient in launches.items()
    ]
    report = drive(chromium, pages)
    events = auth.drain()
    for page, patient in zip(report, launches.values(), strict=True):
        check_patient(page, by_patient[patient], stack)
    authorize = [e for e in events if e["event"] == "authorize"]
    tokens = [e for e in events if e["event"] == "token"]
    reads = [e for e in events if e["event"] == "fhir"]
    assert authorize
    assert all(e["launch"] and e["aud"] and e["codeChallengeMethod"] == "S256" for e in authorize)
    assert [t["patient"] for t in tokens] == list(launches.values())
    assert all(t["pkce"] and "patient/Observation.rs" in t["scope"] for t in tokens)
    assert reads
    assert all(r["status"] == 200 for r in reads)
    for patient in launches.values():
        # The app's read of the patient, then the service's check of the app's token.
        assert sum(1 for r in reads if r["path"] == f"/fhir/Patient/{patient}") >= 2
    assert {"/fhir/Observation", "/fhir/Condition", "/fhir/MedicationAdministration"} <= {
        r["path"] for r in reads
    }


def test_an_unknown_launch_is_refused(chromium: str, ehr: Ehr) -> None:
    auth, service, _ = ehr
    auth.drain()
    url = f"{service.url}/smart/launch.html?" + urlencode(
        {"iss": auth.fhir_base, "launch": "not-a-launch-the-ehr-made"}
    )
    [page] = drive(chromium, [{"name": "unknown-launch", "url": url}])
    assert page["state"] == "failed"
    assert "could not be drawn" in page["status"]
    events = auth.drain()
    assert [e["launch"] for e in events if e["event"] == "authorize"] == [False]
    assert not [e for e in events if e["event"] in ("token", "fhir")]

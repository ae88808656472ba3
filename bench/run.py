"""``python -m bench.run`` (``make bench``): the service's speed and footprint, in one run.

Everything on 127.0.0.1, on this machine, in one run, against:

- the floor: a bare Flask endpoint (``bench.floor``) returning a small JSON, served by the
  same gunicorn configuration (``gunicorn.conf.py``) as the service;
- the service (``cds_service.wsgi:app`` under ``gunicorn.conf.py``; JWT authentication off,
  feedback in a temporary SQLite file, INFO logs to a file as in production), called on
  order-sign with full prefetch for a small (20 resources), typical (200) and large
  (2,000) record from ``demo.patients.benchmark_record``, on patient-view, and on
  order-sign with no prefetch, fetching the typical record from a local SEKMET; and
  patient-view for a patient without lung cancer (``demo.patients.out_of_scope_record``,
  2,000 resources): (a) with the discovery's own prefetch (the patient and the
  conditions), (b) with the whole record sent anyway, against (c) the same record with
  an NSCLC Condition added (in scope, so the whole record is read).

Load comes from a second process (``bench.load``), bounded in requests and seconds: a
fixed concurrency for throughput, and one client for latency. Also measured: the time
from process start to the first answered request (the floor's and a real order-sign
call; also the CPU time the master and the workers spent until then), the memory of each
gunicorn worker after the load (RSS and PSS, ``worker_memory``), and for the no-prefetch
path the service's own fetch timings from its access log (``fetches``, ``fetchMs`` = wall
time of the fetch phase, ``fetchSumMs`` = sum of the HTTP fetch durations).

Last, a faulty FHIR server (``bench.faulty``): the service is started again with a short
FHIR deadline (``FAULTY_ENVIRONMENT``) and called on order-sign with no prefetch against a
server that answers every search normally but one, which is slow past the deadline,
answers 500, has an endless ``next`` chain, trickles its body (a required search), or
hangs (the optional Procedure search); each case gives the statuses seen and how far the
slowest call went past the deadline.

Prints a Markdown table (for the README) and the targets, met or missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import requests

from bench.faulty import CASES, Case, FaultyFhirServer
from cds_service.discovery import SCOPE_DATA
from cds_service.pipeline import DATA_QUALITY_EXTENSION
from demo.fhir_server import free_port, load, running_sekmet, stop_process
from demo.hooks import hook_request, prefetch_for
from demo.patients import BENCHMARK_SIZES, DemoPatient, benchmark_record, out_of_scope_record
from demo.service import REPOSITORY, SERVICE_APP, service_environment, start_gunicorn

FLOOR_APP = "bench.floor:create_app()"
ORDERS = "/cds-services/her2-nsclc-order-sign"
PATIENT_VIEW = "/cds-services/her2-nsclc-patient-view"
TOKEN = "bench-token"  # noqa: S105 - the local SEKMET's token, not a secret
PLACEHOLDER = "00000000-0000-4000-8000-000000000000"
"""``bench.load`` gives each request a fresh hookInstance in place of this one."""
FAULTY_DEADLINE_S = 1.0
FAULTY_ENVIRONMENT = {
    "CDS_FHIR_DEADLINE_S": f"{FAULTY_DEADLINE_S:g}",
    "CDS_FHIR_TIMEOUT_S": f"{FAULTY_DEADLINE_S:g}",
}
"""The service's settings for the faulty-server section (the defaults are 4 s and 3 s)."""


@dataclass(frozen=True, slots=True)
class Counts:
    requests: int
    single_requests: int
    large_requests: int
    max_seconds: float
    concurrency: int
    faulty_requests: int
    """Calls per faulty-server case, from ``faulty_concurrency`` clients, for at most
    ``faulty_max_seconds`` (most cases take about the deadline per call)."""
    faulty_concurrency: int
    faulty_max_seconds: float


FULL = Counts(requests=3000, single_requests=500, large_requests=400, max_seconds=20.0,
              concurrency=8, faulty_requests=20, faulty_concurrency=4,
              faulty_max_seconds=6.0)  # fmt: skip
QUICK = Counts(requests=200, single_requests=60, large_requests=40, max_seconds=5.0,
               concurrency=8, faulty_requests=4, faulty_concurrency=4,
               faulty_max_seconds=2.0)  # fmt: skip


@dataclass(slots=True)
class Measure:
    name: str
    record: str
    concurrency: int
    latencies_ms: list[float]
    elapsed_s: float
    statuses: dict[str, int]
    errors: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        return self.count / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        rank = math.ceil(p / 100 * len(ordered))  # nearest rank, 1-based
        return ordered[max(0, min(len(ordered), rank) - 1)]


# --- Running things -------------------------------------------------------------------


@dataclass(slots=True)
class Server:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    cold_start_s: float
    log_path: Path
    cold_start_cpu_s: float = math.nan
    """CPU time of the master and its workers from their start to the first answer (on a
    shared machine, steadier than the wall time)."""


@contextlib.contextmanager
def gunicorn(
    app: str,
    *,
    environment: dict[str, str],
    log_path: Path,
    probe_path: str,
    probe_body: bytes,
    workers: int | None,
    threads: int | None,
    options: Sequence[str] = (),
) -> Iterator[Server]:
    """Start ``app`` under gunicorn.conf.py; the cold start is the time from the process
    start to the first answered ``probe`` POST (a real request, not a health check)."""
    port = free_port()
    started = time.perf_counter()
    process = start_gunicorn(
        app, port=port, environment=environment, workers=workers, threads=threads,
        log_path=log_path, options=options,
    )  # fmt: skip
    try:
        answered = _first_answer(process, f"http://127.0.0.1:{port}{probe_path}", probe_body)
        cpu = sum(cpu_time_s(pid) for pid in (process.pid, *children(process.pid)))
        yield Server(f"http://127.0.0.1:{port}", port, process, answered - started, log_path, cpu)
    finally:
        stop_process(process, timeout_s=20.0)


def _first_answer(process: subprocess.Popen[bytes], url: str, body: bytes) -> float:
    give_up = time.monotonic() + 60
    headers = {"Content-Type": "application/json"}
    with requests.Session() as session:
        while time.monotonic() < give_up and process.poll() is None:
            try:
                with session.post(url, data=body, headers=headers, timeout=10) as response:
                    if response.status_code == 200:
                        return time.perf_counter()
                    raise RuntimeError(f"{url} answered {response.status_code}: {response.text}")
            except requests.ConnectionError:
                time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer")


def drive(
    server: Server,
    path: str,
    body_file: Path,
    *,
    name: str,
    record: str,
    concurrency: int,
    total: int,
    max_seconds: float,
    warmup: int = 3,
    expected: Collection[str] | None = ("200",),
) -> Measure:
    """Run ``bench.load`` in a second process against ``server``; raise on a connection
    error or a status outside ``expected`` (None: any status and errors are only kept)."""
    command = [
        sys.executable, "-m", "bench.load", "--port", str(server.port), "--path", path,
        "--body", str(body_file), "--concurrency", str(concurrency), "--requests", str(total),
        "--max-seconds", str(max_seconds), "--warmup", str(warmup),
    ]  # fmt: skip
    finished = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        command,
        cwd=REPOSITORY,
        capture_output=True,
        check=True,
        timeout=max_seconds + 120,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
    )
    result = json.loads(finished.stdout)
    measure = Measure(
        name,
        record,
        concurrency,
        result["latencies_ms"],
        result["elapsed_s"],
        result["statuses"],
        result["errors"],
    )
    if expected is not None and (measure.errors or set(measure.statuses) - set(expected)):
        raise RuntimeError(f"{name}: {measure.statuses} {measure.errors}")
    return measure


@dataclass(frozen=True, slots=True)
class Memory:
    """One process's memory (Linux ``/proc/<pid>/smaps_rollup``), in MB."""

    rss: float
    """Resident set: every page of the process in memory. gunicorn forks the workers from
    a master that imported the app (``preload_app``), so a worker shares most of its start-up
    pages with the master and the other workers, and its RSS counts each of them in full."""
    pss: float
    """Proportional set: each page divided by the number of processes sharing it, so that
    the PSS of the master and the workers add up to the memory they hold together."""


def children(master: int) -> list[int]:
    """The child processes of ``master`` (gunicorn's workers)."""
    listing = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in listing.read_text().split()] if listing.exists() else []


def memory(pid: int) -> Memory | None:
    """RSS and PSS of ``pid`` (None when it is gone)."""
    sizes: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("Rss", "Pss"):
                sizes[name] = int(value.split()[0]) / 1024
    return Memory(sizes["Rss"], sizes["Pss"]) if len(sizes) == 2 else None


def worker_memory(master: int) -> list[Memory]:
    """RSS and PSS of each child of the gunicorn master."""
    return [found for pid in children(master) if (found := memory(pid)) is not None]


def cpu_time_s(pid: int) -> float:
    """User and system CPU time of ``pid`` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def access_records(log_path: Path, offset: int) -> list[dict[str, Any]]:
    """Access-log records written after ``offset`` bytes."""
    records: list[dict[str, Any]] = []
    with log_path.open("rb") as log:
        log.seek(offset)
        for line in log:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("logger") == "cds_service.access":
                    records.append(record)
    return records


# --- Bodies ---------------------------------------------------------------------------


def write_body(folder: Path, name: str, body: dict[str, Any]) -> Path:
    body["hookInstance"] = PLACEHOLDER
    path = folder / f"{name}.json"
    path.write_text(json.dumps(body, separators=(",", ":")), encoding="utf-8")
    return path


# --- Reporting ------------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load1, load5, _ = os.getloadavg()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "load": f"{load1:.2f} / {load5:.2f}",
    }


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def table(measures: Sequence[Measure], floor: Measure) -> str:
    lines = [
        "| scenario | record | clients | requests | req/s | p50 ms | p95 ms | p99 ms | vs floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in measures:
        ratio = m.throughput / floor.throughput if m.concurrency == floor.concurrency else None
        lines.append(
            f"| {m.name} | {m.record} | {m.concurrency} | {m.count} | {m.throughput:.0f} "
            f"| {_ms(m.percentile(50))} | {_ms(m.percentile(95))} | {_ms(m.percentile(99))} "
            f"| {'' if ratio is None else f'{ratio:.2f}'} |"
        )
    return "\n".join(lines)


def faulty_table(results: Sequence[Faulty], deadline_s: float) -> str:
    lines = [
        "| case | expected | calls | clients | statuses seen | p50 ms | p95 ms | max ms "
        "| max - deadline ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        m = r.measure
        seen = ", ".join(f"{status} x{n}" for status, n in sorted(m.statuses.items()))
        if m.errors:
            seen += f"; errors: {'; '.join(m.errors)}"
        overshoot = max(m.latencies_ms, default=float("nan")) - deadline_s * 1000
        lines.append(
            f"| {r.case.name} | {r.case.expected_status} | {m.count} | {m.concurrency} "
            f"| {seen} | {_ms(m.percentile(50))} | {_ms(m.percentile(95))} "
            f"| {_ms(m.percentile(100))} | {overshoot:+.0f} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Target:
    what: str
    measured: str
    met: bool


def verdicts(
    by_key: dict[str, Measure],
    floor: Measure,
    cold: dict[str, float],
    workers: list[Memory],
    fetch: dict[str, float],
) -> list[Target]:
    """The targets of issue 12 ("twice as fast on the calls that matter")."""
    typical_1 = by_key["sign-typical-1"]
    small_1, large_1 = by_key["sign-small-1"], by_key["sign-large-1"]
    typical_n = by_key["sign-typical-n"]
    growth_small = typical_1.percentile(50) / small_1.percentile(50)
    growth_large = large_1.percentile(50) / typical_1.percentile(50)
    pss, rss = max(w.pss for w in workers), max(w.rss for w in workers)
    return [
        Target("typical order-sign, 1 client: p50 <= 4 ms",
               f"{typical_1.percentile(50):.1f} ms", typical_1.percentile(50) <= 4),
        Target("typical order-sign, 1 client: p99 <= 10 ms",
               f"{typical_1.percentile(99):.1f} ms", typical_1.percentile(99) <= 10),
        Target(f"typical order-sign throughput >= 0.25 x floor ({floor.concurrency} clients)",
               f"{typical_n.throughput / floor.throughput:.2f} x floor",
               typical_n.throughput >= 0.25 * floor.throughput),
        Target("large record (2,000), 1 client: p50 <= 20 ms",
               f"{large_1.percentile(50):.1f} ms", large_1.percentile(50) <= 20),
        Target("cost no faster than linear in record size (p50 ratio <= size ratio 10)",
               f"x{growth_small:.1f} (20->200), x{growth_large:.1f} (200->2,000)",
               growth_small <= 10 and growth_large <= 10),
        Target("cold start (process start to first answered order-sign) <= 1 s",
               f"{cold['service']:.2f} s", cold["service"] <= 1),
        Target("memory per worker <= 120 MB, as PSS (shared pages divided among the "
               "processes sharing them; RSS counts the master's pages in every worker)",
               f"max PSS {pss:.0f} MB (max RSS {rss:.0f} MB)", pss <= 120),
        Target("no prefetch: fetch phase dominates the call, fetches overlap",
               f"fetch {fetch['wall_share']:.0%} of the call; sum/wall {fetch['overlap']:.1f}",
               fetch["wall_share"] >= 0.5 and fetch["overlap"] > 1),
        *out_of_scope_verdicts(by_key),
    ]  # fmt: skip


def out_of_scope_verdicts(by_key: dict[str, Measure]) -> list[Target]:
    """Out-of-scope patient-view, as ratios within one run (cds-hooks.md, "Cheap when the
    patient is out of scope")."""
    floor_1 = by_key["floor-1"].percentile(50)
    discovery = by_key["view-out-discovery-1"].percentile(50)
    sent, in_scope = (
        by_key["view-out-full-1"].percentile(50),
        by_key["view-in-full-1"].percentile(50),
    )
    return [
        Target("out of scope, discovery prefetch, 1 client: p50 <= 3 x floor's 1-client p50",
               f"{discovery:.1f} ms = {discovery / floor_1:.1f} x floor ({floor_1:.1f} ms)",
               discovery <= 3 * floor_1),
        Target("out of scope, 2,000 resources sent anyway, 1 client: p50 <= 1/4 of the "
               "in-scope call on the same record",
               f"{sent:.1f} ms = {sent / in_scope:.2f} x in scope ({in_scope:.1f} ms)",
               sent <= in_scope / 4),
    ]  # fmt: skip


# --- The run --------------------------------------------------------------------------


class Bench:
    """One benchmark run: the measures so far, by key."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.measures: list[Measure] = []
        self.by_key: dict[str, Measure] = {}

    def step(
        self,
        server: Server,
        key: str,
        target: tuple[str, Path],
        *,
        name: str,
        record: str,
        concurrency: int,
        total: int,
    ) -> Measure:
        path, body = target
        print(f"  {name}, {record}, {concurrency} client(s)...", flush=True)
        measure = drive(
            server,
            path,
            body,
            name=name,
            record=record,
            concurrency=concurrency,
            total=total,
            max_seconds=self.counts.max_seconds,
        )
        self.measures.append(measure)
        self.by_key[key] = measure
        return measure


@dataclass(slots=True)
class Outcome:
    bench: Bench
    cold: dict[str, float]
    memory: list[Memory]
    """The service's workers after the load."""
    floor_memory: list[Memory]
    master: Memory | None
    """The service's gunicorn master after the load."""
    fetched: dict[int, list[dict[str, Any]]]
    """Access-log records of the no-prefetch calls, by number of clients."""
    faulty: list[Faulty]


OUT_OF_SCOPE_SIZE = 2000


def out_of_scope_bodies(work: Path, today: date) -> dict[str, Path]:
    """patient-view bodies for a 2,000-resource record without lung cancer: (a) with the
    discovery's prefetch only, (b) with the whole record; (c) the same record with an
    NSCLC Condition added (in scope), whole."""
    outside = out_of_scope_record(OUT_OF_SCOPE_SIZE, today=today)
    discovery = hook_request(outside, "patient-view")
    full = prefetch_for(outside)
    discovery["prefetch"] = {t.key: full[t.key] for t in SCOPE_DATA}
    inside = hook_request(outside, "patient-view", prefetch=True)
    inside["prefetch"]["conditions"]["entry"].append(
        {
            "resource": {
                "resourceType": "Condition",
                "id": "bench-nsclc",
                "subject": {"reference": f"Patient/{outside.patient_id}"},
                "code": {
                    "coding": [{"system": "http://snomed.info/sct", "code": "254637007"}],
                    "text": "Non-small cell lung cancer",
                },
                "stage": [{"summary": {"text": "Stage IV"}}],
            }
        }
    )
    return {
        "view-out-discovery": write_body(work, "view-out-discovery", discovery),
        "view-out-full": write_body(
            work, "view-out-full", hook_request(outside, "patient-view", prefetch=True)
        ),
        "view-in-full": write_body(work, "view-in-full", inside),
    }


def out_of_scope_plan(counts: Counts) -> list[tuple[str, str, str, str, str, int, int]]:
    record = f"no lung cancer ({OUT_OF_SCOPE_SIZE})"
    return [
        ("view-out-discovery-1", PATIENT_VIEW, "view-out-discovery",
         "patient-view, out of scope, discovery prefetch", record, 1, counts.single_requests),
        ("view-out-full-1", PATIENT_VIEW, "view-out-full",
         "patient-view, out of scope, whole record sent", record, 1, counts.large_requests),
        ("view-in-full-1", PATIENT_VIEW, "view-in-full",
         "patient-view, same record + NSCLC (in scope)", record, 1, counts.large_requests),
    ]  # fmt: skip


def measure_out_of_scope(
    counts: Counts, workers: int | None, threads: int | None, options: Sequence[str]
) -> Bench:
    """Only the out-of-scope scenarios and the floor's 1-client latency they are set
    against (``--only out-of-scope``: a short run, without SEKMET or the faulty server)."""
    bench = Bench(counts)
    with tempfile.TemporaryDirectory(prefix="her2-bench-") as tmp:
        work = Path(tmp)
        bodies = out_of_scope_bodies(work, date.today())
        probe = bodies["view-out-discovery"]
        print("floor (bare Flask under the same gunicorn configuration)", flush=True)
        with gunicorn(FLOOR_APP, environment={}, log_path=work / "floor.log",
                      probe_path="/floor", probe_body=probe.read_bytes(), workers=workers,
                      threads=threads, options=options) as floor:  # fmt: skip
            bench.step(floor, "floor-1", ("/floor", probe), name="floor (bare Flask)",
                       record="small body, unread", concurrency=1,
                       total=counts.single_requests)  # fmt: skip
        print("service (cds_service.wsgi:app under gunicorn.conf.py)", flush=True)
        environment = service_environment(
            feedback_database_url=f"sqlite:///{work / 'feedback.sqlite3'}"
        )
        with gunicorn(SERVICE_APP, environment=environment, log_path=work / "service.log",
                      probe_path=PATIENT_VIEW, probe_body=probe.read_bytes(), workers=workers,
                      threads=threads, options=options) as service:  # fmt: skip
            for key, path, body, name, record, clients, total in out_of_scope_plan(counts):
                bench.step(service, key, (path, bodies[body]), name=name, record=record,
                           concurrency=clients, total=total)  # fmt: skip
    return bench


def measure_all(
    counts: Counts, workers: int | None, threads: int | None, options: Sequence[str]
) -> Outcome:
    today = date.today()
    records = {name: benchmark_record(size, today=today) for name, size in BENCHMARK_SIZES.items()}
    bench = Bench(counts)
    cold: dict[str, float] = {}
    sizes = {name: f"{name} ({size})" for name, size in BENCHMARK_SIZES.items()}
    with tempfile.TemporaryDirectory(prefix="her2-bench-") as tmp:
        work = Path(tmp)
        bodies = {
            f"sign-{name}": write_body(
                work, f"sign-{name}", hook_request(patient, "order-sign", prefetch=True)
            )
            for name, patient in records.items()
        }
        typical = records["typical"]
        bodies["view-typical"] = write_body(
            work, "view-typical", hook_request(typical, "patient-view", prefetch=True)
        )
        bodies.update(out_of_scope_bodies(work, today))

        print("floor (bare Flask under the same gunicorn configuration)", flush=True)
        floor_target = ("/floor", bodies["sign-typical"])
        with gunicorn(
            FLOOR_APP,
            environment={},
            log_path=work / "floor.log",
            probe_path="/floor",
            probe_body=bodies["sign-typical"].read_bytes(),
            workers=workers,
            threads=threads,
            options=options,
        ) as floor:
            cold["floor"], cold["floor cpu"] = floor.cold_start_s, floor.cold_start_cpu_s
            for key, clients, total in (
                ("floor-n", counts.concurrency, counts.requests),
                ("floor-1", 1, counts.single_requests),
            ):
                bench.step(floor, key, floor_target, name="floor (bare Flask)",
                           record="typical body, unread", concurrency=clients,
                           total=total)  # fmt: skip
            floor_memory = worker_memory(floor.process.pid)

        with running_sekmet(_mkdir(work / "sekmet"), access_token=TOKEN) as sekmet:
            load(sekmet, list(typical.resources))
            bodies["sign-typical-fetch"] = write_body(
                work,
                "sign-typical-fetch",
                hook_request(typical, "order-sign", fhir_server=sekmet.base_url,
                             access_token=TOKEN),
            )  # fmt: skip
            print("service (cds_service.wsgi:app under gunicorn.conf.py)", flush=True)
            environment = service_environment(
                feedback_database_url=f"sqlite:///{work / 'feedback.sqlite3'}"
            )
            with gunicorn(
                SERVICE_APP,
                environment=environment,
                log_path=work / "service.log",
                probe_path=ORDERS,
                probe_body=bodies["sign-typical"].read_bytes(),
                workers=workers,
                threads=threads,
                options=options,
            ) as service:
                cold["service"], cold["service cpu"] = (
                    service.cold_start_s,
                    service.cold_start_cpu_s,
                )
                plan: list[tuple[str, str, str, str, str, int, int]] = [
                    *(
                        (f"sign-{n}-n", ORDERS, f"sign-{n}", "order-sign, prefetch", sizes[n],
                         counts.concurrency,
                         counts.large_requests if n == "large" else counts.requests)
                        for n in ("small", "typical", "large")
                    ),
                    ("view-typical-n", PATIENT_VIEW, "view-typical", "patient-view, prefetch",
                     sizes["typical"], counts.concurrency, counts.requests),
                    *(
                        (f"sign-{n}-1", ORDERS, f"sign-{n}", "order-sign, prefetch", sizes[n], 1,
                         counts.large_requests if n == "large" else counts.single_requests)
                        for n in ("small", "typical", "large")
                    ),
                    *out_of_scope_plan(counts),
                ]  # fmt: skip
                for key, path, body, name, record, clients, total in plan:
                    bench.step(service, key, (path, bodies[body]), name=name, record=record,
                               concurrency=clients, total=total)  # fmt: skip
                fetched: dict[int, list[dict[str, Any]]] = {}
                for key, clients in (("fetch-1", 1), ("fetch-n", counts.concurrency)):
                    offset = service.log_path.stat().st_size
                    bench.step(service, key, (ORDERS, bodies["sign-typical-fetch"]),
                               name="order-sign, no prefetch (SEKMET)", record=sizes["typical"],
                               concurrency=clients, total=counts.large_requests)  # fmt: skip
                    time.sleep(0.2)  # let the workers flush their access log
                    fetched[clients] = [
                        r for r in access_records(service.log_path, offset) if r.get("fetches")
                    ]
                workers_memory = worker_memory(service.process.pid)
                master_memory = memory(service.process.pid)

        faulty = measure_faulty(
            counts, work=work, patient=typical, probe=bodies["sign-typical"], workers=workers,
            threads=threads, options=options,
        )  # fmt: skip
    return Outcome(bench, cold, workers_memory, floor_memory, master_memory, fetched, faulty)


@dataclass(slots=True)
class Faulty:
    """One faulty-server case: the load's measure and what one checked call found."""

    case: Case
    measure: Measure
    problem: str | None
    """What was wrong with the checked call's answer (None: as expected)."""


def measure_faulty(
    counts: Counts,
    *,
    work: Path,
    patient: DemoPatient,
    probe: Path,
    workers: int | None,
    threads: int | None,
    options: Sequence[str],
) -> list[Faulty]:
    """Each case of ``bench.faulty.CASES`` against the service started with
    ``FAULTY_ENVIRONMENT``: one checked call per case (all at once), then the load."""
    settings = ", ".join(f"{k}={v}" for k, v in FAULTY_ENVIRONMENT.items())
    print(f"faulty FHIR server (the service started again with {settings})", flush=True)
    environment = {
        **service_environment(feedback_database_url=f"sqlite:///{work / 'faulty.sqlite3'}"),
        **FAULTY_ENVIRONMENT,
    }
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                FaultyFhirServer(patient, resource_type=case.resource_type, fault=case.fault,
                                 deadline_s=FAULTY_DEADLINE_S)
            )
            for case in CASES
        ]  # fmt: skip
        bodies = [
            write_body(
                work,
                f"faulty-{index}",
                hook_request(patient, "order-sign", fhir_server=fhir.base_url, access_token=TOKEN),
            )
            for index, fhir in enumerate(servers)
        ]
        service = stack.enter_context(
            gunicorn(SERVICE_APP, environment=environment, log_path=work / "faulty.log",
                     probe_path=ORDERS, probe_body=probe.read_bytes(), workers=workers,
                     threads=threads, options=options)
        )  # fmt: skip
        with ThreadPoolExecutor(len(CASES)) as pool:
            problems = list(pool.map(lambda c, b: _check_faulty(service, c, b), CASES, bodies))
        results: list[Faulty] = []
        for case, body, problem in zip(CASES, bodies, problems, strict=True):
            print(f"  {case.name}, {counts.faulty_concurrency} client(s)...", flush=True)
            measure = drive(
                service,
                ORDERS,
                body,
                name=case.name,
                record="typical (200)",
                concurrency=counts.faulty_concurrency,
                total=counts.faulty_requests,
                max_seconds=counts.faulty_max_seconds,
                warmup=0,  # the checked call warmed the service up
                expected=None,
            )
            results.append(Faulty(case, measure, problem))
    return results


def _check_faulty(server: Server, case: Case, body_file: Path) -> str | None:
    """One call of ``case``: None when its answer is the expected one, else what is wrong."""
    body = body_file.read_bytes().replace(PLACEHOLDER.encode(), str(uuid.uuid4()).encode())
    headers = {"Content-Type": "application/json"}
    with requests.post(server.url + ORDERS, data=body, headers=headers, timeout=30) as answer:
        status = answer.status_code
        try:
            found = answer.json()
        except ValueError:
            return f"status {status} with a body that is not JSON"
    if not isinstance(found, dict):
        return f"status {status} with a body that is not a JSON object"
    if status != case.expected_status:
        return f"status {status}, expected {case.expected_status}"
    if status == 412:
        diagnostics = found.get("issue", [{}])[0].get("diagnostics", "")
        if found.get("resourceType") != "OperationOutcome" or case.key not in diagnostics:
            return f"412 without an OperationOutcome naming {case.key}"
        return None
    quality = (found.get("extension") or {}).get(DATA_QUALITY_EXTENSION, {})
    if quality.get("unavailable") != [case.key]:
        return f"200 without {DATA_QUALITY_EXTENSION} naming only {case.key}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts (development runs)")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py)")
    parser.add_argument(
        "--threads", type=int, help="threads per worker (default: gunicorn.conf.py)"
    )
    parser.add_argument(
        "--preload", action="store_true", help="gunicorn --preload (an experiment; not the config)"
    )
    parser.add_argument(
        "--only",
        choices=["out-of-scope"],
        help="run only these scenarios (with the floor's 1-client latency they are set against)",
    )
    args = parser.parse_args(argv)
    host = machine()
    print(f"machine: nproc {host['nproc']}, {host['cpu']}, Python {host['python']}, "
          f"load average {host['load']} (1 / 5 min) at start", flush=True)  # fmt: skip
    options = ("--preload",) if args.preload else ()
    if args.only == "out-of-scope":
        only = measure_out_of_scope(
            QUICK if args.quick else FULL, args.workers, args.threads, options
        )
        print()
        print(table(only.measures, only.by_key["floor-1"]))
        print()
        print("| target | measured | |")
        print("|---|---|---|")
        for target in out_of_scope_verdicts(only.by_key):
            print(f"| {target.what} | {target.measured} | {'met' if target.met else 'MISSED'} |")
        return 0
    outcome = measure_all(QUICK if args.quick else FULL, args.workers, args.threads, options)
    bench, cold = outcome.bench, outcome.cold
    fetches = {clients: _fetch_summary(records) for clients, records in outcome.fetched.items()}
    fetch = fetches[1]
    floor = bench.by_key["floor-n"]
    end = machine()
    print()
    print(f"Measured {date.today().isoformat()} on: nproc {host['nproc']}, {host['cpu']}, "
          f"Python {host['python']}; load average at start {host['load']}, at end "
          f"{end['load']} (1 / 5 min). gunicorn.conf.py: workers "
          f"{args.workers or 'default'}, threads {args.threads or 'default'}"
          f"{', --preload' if args.preload else ''}.")  # fmt: skip
    if float(host["load"].split(" / ")[0]) >= 0.5:
        print("The machine was not idle at the start (load average >= 0.5): other jobs shared it.")
    print()
    print(table(bench.measures, floor))
    print()
    print(
        f"- Cold start (process start to first answered request): floor "
        f"{cold['floor']:.2f} s, service {cold['service']:.2f} s (a real order-sign call); "
        f"CPU time of the master and workers until then: floor {cold['floor cpu']:.2f} s, "
        f"service {cold['service cpu']:.2f} s."
    )
    print(
        f"- Memory per worker after the load, RSS: service {_mbs(w.rss for w in outcome.memory)}"
        f" MB; floor {_mbs(w.rss for w in outcome.floor_memory)} MB. PSS (pages shared with "
        f"the master and the other workers divided among them): service "
        f"{_mbs(w.pss for w in outcome.memory)} MB; floor "
        f"{_mbs(w.pss for w in outcome.floor_memory)} MB."
    )
    if outcome.master is not None:
        together = outcome.master.pss + sum(w.pss for w in outcome.memory)
        print(
            f"- The service's gunicorn master: RSS {outcome.master.rss:.0f} MB, PSS "
            f"{outcome.master.pss:.0f} MB; master and workers together (sum of PSS) "
            f"{together:.0f} MB."
        )
    for clients, summary in sorted(fetches.items()):
        print(f"- No prefetch, {clients} client(s), medians of {summary['calls']:.0f} calls with "
              f"{summary['fetches']:.1f} FHIR requests each: call {summary['ms']:.1f} ms, of "
              f"which fetch phase (wall) {summary['wall']:.1f} ms ({summary['wall_share']:.0%});"
              f" sum of the fetch durations {summary['sum']:.1f} ms ({summary['overlap']:.1f} x"
              f" the wall time: the fetches overlap).")  # fmt: skip
    print()
    deadline = FAULTY_DEADLINE_S
    settings = ", ".join(f"`{k}={v}`" for k, v in FAULTY_ENVIRONMENT.items())
    print(f"Faulty FHIR server (`bench/faulty.py`), order-sign with no prefetch, the service "
          f"started again with {settings}; every search answered normally but the one named; "
          f"max - deadline: how far the slowest call went past the {deadline:g} s deadline "
          f"(negative: it ended before).")  # fmt: skip
    print()
    print(faulty_table(outcome.faulty, deadline))
    for result in outcome.faulty:
        if result.problem is not None:
            print(f"- {result.case.name}: the checked call's answer was wrong: {result.problem}")
    print()
    print("| target | measured | |")
    print("|---|---|---|")
    for target in verdicts(bench.by_key, floor, cold, outcome.memory, fetch):
        print(f"| {target.what} | {target.measured} | {'met' if target.met else 'MISSED'} |")
    return 0


def _mbs(sizes: Iterator[float]) -> str:
    return ", ".join(f"{size:.0f}" for size in sizes)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fetch_summary(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    if not records:
        return {"calls": 0, "fetches": 0, "ms": 0, "wall": 0, "sum": 0, "wall_share": 0,
                "overlap": 0}  # fmt: skip
    ms = statistics.median(float(r["ms"]) for r in records)
    wall = statistics.median(float(r["fetchMs"]) for r in records)
    total = statistics.median(float(r.get("fetchSumMs", 0.0)) for r in records)
    return {
        "calls": float(len(records)),
        "fetches": statistics.mean(float(r["fetches"]) for r in records),
        "ms": ms,
        "wall": wall,
        "sum": total,
        "wall_share": wall / ms if ms else 0.0,
        "overlap": total / wall if wall else 0.0,
    }


if __name__ == "__main__":
    raise SystemExit(main())

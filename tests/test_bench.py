"""The benchmark's own parts: the load generator against the real app, and its statistics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from subprocess import PIPE
from urllib.parse import urlsplit

from bench.load import HOOK_INSTANCE, build_requests, run
from bench.run import Measure, children, cpu_time_s, memory, worker_memory
from demo.hooks import hook_request
from demo.patients import benchmark_record
from tests.conftest import FIXED_TODAY, LiveServer


def test_the_load_generator_drives_the_real_app_and_stops_by_itself(
    live_server: LiveServer,
) -> None:
    body = hook_request(benchmark_record(20, today=FIXED_TODAY), "order-sign", prefetch=True)
    body["hookInstance"] = HOOK_INSTANCE
    address = urlsplit(live_server.url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    raw = build_requests(
        host, port, "/cds-services/her2-nsclc-order-sign", json.dumps(body).encode()
    )
    assert len(raw) == 64  # a fresh hookInstance per variant
    assert len({r.split(b'"hookInstance": "')[1][:36] for r in raw}) == 64

    result = run(
        host=host, port=port, requests_raw=raw, concurrency=3, total=25, max_seconds=20.0, warmup=1
    )

    assert result["statuses"] == {"200": 25}
    assert len(result["latencies_ms"]) == 25
    assert result["errors"] == []


def test_the_load_generator_stops_at_its_time_limit(live_server: LiveServer) -> None:
    address = urlsplit(live_server.url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    raw = build_requests(host, port, "/healthz", b"{}")
    result = run(
        host=host, port=port, requests_raw=raw, concurrency=2, total=10**9, max_seconds=0.3,
        warmup=0,
    )  # fmt: skip
    assert 0 < len(result["latencies_ms"]) < 10**9
    assert result["elapsed_s"] < 5


def test_percentiles_are_nearest_rank() -> None:
    measure = Measure("x", "-", 1, [float(v) for v in range(1, 101)], 1.0, {"200": 100}, [])
    assert measure.percentile(50) == 50.0
    assert measure.percentile(95) == 95.0
    assert measure.percentile(99) == 99.0
    assert measure.throughput == 100.0


def test_worker_memory_reads_rss_and_pss_of_each_child_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=PIPE)
    try:
        found = worker_memory(os.getpid())
        assert child.pid in children(os.getpid())
        assert found
        assert all(0 < w.pss <= w.rss for w in found)
    finally:
        child.communicate(b"")
    own = memory(os.getpid())
    assert own is not None
    assert 0 < own.pss <= own.rss
    assert memory(child.pid) is None  # gone
    assert cpu_time_s(os.getpid()) > 0

"""The production entry (``cds_service.wsgi``): what it imports before the fork, and what not.

gunicorn imports it once in the master (``preload_app``) and forks the workers from it, so
whatever a worker needs is imported there, before ``gc.freeze()``; what only another
configuration needs (PostgreSQL, JWT authentication) is not imported at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.python_process import run_python

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import gc, json, sys
from datetime import date

from demo.hooks import hook_request
from demo.patients import benchmark_record

body = json.dumps(hook_request(benchmark_record(200, today=date.today()), "order-sign",
                               prefetch=True))
import cds_service.wsgi as entry

client = entry.app.test_client()
at_start = set(sys.modules)
state = {"gc_enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}
collections = []
gc.callbacks.append(lambda phase, info: collections.append(info["generation"]))
for _ in range(20):
    response = client.post(
        "/cds-services/her2-nsclc-order-sign", data=body, content_type="application/json"
    )
state["collections_during_calls"] = len(collections)
for _ in range(60_000):  # garbage cycles, freed only by the collector
    pair = [], []
    pair[0].append(pair[1]), pair[1].append(pair[0])
state["collections_of_cycles"] = len(collections) - state["collections_during_calls"]
state["status"] = response.status_code
state["r4b_imported_by_the_call"] = sorted(
    name for name in set(sys.modules) - at_start if name.startswith("fhir.resources")
)
components = entry.app.extensions["cds_service"]
components.store.feedback_rows()  # the store's first use: the schema is checked
state["imported_by_the_call_and_the_store"] = sorted(set(sys.modules) - at_start)
state["drivers"] = sorted(
    name for name in ("psycopg", "jwt", "cryptography", "redis") if name in sys.modules
)
print(json.dumps(state))
"""


def run_entry(tmp_path: Path, *, migrate: bool = False, **variables: str) -> dict[str, object]:
    kept = {name: value for name, value in os.environ.items() if not name.startswith("CDS_")}
    env = {
        **kept,
        "CDS_PROFILE": "development",
        "CDS_AUTH_DISABLED": "true",
        "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        "CDS_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        **variables,
    }
    if migrate:
        subprocess.run(
            [sys.executable, "-m", "cds_service", "migrate"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            timeout=120,
            check=True,
        )
    run = run_python(PROBE, env=env, timeout_s=120)
    assert run.returncode == 0, run.stderr
    state: dict[str, object] = json.loads(run.stdout.strip().splitlines()[-1])
    return state


def test_a_hook_call_finds_every_r4b_model_it_validates_with_imported_and_frozen(
    tmp_path: Path,
) -> None:
    state = run_entry(tmp_path)
    assert state["status"] == 200
    assert state["r4b_imported_by_the_call"] == []
    assert state["gc_enabled"] is True
    assert isinstance(state["frozen"], int)
    assert state["frozen"] > 100_000


def test_typical_calls_end_before_any_collection_and_cycles_are_still_collected(
    tmp_path: Path,
) -> None:
    """``cds_service.collector``: twenty typical calls free their objects before the young
    threshold is reached; garbage cycles still reach it and are collected."""
    state = run_entry(tmp_path)
    assert state["collections_during_calls"] == 0
    assert isinstance(state["collections_of_cycles"], int)
    assert state["collections_of_cycles"] >= 1


def test_without_postgresql_or_authentication_their_libraries_are_not_imported(
    tmp_path: Path,
) -> None:
    state = run_entry(tmp_path)
    assert state["drivers"] == []


def test_a_worker_s_first_call_and_store_use_import_nothing_once_the_schema_is_current(
    tmp_path: Path,
) -> None:
    state = run_entry(tmp_path, migrate=True)
    assert state["imported_by_the_call_and_the_store"] == []

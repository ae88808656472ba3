"""``python -m bench.profile [--size 200] [--hook order-sign] [--count 200] [--cold]
[--scope out]``: where a hook call's time goes, with pyinstrument, in process (the real app
through Flask's test client, full prefetch, one benchmark record, logs off).

``--scope out`` profiles instead ``make bench``'s out-of-scope patient-view with the
discovery's prefetch (``bench.run.out_of_scope_bodies``): a patient without lung cancer
(``--size`` resources, 2,000 unless given), only the patient and the conditions sent; the
call is answered ``{"cards": []}``, so it is nearly all fixed cost.

Also prints the CPU time per call (best of three rounds of ``--count`` calls), the figure
to compare before and after a change: wall-clock times on a shared machine move with
whatever else runs.

The benchmark resends one record, so the mapping's per-process memos of texts and coded
concepts (``fhir_mappings.routing``, the ``lru_cache``s of ``terminology`` and
``reproductive``) answer every look-up after the first call. ``--cold`` empties them
before every call: the cost of a record whose codes and texts this worker has never seen.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from pyinstrument import Profiler

from cds_service.app import create_app
from cds_service.collector import settle_after_start_up
from cds_service.discovery import SCOPE_DATA
from cds_service.settings import Profile, Settings
from demo.hooks import HOOKS, hook_request, prefetch_for
from demo.patients import benchmark_record, out_of_scope_record
from fhir_mappings import patient_scope, reproductive, routing, terminology


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument(
        "--size", type=int, help="resources in the record (200; 2,000 with --scope out)"
    )
    parser.add_argument("--hook", choices=sorted(HOOKS), default="order-sign")
    parser.add_argument("--count", type=int, default=200, help="calls per round (200)")
    parser.add_argument(
        "--cold", action="store_true", help="empty the mapping's memos before every call"
    )
    parser.add_argument(
        "--scope",
        choices=("in", "out"),
        default="in",
        help="out: the out-of-scope patient-view with the discovery's prefetch",
    )
    args = parser.parse_args(argv)
    forget = _memo_clearers() if args.cold else []
    logging.disable(logging.CRITICAL)
    today = date.today()
    if args.scope == "out":
        args.hook, args.size = "patient-view", args.size or OUT_OF_SCOPE_SIZE
        body = json.dumps(_out_of_scope_request(args.size, today))
    else:
        args.size = args.size or 200
        body = json.dumps(
            hook_request(benchmark_record(args.size, today=today), args.hook, prefetch=True)
        )
    path = f"/cds-services/{HOOKS[args.hook]}"
    with tempfile.TemporaryDirectory(prefix="her2-profile-") as tmp:
        settings = Settings(
            profile=Profile.DEVELOPMENT,
            feedback_database_url=f"sqlite:///{Path(tmp) / 'feedback.sqlite3'}",
        )
        app = create_app(settings, today=lambda: today)
        settle_after_start_up()  # as cds_service.wsgi does after create_app
        client = app.test_client()

        def call() -> None:
            for clear in forget:
                clear()
            response = client.post(path, data=body, content_type="application/json")
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}")

        for _ in range(5):
            call()
        rounds = []
        for _ in range(3):
            started = time.process_time()
            for _ in range(args.count):
                call()
            rounds.append((time.process_time() - started) * 1000 / args.count)
        profiler = Profiler(interval=0.0005)
        with profiler:
            for _ in range(args.count):
                call()
        parts = app.extensions["cds_service"]
        parts.resolver.close()
        parts.store.close()
    print(profiler.output_text(unicode=False, color=False))
    cold = ", memos emptied before every call" if args.cold else ""
    scope = ", out of scope, discovery prefetch" if args.scope == "out" else ""
    print(
        f"{args.hook}, {args.size} resources{scope}{cold}: "
        f"CPU {min(rounds):.2f} ms per call (best of 3)"
    )
    return 0


OUT_OF_SCOPE_SIZE = 2000
"""As ``bench.run.OUT_OF_SCOPE_SIZE``."""


def _out_of_scope_request(size: int, today: date) -> dict[str, Any]:
    """A patient-view for a patient without lung cancer with only the discovery's prefetch,
    as ``bench.run.out_of_scope_bodies`` builds it."""
    outside = out_of_scope_record(size, today=today)
    request = hook_request(outside, "patient-view")
    full = prefetch_for(outside)
    request["prefetch"] = {template.key: full[template.key] for template in SCOPE_DATA}
    return request


def _memo_clearers() -> list[Callable[[], None]]:
    """``cache_clear`` of each memo of the record's content: texts, coded concepts, code
    systems, the patient id (not the memos of the code's own phrases and indexes)."""
    memos = (
        routing._cached_route,
        routing._cached_family_route,
        routing._cached_medication_route,
        routing._cached_scope,
        terminology._cached_words,
        terminology.normalise_system,
        terminology.is_supportive,
        terminology.drug_by_name,
        terminology._cached_cyp3a_of_text,
        reproductive._named_pregnancy_test,
        reproductive._cached_status_kind,
        patient_scope._own_reference,
    )
    return [memo.cache_clear for memo in memos]


if __name__ == "__main__":
    raise SystemExit(main())

"""The garbage collector of a worker, settled once its start-up is done
(``cds_service.wsgi``; ``bench/profile.py`` measures the same way).

Everything built at start-up (the app, the R4B models) lives as long as the worker: it is
frozen, out of the collector's reach, so that the collections a large request body
triggers (a 1 MB body is about 100,000 containers) do not walk the imported modules and
models each time (about a third of an out-of-scope call with a 2,000-resource record).

A full collection still walks every object of the calls in flight (the parsed bodies,
their mapping): 5-14 ms on this project's machine, and by default it runs at every 100th
young collection, so about one typical call in forty waited for one (the p99 of the
benchmark: 7 full collections in 300 calls in process, against 1 with the setting below).
With the start-up frozen, a full collection finds little to free that the young ones did
not: it runs at every 1,000th young collection instead.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 700
"""Allocations between two young collections (Python's default)."""
MIDDLE_EVERY = 10
"""Young collections between two collections of the middle generation (the default)."""
FULL_EVERY = 100
"""Middle collections between two full ones (Python's default: 10)."""


def settle_after_start_up() -> None:
    """Freeze what start-up built, set the thresholds, and collect from here on."""
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_EVERY, FULL_EVERY)
    gc.enable()

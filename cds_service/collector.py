"""The garbage collector of a worker, settled once its start-up is done
(``cds_service.wsgi``; ``bench/profile.py`` measures the same way).

Everything built at start-up (the app, the R4B models) lives as long as the worker: it is
frozen, out of the collector's reach, so that collections do not walk the imported
modules and models each time.

A hook call's objects (the parsed body, the patient model, the cards) hold no reference
cycles to speak of: reference counting frees them when the call ends, and each object
freed takes one off the collector's allocation count. With Python's default young
threshold (700 allocations) a call still triggers collections while its objects are
alive: each one walks them and moves the survivors to an older generation, and the
middle and full collections walk them again. Measured in process on this project's
machine: 0.3-0.4 ms of every typical call and 2.5-5 ms of every 2,000-resource call.

With a young threshold of ``YOUNG_THRESHOLD`` allocations, a typical call starts and ends
without any collection; the count rises during a call and falls back as the call's
objects are freed. Cycles that are garbage (an exception's traceback, say) are still
collected: at most ``YOUNG_THRESHOLD`` new containers wait for it, a few MB. A collection
is rarer, not shorter: the longest pause in 500 typical calls was about 20 ms either way.
``make bench`` judged it (README, Performance: round four): the typical p99 7.3-7.9 ms
with it, 8.8-11.6 ms without.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
"""Container allocations (less those freed) between two young collections; Python's
default is 700. The 2,000-resource benchmark body is about 19,000 containers."""


def settle_after_start_up() -> None:
    """Freeze what start-up built, set the young threshold, and collect from here on."""
    gc.freeze()
    _, middle, full = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, full)
    gc.enable()

"""Liveness and readiness (``/healthz``, ``/readyz``).

``/healthz`` says only that the process answers: a load balancer that restarts on it
must not restart every worker because a database is down. ``/readyz`` says whether
calls can be served: the replay store must answer (authentication fails closed
without it: every authenticated call would get 503), and the feedback store's state
is reported (hook calls do not need it; feedback calls do).

``replay_store_answers`` is the one place that asks the replay store: the store's own
``ping()`` when it has one, else the cheapest real operation, recording a random
``jti`` that expires within a second.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

logger = logging.getLogger(__name__)

READINESS_ISSUER = "urn:her2-nsclc-cds:readiness"
"""The issuer under which readiness probes record their throwaway ``jti``."""


def replay_store_answers(replay: Any) -> bool:
    """Whether the replay store answers now; never raises."""
    try:
        ping = getattr(replay, "ping", None)
        if callable(ping):
            return bool(ping())
        replay.first_use(READINESS_ISSUER, uuid.uuid4().hex, time.time() + 1)
    except Exception as error:  # any failure means: not ready
        logger.warning("readiness: the replay store does not answer (%s)", type(error).__name__)
        return False
    return True


def feedback_store_state(store: Any) -> str:
    """``up`` or ``down``; never raises."""
    try:
        return "up" if store.ping() else "down"
    except Exception as error:  # reported, not raised
        logger.warning("readiness: the feedback store check failed (%s)", type(error).__name__)
        return "down"

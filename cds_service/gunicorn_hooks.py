"""gunicorn server hooks for Prometheus multiprocess mode (``cds_service.metrics``).

``gunicorn.conf.py`` takes ``child_exit`` and calls ``prepare_multiprocess_dir`` itself
when gunicorn reads it (with ``preload_app`` the app is imported before ``on_starting``
runs; ``on_starting`` remains for a configuration without preloading).

``prepare_multiprocess_dir`` runs in the master before any worker is forked: it sets
``PROMETHEUS_MULTIPROC_DIR`` (to a new temporary directory when the variable is
not set) and empties the directory of a previous run's files, so that workers
inherit it and ``/metrics`` adds up every worker. ``child_exit`` marks a dead
worker's live-gauge files. This module must not import prometheus_client at
import time: the variable must be set before prometheus_client is first imported.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir() -> Path:
    """Set the variable (a fresh temporary directory when unset); empty the directory."""
    configured = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink(missing_ok=True)
    else:
        directory = Path(tempfile.mkdtemp(prefix="cds-prometheus-"))
        os.environ[MULTIPROCESS_DIR_VARIABLE] = str(directory)
    return directory


def on_starting(server: Any) -> None:
    """gunicorn hook (master, before the workers start)."""
    prepare_multiprocess_dir()


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook (master, after a worker exited)."""
    from prometheus_client import multiprocess  # noqa: PLC0415 - only after the variable is set

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]

"""``python -c`` in a fresh process from the repository's root: for what only a new
interpreter shows (what an entry imports, what a process finds at start-up)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_python(
    code: str, *args: str, env: Mapping[str, str], timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -c code args`` with ``env``, its output as text; it never raises on a
    failing exit status (the caller asserts on it)."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )

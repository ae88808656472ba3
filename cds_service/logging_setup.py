"""Logging, configured once by the entry points: one JSON object per line.

Records carry a message and structured fields (``extra={"fields": {...}}``);
the per-request access record holds hookInstance, service id, rule ids, counts
and timings. Nothing in the service logs patient data, tokens or payloads.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from cds_service.settings import Settings

_STRUCTURED = ("fields", "rule", "problems")
_ENCODE = json.JSONEncoder(default=str).encode
"""``json.dumps(line, default=str)``, with one encoder for every line (``dumps`` builds one
per call when given ``default``)."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _STRUCTURED:
            value = record.__dict__.get(name)
            if isinstance(value, dict):
                line.update(value)
            elif value is not None:
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
        return _ENCODE(line)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)

"""Prometheus metrics (``/metrics``), with no patient data in any label.

Every label value comes from a fixed, small set chosen by the code, never from
a request: endpoints are route rules, services the ids this service offers
(anything else is ``unknown``), hooks the three CDS hooks, rules the rule ids,
indicators the three card indicators, failure kinds and authentication reasons
fixed words. No patient id, name, variant, token, URL or free text is ever a
label value.

    cds_requests_total{endpoint,service,hook,status}     every HTTP answer
    cds_request_duration_seconds{endpoint,service}       latency histogram
    cds_cards_total{rule,indicator}                      cards sent
    cds_fhir_fetch_failures_total{kind}                  prefetch keys failed, by cause
    cds_fhir_server_refused_total                        calls naming a fhirServer not allowed
    cds_foreign_patient_resources_total                  resources about another patient, dropped
    cds_auth_failures_total{reason}                      401s by reason
    cds_store_failures_total{store}                      replay / feedback store unavailable

Under gunicorn (several worker processes) the metrics are kept in
prometheus_client's multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR`` names a
directory every worker writes to, and ``/metrics`` adds them up. The variable
must be set before any worker imports prometheus_client: gunicorn's master
does it with ``cds_service.gunicorn_hooks`` (``on_starting`` creates or empties
the directory, ``child_exit`` marks a dead worker's files). Without the
variable (the development server, tests) the metrics live in this process.
"""

from __future__ import annotations

import os
import re

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

__all__ = [
    "CONTENT_TYPE_LATEST",
    "auth_failed",
    "card_sent",
    "fhir_fetch_failed",
    "fhir_server_refused",
    "foreign_patient_resources",
    "observe_request",
    "render",
    "store_failed",
]

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

_REQUESTS = Counter(
    "cds_requests_total",
    "HTTP requests answered, by endpoint, service, hook and status.",
    ["endpoint", "service", "hook", "status"],
)
_LATENCY = Histogram(
    "cds_request_duration_seconds",
    "Time to answer an HTTP request, by endpoint and service.",
    ["endpoint", "service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
)
_CARDS = Counter("cds_cards_total", "Cards sent, by rule and indicator.", ["rule", "indicator"])
_FHIR_FAILURES = Counter(
    "cds_fhir_fetch_failures_total", "Prefetch keys that could not be fetched, by cause.", ["kind"]
)
_FHIR_REFUSED = Counter(
    "cds_fhir_server_refused_total",
    "Hook calls refused (412) for naming a fhirServer their issuer may not name.",
)
_FOREIGN = Counter(
    "cds_foreign_patient_resources_total",
    "Resources about another patient than context.patientId, dropped from a hook call.",
)
_AUTH_FAILURES = Counter(
    "cds_auth_failures_total", "Calls refused with 401, by reason.", ["reason"]
)
_STORE_FAILURES = Counter(
    "cds_store_failures_total", "Calls that met an unavailable store, by store.", ["store"]
)

_INDICATORS = frozenset({"info", "warning", "critical"})
_HOOKS = frozenset({"patient-view", "order-select", "order-sign"})
_WORD = re.compile(r"[a-z][a-z0-9 _.:-]{0,63}")


def _word(value: str | None, fallback: str = "other") -> str:
    """A label value: a fixed lower-case phrase, else ``fallback`` (never free text)."""
    return value if value is not None and _WORD.fullmatch(value) else fallback


_REQUEST_SERIES: dict[tuple[str, str, str, int], tuple[Counter, Histogram]] = {}
_CARD_SERIES: dict[tuple[str, str], Counter] = {}
"""Each label set's series, looked up once: ``labels()`` checks and locks on every call (a
microsecond each, two or three per hook call), and the label values are few and fixed."""


def observe_request(
    *, endpoint: str | None, service: str | None, hook: str | None, status: int, seconds: float
) -> None:
    """``service`` must already be one of this service's ids (or None)."""
    endpoint_label = endpoint if endpoint and endpoint.startswith("/") else "unmatched"
    service_label = service or ""
    hook_label = hook if hook in _HOOKS else ""
    key = (endpoint_label, service_label, hook_label, status)
    series = _REQUEST_SERIES.get(key)
    if series is None:
        series = _REQUEST_SERIES[key] = (
            _REQUESTS.labels(endpoint_label, service_label, hook_label, str(status)),
            _LATENCY.labels(endpoint_label, service_label),
        )
    requests, latency = series
    requests.inc()
    latency.observe(seconds)


def card_sent(rule: str, indicator: str) -> None:
    key = (_word(rule, "unknown"), indicator if indicator in _INDICATORS else "unknown")
    series = _CARD_SERIES.get(key)
    if series is None:
        series = _CARD_SERIES[key] = _CARDS.labels(*key)
    series.inc()


def fhir_fetch_failed(kind: str) -> None:
    _FHIR_FAILURES.labels(_word(kind)).inc()


def fhir_server_refused() -> None:
    _FHIR_REFUSED.inc()


def foreign_patient_resources(count: int) -> None:
    if count:
        _FOREIGN.inc(count)


def auth_failed(reason: str) -> None:
    """``reason`` is one of ``auth``'s fixed phrases; a parenthesised detail is cut off."""
    _AUTH_FAILURES.labels(_word(reason.split("(", 1)[0].strip())).inc()


def store_failed(store: str) -> None:
    _STORE_FAILURES.labels(_word(store)).inc()


def render() -> bytes:
    """The exposition text: this process's metrics, or every worker's in multiprocess mode."""
    if os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)

"""Each label set counts in its own series, however often it is met (``cds_service.metrics``
keeps each label set's series after its first use)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from cds_service import metrics

ENDPOINT = "/test-metrics/<series>"


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_each_status_of_an_endpoint_counts_in_its_own_series() -> None:
    ok = {"endpoint": ENDPOINT, "service": "", "hook": "order-sign", "status": "200"}
    failed = {**ok, "status": "500"}
    before_ok, before_failed = (
        count("cds_requests_total", **ok),
        count("cds_requests_total", **failed),
    )
    for status in (200, 200, 500):
        metrics.observe_request(
            endpoint=ENDPOINT, service=None, hook="order-sign", status=status, seconds=0.002
        )
    assert count("cds_requests_total", **ok) - before_ok == 2
    assert count("cds_requests_total", **failed) - before_failed == 1
    latency = {"endpoint": ENDPOINT, "service": ""}
    assert count("cds_request_duration_seconds_count", **latency) >= 3


def test_cards_of_a_rule_id_that_is_not_a_word_count_as_unknown() -> None:
    """(An unknown indicator would be ``unknown`` too; not sent here: the metrics test of
    the vignettes checks that every indicator series of the process is a real one.)"""
    unknown = {"rule": "unknown", "indicator": "info"}
    before = count("cds_cards_total", **unknown)
    metrics.card_sent("Free Text, Not A Rule Id", "info")
    metrics.card_sent("", "info")
    assert count("cds_cards_total", **unknown) - before == 2
    known = {"rule": "test-metrics-rule", "indicator": "warning"}
    before = count("cds_cards_total", **known)
    metrics.card_sent("test-metrics-rule", "warning")
    metrics.card_sent("test-metrics-rule", "warning")
    assert count("cds_cards_total", **known) - before == 2

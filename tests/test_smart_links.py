"""The ``smart`` link on cards (CDS Hooks 2.0, Link): which cards, which URL.

Sequencing, ILD and cardiac cards carry "Open the HER2 journey" with the app's launch
URL; the URL comes from the settings and never from the request (a Host header names
whatever the caller likes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.app import create_app
from cds_service.rules import REGISTRY
from cds_service.settings import Profile, Settings, SmartSettings
from cds_service.smart.links import launch_url, smart_links
from tests.conftest import FIXED_TODAY
from tests.requests import with_empty_adverse_events

FIXTURES = Path(__file__).resolve().parent / "rules" / "fixtures"
LINKED_RULES = {
    "seq-first-line-tkd",
    "seq-first-line-cns",
    "seq-after-platinum",
    "seq-non-tkd",
    "seq-ihc3",
    "seq-amplification-only",
    "seq-after-zongertinib",
    "seq-after-tdxd",
    "seq-tki-after-tki",
    "seq-ici-monotherapy",
    "seq-adc-tki-together",
    "seq-not-her2-agent",
    "seq-off-label-tki",
    "seq-off-label-tdxd",
    "start-sevabertinib",
    "ild-suspected-on-tdxd",
    "ild-grade1-tdxd",
    "ild-grade2-tdxd",
    "ild-history-before-tdxd",
    "ild-on-tki",
    "ild-baseline-imaging",
    "ild-vigilance",
    "cardiac-lvef",
}
"""Spelled out: the sequencing, ILD and cardiac rules (issue 15)."""

LINK = {
    "label": "Open the HER2 journey",
    "url": "https://cds.example.org/smart/launch.html",
    "type": "smart",
}


def production(settings: Settings, **changes: Any) -> Settings:
    smart = SmartSettings(**changes.pop("smart", {}))
    chosen = settings.model_copy(update={"profile": Profile.PRODUCTION, "smart": smart, **changes})
    return chosen.model_copy(update={"auth": chosen.auth.model_copy(update={"disabled": True})})


def test_exactly_the_sequencing_ild_and_cardiac_rules_link_the_app(settings: Settings) -> None:
    linked = {rule.id for rule in REGISTRY if smart_links(rule.id, settings)}
    assert linked == LINKED_RULES


@pytest.mark.parametrize(
    ("changes", "url"),
    [
        (
            {
                "smart": {"launch_url": "https://apps.example.org/her2/launch.html"},
                "public_base_url": "https://cds.example.org",
            },
            "https://apps.example.org/her2/launch.html",
        ),
        (
            {"public_base_url": "https://cds.example.org/"},
            "https://cds.example.org/smart/launch.html",
        ),
        (
            {"public_base_url": "https://cds.example.org/hooks"},
            "https://cds.example.org/hooks/smart/launch.html",
        ),
        ({}, None),
        (
            {"public_base_url": "https://cds.example.org", "smart": {"links_disabled": True}},
            None,
        ),
    ],
)
def test_the_launch_url_in_production(
    settings: Settings, changes: dict[str, Any], url: str | None
) -> None:
    """Production without a launch URL or public base URL: no link, never a guessed one."""
    assert launch_url(production(settings, **changes)) == url


def test_development_links_this_services_loopback_address(settings: Settings) -> None:
    assert (
        launch_url(settings.model_copy(update={"port": 8123}))
        == "http://localhost:8123/smart/launch.html"
    )


def test_the_setting_reads_off_as_no_link() -> None:
    assert launch_url(Settings.from_env({"CDS_SMART_LAUNCH_URL": "off"})) is None
    explicit = Settings.from_env({"CDS_SMART_LAUNCH_URL": "https://a.example.org/l.html"})
    assert launch_url(explicit) == "https://a.example.org/l.html"


def answer(app: Flask, fixture: str, host: str = "localhost") -> dict[str, Any]:
    request = with_empty_adverse_events(json.loads((FIXTURES / fixture).read_text()))
    response = app.test_client().post(
        f"/cds-services/her2-nsclc-{request['hook']}", json=request, headers={"Host": host}
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


@pytest.fixture
def public_app(settings: Settings) -> Flask:
    return create_app(
        production(settings, public_base_url="https://cds.example.org"), today=lambda: FIXED_TODAY
    )


@pytest.mark.parametrize(
    "fixture",
    [
        "cardiac-lvef__fires__lvef_44_drop_16_interrupt.json",
        "ild-grade2-tdxd__fires__grade2_on_tdxd_order_sign.json",
        "seq-after-platinum__fires__exon20_progressed_after_platinum.json",
    ],
)
def test_the_cards_carry_the_link_whatever_the_host_header(public_app: Flask, fixture: str) -> None:
    """cds-hooks_2.0@138, cds-hooks_2.0@139, cds-hooks_2.0@141-@142: a label, an absolute URL
    (this service's public one, never the Host header's), type ``smart``."""
    try:
        for host in ("localhost", "evil.example.net"):
            cards = answer(public_app, fixture, host)["cards"]
            topics = {card["source"]["topic"]["code"]: card for card in cards}
            (rule_id,) = [t for t in topics if fixture.startswith(t + "__")]
            assert topics[rule_id]["links"] == [LINK]
            for code, card in topics.items():
                assert ("links" in card) == (code in LINKED_RULES), code
    finally:
        parts = public_app.extensions["cds_service"]
        parts.resolver.close()
        parts.store.close()

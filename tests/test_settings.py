"""Settings: read once from the environment, defaults stated once, bad values refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cds_service.errors import ConfigurationError
from cds_service.settings import (
    ClinicalSettings,
    OrderIntent,
    Profile,
    Settings,
)

README = Path(__file__).resolve().parents[1] / "README.md"
SETTINGS_SOURCE = Path(__file__).resolve().parents[1] / "cds_service" / "settings.py"


def test_an_empty_environment_gives_the_documented_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.profile is Profile.PRODUCTION
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.max_body_bytes == 5 * 1024 * 1024
    assert (settings.fhir_request_timeout_s, settings.fhir_deadline_s) == (3.0, 4.0)
    assert settings.feedback_database_url == "sqlite:///var/feedback.sqlite3"
    assert settings.cors_origins == ()
    assert settings.card_topic_system == "urn:her2-nsclc-cds:rule-id"
    assert settings.clinical == ClinicalSettings()
    assert settings.clinical.regimen_window_days == 28
    assert settings.clinical.new_line_gap_days == 120
    assert (settings.clinical.kinase_domain_first, settings.clinical.kinase_domain_last) == (
        720,
        987,
    )


def test_the_development_profile_opens_cors_to_the_sandbox_only_by_default() -> None:
    settings = Settings.from_env({"CDS_PROFILE": "development"})
    assert settings.is_development
    assert "https://sandbox.cds-hooks.org" in settings.cors_origins
    assert "*" not in settings.cors_origins


def test_values_are_read_and_typed() -> None:
    settings = Settings.from_env(
        {
            "PORT": "9001",
            "CDS_FHIR_DEADLINE_S": "2.5",
            "CDS_CORS_ORIGINS": "https://a.example, https://b.example",
            "CDS_REGIMEN_WINDOW_DAYS": "21",
            "CDS_ORDER_INTENT": "ORDER",
            "CDS_DISABLED_RULES": "seq-first-line-cns, hepatic-tki",
            "CDS_LOG_LEVEL": "debug",
        }
    )
    assert settings.port == 9001
    assert settings.fhir_deadline_s == 2.5
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.clinical.regimen_window_days == 21
    assert settings.clinical.order_intent is OrderIntent.ORDER
    assert settings.clinical.disabled_rules == frozenset({"seq-first-line-cns", "hepatic-tki"})
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "eighty", "PORT must be a whole number"),
        ("CDS_REGIMEN_WINDOW_DAYS", "-1", "must not be negative"),
        ("CDS_FHIR_DEADLINE_S", "0", "must be positive"),
        ("CDS_FHIR_TIMEOUT_S", "soon", "must be a number"),
        ("CDS_PROFILE", "staging", "CDS_PROFILE must be one of production, development"),
        ("CDS_ORDER_INTENT", "plan", "CDS_ORDER_INTENT must be one of proposal, order"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Settings.from_env({name: value})


def test_every_variable_read_is_documented_in_the_readme() -> None:
    read = set(re.findall(r'"(CDS_[A-Z0-9_]+)"', SETTINGS_SOURCE.read_text(encoding="utf-8")))
    assert len(read) > 30
    readme = README.read_text(encoding="utf-8")
    assert sorted(name for name in read if f"`{name}`" not in readme) == []

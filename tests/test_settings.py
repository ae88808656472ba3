"""Settings: read once from the environment, defaults stated once, bad values refused."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cds_service.__main__ import main
from cds_service.errors import ConfigurationError
from cds_service.settings import (
    ClinicalSettings,
    GunicornSettings,
    OrderIntent,
    Profile,
    Settings,
    StoreSettings,
    declared_variables,
)
from cds_service.settings_table import settings_table

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SETTINGS_SOURCE = ROOT / "cds_service" / "settings.py"
START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"
NORMAL_LVEF = (
    ROOT / "tests" / "rules" / "fixtures" / "cardiac-lvef__silent__recent_normal_lvef.json"
)


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


def test_every_variable_named_in_the_settings_module_is_declared() -> None:
    named = set(re.findall(r'"(CDS_[A-Z0-9_]+)"', SETTINGS_SOURCE.read_text(encoding="utf-8")))
    assert len(named) > 30
    assert sorted(named - set(declared_variables())) == []
    assert {"PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS"} <= set(declared_variables())


def test_the_declared_defaults_are_what_an_empty_environment_gives() -> None:
    assert Settings.from_env({}) == Settings()


def test_settings_made_in_code_never_read_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDS_PROFILE", "development")
    monkeypatch.setenv("CDS_REGIMEN_WINDOW_DAYS", "7")
    assert Settings().profile is Profile.PRODUCTION
    assert ClinicalSettings().regimen_window_days == 28
    assert Settings.from_env().clinical.regimen_window_days == 7


def test_blank_values_are_unset_and_values_are_stripped() -> None:
    settings = Settings.from_env({"CDS_LOG_LEVEL": "  ", "PORT": " 9002 ", "CDS_HOST": ""})
    assert (settings.log_level, settings.port, settings.host) == ("INFO", 9002, "127.0.0.1")


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"CDS_STORE_AUTO_MIGRATE": "off"}, False),
        ({"CDS_STORE_AUTO_MIGRATE": "YES"}, True),
        ({}, True),
    ],
)
def test_switches_read_true_and_false_words(environment: dict[str, str], expected: bool) -> None:
    assert Settings.from_env(environment).stores.auto_migrate is expected


def test_a_store_pool_and_queue_of_zero_count_as_one() -> None:
    stores = Settings.from_env({"CDS_STORE_POOL_SIZE": "0", "CDS_ISSUED_CARDS_QUEUE": "0"}).stores
    assert (stores.pool_size, stores.issued_cards_queue) == (1, 1)
    assert StoreSettings(pool_size=2).pool_size == 2


def test_every_bad_value_of_a_group_is_named_in_one_message() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"CDS_RECENT_ANC_DAYS": "soon", "CDS_LVEF_MIN_PERCENT": "-5"})
    message = str(refused.value)
    assert "CDS_RECENT_ANC_DAYS must be a whole number, got 'soon'" in message
    assert "CDS_LVEF_MIN_PERCENT must be positive" in message


def test_a_switch_that_is_not_true_or_false_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="CDS_AUTH_DISABLED must be true or false"):
        Settings.from_env({"CDS_AUTH_DISABLED": "maybe"})


def test_gunicorn_reads_its_processes_and_threads_from_the_declaration() -> None:
    assert GunicornSettings.read({}) == GunicornSettings(web_concurrency=4, gunicorn_threads=4)
    chosen = GunicornSettings.read({"WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "8"})
    assert (chosen.web_concurrency, chosen.gunicorn_threads) == (2, 8)
    with pytest.raises(ConfigurationError, match="WEB_CONCURRENCY must be a whole number"):
        GunicornSettings.read({"WEB_CONCURRENCY": "many"})
    config = (ROOT / "gunicorn.conf.py").read_text(encoding="utf-8")
    assert "GunicornSettings.read(os.environ)" in config
    assert 'environ.get("WEB_CONCURRENCY' not in config


# --- The README table ------------------------------------------------------------------


def readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index(START) + len(START) : text.index(END)].strip()


def test_readme_configuration_table_is_the_one_generated_from_the_declaration() -> None:
    assert readme_section() == settings_table(), (
        "README configuration table is stale: paste the output of "
        "`python -m cds_service settings table` between the settings-table markers"
    )


def test_the_table_has_one_row_per_declared_variable() -> None:
    rows = [line for line in settings_table().splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(declared_variables())
    undescribed = [name for name, info in declared_variables().items() if not info.description]
    assert undescribed == []
    assert "| `CDS_FHIR_TIMEOUT_S` | number > 0 | `3.0` | timeout of one request" in "\n".join(rows)
    cors = next(row for row in rows if row.startswith("| `CDS_CORS_ORIGINS`"))
    assert "none (production); development: `https://sandbox.cds-hooks.org," in cors
    assert "| `CDS_ORDER_INTENT` | `proposal` / `order` | `proposal` |" in "\n".join(rows)


def test_the_settings_command_prints_the_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cds_service", "settings", "table"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert result.stdout.strip() == settings_table()


# --- explain at a site's settings ------------------------------------------------------


@pytest.fixture
def no_site_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's environment without CDS_* variables: explain reads it."""
    for name in list(os.environ):
        if name.startswith("CDS_"):
            monkeypatch.delenv(name)


def explain(capsys: pytest.CaptureFixture[str], *settings: str) -> dict[str, Any]:
    given = [item for name in settings for item in ("--set", name)]
    assert main(["explain", str(NORMAL_LVEF), "--as-of", "2026-11-21", *given]) == 0
    shown: dict[str, Any] = json.loads(capsys.readouterr().out)
    return shown


def findings(shown: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f["rule_id"], f["indicator"]) for f in shown["findings"]]


@pytest.mark.usefixtures("no_site_settings")
def test_explain_shows_what_a_site_with_changed_thresholds_gets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A T-DXd order with an LVEF of 60 % measured 8 days before: no card by default; a site
    that counts only LVEFs of the last day, or warns below 70 %, gets a cardiac-lvef card."""
    default = explain(capsys)
    assert default["hook"] == "order-sign"
    assert findings(default) == []
    assert [m["value"] for m in default["patient"]["measurements"] if m["kind"] == "lvef"] == [60.0]
    fresher = explain(capsys, "CDS_RECENT_LVEF_DAYS=1")
    assert findings(fresher) == [("cardiac-lvef", "warning")]
    assert "no LVEF in the last 1 days" in fresher["findings"][0]["summary"]
    higher = explain(capsys, "CDS_LVEF_MIN_PERCENT=70")
    assert findings(higher) == [("cardiac-lvef", "warning")]
    assert "below 70 %" in higher["findings"][0]["summary"]
    off = explain(capsys, "CDS_LVEF_MIN_PERCENT=70", "CDS_DISABLED_RULES=cardiac-lvef")
    assert findings(off) == []


@pytest.mark.usefixtures("no_site_settings")
def test_explain_reads_the_mapping_settings_too(capsys: pytest.CaptureFixture[str]) -> None:
    """Carboplatin-pemetrexed-pembrolizumab given every 3 weeks is one line; a site whose
    new-line gap is 1 day reads each gap between cycles as a new line."""
    default = explain(capsys)["patient"]["lines"]
    assert [line["number"] for line in default] == [1]
    split = explain(capsys, "CDS_NEW_LINE_GAP_DAYS=1")["patient"]["lines"]
    assert len(split) > 1
    assert {drug for line in split for drug in line["drugs"]} == set(default[0]["drugs"])


@pytest.mark.usefixtures("no_site_settings")
def test_explain_refuses_a_bad_setting_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(NORMAL_LVEF), "--set", "CDS_RECENT_LVEF_DAYS=-3"]) == 2
    assert "CDS_RECENT_LVEF_DAYS must not be negative" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["explain", str(NORMAL_LVEF), "--set", "CDS_NO_SUCH_SETTING=1"])
    assert "CDS_NO_SUCH_SETTING is not a setting" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["explain", str(NORMAL_LVEF), "--set", "CDS_RECENT_LVEF_DAYS"])
    assert "is not NAME=VALUE" in capsys.readouterr().err


def test_explain_runs_as_a_module_with_a_setting() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    result = subprocess.run(
        [sys.executable, "-m", "cds_service", "explain", str(NORMAL_LVEF), "--as-of",
         "2026-11-21", "--set", "CDS_LVEF_MIN_PERCENT=70"],
        capture_output=True, text=True, check=True, cwd=ROOT, env=environment,
    )  # fmt: skip
    assert findings(json.loads(result.stdout)) == [("cardiac-lvef", "warning")]

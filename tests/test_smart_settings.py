"""The SMART app's settings (``CDS_SMART_*``): read, and refused when they could do harm."""

from __future__ import annotations

import pytest

from cds_service.errors import ConfigurationError
from cds_service.settings import Settings, SmartSettings


def test_the_defaults() -> None:
    assert Settings.from_env({}).smart == SmartSettings(
        issuers=(),
        launch_url=None,
        links_disabled=False,
        connect_src=(),
        frame_ancestors=(),
        token_cache_s=60,
    )


def test_every_variable_is_read() -> None:
    smart = Settings.from_env(
        {
            "CDS_SMART_ISSUERS": "https://fhir.example.org/r4, https://other.example.org/fhir",
            "CDS_SMART_LAUNCH_URL": "https://cds.example.org/smart/launch.html",
            "CDS_SMART_CONNECT_SRC": "https://authorization.example.org",
            "CDS_SMART_FRAME_ANCESTORS": "https://ehr.example.org,https://*.ehr.example.org:*",
            "CDS_SMART_TOKEN_CACHE_S": "30",
        }
    ).smart
    assert smart.issuers == ("https://fhir.example.org/r4", "https://other.example.org/fhir")
    assert smart.launch_url == "https://cds.example.org/smart/launch.html"
    assert smart.connect_src == ("https://authorization.example.org",)
    assert smart.frame_ancestors == ("https://ehr.example.org", "https://*.ehr.example.org:*")
    assert smart.token_cache_s == 30


@pytest.mark.parametrize("value", ["off", "OFF", "Off"])
def test_off_switches_the_links_off(value: str) -> None:
    smart = Settings.from_env({"CDS_SMART_LAUNCH_URL": value}).smart
    assert smart.links_disabled
    assert smart.launch_url is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CDS_SMART_ISSUERS", "ftp://fhir.example.org"),
        ("CDS_SMART_ISSUERS", "https://user@fhir.example.org/r4"),
        ("CDS_SMART_ISSUERS", "https://fhir.example.org/r4?tenant=1"),
        ("CDS_SMART_LAUNCH_URL", "/smart/launch.html"),
        ("CDS_SMART_LAUNCH_URL", "javascript:alert(1)"),
        ("CDS_SMART_LAUNCH_URL", "https://cds.example.org/launch.html#x"),
        # A source list entry that could add a directive or a keyword to the policy.
        ("CDS_SMART_CONNECT_SRC", "https://a.example.org; script-src *"),
        ("CDS_SMART_CONNECT_SRC", "'unsafe-eval'"),
        ("CDS_SMART_CONNECT_SRC", "*"),
        ("CDS_SMART_CONNECT_SRC", "https://a.example.org/path"),
        ("CDS_SMART_FRAME_ANCESTORS", "'none' https://ehr.example.org"),
        ("CDS_SMART_FRAME_ANCESTORS", "data:"),
        ("CDS_SMART_TOKEN_CACHE_S", "-1"),
    ],
)
def test_values_that_could_do_harm_stop_the_start(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value})

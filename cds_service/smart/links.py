"""The ``smart`` link on cards: "Open the HER2 journey" (cds-hooks_2.0@138-@147).

The EHR appends ``iss`` and ``launch`` to the link's URL (link type ``smart``). Which
URL: ``CDS_SMART_LAUNCH_URL``; unset, ``{CDS_PUBLIC_BASE_URL}/smart/launch.html``; without
a public base URL, in the development profile only, this service's own loopback address
(``Settings.audience_base_url``). Never the request's Host header: a card must not send a
clinician to whatever host a caller named. In production without either setting, cards
carry no link. ``CDS_SMART_LAUNCH_URL=off``: no link at all.
"""

from __future__ import annotations

from cds_service.settings import Settings
from cds_service.wire import Link

__all__ = ["LINKED_RULE_PREFIXES", "LINK_LABEL", "launch_url", "smart_links"]

LINK_LABEL = "Open the HER2 journey"

LINKED_RULE_PREFIXES = ("seq-", "start-", "ild-", "cardiac-")
"""Rule ids whose cards carry the link: treatment sequencing (``seq-*``, ``start-*``),
ILD/pneumonitis (``ild-*``) and cardiac safety (``cardiac-lvef``): the decisions where the
course over time (lines, episodes, LVEF) is what the clinician weighs."""

LAUNCH_PATH = "/smart/launch.html"


def launch_url(settings: Settings) -> str | None:
    """The URL the EHR launches the app at, or None when cards carry no link."""
    smart = settings.smart
    if smart.links_disabled:
        return None
    if smart.launch_url:
        return smart.launch_url
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + LAUNCH_PATH
    if settings.is_development:
        return settings.audience_base_url + LAUNCH_PATH
    return None


def smart_links(rule_id: str, settings: Settings) -> list[Link] | None:
    """The card's ``links``: the app's launch link for the rules it helps with, else None."""
    url = launch_url(settings)
    if url is None or not rule_id.startswith(LINKED_RULE_PREFIXES):
        return None
    return [Link(label=LINK_LABEL, url=url, type="smart")]

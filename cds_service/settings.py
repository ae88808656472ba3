"""Configuration: environment variables into one frozen settings object.

Nothing else in the project reads the environment. ``Settings.from_env`` is
called once by the entry points and the result is passed to ``create_app``.
Every variable is documented in the README's Configuration section.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from cds_service.errors import ConfigurationError


class Profile(StrEnum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"


class OrderIntent(StrEnum):
    """``intent`` of the MedicationRequests that suggestions create."""

    PROPOSAL = "proposal"
    ORDER = "order"


SANDBOX_ORIGIN = "https://sandbox.cds-hooks.org"
DEVELOPMENT_ORIGINS = (SANDBOX_ORIGIN, "http://localhost:3000", "http://127.0.0.1:3000")


@dataclass(frozen=True, slots=True)
class ClinicalSettings:
    """Thresholds, windows and switches of the clinical logic (clinical-rules.md)."""

    regimen_window_days: int = 28
    """Drugs started within this many days of a regimen's first drug join it (section 5)."""
    new_line_gap_days: int = 120
    """A gap with no anticancer therapy longer than this starts a new line (section 5)."""
    kinase_domain_first: int = 720
    kinase_domain_last: int = 987
    """ERBB2 kinase-domain residues for `tkd-activating` [?] (section 4)."""
    recent_chest_ct_days: int = 90
    """`ild-baseline-imaging`: a chest CT within this many days counts as baseline."""
    recent_lvef_days: int = 90
    """`cardiac-lvef`: an LVEF within this many days before the first dose counts."""
    recent_liver_panel_days: int = 30
    """`hepatic-tki`: a liver panel within this many days before the first dose counts."""
    lvef_min_percent: float = 50.0
    """`cardiac-lvef`: an LVEF below this is a warning (trials excluded LVEF < 50 %) [L]."""
    lvef_interrupt_percent: float = 40.0
    """`cardiac-lvef`: on T-DXd, an LVEF below this means interrupt (label's LVEF table) [L]."""
    lvef_drop_points: float = 20.0
    """`cardiac-lvef`: on T-DXd, an absolute LVEF drop above this from baseline: interrupt [L]."""
    transaminase_uln_multiple: float = 3.0
    """`hepatic-tki` and modifiers: ALT or AST above this many x ULN (above grade 1)."""
    bilirubin_uln_multiple: float = 1.5
    """`hepatic-tki` and modifiers: total bilirubin above this many x ULN (above grade 1)."""
    hys_bilirubin_uln_multiple: float = 2.0
    """`hepatic-tki`: ALT/AST above the transaminase multiple with bilirubin above this: critical [?]."""
    anc_min_10e9_per_l: float = 1.0
    """`neutropenia-tdxd`: hold T-DXd while the latest ANC is below this (10^9/L) [L]."""
    dose_tolerance_fraction: float = 0.05
    """`dose-tdxd` and dose comparisons: an ordered dose within this fraction matches a level."""
    order_intent: OrderIntent = OrderIntent.PROPOSAL
    """``intent`` of the MedicationRequests and ServiceRequests that suggestions create."""
    disabled_rules: frozenset[str] = frozenset()
    """Rule ids switched off at this site (e.g. rules tagged [?] in the spec)."""
    knowledge_base_date: str = "2026-04-06"
    """Date of the newest source the rules were written from; shown in every card."""


@dataclass(frozen=True, slots=True)
class Settings:
    profile: Profile = Profile.PRODUCTION
    host: str = "127.0.0.1"
    port: int = 8080
    public_base_url: str | None = None
    """Base URL callers use (behind a proxy); None: derived from the request."""
    max_body_bytes: int = 5 * 1024 * 1024
    fhir_request_timeout_s: float = 3.0
    """Timeout of one request to the EHR's FHIR server."""
    fhir_deadline_s: float = 4.0
    """Deadline for all FHIR fetches of one hook call."""
    fhir_max_pages: int = 20
    """Most `next` pages followed for one prefetch key."""
    fhir_pool_size: int = 8
    feedback_database_url: str = "sqlite:///var/feedback.sqlite3"
    cors_origins: tuple[str, ...] = ()
    card_topic_system: str = "urn:her2-nsclc-cds:rule-id"
    log_level: str = "INFO"
    clinical: ClinicalSettings = field(default_factory=ClinicalSettings)

    @property
    def is_development(self) -> bool:
        return self.profile is Profile.DEVELOPMENT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``CDS_*`` variables (and ``PORT``); raise ConfigurationError on bad values."""
        env = _Env(os.environ if environ is None else environ)
        profile = env.enum("CDS_PROFILE", Profile, Profile.PRODUCTION)
        default_origins = DEVELOPMENT_ORIGINS if profile is Profile.DEVELOPMENT else ()
        clinical = ClinicalSettings(
            regimen_window_days=env.integer("CDS_REGIMEN_WINDOW_DAYS", 28),
            new_line_gap_days=env.integer("CDS_NEW_LINE_GAP_DAYS", 120),
            kinase_domain_first=env.integer("CDS_KINASE_DOMAIN_FIRST", 720),
            kinase_domain_last=env.integer("CDS_KINASE_DOMAIN_LAST", 987),
            recent_chest_ct_days=env.integer("CDS_RECENT_CHEST_CT_DAYS", 90),
            recent_lvef_days=env.integer("CDS_RECENT_LVEF_DAYS", 90),
            recent_liver_panel_days=env.integer("CDS_RECENT_LIVER_PANEL_DAYS", 30),
            lvef_min_percent=env.number("CDS_LVEF_MIN_PERCENT", 50.0),
            lvef_interrupt_percent=env.number("CDS_LVEF_INTERRUPT_PERCENT", 40.0),
            lvef_drop_points=env.number("CDS_LVEF_DROP_POINTS", 20.0),
            transaminase_uln_multiple=env.number("CDS_TRANSAMINASE_ULN_MULTIPLE", 3.0),
            bilirubin_uln_multiple=env.number("CDS_BILIRUBIN_ULN_MULTIPLE", 1.5),
            hys_bilirubin_uln_multiple=env.number("CDS_HYS_BILIRUBIN_ULN_MULTIPLE", 2.0),
            anc_min_10e9_per_l=env.number("CDS_ANC_MIN_10E9_PER_L", 1.0),
            dose_tolerance_fraction=env.number("CDS_DOSE_TOLERANCE_FRACTION", 0.05),
            order_intent=env.enum("CDS_ORDER_INTENT", OrderIntent, OrderIntent.PROPOSAL),
            disabled_rules=frozenset(env.items("CDS_DISABLED_RULES")),
            knowledge_base_date=env.text("CDS_KNOWLEDGE_BASE_DATE", "2026-04-06"),
        )
        return cls(
            profile=profile,
            host=env.text("CDS_HOST", "127.0.0.1"),
            port=env.integer("PORT", 8080),
            public_base_url=env.optional("CDS_PUBLIC_BASE_URL"),
            max_body_bytes=env.integer("CDS_MAX_BODY_BYTES", 5 * 1024 * 1024),
            fhir_request_timeout_s=env.number("CDS_FHIR_TIMEOUT_S", 3.0),
            fhir_deadline_s=env.number("CDS_FHIR_DEADLINE_S", 4.0),
            fhir_max_pages=env.integer("CDS_FHIR_MAX_PAGES", 20),
            fhir_pool_size=env.integer("CDS_FHIR_POOL_SIZE", 8),
            feedback_database_url=env.text(
                "CDS_FEEDBACK_DATABASE_URL", "sqlite:///var/feedback.sqlite3"
            ),
            cors_origins=env.items("CDS_CORS_ORIGINS") or default_origins,
            card_topic_system=env.text("CDS_CARD_TOPIC_SYSTEM", "urn:her2-nsclc-cds:rule-id"),
            log_level=env.text("CDS_LOG_LEVEL", "INFO").upper(),
            clinical=clinical,
        )


_E = TypeVar("_E", bound=StrEnum)


class _Env:
    """Typed reads of environment variables, with errors that name the variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def optional(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def items(self, name: str) -> tuple[str, ...]:
        raw = self.optional(name) or ""
        return tuple(item.strip() for item in raw.split(",") if item.strip())

    def integer(self, name: str, default: int) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
        if value < 0:
            raise ConfigurationError(f"{name} must not be negative")
        return value

    def number(self, name: str, default: float) -> float:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
        if value <= 0:
            raise ConfigurationError(f"{name} must be positive")
        return value

    def enum(self, name: str, kind: type[_E], default: _E) -> _E:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            return kind(raw.lower())
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise ConfigurationError(f"{name} must be one of {allowed}, got {raw!r}") from None

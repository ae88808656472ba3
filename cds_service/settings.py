"""Configuration: environment variables into one frozen settings object.

Nothing else in the project reads the environment. ``Settings.from_env`` is
called once by the entry points and the result is passed to ``create_app``.
Every variable is documented in the README's Configuration section.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from cds_service.errors import ConfigurationError


class Profile(StrEnum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"


class EhrProfile(StrEnum):
    """What the EHR does with card suggestions (``CDS_EHR_PROFILE``).

    ``standard``: create, update and delete actions; several actions in one suggestion;
    ``selectionBehavior`` ``at-most-one`` where the options exclude each other.
    ``single-action``: what Epic honours: one action per suggestion,
    ``selectionBehavior`` ``any``, no update of a MedicationRequest (a dose change
    becomes a delete of the draft and a create at the new dose)."""

    STANDARD = "standard"
    SINGLE_ACTION = "single-action"


class OrderIntent(StrEnum):
    """``intent`` of the MedicationRequests that suggestions create."""

    PROPOSAL = "proposal"
    ORDER = "order"


SANDBOX_ORIGIN = "https://sandbox.cds-hooks.org"
DEVELOPMENT_ORIGINS = (SANDBOX_ORIGIN, "http://localhost:3000", "http://127.0.0.1:3000")

SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SANDBOX_JWKS_FILE = Path(__file__).parent / "trusted" / "sandbox-jwks.json"
"""The CDS Hooks sandbox's public key set, pinned: a verbatim copy of
``.well-known/jwks.json`` in https://github.com/cds-hooks/sandbox (commit
c6cc0da41d06884e1ad4f5169c0bcffcd58192f6), the set its ``jku`` names. The
sandbox signs with that key (``src/retrieve-data-helpers/jwt-generator.js``:
ES384, kid 44823f3d-0b01-4a6c-a80e-b9d3e8a7226f, iss https://sandbox.cds-hooks.org)."""

ASYMMETRIC_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}
)
"""JWS algorithms CDS_AUTH_ALGORITHMS may name; `none` and HMAC never (cds-hooks_2.0@201, @203)."""
DEFAULT_ALGORITHMS = ("ES384", "RS384")
"""The two CDS Hooks 2.0 recommends (cds-hooks_2.0@205)."""


@dataclass(frozen=True, slots=True)
class IssuerSettings:
    """One trusted CDS client: its ``iss`` and where its public keys come from.

    Exactly one key source: ``jwks_json`` (an inline JWK Set, as JSON text),
    ``jwks_file`` (a JWK Set file) or ``jwks_url`` (fetched, cached). ``jku``
    lists further key-set URLs a token's ``jku`` header may name: for a URL
    issuer they are fetched; for a pinned issuer they are accepted as standing
    for the pinned set and never fetched.
    """

    iss: str
    jwks_json: str | None = None
    jwks_file: str | None = None
    jwks_url: str | None = None
    jku: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()
    """When not empty, the token's ``tenant`` claim must be one of these."""
    fhir_servers: tuple[str, ...] = ()
    """The ``fhirServer`` bases this issuer's calls may name; a call naming another gets
    412 (no server-side request forgery). Empty: its calls may name none."""

    @property
    def allowed_jku(self) -> tuple[str, ...]:
        """The ``jku`` values a token of this issuer may carry."""
        return ((self.jwks_url,) if self.jwks_url else ()) + self.jku


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """JWT authentication of CDS clients (cds-hooks.md, Security)."""

    disabled: bool = False
    """Set only by CDS_AUTH_DISABLED=true: serve without authentication."""
    issuers: tuple[IssuerSettings, ...] = ()
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    leeway_s: int = 10
    """Clock skew allowed on exp, iat and nbf (the sandbox rounds iat: 5 s or more)."""
    replay_store_url: str | None = None
    """Where seen ``jti`` are kept; None: the feedback database."""
    jwks_cache_s: int = 3600
    """How long a fetched JWK Set is used before it is fetched again."""
    jwks_min_refresh_s: int = 30
    """Least time between two fetches of one JWK Set prompted by an unknown kid."""
    max_token_lifetime_s: int = 300
    """Largest ``exp - iat`` accepted; seen ``jti`` are kept at most this long (plus leeway)."""


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
    measurement_lookback_days: int = 180
    """Measurements older than this are read only as the latest value and pre-dose baselines."""
    recent_chest_ct_days: int = 90
    """`ild-baseline-imaging`: a chest CT within this many days counts as baseline."""
    recent_ild_episode_days: int = 90
    """`ild-history-before-tdxd`: an episode that began within this many days is critical [E]."""
    recent_anc_days: int = 7
    """`neutropenia-tdxd`: only an ANC within this many days before the order is used."""
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
    """`hepatic-tki`: ALT/AST above that multiple with bilirubin above this: critical [?]."""
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
    recent_predose_labs_days: int = 7
    """`thrombocytopenia-tdxd`, `tdm1-safety`: platelets and liver tests count as "before this
    dose" when this recent (labels: before each dose) (clinical-rules.md 9.2)."""
    recent_pregnancy_test_days: int = 7
    """`embryo-fetal`: a pregnancy test this recent counts before a first dose (9.2)."""
    reproductive_age_min: int = 18
    reproductive_age_max: int = 55
    """`embryo-fetal`: ages counted as reproductive potential for a female patient [?] (9.2);
    unknown age or sex counts as possible reproductive potential."""


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """How the stores (feedback database, replay store) connect; see README, Operations."""

    connect_timeout_s: float = 3.0
    """Opening one connection (PostgreSQL, Redis). psycopg waits at least 2 s."""
    statement_timeout_s: float = 3.0
    """One store operation: PostgreSQL's statement_timeout, a client-side watchdog that
    cuts a connection whose server stops answering, SQLite's busy wait, Redis's socket
    timeout."""
    keepalive_s: float = 30.0
    """TCP keepalive idle time of store connections (then 3 probes, keepalive_s / 3 apart)."""
    pool_size: int = 4
    """Connections kept per process and database (as many again may be opened at peaks)."""
    auto_migrate: bool = True
    """Bring the schema to the current revision at a process's first use of a database.
    Off: only ``python -m cds_service migrate`` does (a deploy step)."""
    issued_cards_queue: int = 1000
    """Hook responses waiting to have their cards remembered; past it they are dropped."""


@dataclass(frozen=True, slots=True)
class SmartSettings:
    """The SMART app (``cds_service.smart``): where it may be launched from, its launch URL,
    and what its Content-Security-Policy lets it reach and be framed by."""

    issuers: tuple[str, ...] = ()
    """FHIR bases (the SMART ``iss``) the app may be launched from: the patient-model
    endpoint checks tokens only against these, and the app may connect to their origins."""
    launch_url: str | None = None
    """The ``smart`` link on cards; None: ``{CDS_PUBLIC_BASE_URL}/smart/launch.html``, or in
    the development profile this service's loopback address (see ``smart.launch_url``)."""
    links_disabled: bool = False
    """``CDS_SMART_LAUNCH_URL=off``: cards carry no ``smart`` link."""
    connect_src: tuple[str, ...] = ()
    """Origins the app may fetch from besides its own and the issuers' (e.g. an
    authorization server on another host)."""
    frame_ancestors: tuple[str, ...] = ()
    """Origins that may show the app in a frame besides this service (EHRs embed it)."""
    token_cache_s: int = 60
    """How long a SMART access token checked against its FHIR server is trusted without
    asking again (kept under a hash of the token, in memory; 0: ask every time)."""


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
    fhir_max_page_bytes: int = 4 * 1024 * 1024
    """Largest FHIR answer read for one page, after decompression; larger: the key fails."""
    fhir_max_call_bytes: int = 16 * 1024 * 1024
    """Largest total of FHIR answers read for one resolution stage of a hook call (discovery
    prefetch, the rest of the record, the referenced Medications), after decompression."""
    fhir_max_medication_reads: int = 20
    """Most ``Medication`` resources read from ``fhirServer`` for the ``medicationReference``
    targets a hook call's data lacks (``cds_service.medication_refs``); more: data issues."""
    fhir_servers: tuple[str, ...] = ()
    """``fhirServer`` bases allowed when authentication is off (and for the sandbox issuer);
    empty with authentication off: any base (a warning at start-up)."""
    feedback_max_items: int = 100
    """Most feedback items in one feedback request."""
    feedback_max_text_chars: int = 2000
    """Longest string anywhere in a feedback request (ids, codes, comments)."""
    metrics_token: str | None = None
    """Bearer token that opens ``/metrics``; None: ``/metrics`` answers loopback callers only."""
    feedback_database_url: str = "sqlite:///var/feedback.sqlite3"
    cors_origins: tuple[str, ...] = ()
    card_topic_system: str = "urn:her2-nsclc-cds:rule-id"
    log_level: str = "INFO"
    order_catalog: str | None = None
    """Path of the site order catalog (YAML or JSON), read and validated at start-up by
    ``create_app`` (``cds_service.catalog``); None: suggestions carry text and known codes."""
    ehr_profile: EhrProfile = EhrProfile.STANDARD
    clinical: ClinicalSettings = field(default_factory=ClinicalSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    stores: StoreSettings = field(default_factory=StoreSettings)
    smart: SmartSettings = field(default_factory=SmartSettings)

    @property
    def is_development(self) -> bool:
        return self.profile is Profile.DEVELOPMENT

    @property
    def audience_base_url(self) -> str:
        """The base of every token's ``aud``: ``CDS_PUBLIC_BASE_URL``, never the Host header.

        Unset (development only; production refuses to start without it when authentication
        is on): ``http://localhost:{port}`` for a loopback host, else ``http://{host}:{port}``.
        """
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        host = "localhost" if _is_loopback(self.host) else self.host
        return f"http://{host}:{self.port}"

    @property
    def authentication_required(self) -> bool:
        """On in production unless CDS_AUTH_DISABLED; in development only with issuers."""
        if self.auth.disabled:
            return False
        return bool(self.auth.issuers) or not self.is_development

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``CDS_*`` variables (and ``PORT``); raise ConfigurationError on bad values."""
        env = _Env(os.environ if environ is None else environ)
        profile = env.enum("CDS_PROFILE", Profile, Profile.PRODUCTION)
        default_origins = DEVELOPMENT_ORIGINS if profile is Profile.DEVELOPMENT else ()
        defaults, clinical_defaults = cls(), ClinicalSettings()
        clinical = ClinicalSettings(
            regimen_window_days=env.integer(
                "CDS_REGIMEN_WINDOW_DAYS", clinical_defaults.regimen_window_days
            ),
            new_line_gap_days=env.integer(
                "CDS_NEW_LINE_GAP_DAYS", clinical_defaults.new_line_gap_days
            ),
            kinase_domain_first=env.integer(
                "CDS_KINASE_DOMAIN_FIRST", clinical_defaults.kinase_domain_first
            ),
            kinase_domain_last=env.integer(
                "CDS_KINASE_DOMAIN_LAST", clinical_defaults.kinase_domain_last
            ),
            measurement_lookback_days=env.integer(
                "CDS_MEASUREMENT_LOOKBACK_DAYS", clinical_defaults.measurement_lookback_days
            ),
            recent_chest_ct_days=env.integer(
                "CDS_RECENT_CHEST_CT_DAYS", clinical_defaults.recent_chest_ct_days
            ),
            recent_ild_episode_days=env.integer(
                "CDS_RECENT_ILD_EPISODE_DAYS", clinical_defaults.recent_ild_episode_days
            ),
            recent_anc_days=env.integer("CDS_RECENT_ANC_DAYS", clinical_defaults.recent_anc_days),
            recent_lvef_days=env.integer(
                "CDS_RECENT_LVEF_DAYS", clinical_defaults.recent_lvef_days
            ),
            recent_liver_panel_days=env.integer(
                "CDS_RECENT_LIVER_PANEL_DAYS", clinical_defaults.recent_liver_panel_days
            ),
            lvef_min_percent=env.number("CDS_LVEF_MIN_PERCENT", clinical_defaults.lvef_min_percent),
            lvef_interrupt_percent=env.number(
                "CDS_LVEF_INTERRUPT_PERCENT", clinical_defaults.lvef_interrupt_percent
            ),
            lvef_drop_points=env.number("CDS_LVEF_DROP_POINTS", clinical_defaults.lvef_drop_points),
            transaminase_uln_multiple=env.number(
                "CDS_TRANSAMINASE_ULN_MULTIPLE", clinical_defaults.transaminase_uln_multiple
            ),
            bilirubin_uln_multiple=env.number(
                "CDS_BILIRUBIN_ULN_MULTIPLE", clinical_defaults.bilirubin_uln_multiple
            ),
            hys_bilirubin_uln_multiple=env.number(
                "CDS_HYS_BILIRUBIN_ULN_MULTIPLE", clinical_defaults.hys_bilirubin_uln_multiple
            ),
            anc_min_10e9_per_l=env.number(
                "CDS_ANC_MIN_10E9_PER_L", clinical_defaults.anc_min_10e9_per_l
            ),
            dose_tolerance_fraction=env.number(
                "CDS_DOSE_TOLERANCE_FRACTION", clinical_defaults.dose_tolerance_fraction
            ),
            order_intent=env.enum("CDS_ORDER_INTENT", OrderIntent, clinical_defaults.order_intent),
            disabled_rules=frozenset(env.items("CDS_DISABLED_RULES")),
            knowledge_base_date=env.text(
                "CDS_KNOWLEDGE_BASE_DATE", clinical_defaults.knowledge_base_date
            ),
            recent_predose_labs_days=env.integer(
                "CDS_RECENT_PREDOSE_LABS_DAYS", clinical_defaults.recent_predose_labs_days
            ),
            recent_pregnancy_test_days=env.integer(
                "CDS_RECENT_PREGNANCY_TEST_DAYS", clinical_defaults.recent_pregnancy_test_days
            ),
            reproductive_age_min=env.integer(
                "CDS_REPRODUCTIVE_AGE_MIN", clinical_defaults.reproductive_age_min
            ),
            reproductive_age_max=env.integer(
                "CDS_REPRODUCTIVE_AGE_MAX", clinical_defaults.reproductive_age_max
            ),
        )
        return cls(
            profile=profile,
            host=env.text("CDS_HOST", defaults.host),
            port=env.integer("PORT", defaults.port),
            public_base_url=env.optional("CDS_PUBLIC_BASE_URL"),
            max_body_bytes=env.integer("CDS_MAX_BODY_BYTES", defaults.max_body_bytes),
            fhir_request_timeout_s=env.number(
                "CDS_FHIR_TIMEOUT_S", defaults.fhir_request_timeout_s
            ),
            fhir_deadline_s=env.number("CDS_FHIR_DEADLINE_S", defaults.fhir_deadline_s),
            fhir_max_pages=env.integer("CDS_FHIR_MAX_PAGES", defaults.fhir_max_pages),
            fhir_pool_size=env.integer("CDS_FHIR_POOL_SIZE", defaults.fhir_pool_size),
            fhir_max_page_bytes=env.integer(
                "CDS_FHIR_MAX_PAGE_BYTES", defaults.fhir_max_page_bytes
            ),
            fhir_max_call_bytes=env.integer(
                "CDS_FHIR_MAX_CALL_BYTES", defaults.fhir_max_call_bytes
            ),
            fhir_max_medication_reads=env.integer(
                "CDS_FHIR_MAX_MEDICATION_READS", defaults.fhir_max_medication_reads
            ),
            fhir_servers=_fhir_bases(env.items("CDS_FHIR_SERVERS"), "CDS_FHIR_SERVERS"),
            feedback_max_items=env.integer("CDS_FEEDBACK_MAX_ITEMS", defaults.feedback_max_items),
            feedback_max_text_chars=env.integer(
                "CDS_FEEDBACK_MAX_TEXT_CHARS", defaults.feedback_max_text_chars
            ),
            metrics_token=env.optional("CDS_METRICS_TOKEN"),
            feedback_database_url=env.text(
                "CDS_FEEDBACK_DATABASE_URL", defaults.feedback_database_url
            ),
            cors_origins=env.items("CDS_CORS_ORIGINS") or default_origins,
            card_topic_system=env.text("CDS_CARD_TOPIC_SYSTEM", defaults.card_topic_system),
            log_level=env.text("CDS_LOG_LEVEL", defaults.log_level).upper(),
            order_catalog=env.optional("CDS_ORDER_CATALOG"),
            ehr_profile=env.enum("CDS_EHR_PROFILE", EhrProfile, defaults.ehr_profile),
            clinical=clinical,
            auth=_auth_settings(env, profile),
            stores=_store_settings(env),
            smart=_smart_settings(env),
        )


def _store_settings(env: _Env) -> StoreSettings:
    defaults = StoreSettings()
    return StoreSettings(
        connect_timeout_s=env.number("CDS_STORE_CONNECT_TIMEOUT_S", defaults.connect_timeout_s),
        statement_timeout_s=env.number(
            "CDS_STORE_STATEMENT_TIMEOUT_S", defaults.statement_timeout_s
        ),
        keepalive_s=env.number("CDS_STORE_KEEPALIVE_S", defaults.keepalive_s),
        pool_size=max(1, env.integer("CDS_STORE_POOL_SIZE", defaults.pool_size)),
        auto_migrate=env.boolean("CDS_STORE_AUTO_MIGRATE", default=defaults.auto_migrate),
        issued_cards_queue=max(
            1, env.integer("CDS_ISSUED_CARDS_QUEUE", defaults.issued_cards_queue)
        ),
    )


def _smart_settings(env: _Env) -> SmartSettings:
    defaults = SmartSettings()
    launch_url = env.optional("CDS_SMART_LAUNCH_URL")
    links_disabled = launch_url is not None and launch_url.lower() == "off"
    if launch_url is not None and not links_disabled:
        _check_launch_url(launch_url)
    return SmartSettings(
        issuers=_fhir_bases(env.items("CDS_SMART_ISSUERS"), "CDS_SMART_ISSUERS"),
        launch_url=None if links_disabled else launch_url,
        links_disabled=links_disabled,
        connect_src=_csp_origins(env.items("CDS_SMART_CONNECT_SRC"), "CDS_SMART_CONNECT_SRC"),
        frame_ancestors=_csp_origins(
            env.items("CDS_SMART_FRAME_ANCESTORS"), "CDS_SMART_FRAME_ANCESTORS"
        ),
        token_cache_s=env.integer("CDS_SMART_TOKEN_CACHE_S", defaults.token_cache_s),
    )


def _check_launch_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise ConfigurationError(
            f"CDS_SMART_LAUNCH_URL must be an absolute http(s) URL without fragment (or off), "
            f"got {url!r}"
        )


_CSP_ORIGIN = re.compile(r"https?://(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:([0-9]{1,5}|\*))?")


def _csp_origins(origins: tuple[str, ...], where: str) -> tuple[str, ...]:
    """Origins for a Content-Security-Policy source list: ``scheme://host[:port]``, a
    leading ``*.`` label allowed; no path, quote, space or ``;`` (nothing that could
    change the policy)."""
    for origin in origins:
        if not _CSP_ORIGIN.fullmatch(origin):
            raise ConfigurationError(
                f"{where}: {origin!r} must be an origin such as https://ehr.example.org"
            )
    return origins


SANDBOX_REFUSED = (
    "CDS_AUTH_TRUST_SANDBOX=true is refused in the production profile: the CDS Hooks "
    "sandbox signs with a private key published in its public repository, so trusting it "
    "lets anyone sign a token. Use it only with CDS_PROFILE=development; in production, "
    "name your EHR's issuer in CDS_AUTH_ISSUERS."
)


def _auth_settings(env: _Env, profile: Profile) -> AuthSettings:
    issuers = _issuers(env.optional("CDS_AUTH_ISSUERS"))
    if env.boolean("CDS_AUTH_TRUST_SANDBOX", default=False):
        if profile is not Profile.DEVELOPMENT:
            raise ConfigurationError(SANDBOX_REFUSED)
        if any(issuer.iss == SANDBOX_ISSUER for issuer in issuers):
            raise ConfigurationError(
                "CDS_AUTH_TRUST_SANDBOX and CDS_AUTH_ISSUERS both name the sandbox issuer"
            )
        sandbox = IssuerSettings(
            iss=SANDBOX_ISSUER,
            jwks_file=str(SANDBOX_JWKS_FILE),
            jku=(SANDBOX_JKU,),
            fhir_servers=_fhir_bases(env.items("CDS_FHIR_SERVERS"), "CDS_FHIR_SERVERS"),
        )
        issuers = (*issuers, sandbox)
    algorithms = env.items("CDS_AUTH_ALGORITHMS") or DEFAULT_ALGORITHMS
    refused = [name for name in algorithms if name not in ASYMMETRIC_ALGORITHMS]
    if refused:
        raise ConfigurationError(
            f"CDS_AUTH_ALGORITHMS may name only asymmetric algorithms "
            f"({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}); never none or HMAC, got {refused}"
        )
    return AuthSettings(
        disabled=env.boolean("CDS_AUTH_DISABLED", default=False),
        issuers=issuers,
        algorithms=algorithms,
        leeway_s=env.integer("CDS_AUTH_LEEWAY_S", 10),
        replay_store_url=env.optional("CDS_REPLAY_STORE_URL"),
        jwks_cache_s=env.integer("CDS_AUTH_JWKS_CACHE_S", 3600),
        jwks_min_refresh_s=env.integer("CDS_AUTH_JWKS_MIN_REFRESH_S", 30),
        max_token_lifetime_s=env.integer("CDS_AUTH_MAX_TOKEN_LIFETIME_S", 300),
    )


_ISSUER_FIELDS = {"iss", "jwks", "jwks_file", "jwks_url", "jku", "tenants", "fhir_servers"}


def _issuers(raw: str | None) -> tuple[IssuerSettings, ...]:
    """CDS_AUTH_ISSUERS: a JSON array of ``{"iss", one of "jwks" | "jwks_file" | "jwks_url",
    optional "jku": [urls], optional "tenants": [ids], optional "fhir_servers": [bases]}``."""
    if raw is None:
        return ()
    name = "CDS_AUTH_ISSUERS"
    try:
        entries = json.loads(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a JSON array of issuer objects") from None
    if not isinstance(entries, list):
        raise ConfigurationError(f"{name} must be a JSON array of issuer objects")
    issuers: list[IssuerSettings] = []
    for index, entry in enumerate(entries):
        where = f"{name}[{index}]"
        if not isinstance(entry, dict):
            raise ConfigurationError(f"{where} must be an object")
        unknown = sorted(set(entry) - _ISSUER_FIELDS)
        if unknown:
            raise ConfigurationError(f"{where} has unknown fields {unknown}")
        iss = entry.get("iss")
        if not isinstance(iss, str) or not iss:
            raise ConfigurationError(f"{where}.iss must be a non-empty string")
        sources = [key for key in ("jwks", "jwks_file", "jwks_url") if key in entry]
        if len(sources) != 1:
            raise ConfigurationError(f"{where} needs exactly one of jwks, jwks_file, jwks_url")
        jwks = entry.get("jwks")
        if jwks is not None and not isinstance(jwks, dict):
            raise ConfigurationError(f"{where}.jwks must be a JWK Set object")
        jwks_file = _optional_text(entry, "jwks_file", where)
        jwks_url = _optional_text(entry, "jwks_url", where)
        jku = _text_list(entry, "jku", where)
        for url in (jwks_url, *jku):
            if url is not None:
                _check_key_url(url, where)
        issuers.append(
            IssuerSettings(
                iss=iss,
                jwks_json=json.dumps(jwks) if jwks is not None else None,
                jwks_file=jwks_file,
                jwks_url=jwks_url,
                jku=jku,
                tenants=_text_list(entry, "tenants", where),
                fhir_servers=_fhir_bases(
                    _text_list(entry, "fhir_servers", where), f"{where}.fhir_servers"
                ),
            )
        )
    names = [issuer.iss for issuer in issuers]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"{name} names an issuer twice")
    return tuple(issuers)


def _optional_text(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigurationError(f"{where}.{key} must be a non-empty string")
    return value


def _text_list(entry: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigurationError(f"{where}.{key} must be an array of non-empty strings")
    return tuple(value)


def _check_key_url(url: str, where: str) -> None:
    """Key sets come over HTTPS; plain HTTP only from this machine (tests, local tools)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    raise ConfigurationError(f"{where}: key set URL {url!r} must be https:// (http:// on loopback)")


def _fhir_bases(bases: tuple[str, ...], where: str) -> tuple[str, ...]:
    """Allowed ``fhirServer`` bases: absolute http(s) URLs without query, fragment or user."""
    for base in bases:
        try:
            parts = urlsplit(base)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise ConfigurationError(f"{where}: {base!r} is not a URL") from None
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.query
            or parts.fragment
            or parts.username is not None
        ):
            raise ConfigurationError(
                f"{where}: {base!r} must be an http(s) base URL without query or user"
            )
    return bases


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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

    def boolean(self, name: str, *, default: bool) -> bool:
        raw = self.optional(name)
        if raw is None:
            return default
        if raw.lower() in {"true", "1", "yes", "on"}:
            return True
        if raw.lower() in {"false", "0", "no", "off"}:
            return False
        raise ConfigurationError(f"{name} must be true or false, got {raw!r}")

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

"""Configuration: each setting declared once, with its variable, type, default and meaning.

The declaration is the classes below (pydantic-settings): every field names the
environment variable it is read from. ``Settings.from_env`` is called once by the entry
points and the result, frozen, is passed to ``create_app``; nothing else in the project
reads the environment (``gunicorn.conf.py`` reads ``GunicornSettings``). The README's
Configuration table is generated from the declaration (``python -m cds_service settings
table``), and ``python -m cds_service explain --set NAME=VALUE`` takes its values through it.

A value the environment gives is text: it is parsed and checked here, and a bad one stops
start-up with a ConfigurationError naming the variable. Settings made in code (tests,
tools) take their values as typed.
"""

from __future__ import annotations

import ast
import inspect
import ipaddress
import itertools
import json
import os
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

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

SANDBOX_REFUSED = (
    "CDS_AUTH_TRUST_SANDBOX=true is refused in the production profile: the CDS Hooks "
    "sandbox signs with a private key published in its public repository, so trusting it "
    "lets anyone sign a token. Use it only with CDS_PROFILE=development; in production, "
    "name your EHR's issuer in CDS_AUTH_ISSUERS."
)


# --- How text from the environment becomes a value ---------------------------------------
# Each parser takes a string (from the environment) and passes anything else (a value made
# in code) through to pydantic's type check. Messages leave out the variable's name, which
# ``_refusal`` puts in front, unless they begin with it.


def _whole(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"must be a whole number, got {value!r}") from None
    if number < 0:
        raise ValueError("must not be negative")
    return number


def _count(value: object) -> object:
    """A whole number, at least 1 (0 from the environment counts as 1)."""
    number = _whole(value)
    return max(1, number) if isinstance(value, str) and isinstance(number, int) else number


def _positive(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"must be a number, got {value!r}") from None
    if number <= 0:
        raise ValueError("must be positive")
    return number


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def _flag(value: object) -> object:
    if not isinstance(value, str):
        return value
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"must be true or false, got {value!r}")


def _one_of(kind: type[StrEnum]) -> Callable[[object], object]:
    def parse(value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            return kind(value.lower())
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise ValueError(f"must be one of {allowed}, got {value!r}") from None

    return parse


def _items(value: object) -> object:
    """Comma-separated, blanks dropped."""
    if not isinstance(value, str):
        return value
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _algorithms(value: object) -> object:
    names = _items(value)
    if not isinstance(value, str) or not isinstance(names, tuple):
        return value
    refused = [name for name in names if name not in ASYMMETRIC_ALGORITHMS]
    if refused:
        raise ValueError(
            f"CDS_AUTH_ALGORITHMS may name only asymmetric algorithms "
            f"({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}); never none or HMAC, got {refused}"
        )
    return names or DEFAULT_ALGORITHMS


def _fhir_bases_in(variable: str) -> Callable[[object], object]:
    """A comma-separated list of FHIR bases read from ``variable``, each checked."""

    def parse(value: object) -> object:
        bases = _items(value)
        if isinstance(value, str) and isinstance(bases, tuple):
            return _fhir_bases(bases, variable)
        return value

    return parse


_fhir_servers = _fhir_bases_in("CDS_FHIR_SERVERS")
_smart_issuers = _fhir_bases_in("CDS_SMART_ISSUERS")


def _issuers_json(value: object) -> object:
    return _issuers(value) if isinstance(value, str) else value


def _launch_url(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() != "off":
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
            raise ValueError(
                "CDS_SMART_LAUNCH_URL must be an absolute http(s) URL without fragment (or off), "
                f"got {value!r}"
            )
    return value


_CSP_ORIGIN = re.compile(r"https?://(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:([0-9]{1,5}|\*))?")


def _csp_origins(where: str) -> Callable[[object], object]:
    """Origins for a Content-Security-Policy source list: ``scheme://host[:port]``, a leading
    ``*.`` label allowed; no path, quote, space or ``;`` (nothing that could change the
    policy)."""

    def parse(value: object) -> object:
        origins = _items(value)
        if not isinstance(value, str) or not isinstance(origins, tuple):
            return value
        for origin in origins:
            if not _CSP_ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{where}: {origin!r} must be an origin such as https://ehr.example.org"
                )
        return origins

    return parse


_connect_src = _csp_origins("CDS_SMART_CONNECT_SRC")
_frame_ancestors = _csp_origins("CDS_SMART_FRAME_ANCESTORS")


@dataclass(frozen=True, slots=True)
class Accepts:
    """What a variable accepts, in words: the README table's value column."""

    text: str


Whole = Annotated[int, BeforeValidator(_whole), Accepts("whole number")]
Count = Annotated[int, BeforeValidator(_count), Accepts("whole number (0: 1)")]
Positive = Annotated[float, BeforeValidator(_positive), Accepts("number > 0")]
Flag = Annotated[bool, BeforeValidator(_flag), Accepts("`true` / `false`")]
Items = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_items), Accepts("comma-separated")]


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


# --- The declaration ----------------------------------------------------------------------


def setting(
    default: Any, variable: str, *, shown_default: str | None = None, development: Any = None
) -> Any:
    """One setting: the environment ``variable`` it is read from and its ``default``; the
    docstring under it says what it means (the README table's text). ``shown_default``: the
    table's default column, where the value alone would not say it; ``development``: the
    default in the development profile."""
    extra: dict[str, Any] = {}
    if shown_default is not None:
        extra["shown_default"] = shown_default
    if development is not None:
        extra["development_default"] = development
    return Field(default, validation_alias=variable, json_schema_extra=extra or None)


class SettingsGroup(BaseSettings):
    """A group of settings: frozen; made from keyword arguments (defaults for the rest) or by
    ``read`` from an environment. Never from ``os.environ`` behind the caller's back."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        case_sensitive=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    @classmethod
    def declared(cls) -> Iterator[tuple[str, FieldInfo]]:
        """(variable, field) of each setting of this group, in declaration order."""
        for info in cls.model_fields.values():
            if isinstance(info.validation_alias, str):
                yield info.validation_alias, info

    @classmethod
    def read(cls, environ: Mapping[str, str], *, development: bool = False, **given: Any) -> Self:
        """This group from ``environ`` (unset or blank: the default; ``development``: the
        development profile's defaults); ``given``: values of fields no variable sets."""
        found = _EnvironmentSource(cls, environ)()
        values = {name: value for name, value in found.items() if name in dict(cls.declared())}
        if development:
            for variable, info in cls.declared():
                extra = info.json_schema_extra
                if isinstance(extra, dict) and "development_default" in extra:
                    values.setdefault(variable, extra["development_default"])
        try:
            return cls(**values, **given)
        except ValidationError as error:
            raise _refusal(error) from None


class _EnvironmentSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (the process's environment
    or a test's): names matched exactly, values stripped, blank values unset."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._given = {name: value.strip() for name, value in environ.items() if value.strip()}
        super().__init__(settings_cls, case_sensitive=True)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._given


def _refusal(error: ValidationError) -> ConfigurationError:
    """One message naming each bad variable."""
    messages = []
    for problem in error.errors(include_url=False):
        name = ".".join(str(part) for part in problem["loc"][:1])
        cause = problem.get("ctx", {}).get("error")
        message = str(cause) if cause is not None else problem["msg"]
        messages.append(message if message.startswith(name) else f"{name} {message}")
    return ConfigurationError("; ".join(messages))


class AuthSettings(SettingsGroup):
    """JWT authentication of CDS clients (cds-hooks.md, Security)."""

    issuers: Annotated[
        tuple[IssuerSettings, ...], NoDecode, BeforeValidator(_issuers_json), Accepts("JSON")
    ] = setting((), "CDS_AUTH_ISSUERS")
    """trusted JWT issuers, a JSON array (see Security)"""
    # ``Settings.from_env`` adds the sandbox to ``issuers`` when this is set.
    trust_sandbox: Flag = setting(False, "CDS_AUTH_TRUST_SANDBOX")
    """trust the CDS Hooks sandbox (`https://sandbox.cds-hooks.org`) with its pinned key set;
    development profile only (its private key is published): production refuses to start with it"""
    disabled: Flag = setting(False, "CDS_AUTH_DISABLED")
    """`true` serves without authentication; production refuses to start without an issuer
    otherwise"""
    algorithms: Annotated[
        tuple[str, ...], NoDecode, BeforeValidator(_algorithms), Accepts("comma-separated")
    ] = setting(DEFAULT_ALGORITHMS, "CDS_AUTH_ALGORITHMS")
    """accepted JWT algorithms, asymmetric only (ES256/384/512, RS256/384/512, PS256/384/512,
    EdDSA)"""
    leeway_s: Whole = setting(10, "CDS_AUTH_LEEWAY_S")
    """clock skew allowed on `exp`, `iat`, `nbf` (the sandbox rounds `iat`: 5 s or more)"""
    max_token_lifetime_s: Whole = setting(300, "CDS_AUTH_MAX_TOKEN_LIFETIME_S")
    """longest `exp - iat` accepted (plus the leeway); seen `jti` are kept at most this long"""
    jwks_cache_s: Whole = setting(3600, "CDS_AUTH_JWKS_CACHE_S")
    """how long a fetched key set is used before it is fetched again"""
    jwks_min_refresh_s: Whole = setting(30, "CDS_AUTH_JWKS_MIN_REFRESH_S")
    """least time between fetches of one key set prompted by an unknown `kid`"""
    replay_store_url: str | None = setting(
        None, "CDS_REPLAY_STORE_URL", shown_default="the feedback database"
    )
    """store of seen `jti`: `sqlite:///...`, `postgresql://...` or `redis://host:port/db`"""


class StoreSettings(SettingsGroup):
    """How the stores (feedback database, replay store) connect; see README, Operations."""

    connect_timeout_s: Positive = setting(3.0, "CDS_STORE_CONNECT_TIMEOUT_S")
    """opening one connection to a store (PostgreSQL: at least 2 s; Redis)"""
    statement_timeout_s: Positive = setting(3.0, "CDS_STORE_STATEMENT_TIMEOUT_S")
    """one store operation: PostgreSQL `statement_timeout` plus a watchdog that cuts a
    connection whose server stops answering; SQLite busy wait; Redis socket timeout (see
    Operations)"""
    keepalive_s: Positive = setting(30.0, "CDS_STORE_KEEPALIVE_S")
    """TCP keepalive idle time of store connections (then 3 probes a third of it apart)"""
    pool_size: Count = setting(4, "CDS_STORE_POOL_SIZE")
    """connections kept per process and store database (as many again at peaks)"""
    auto_migrate: Flag = setting(True, "CDS_STORE_AUTO_MIGRATE")
    """each process brings the stores' schemas to the current revision at first use; `false`:
    only `python -m cds_service migrate` does (see Operations)"""
    issued_cards_queue: Count = setting(1000, "CDS_ISSUED_CARDS_QUEUE")
    """hook responses whose cards wait to be remembered (background writer); past it they are
    dropped, logged and counted"""


class ClinicalSettings(SettingsGroup):
    """Thresholds, windows and switches of the clinical logic (clinical-rules.md)."""

    regimen_window_days: Whole = setting(28, "CDS_REGIMEN_WINDOW_DAYS")
    """drugs started within this many days of a regimen's first drug join it (section 5)"""
    new_line_gap_days: Whole = setting(120, "CDS_NEW_LINE_GAP_DAYS")
    """a gap without anticancer therapy longer than this starts a new line (section 5)"""
    kinase_domain_first: Whole = setting(720, "CDS_KINASE_DOMAIN_FIRST")
    """first ERBB2 kinase-domain residue for `tkd-activating` (unverified approximation, section
    4)"""
    kinase_domain_last: Whole = setting(987, "CDS_KINASE_DOMAIN_LAST")
    """last ERBB2 kinase-domain residue for `tkd-activating` (unverified approximation, section
    4)"""
    measurement_lookback_days: Whole = setting(180, "CDS_MEASUREMENT_LOOKBACK_DAYS")
    """older measurements are read only as the latest value and the baseline before each drug
    course"""
    recent_chest_ct_days: Whole = setting(90, "CDS_RECENT_CHEST_CT_DAYS")
    """`ild-baseline-imaging`: a chest CT this recent counts as baseline imaging"""
    recent_ild_episode_days: Whole = setting(90, "CDS_RECENT_ILD_EPISODE_DAYS")
    """`ild-history-before-tdxd`: an ILD/pneumonitis episode that began this recently (or is
    unresolved) makes a first T-DXd order critical (expert opinion)"""
    recent_anc_days: Whole = setting(7, "CDS_RECENT_ANC_DAYS")
    """`neutropenia-tdxd`: only an ANC this recent is used before a T-DXd dose; none: a CBC is
    asked for"""
    recent_lvef_days: Whole = setting(90, "CDS_RECENT_LVEF_DAYS")
    """`cardiac-lvef`: an LVEF this recent counts before a first dose"""
    recent_liver_panel_days: Whole = setting(30, "CDS_RECENT_LIVER_PANEL_DAYS")
    """`hepatic-tki`: a liver panel this recent counts before a first dose"""
    lvef_min_percent: Positive = setting(50.0, "CDS_LVEF_MIN_PERCENT")
    """`cardiac-lvef`: an LVEF below this is a warning (trials excluded LVEF < 50 %)"""
    lvef_interrupt_percent: Positive = setting(40.0, "CDS_LVEF_INTERRUPT_PERCENT")
    """`cardiac-lvef`: on T-DXd, an LVEF below this means interrupt (label's table)"""
    lvef_drop_points: Positive = setting(20.0, "CDS_LVEF_DROP_POINTS")
    """`cardiac-lvef`: on T-DXd, an absolute drop above this from baseline means interrupt
    (label's table)"""
    transaminase_uln_multiple: Positive = setting(3.0, "CDS_TRANSAMINASE_ULN_MULTIPLE")
    """`hepatic-tki` and modifiers: ALT or AST above this many times the upper limit of normal
    (above grade 1)"""
    bilirubin_uln_multiple: Positive = setting(1.5, "CDS_BILIRUBIN_ULN_MULTIPLE")
    """`hepatic-tki` and modifiers: total bilirubin above this many times the upper limit of
    normal (above grade 1)"""
    hys_bilirubin_uln_multiple: Positive = setting(2.0, "CDS_HYS_BILIRUBIN_ULN_MULTIPLE")
    """with ALT/AST above their multiple, bilirubin above this many times the upper limit of
    normal makes `hepatic-tki` critical (unverified)"""
    anc_min_10e9_per_l: Positive = setting(1.0, "CDS_ANC_MIN_10E9_PER_L")
    """`neutropenia-tdxd`: hold T-DXd while the latest ANC is below this (10^9/L)"""
    dose_tolerance_fraction: Positive = setting(0.05, "CDS_DOSE_TOLERANCE_FRACTION")
    """`dose-tdxd` and dose comparisons: an ordered dose within this fraction matches a label
    dose level"""
    order_intent: Annotated[OrderIntent, BeforeValidator(_one_of(OrderIntent))] = setting(
        OrderIntent.PROPOSAL, "CDS_ORDER_INTENT"
    )
    """`intent` of the MedicationRequests and ServiceRequests that suggestions create"""
    disabled_rules: Annotated[
        frozenset[str], NoDecode, BeforeValidator(_items), Accepts("comma-separated")
    ] = setting(frozenset(), "CDS_DISABLED_RULES")
    """rule ids switched off at this site (e.g. rules tagged [?] in the spec)"""
    knowledge_base_date: str = setting("2026-04-06", "CDS_KNOWLEDGE_BASE_DATE")
    """date of the newest source the rules were written from, shown in every card"""
    recent_predose_labs_days: Whole = setting(7, "CDS_RECENT_PREDOSE_LABS_DAYS")
    """`thrombocytopenia-tdxd`, `tdm1-safety`: platelets and liver tests this recent count as
    taken before this dose (labels: before each dose; section 9.2)"""
    recent_pregnancy_test_days: Whole = setting(7, "CDS_RECENT_PREGNANCY_TEST_DAYS")
    """`embryo-fetal`: a pregnancy test this recent counts before a first dose (9.2)"""
    reproductive_age_min: Whole = setting(18, "CDS_REPRODUCTIVE_AGE_MIN")
    """`embryo-fetal`: youngest age counted as reproductive potential for a female patient
    (unverified: no label gives an age; unknown age or sex counts as possible)"""
    reproductive_age_max: Whole = setting(55, "CDS_REPRODUCTIVE_AGE_MAX")
    """`embryo-fetal`: oldest age counted as reproductive potential for a female patient
    (unverified: no label gives an age)"""


class SmartSettings(SettingsGroup):
    """The SMART app (``cds_service.smart``): where it may be launched from, its launch URL,
    and what its Content-Security-Policy lets it reach and be framed by."""

    issuers: Annotated[
        tuple[str, ...], NoDecode, BeforeValidator(_smart_issuers), Accepts("comma-separated URLs")
    ] = setting((), "CDS_SMART_ISSUERS")
    """FHIR bases (the SMART `iss`) the app may be launched from: the patient-model endpoint
    checks tokens only against these, and the app may connect to their origins"""
    launch_url: Annotated[str | None, BeforeValidator(_launch_url)] = setting(
        None,
        "CDS_SMART_LAUNCH_URL",
        shown_default="`CDS_PUBLIC_BASE_URL` + `/smart/launch.html`",
    )
    """the `smart` link on sequencing, ILD and cardiac cards (an absolute http(s) URL), or `off`
    for no link; unset: the public base URL's `/smart/launch.html`, in development this
    service's loopback address, in production without a public base URL no link"""
    links_disabled: bool = False
    """``CDS_SMART_LAUNCH_URL=off``: cards carry no ``smart`` link (no variable of its own)."""
    connect_src: Annotated[
        tuple[str, ...], NoDecode, BeforeValidator(_connect_src), Accepts("comma-separated origins")
    ] = setting((), "CDS_SMART_CONNECT_SRC")
    """origins the app may fetch from besides its own and the issuers' (e.g. an authorization
    server on another host)"""
    frame_ancestors: Annotated[
        tuple[str, ...],
        NoDecode,
        BeforeValidator(_frame_ancestors),
        Accepts("comma-separated origins"),
    ] = setting((), "CDS_SMART_FRAME_ANCESTORS")
    """origins that may show the app in a frame besides this service (EHRs embed it)"""
    token_cache_s: Whole = setting(60, "CDS_SMART_TOKEN_CACHE_S")
    """how long a SMART access token checked against its FHIR server is trusted without asking
    again (in memory, under a hash of the token; `0`: ask every time)"""

    @model_validator(mode="before")
    @classmethod
    def _off(cls, values: Any) -> Any:
        """``CDS_SMART_LAUNCH_URL=off`` (any case) switches the links off."""
        if not isinstance(values, dict):
            return values
        for key in ("CDS_SMART_LAUNCH_URL", "launch_url"):
            value = values.get(key)
            if isinstance(value, str) and value.strip().lower() == "off":
                return {**values, key: None, "links_disabled": True}
        return values


class Settings(SettingsGroup):
    """The service's settings; ``clinical``, ``auth`` and ``stores`` are groups of their own."""

    profile: Annotated[Profile, BeforeValidator(_one_of(Profile))] = setting(
        Profile.PRODUCTION, "CDS_PROFILE"
    )
    """`development` (what `make run` uses) relaxes: Flask's server on loopback, CORS open to
    the CDS Hooks sandbox and localhost:3000, no authentication unless issuers are configured,
    and says so at start-up"""
    port: Whole = setting(8080, "PORT")
    """port to serve on"""
    host: str = setting("127.0.0.1", "CDS_HOST")
    """development server address (loopback only)"""
    public_base_url: str | None = setting(None, "CDS_PUBLIC_BASE_URL")
    """base URL callers use (e.g. `https://cds.example.org`); every token's `aud` is checked
    against it, never against the Host header. Required in production while authentication is
    on; in development it defaults to `http://localhost:{PORT}` (`http://{CDS_HOST}:{PORT}` for
    a non-loopback host)"""
    max_body_bytes: Whole = setting(5 * 1024 * 1024, "CDS_MAX_BODY_BYTES")
    """larger request bodies get 413"""
    fhir_request_timeout_s: Positive = setting(3.0, "CDS_FHIR_TIMEOUT_S")
    """timeout of one request to the EHR's FHIR server"""
    fhir_deadline_s: Positive = setting(4.0, "CDS_FHIR_DEADLINE_S")
    """deadline for all FHIR fetches of one hook call; past it, 412"""
    fhir_max_pages: Whole = setting(20, "CDS_FHIR_MAX_PAGES")
    """most `next` pages followed per prefetch key"""
    fhir_pool_size: Whole = setting(8, "CDS_FHIR_POOL_SIZE")
    """pooled connections to the FHIR server"""
    fhir_max_page_bytes: Whole = setting(4 * 1024 * 1024, "CDS_FHIR_MAX_PAGE_BYTES")
    """largest FHIR answer read for one page, counted after decompression; larger: the key is
    unreadable (412 when required)"""
    fhir_max_call_bytes: Whole = setting(16 * 1024 * 1024, "CDS_FHIR_MAX_CALL_BYTES")
    """largest total of FHIR answers read for one resolution stage of a hook call (the discovery
    prefetch, the rest of the record, the referenced Medications), after decompression: a call
    reads at most three times this"""
    fhir_max_medication_reads: Whole = setting(20, "CDS_FHIR_MAX_MEDICATION_READS")
    """most `Medication` resources read from `fhirServer` in one in-scope hook call for
    `medicationReference` targets its data lacks (same deadline and byte caps as the other
    fetches; only that base is read); references past the count, on another host, or whose read
    fails are data issues"""
    fhir_servers: Annotated[
        tuple[str, ...], NoDecode, BeforeValidator(_fhir_servers), Accepts("comma-separated URLs")
    ] = setting((), "CDS_FHIR_SERVERS")
    """comma-separated `fhirServer` bases allowed when authentication is off, and for the
    sandbox issuer; empty with authentication off: any base (a warning at start-up). Trusted
    issuers list theirs in `CDS_AUTH_ISSUERS` (`fhir_servers`)"""
    feedback_max_items: Whole = setting(100, "CDS_FEEDBACK_MAX_ITEMS")
    """most items in one feedback request; more: 400"""
    feedback_max_text_chars: Whole = setting(2000, "CDS_FEEDBACK_MAX_TEXT_CHARS")
    """longest string anywhere in a feedback request (ids, codes, comments); longer: 400"""
    metrics_token: str | None = setting(None, "CDS_METRICS_TOKEN")
    """bearer token that opens `/metrics`; unset: `/metrics` answers only direct loopback
    callers"""
    feedback_database_url: str = setting(
        "sqlite:///var/feedback.sqlite3", "CDS_FEEDBACK_DATABASE_URL"
    )
    """feedback store: `sqlite:///relative`, `sqlite:////absolute` or `postgresql://...`"""
    cors_origins: Items = setting((), "CDS_CORS_ORIGINS", development=DEVELOPMENT_ORIGINS)
    """comma-separated origins allowed by CORS, `*` for any"""
    card_topic_system: str = setting("urn:her2-nsclc-cds:rule-id", "CDS_CARD_TOPIC_SYSTEM")
    """code system of `source.topic`, whose code is the rule id"""
    log_level: Annotated[str, AfterValidator(str.upper)] = setting("INFO", "CDS_LOG_LEVEL")
    """log level"""
    order_catalog: str | None = setting(None, "CDS_ORDER_CATALOG")
    """path of the site order catalog (`.yaml`, `.yml` or `.json`): the site's orderable codings
    for each suggestable order; validated at start-up, an invalid file stops the service naming
    the bad entry; the codings of its `medication:` entries also identify those drugs in the
    record and the draft orders (see "Site order catalog")"""
    ehr_profile: Annotated[EhrProfile, BeforeValidator(_one_of(EhrProfile))] = setting(
        EhrProfile.STANDARD, "CDS_EHR_PROFILE"
    )
    """what the EHR does with suggestions: `standard` (create, update, delete; several actions
    per suggestion; `at-most-one`) or `single-action` (Epic: one action per suggestion,
    `selectionBehavior: any`, a dose change as a delete and a create)"""
    clinical: ClinicalSettings = Field(default_factory=ClinicalSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    stores: StoreSettings = Field(default_factory=StoreSettings)
    smart: SmartSettings = Field(default_factory=SmartSettings)

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
        """Every group from ``environ`` (default: this process's environment); raise
        ConfigurationError naming the variable on a bad value."""
        env = os.environ if environ is None else environ
        clinical, auth = ClinicalSettings.read(env), AuthSettings.read(env)
        groups: dict[str, Any] = {
            "clinical": clinical,
            "auth": auth,
            "stores": StoreSettings.read(env),
            "smart": SmartSettings.read(env),
        }
        settings = cls.read(env, **groups)
        if settings.is_development:
            settings = cls.read(env, development=True, **groups)
        if settings.auth.trust_sandbox:
            settings = _trusting_the_sandbox(settings)
        return settings


class GunicornSettings(SettingsGroup):
    """Read by ``gunicorn.conf.py`` (the production entry), not by the service."""

    web_concurrency: Whole = setting(4, "WEB_CONCURRENCY")
    """gunicorn worker processes (about 2 per core); each serves `GUNICORN_THREADS` calls at
    once"""
    gunicorn_threads: Whole = setting(4, "GUNICORN_THREADS")
    """threads per gunicorn worker; more when calls wait on the FHIR server"""


SETTINGS_GROUPS: tuple[type[SettingsGroup], ...] = (
    Settings,
    AuthSettings,
    StoreSettings,
    ClinicalSettings,
    SmartSettings,
    GunicornSettings,
)
"""Every group, in the order of the README table."""


def declared_variables() -> dict[str, FieldInfo]:
    """Every environment variable the declaration reads, with its field; the field's
    ``description`` is the docstring under it (the README table's meaning)."""
    for group in SETTINGS_GROUPS:
        _describe(group)
    return {name: info for group in SETTINGS_GROUPS for name, info in group.declared()}


@cache
def _describe(group: type[SettingsGroup]) -> None:
    """Give each field of ``group`` the docstring under it as its ``description``.

    Read from the source only when asked for (the README table, its tests), not when the
    class is made: pydantic's ``use_attribute_docstrings`` reads this module's source for
    every class at import, about 50 ms of every process start (README, Performance).
    """
    tree = ast.parse(textwrap.dedent(inspect.getsource(group)))
    body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
    for field, under in itertools.pairwise(body):
        if (
            isinstance(field, ast.AnnAssign)
            and isinstance(field.target, ast.Name)
            and isinstance(under, ast.Expr)
            and isinstance(under.value, ast.Constant)
            and isinstance(under.value.value, str)
        ):
            info = group.model_fields.get(field.target.id)
            if info is not None and info.description is None:
                info.description = inspect.cleandoc(under.value.value)


def _trusting_the_sandbox(settings: Settings) -> Settings:
    if not settings.is_development:
        raise ConfigurationError(SANDBOX_REFUSED)
    if any(issuer.iss == SANDBOX_ISSUER for issuer in settings.auth.issuers):
        raise ConfigurationError(
            "CDS_AUTH_TRUST_SANDBOX and CDS_AUTH_ISSUERS both name the sandbox issuer"
        )
    sandbox = IssuerSettings(
        iss=SANDBOX_ISSUER,
        jwks_file=str(SANDBOX_JWKS_FILE),
        jku=(SANDBOX_JKU,),
        fhir_servers=settings.fhir_servers,
    )
    auth = settings.auth.model_copy(update={"issuers": (*settings.auth.issuers, sandbox)})
    return settings.model_copy(update={"auth": auth})


# --- CDS_AUTH_ISSUERS and FHIR bases ------------------------------------------------------

_ISSUER_FIELDS = {"iss", "jwks", "jwks_file", "jwks_url", "jku", "tenants", "fhir_servers"}


def _issuers(raw: str) -> tuple[IssuerSettings, ...]:
    """CDS_AUTH_ISSUERS: a JSON array of ``{"iss", one of "jwks" | "jwks_file" | "jwks_url",
    optional "jku": [urls], optional "tenants": [ids], optional "fhir_servers": [bases]}``."""
    name = "CDS_AUTH_ISSUERS"
    try:
        entries = json.loads(raw)
    except ValueError:
        raise ValueError(f"{name} must be a JSON array of issuer objects") from None
    if not isinstance(entries, list):
        raise ValueError(f"{name} must be a JSON array of issuer objects")
    issuers: list[IssuerSettings] = []
    for index, entry in enumerate(entries):
        where = f"{name}[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be an object")
        unknown = sorted(set(entry) - _ISSUER_FIELDS)
        if unknown:
            raise ValueError(f"{where} has unknown fields {unknown}")
        iss = entry.get("iss")
        if not isinstance(iss, str) or not iss:
            raise ValueError(f"{where}.iss must be a non-empty string")
        sources = [key for key in ("jwks", "jwks_file", "jwks_url") if key in entry]
        if len(sources) != 1:
            raise ValueError(f"{where} needs exactly one of jwks, jwks_file, jwks_url")
        jwks = entry.get("jwks")
        if jwks is not None and not isinstance(jwks, dict):
            raise ValueError(f"{where}.jwks must be a JWK Set object")
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
        raise ValueError(f"{name} names an issuer twice")
    return tuple(issuers)


def _optional_text(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{where}.{key} must be a non-empty string")
    return value


def _text_list(entry: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where}.{key} must be an array of non-empty strings")
    return tuple(value)


def _check_key_url(url: str, where: str) -> None:
    """Key sets come over HTTPS; plain HTTP only from this machine (tests, local tools)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    raise ValueError(f"{where}: key set URL {url!r} must be https:// (http:// on loopback)")


def _fhir_bases(bases: tuple[str, ...], where: str) -> tuple[str, ...]:
    """Allowed ``fhirServer`` bases: absolute http(s) URLs without query, fragment or user."""
    for base in bases:
        try:
            parts = urlsplit(base)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise ValueError(f"{where}: {base!r} is not a URL") from None
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.query
            or parts.fragment
            or parts.username is not None
        ):
            raise ValueError(f"{where}: {base!r} must be an http(s) base URL without query or user")
    return bases


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

"""JWT authentication of CDS clients (CDS Hooks 2.0 "Trusting CDS Clients"; cds-hooks.md, Security).

Every call (discovery, hook, feedback) carries ``Authorization: Bearer <JWT>``.
``Authenticator.authenticate`` checks, in this order, and the first failure is
the reason logged (with iss, kid and jti when known; never the token, never
other claims):

1. a bearer token that parses as a signed JWT;
2. header ``alg`` among the configured asymmetric algorithms (ES384 and RS384
   by default; ``none`` and HMAC never, whatever the settings say) and a ``kid``;
3. ``iss`` a trusted issuer;
4. ``jku``, when present, on that issuer's allowlist (a URL issuer's
   ``jwks_url`` and its listed ``jku``); any other ``jku`` is refused unfetched;
5. the key with that ``kid``: from the issuer's pinned JWK Set, or from its
   fetched set (cached ``jwks_cache_s``; an unknown kid fetches it again, at most
   once per ``jwks_min_refresh_s``); a key's own ``alg``, when given, must match,
   and the key's type must be the one ``alg`` names (an EC key on its curve for
   ES*, RSA for RS*/PS*, Ed25519/Ed448 for EdDSA);
6. ``exp`` and ``iat`` JSON numbers; signature, then ``exp``, ``iat``, ``nbf`` (with
   ``leeway_s``), ``aud`` equal to the URL called (``Settings.audience_base_url``:
   ``CDS_PUBLIC_BASE_URL``, never the Host header), ``iss``, ``jti`` present,
   ``exp - iat`` at most ``max_token_lifetime_s`` (plus leeway), ``tenant`` when
   the issuer lists tenants;
7. ``jti`` not seen before within the token's lifetime, in the replay store
   shared by every worker (``replay_store``); a row is kept until ``exp`` and never
   longer than ``max_token_lifetime_s`` plus the leeway.

A failure raises ``AuthenticationFailed`` (an ``errors.Unauthorized``): the
caller gets a bare 401 OperationOutcome, the access log gets the reason. Any
other exception raised while authenticating (a library's TypeError on a
hostile header, say) is a failure too: 401, never 500.

Start-up (``open_authenticator``): authentication is on in the production
profile, which refuses to start without a trusted issuer unless
CDS_AUTH_DISABLED=true, and without CDS_PUBLIC_BASE_URL while authentication
is on; in the development profile it is on only when issuers are configured.
PyJWT and cryptography are imported only then, when the first key set is read (about
30 ms of a worker's start that a service without authentication does not spend).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from cds_service import errors
from cds_service.replay_store import ReplayCache, ReplayStoreUnavailable, open_replay_cache
from cds_service.settings import (
    ASYMMETRIC_ALGORITHMS,
    SANDBOX_ISSUER,
    AuthSettings,
    IssuerSettings,
    Settings,
)

if TYPE_CHECKING:
    import jwt

__all__ = [
    "AuthenticationFailed",
    "Authenticator",
    "Caller",
    "open_authenticator",
    "require_public_base_url",
    "require_trusted_issuer",
]

logger = logging.getLogger(__name__)

MAX_TOKEN_CHARS = 16_384
JWKS_FETCH_TIMEOUT_S = 3.0
MAX_JWKS_BYTES = 256 * 1024
_REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "jti"]
"""The claims CDS Hooks 2.0 requires of a client's JWT."""
_LOGGED_CHARS = 200


class AuthenticationFailed(errors.Unauthorized):
    """401; ``diagnostics`` is the reason, for the log only, ``identity`` what is loggable."""

    def __init__(self, reason: str, identity: Mapping[str, str]) -> None:
        super().__init__(reason)
        self.identity = dict(identity)


@dataclass(frozen=True, slots=True)
class Caller:
    """The CDS client of an authenticated call."""

    iss: str
    kid: str
    jti: str
    tenant: str | None = None

    @property
    def identity(self) -> dict[str, str]:
        """For the access log: iss, kid, jti (no other claims)."""
        return {"iss": self.iss, "kid": self.kid, "jti": self.jti}


# --- Keys --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Key:
    key: Any
    """The cryptography public key object."""
    alg: str | None
    """The JWK's own ``alg``, when it names one: a token must then use it."""


def _parse_jwks(document: object, source: str, *, strict: bool) -> dict[str, _Key]:
    """kid -> key. Unusable members raise ConfigurationError if ``strict``, else are skipped."""
    import jwt  # noqa: PLC0415 - only with authentication on (module docstring)

    def unusable(why: str) -> None:
        if strict:
            raise errors.ConfigurationError(f"JWK Set {source}: {why}")
        logger.warning("JWK Set %s: skipped a key: %s", source, why)

    members = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(members, list):
        raise errors.ConfigurationError(f"JWK Set {source}: no 'keys' array")
    keys: dict[str, _Key] = {}
    for member in members:
        if not isinstance(member, dict):
            unusable("a member is not an object")
            continue
        kid, alg, use = member.get("kid"), member.get("alg"), member.get("use")
        if not isinstance(kid, str) or not kid:
            unusable("a key has no kid")
        elif member.get("kty") == "oct" or "d" in member:
            unusable(f"key {kid!r} is a symmetric or private key")
        elif alg is not None and alg not in ASYMMETRIC_ALGORITHMS:
            unusable(f"key {kid!r} is for {alg!r}, not an asymmetric algorithm")
        elif use is not None and use != "sig":
            unusable(f"key {kid!r} is not a signing key (use {use!r})")
        else:
            try:
                parsed = jwt.PyJWK(member)
            except jwt.PyJWTError as error:
                unusable(f"key {kid!r}: {error.__class__.__name__}")
                continue
            keys[kid] = _Key(parsed.key, alg if isinstance(alg, str) else None)
    if not keys:
        raise errors.ConfigurationError(f"JWK Set {source}: no usable key")
    return keys


def _pinned_keys(issuer: IssuerSettings) -> dict[str, _Key]:
    if issuer.jwks_json is not None:
        return _parse_jwks(json.loads(issuer.jwks_json), f"of {issuer.iss}", strict=True)
    if issuer.jwks_file is None:
        raise errors.ConfigurationError(f"Issuer {issuer.iss} has no JWK Set")
    path = Path(issuer.jwks_file)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise errors.ConfigurationError(
            f"Cannot read the JWK Set file {path} of {issuer.iss}: {error}"
        ) from None
    return _parse_jwks(document, str(path), strict=True)


class _FetchedKeys:
    """One JWK Set URL: fetched when first needed, cached, refreshed on an unknown kid."""

    def __init__(
        self,
        url: str,
        session: requests.Session,
        settings: AuthSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._session = session
        self._cache_s = settings.jwks_cache_s
        self._min_refresh_s = settings.jwks_min_refresh_s
        self._clock = clock
        self._keys: dict[str, _Key] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = threading.Lock()

    def find(self, kid: str) -> _Key | None:
        with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self._cache_s
            may_fetch = (
                self._attempted_at is None or now - self._attempted_at >= self._min_refresh_s
            )
            if (stale or kid not in self._keys) and may_fetch:
                self._attempted_at = now
                self._fetch(now)
            return self._keys.get(kid)

    def _fetch(self, now: float) -> None:
        try:
            with self._session.get(
                self.url,
                timeout=JWKS_FETCH_TIMEOUT_S,
                allow_redirects=False,  # a redirect could leave the allowlist
                stream=True,
                headers={"Accept": "application/json"},
            ) as response:
                if response.status_code != 200:
                    raise ValueError(f"HTTP {response.status_code}")
                body = response.raw.read(MAX_JWKS_BYTES + 1, decode_content=True)
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError("larger than the limit")
            keys = _parse_jwks(json.loads(body), self.url, strict=False)
        except (requests.RequestException, ValueError, errors.ConfigurationError) as error:
            logger.warning(
                "JWK Set not fetched; keeping %d cached keys: %s: %s",
                len(self._keys),
                error.__class__.__name__,
                error,
                extra={"fields": {"jwksUrl": self.url}},
            )
            return
        self._keys, self._fetched_at = keys, now
        logger.info("JWK Set fetched", extra={"fields": {"jwksUrl": self.url, "keys": len(keys)}})


# --- The authenticator -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Issuer:
    settings: IssuerSettings
    pinned: dict[str, _Key] | None
    fetched: dict[str, _FetchedKeys]
    """jku / jwks_url -> its fetched set (URL issuers only)."""

    def find(self, kid: str, jku: str | None) -> _Key | None:
        if self.pinned is not None:
            return self.pinned.get(kid)
        url = jku or self.settings.jwks_url
        return self.fetched[url].find(kid) if url else None


class Authenticator:
    """Built once at start-up (``open_authenticator``); shared by all threads of a worker."""

    def __init__(
        self,
        settings: AuthSettings,
        replay: ReplayCache,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        refused = [name for name in settings.algorithms if name not in ASYMMETRIC_ALGORITHMS]
        if refused or not settings.algorithms:
            raise errors.ConfigurationError(
                f"JWT algorithms must be asymmetric (never none or HMAC): {refused}"
            )
        if not settings.issuers:
            raise errors.ConfigurationError("No trusted JWT issuer is configured")
        # PyJWT and cryptography now, at start-up (gunicorn's master, before the fork), not
        # in each worker at its first fetched key set.
        import jwt  # noqa: F401, PLC0415

        _key_types()
        self._algorithms = frozenset(settings.algorithms)
        self._leeway = settings.leeway_s
        self._max_lifetime = settings.max_token_lifetime_s
        self._replay = replay
        self._session = requests.Session()
        self._issuers: dict[str, _Issuer] = {}
        for issuer in settings.issuers:
            pinned = None if issuer.jwks_url else _pinned_keys(issuer)
            fetched = {
                url: _FetchedKeys(url, self._session, settings, clock)
                for url in (issuer.allowed_jku if pinned is None else ())
            }
            self._issuers[issuer.iss] = _Issuer(issuer, pinned, fetched)

    @property
    def issuers(self) -> tuple[str, ...]:
        return tuple(self._issuers)

    @property
    def replay_store(self) -> ReplayCache:
        """The shared store of seen ``jti`` (for the readiness check)."""
        return self._replay

    def fhir_servers(self, iss: str) -> tuple[str, ...]:
        """The ``fhirServer`` bases the trusted issuer ``iss`` may name."""
        issuer = self._issuers.get(iss)
        return issuer.settings.fhir_servers if issuer is not None else ()

    def authenticate(self, authorization: str | None, audience: str) -> Caller:
        """Check the ``Authorization`` header of a call to the URL ``audience``.

        Raises AuthenticationFailed, whatever goes wrong on the way (an unexpected
        exception, e.g. from PyJWT, is a failure too, never a 500); ReplayStoreUnavailable
        (503) when the replay store cannot answer.
        """
        identity: dict[str, str] = {}
        try:
            return self._authenticate(authorization, audience, identity)
        except (AuthenticationFailed, ReplayStoreUnavailable):
            raise
        except Exception as error:  # any failure to authenticate is a 401, never a 500
            logger.warning(
                "authentication raised %s; refused", error.__class__.__name__, exc_info=False
            )
            raise AuthenticationFailed(
                f"error while authenticating ({error.__class__.__name__})", identity
            ) from None

    def _authenticate(
        self, authorization: str | None, audience: str, identity: dict[str, str]
    ) -> Caller:
        """Read the token unverified, choose the issuer's key, verify the signature and the
        claims, then accept the call (lifetime, tenant, first use of the jti); in this order."""
        import jwt  # noqa: PLC0415 - imported by the key sets already (module docstring)

        def fail(reason: str) -> AuthenticationFailed:
            return AuthenticationFailed(reason, identity)

        token = _bearer_token(authorization)
        if token is None:
            raise fail("no bearer token")
        if len(token) > MAX_TOKEN_CHARS:
            raise fail("token too large")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise fail("malformed token") from None
        issuer, key, alg, kid = self._key_for(header, unverified, identity, fail)
        for claim in ("exp", "iat"):
            if claim in unverified and not _is_number(unverified[claim]):
                raise fail(f"invalid claim {claim}")
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                audience=audience,
                issuer=issuer.settings.iss,
                leeway=self._leeway,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as error:
            raise fail(_reason(error)) from None
        return self._accept(claims, issuer, kid, fail)

    def _key_for(
        self,
        header: dict[str, Any],
        unverified: dict[str, Any],
        identity: dict[str, str],
        fail: Callable[[str], AuthenticationFailed],
    ) -> tuple[_Issuer, _Key, str, str]:
        """The issuer and key that must have signed the token (its algorithm and kid);
        records what identifies the token for the log."""
        alg, kid, jku = header.get("alg"), header.get("kid"), header.get("jku")
        iss, jti = unverified.get("iss"), unverified.get("jti")
        for name, value in (("iss", iss), ("kid", kid), ("jti", jti)):
            if isinstance(value, str):
                identity[name] = value[:_LOGGED_CHARS]
        if not isinstance(alg, str) or alg not in self._algorithms:
            identity["alg"] = str(alg)[:_LOGGED_CHARS]
            raise fail("algorithm not allowed")
        if not isinstance(kid, str) or not kid:
            raise fail("no kid")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise fail("unknown issuer")
        if jku is not None and jku not in issuer.settings.allowed_jku:
            raise fail("jku not on the allowlist")
        key = issuer.find(kid, jku)
        if key is None:
            raise fail("unknown kid")
        if key.alg is not None and key.alg != alg:
            raise fail("key is for another algorithm")
        if not _key_fits(key.key, alg):
            raise fail("key does not fit the algorithm")
        return issuer, key, alg, kid

    def _accept(
        self,
        claims: dict[str, Any],
        issuer: _Issuer,
        kid: str,
        fail: Callable[[str], AuthenticationFailed],
    ) -> Caller:
        """The verified claims: a jti, a lifetime within the limit, an allowed tenant, and
        the jti's first use."""
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise fail("invalid claim jti")
        exp, iat = float(claims["exp"]), float(claims["iat"])
        if exp - iat > self._max_lifetime + self._leeway:
            raise fail("lifetime too long")
        tenant = claims.get("tenant")
        if issuer.settings.tenants and tenant not in issuer.settings.tenants:
            raise fail("tenant not allowed")
        # Kept until the token expires, and never longer than the longest lifetime accepted.
        keep_until = min(exp, time.time() + self._max_lifetime) + self._leeway
        if not self._replay.first_use(issuer.settings.iss, jti, keep_until):
            raise fail("jti replayed")
        return Caller(
            iss=issuer.settings.iss,
            kid=kid,
            jti=jti,
            tenant=tenant if isinstance(tenant, str) else None,
        )

    def replay_store_answers(self) -> bool:
        """True when the replay store answers within its timeouts (readiness); never raises."""
        return self._replay.ping()

    def close(self) -> None:
        self._session.close()
        self._replay.close()


def _bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}


@cache
def _key_types() -> dict[str, tuple[type[Any], ...]]:
    """The public key classes each algorithm family takes (cryptography's)."""
    from cryptography.hazmat.primitives.asymmetric import (  # noqa: PLC0415 - auth on only
        ec,
        ed448,
        ed25519,
        rsa,
    )

    return {
        "ES": (ec.EllipticCurvePublicKey,),
        "RS": (rsa.RSAPublicKey,),
        "PS": (rsa.RSAPublicKey,),
        "Ed": (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey),
    }


def _key_fits(key: Any, alg: str) -> bool:
    """The key's type is the one ``alg`` names (and an EC key is on ``alg``'s curve)."""
    if not isinstance(key, _key_types().get(alg[:2], ())):
        return False
    if isinstance(key, _key_types()["ES"]):
        return bool(key.curve.name == _CURVES.get(alg))
    return True


def _is_number(value: object) -> bool:
    """A JSON number (not a string of digits, not a boolean), finite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _reason(error: jwt.PyJWTError) -> str:
    """A fixed phrase per failure: PyJWT's messages are not logged (they may quote claims)."""
    import jwt  # noqa: PLC0415 - imported by the key sets already (module docstring)

    if isinstance(error, jwt.InvalidSignatureError):
        return "bad signature"
    if isinstance(error, jwt.ExpiredSignatureError):
        return "expired"
    if isinstance(error, jwt.ImmatureSignatureError):
        return "not yet valid"
    if isinstance(error, jwt.InvalidAudienceError):
        return "wrong aud"
    if isinstance(error, jwt.InvalidIssuerError):
        return "wrong iss"
    if isinstance(error, jwt.MissingRequiredClaimError):
        claim = error.claim if error.claim in _REQUIRED_CLAIMS else "?"
        return f"missing claim {claim}"
    if isinstance(error, jwt.InvalidKeyError):
        return "key does not fit the algorithm"
    return f"invalid token ({error.__class__.__name__})"


# --- Start-up ----------------------------------------------------------------------------


def require_trusted_issuer(settings: Settings) -> None:
    """Refuse to serve without a trusted issuer unless CDS_AUTH_DISABLED=true: logged, raised."""
    if settings.auth.issuers or settings.auth.disabled:
        return
    message = (
        "No trusted JWT issuer is configured (CDS_AUTH_ISSUERS or CDS_AUTH_TRUST_SANDBOX): "
        "refusing to serve CDS clients without authentication. To run without it on a "
        "trusted network, set CDS_AUTH_DISABLED=true explicitly."
    )
    logger.critical(message)
    raise errors.ConfigurationError(message)


def require_public_base_url(settings: Settings) -> None:
    """Production with authentication needs CDS_PUBLIC_BASE_URL: ``aud`` is checked against
    it, never against a URL built from the request's Host header (cds-hooks.md, Security)."""
    if settings.public_base_url or settings.is_development:
        return
    message = (
        "CDS_PUBLIC_BASE_URL is not set: the production profile checks each token's aud "
        "against the public base URL callers use (e.g. https://cds.example.org), never "
        "against the request's Host header; refusing to start."
    )
    logger.critical(message)
    raise errors.ConfigurationError(message)


def open_authenticator(settings: Settings) -> Authenticator | None:
    """The authenticator the settings call for; None when authentication is off."""
    if settings.auth.disabled:
        logger.warning(
            "AUTHENTICATION DISABLED (CDS_AUTH_DISABLED=true): every caller is trusted; "
            "serve only on a trusted network%s",
            ""
            if settings.fhir_servers
            else "; CDS_FHIR_SERVERS is empty: hook calls may name any fhirServer, and the "
            "service will fetch from it",
        )
        return None
    if not settings.authentication_required:
        return None  # the development profile without issuers: __main__ says so
    require_trusted_issuer(settings)
    if any(issuer.iss == SANDBOX_ISSUER for issuer in settings.auth.issuers):
        logger.warning(
            "TRUSTING THE CDS HOOKS SANDBOX (CDS_AUTH_TRUST_SANDBOX=true, development profile): "
            "its signing key is published, so anyone can sign a token it accepts; "
            "never with real patient data"
        )
    require_public_base_url(settings)
    replay = open_replay_cache(
        settings.auth.replay_store_url or settings.feedback_database_url, settings.stores
    )
    try:
        authenticator = Authenticator(settings.auth, replay)
    except BaseException:
        replay.close()
        raise
    logger.info(
        "JWT authentication on",
        extra={
            "fields": {
                "issuers": list(authenticator.issuers),
                "algorithms": list(settings.auth.algorithms),
            }
        },
    )
    return authenticator

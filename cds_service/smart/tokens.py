"""Is this SMART access token good for this patient on this FHIR server? Ask the server.

The app sends its own access token (``Authorization: Bearer``), the FHIR base it was
issued for (``X-SMART-Iss``) and the launch's patient (``X-SMART-Patient``). The base must
be one of ``CDS_SMART_ISSUERS`` (compared as a server reads URLs, ``urls.normalise``); the
request then goes to the configured base, never to the caller's spelling of it, so no
caller can make the service send a request anywhere else. The token is good when
``GET {base}/Patient/{id}`` with it answers that Patient: the FHIR server, which issued
the token's scopes, decides. A token that worked is trusted for ``CDS_SMART_TOKEN_CACHE_S``
seconds for the same base and patient, kept in memory under a SHA-256 of (base, patient,
token): the token itself is never kept, logged or sent anywhere but to that base.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
import urllib3.exceptions

from cds_service import errors, urls
from cds_service.http import strict_json_loads
from cds_service.settings import Settings

__all__ = ["FHIR_ID", "SmartCaller", "TokenChecker"]

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
"""A FHIR resource id (R4 ``id`` datatype): nothing that could change the URL's path."""

BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]{1,8192}=*")
"""RFC 6750 ``b64token``, at most 8 KiB: what a header may carry on to the FHIR server."""

MAX_PATIENT_BYTES = 1024 * 1024
"""Largest Patient answer read; a larger one is not an answer we trust."""

MAX_CACHED = 1024
"""Most tokens remembered at once (expired ones go first; then the cache starts afresh)."""


@dataclass(frozen=True, slots=True)
class SmartCaller:
    """A checked caller: the configured FHIR base and the patient its token may read."""

    iss: str
    patient_id: str


class TokenChecker:
    """Checks SMART access tokens against the allowlisted FHIR servers (thread-safe)."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._bases = settings.smart.issuers
        self._timeout_s = settings.fhir_request_timeout_s
        self._ttl_s = settings.smart.token_cache_s
        self._deadline_s = settings.fhir_deadline_s
        self._clock = clock
        self._lock = threading.Lock()
        self._good_until: dict[str, float] = {}

    def check(self, authorization: str | None, iss: str | None, patient: str | None) -> SmartCaller:
        """The caller, or Unauthorized / Forbidden / BadRequest / ServiceUnavailable."""
        token = _bearer(authorization)
        if not iss:
            raise errors.BadRequest("X-SMART-Iss (the FHIR base of the launch) is required")
        base = self._allowed_base(iss)
        if not patient or not FHIR_ID.fullmatch(patient):
            raise errors.BadRequest("X-SMART-Patient must be the launch's patient id")
        key = hashlib.sha256(f"{base}\n{patient}\n{token}".encode()).hexdigest()
        if self._remembered(key):
            return SmartCaller(base, patient)
        self._read_patient(base, patient, token)
        self._remember(key)
        return SmartCaller(base, patient)

    def _allowed_base(self, iss: str) -> str:
        if not self._bases:
            raise errors.Forbidden(
                "No FHIR server may launch the SMART app here: CDS_SMART_ISSUERS is empty"
            )
        given = urls.normalise(iss)
        for base in self._bases:
            allowed = urls.normalise(base)
            if (
                given is not None
                and allowed is not None
                and not given.traverses
                and given.origin() == allowed.origin()
                and given.segments == allowed.segments
            ):
                return base
        raise errors.Forbidden("X-SMART-Iss is not a FHIR server this service accepts")

    def _read_patient(self, base: str, patient: str, token: str) -> None:
        url = f"{base.rstrip('/')}/Patient/{patient}"
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/fhir+json",
            "Accept-Encoding": "identity",  # read as sent: no decompression to bound
        }
        deadline = self._clock() + self._deadline_s
        try:
            with requests.Session() as session:  # one per check: a hit is then cached
                session.trust_env = False  # no proxy or .netrc credentials from the environment
                with session.get(
                    url,
                    headers=headers,
                    timeout=self._timeout_s,
                    allow_redirects=False,
                    stream=True,
                ) as response:
                    status = response.status_code
                    body = _read_body(response, deadline, self._clock)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
            raise errors.ServiceUnavailable(
                "The FHIR server did not answer the access-token check"
            ) from None
        if status in (401, 403, 404, 410):
            raise errors.Unauthorized("SMART access token refused by its FHIR server")
        if status != 200 or len(body) > MAX_PATIENT_BYTES:
            raise errors.ServiceUnavailable(
                f"The FHIR server answered the access-token check with HTTP {status}"
            )
        try:
            read = strict_json_loads(body)
        except ValueError:
            raise errors.ServiceUnavailable(
                "The FHIR server's answer to the access-token check is not JSON"
            ) from None
        if (
            not isinstance(read, dict)
            or read.get("resourceType") != "Patient"
            or read.get("id") != patient
        ):
            raise errors.Unauthorized("SMART access token did not read the launch's patient")

    def _remembered(self, key: str) -> bool:
        with self._lock:
            until = self._good_until.get(key)
            return until is not None and until > self._clock()

    def _remember(self, key: str) -> None:
        if self._ttl_s <= 0:
            return
        now = self._clock()
        with self._lock:
            if len(self._good_until) >= MAX_CACHED:
                self._good_until = {k: t for k, t in self._good_until.items() if t > now}
                if len(self._good_until) >= MAX_CACHED:
                    self._good_until.clear()
            self._good_until[key] = now + self._ttl_s


def _read_body(response: requests.Response, deadline: float, clock: Callable[[], float]) -> bytes:
    """At most ``MAX_PATIENT_BYTES`` + 1 bytes, in pieces as they arrive, until the deadline
    (``CDS_FHIR_DEADLINE_S``): a server that trickles its answer cannot hold a worker."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_PATIENT_BYTES:
        if clock() > deadline:
            raise errors.ServiceUnavailable(
                "The FHIR server did not answer the access-token check in time"
            )
        piece = response.raw.read1(64 * 1024, decode_content=False)
        if not piece:
            break
        chunks.append(piece)
        size += len(piece)
    return b"".join(chunks)


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not BEARER_TOKEN.fullmatch(token):
        raise errors.Unauthorized("SMART access token missing (Authorization: Bearer)")
    return token

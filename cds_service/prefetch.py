"""Prefetch resolution: the data a hook call needs, from the client's prefetch or the EHR.

For every prefetch template of a service, the client's ``prefetch`` object may
hold a value under the template's key. What the service does with it
(cds-hooks.md, Prefetch):

    sent                                   service does
    key absent                             fetch it from ``fhirServer``
    ``null``                               none: no resources (a read that found nothing)
    Bundle (maybe empty, maybe ``next``)   its entries' resources; ``next`` pages followed
    OperationOutcome                       fetch it from ``fhirServer``
    a single resource (read template)      use it
    anything else (string, list, number,   treated like an OperationOutcome: the client's
      an object without ``resourceType``)  prefetch is unusable, so the service fetches the
                                           key itself

Fetches go to ``fhirServer`` with ``Authorization: Bearer {access_token}`` from
``fhirAuthorization`` (no header when the request has none) and
``Accept: application/fhir+json``. A key that cannot be had -- no ``fhirServer``,
a token of its template without a value in the context, a failed fetch -- makes
``resolve`` raise ``PreconditionFailed`` (412) when its template is required and
is listed in ``ResolvedData.unavailable`` otherwise. A key is all or nothing:
when a later ``next`` page fails, the pages already read are dropped too, so that
partial data is never taken for the whole.

A fetch fails on: a connection error or timeout, the overall deadline, a non-2xx
status (except 404 and 410 on a read template such as ``Patient/{{...}}``, which
mean "no such resource": none), a content type other than FHIR JSON or JSON,
malformed JSON, a search answered by something other than a Bundle, a read
answered by another resource type, a page over ``settings.fhir_max_page_bytes``
or a call whose pages together pass ``settings.fhir_max_call_bytes`` (both
counted while reading, after decompression: a gzip bomb stops at the cap; only
``gzip``, ``deflate`` and ``identity`` encodings are asked for and read), a page
still unparsed at the deadline, a ``next``
link outside the ``fhirServer`` base (scheme, host, port and base path, compared
after percent-decoding and dot-segment checks, ``cds_service.urls``: the
bearer token never goes anywhere else), a ``next`` chain longer than
``settings.fhir_max_pages`` or one that repeats a page. Redirects are not
followed (a redirect is a failure), cookies are never stored, and the
environment (proxies, ``.netrc``) is not consulted. No exception of ``requests``,
``urllib3`` or ``json`` leaves ``resolve``: each becomes a failed key.

Search Bundle entries with ``search.mode`` ``outcome`` are the server's remarks
on the search, not data, and are dropped. Any other entry contributes its
``resource``; an entry without one is kept as it is, for the mapping to record
as a data issue.

EHR quirks, handled when a key is settled (``_settle_search``):

- An OperationOutcome among a search's results (Epic answers an empty search as a
  Bundle holding one OperationOutcome entry, "no results", without ``search.mode``)
  is a remark when its issues are all ``information`` or ``warning``: dropped, so
  such a Bundle is an empty result. One with an ``error`` or ``fatal`` issue means
  the search failed: a prefetched Bundle holding one is fetched again (as an
  OperationOutcome would be), a fetched one fails its key.
- A search whose Bundle ``self`` link lacks a parameter the template had (the
  server ignored it, e.g. ``category``) is filtered here on that parameter
  (``LOCAL_FILTERS``: category, code, intent, status); a parameter that cannot be
  checked here is logged and the results are kept.

Staging (``resolve``'s keyword arguments): ``deadline`` lets a later stage share
the first stage's deadline; ``extra_keys`` names prefetch keys the client sent
that no template of this stage has (a site that configured more): their Bundles
or resources are used as they are (``next`` pages followed); anything else under
such a key is ignored and logged. A template whose key is absent but one of its
``covered_by`` keys holds a Bundle is taken as answered by that key. Resources
that several keys return (same type and id) are kept once.

Concurrency: the keys to fetch run at once on one ``ThreadPoolExecutor`` under
one deadline (``settings.fhir_deadline_s`` from the start of ``resolve``); each
HTTP request has the timeout ``min(settings.fhir_request_timeout_s, time
left)``. One ``requests.Session`` with a connection pool of
``settings.fhir_pool_size`` serves every thread and every hook call. Sharing a
Session across threads is sound for this use: the Session's settings are fixed
at start-up and never changed afterwards, per-call values (the Authorization
header, timeouts) are passed per request, the cookie jar is blocked, and the
urllib3 pool underneath is thread-safe.

Diagnostics and logs name prefetch keys and the kind of failure, never URLs,
tokens, patient ids or response bodies.
"""

from __future__ import annotations

import http.client
import logging
import re
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from itertools import chain
from operator import itemgetter
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, quote, urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from cds_service import metrics, urls
from cds_service.errors import ConfigurationError, PreconditionFailed
from cds_service.http import strict_json_loads
from cds_service.settings import Settings
from cds_service.wire import HookRequest
from fhir_mappings.model import DataIssue

logger = logging.getLogger(__name__)

ACCEPTED_ENCODINGS = "gzip, deflate"
"""``Accept-Encoding`` of every FHIR request: the encodings ``_Decoder`` reads with a cap."""

FHIR_JSON_TYPES = frozenset({"application/fhir+json", "application/json"})
"""Response content types accepted as FHIR JSON."""

USER_ID_TOKENS: Mapping[str, str] = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}
"""The user-identifier prefetch tokens and the resource type of ``context.userId`` each reads."""

_TOKEN = re.compile(r"\{\{(.*?)\}\}")
_CONTEXT_TOKEN = re.compile(r"context\.([A-Za-z_][A-Za-z0-9_]*)")
_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{0,63}")
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,64}")
_CHUNK_BYTES = 64 * 1024
_MISSING_STATUSES = frozenset({404, 410})


# --- Templates and tokens -----------------------------------------------------------


class PrefetchTokenError(ValueError):
    """A prefetch token could not be rendered."""


class UnknownTokenError(PrefetchTokenError):
    """The template uses a token outside the CDS Hooks grammar: a bug in the template."""


class TokenValueMissingError(PrefetchTokenError):
    """The token is valid but this call's context has no primitive value for it."""


@dataclass(frozen=True, slots=True)
class PrefetchTemplate:
    """One prefetch template of a service, as advertised in discovery.

    ``query`` is a relative FHIR URL with ``{{tokens}}``; its tokens are checked
    against the CDS Hooks grammar on construction (so at start-up).
    """

    key: str
    query: str
    required: bool = True
    covered_by: tuple[str, ...] = ()
    """Broader prefetch keys that answer this one when the client sends them instead."""

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("a prefetch key must not be empty")
        if "://" in self.query.partition("?")[0] or not self.query.strip("/"):
            raise ValueError(f"prefetch {self.key!r}: the query must be a relative FHIR URL")
        leftover = _TOKEN.sub("", self.query)
        if "{{" in leftover or "}}" in leftover:
            raise UnknownTokenError(f"prefetch {self.key!r}: unbalanced token delimiters")
        for match in _TOKEN.finditer(self.query):
            _check_token_name(match.group(1).strip())

    @property
    def is_read(self) -> bool:
        """An instance read (``Type/id``) rather than a search."""
        return "?" not in self.query and self.query.strip("/").count("/") == 1

    @property
    def resource_type(self) -> str | None:
        """The literal resource type the query names, if it names one."""
        first = self.query.lstrip("/").split("/", 1)[0].split("?", 1)[0]
        return first if _RESOURCE_TYPE.fullmatch(first) else None


def render_query(template: str, context: Mapping[str, Any]) -> str:
    """Substitute the prefetch tokens of ``template`` with URL-encoded context values.

    Tokens (cds-hooks_2.0@55-57, @59): ``{{context.X}}`` for a root-level field of
    the context with a primitive value, and ``{{userPractitionerId}}``,
    ``{{userPractitionerRoleId}}``, ``{{userPatientId}}``, ``{{userRelatedPersonId}}``
    read from ``context.userId`` (``Practitioner/123`` gives userPractitionerId 123).

    Raises UnknownTokenError for a token outside that grammar and
    TokenValueMissingError when the context has no value for a valid token.
    """

    def substitute(match: re.Match[str]) -> str:
        return quote(_token_value(match.group(1).strip(), context), safe="")

    rendered = _TOKEN.sub(substitute, template)
    leftover = _TOKEN.sub("", template)
    if "{{" in leftover or "}}" in leftover:
        raise UnknownTokenError("unbalanced prefetch token delimiters")
    return rendered


def _check_token_name(name: str) -> None:
    if name not in USER_ID_TOKENS and not _CONTEXT_TOKEN.fullmatch(name):
        raise UnknownTokenError(
            f"{{{{{name}}}}} is not a prefetch token (expected context.<field> or one of "
            + ", ".join(USER_ID_TOKENS)
            + ")"
        )


def _token_value(name: str, context: Mapping[str, Any]) -> str:
    _check_token_name(name)
    if name in USER_ID_TOKENS:
        user_id = context.get("userId")
        wanted = USER_ID_TOKENS[name]
        if isinstance(user_id, str):
            resource_type, _, user = user_id.partition("/")
            if resource_type == wanted and user and "/" not in user:
                return user
        raise TokenValueMissingError(f"{{{{{name}}}}} needs context.userId of type {wanted}")
    field = name.removeprefix("context.")
    value = context.get(field)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float) and value != "":
        return str(value)
    raise TokenValueMissingError(f"the context has no primitive value for {{{{{name}}}}}")


# --- Results ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchStats:
    """What resolving one hook call's prefetch cost (for logs and the benchmark)."""

    fetches: int
    """HTTP requests sent to the FHIR server (every page counts)."""
    fetch_seconds_total: float
    """Sum of the durations of those requests (they overlap: may exceed wall time)."""
    wall_seconds: float
    """Time spent in ``resolve``."""


Identity = tuple[str, str]
"""A resource's type and id: what makes two resources of a call the same one."""


@dataclass(frozen=True, slots=True)
class ResolvedData:
    resources: tuple[Any, ...]
    """Raw JSON values from every key, in template order; not validated here."""
    unavailable: tuple[str, ...]
    """Keys of non-required templates that could not be had."""
    stats: FetchStats
    data_issues: tuple[DataIssue, ...] = ()
    """What could not be read beyond the keys (``medicationReference`` targets), by the
    resource that refers to it; added to the patient model's data issues."""
    identities: AbstractSet[Identity] | None = field(default=None, compare=False, repr=False)
    """Holds the ``Identity`` of each of ``resources`` that has one, when known (None: not
    known): lets a later stage be added by ``unique_union`` without another walk. It may
    hold other pairs too (see ``_gather_usual``)."""


@dataclass(frozen=True, slots=True)
class ReadResult:
    """``PrefetchResolver.read``: the resources read, and why each other reference was not."""

    resources: tuple[Any, ...]
    failures: Mapping[str, str]
    """Reference -> reason (no URL, token or body)."""
    stats: FetchStats


# --- The resolver -------------------------------------------------------------------


class _KeyFailedError(Exception):
    """A key could not be had; ``reason`` names no URL, token, id or body; ``kind`` is a
    fixed word for the metrics (``cds_fhir_fetch_failures_total``)."""

    def __init__(self, reason: str, *, kind: str = "invalid-answer") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


@dataclass(frozen=True, slots=True)
class _KeyOutcome:
    resources: tuple[Any, ...] = ()
    failure: str | None = None
    source: str = "prefetch"
    unapplied: tuple[tuple[str, str], ...] = ()
    """Search parameters of the template the answer's ``self`` link does not show."""
    outcomes: tuple[Any, ...] | None = None
    """The OperationOutcomes among ``resources``, when known (None: look for them)."""
    identities: AbstractSet[Identity] | None = None
    """Holds the ``Identity`` of each of ``resources`` that has one (maybe other pairs
    too: ``_gather_usual``), given only when no two of ``resources`` share one (None: not
    known)."""


@dataclass(frozen=True, slots=True)
class _Base:
    """The origin and base path of ``fhirServer``: the only place requests go."""

    url: str
    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, fhir_server: str) -> _Base | None:
        origin = _origin(fhir_server)
        if origin is None:
            return None
        scheme, host, port, path = origin
        return cls(fhir_server.rstrip("/"), scheme, host, port, path.rstrip("/"))

    def contains(self, url: str) -> bool:
        """Whether ``url`` is this base or below it, read as a server reads it: after
        percent-decoding, with no ``.``/``..`` segment at any level (``cds_service.urls``)."""
        target, base = urls.normalise(url), urls.normalise(self.url)
        return target is not None and base is not None and target.within(base)


def _origin(url: str) -> tuple[str, str, int, str] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or parts.username is not None:
        return None
    default_port = 443 if scheme == "https" else 80
    return scheme, parts.hostname.lower(), port or default_port, parts.path


class _Call:
    """One ``resolve`` call's shared state: where, how, until when, and the tally."""

    __slots__ = ("_bytes", "_lock", "_per_key", "base", "cancelled", "deadline", "headers")

    def __init__(self, base: _Base | None, headers: Mapping[str, str], deadline: float) -> None:
        self.base = base
        self.headers = headers
        self.deadline = deadline
        self.cancelled = threading.Event()
        self._lock = threading.Lock()
        self._per_key: dict[str, tuple[int, float]] = {}
        self._bytes = 0

    def add_bytes(self, count: int) -> int:
        """Count ``count`` more decoded bytes read for this call; the call's total so far."""
        with self._lock:
            self._bytes += count
            return self._bytes

    def __repr__(self) -> str:  # the headers hold the access token
        return "_Call(<redacted>)"

    def record(self, key: str, seconds: float) -> None:
        with self._lock:
            fetches, total = self._per_key.get(key, (0, 0.0))
            self._per_key[key] = (fetches + 1, total + seconds)

    def tally(self, key: str) -> tuple[int, float]:
        with self._lock:
            return self._per_key.get(key, (0, 0.0))

    def totals(self) -> tuple[int, float]:
        with self._lock:
            values = list(self._per_key.values())
        return sum(n for n, _ in values), sum(s for _, s in values)


class PrefetchResolver:
    """Resolves a hook call's prefetch templates; one instance per app, made at start-up."""

    def __init__(self, settings: Settings) -> None:
        if settings.fhir_pool_size < 1:
            raise ConfigurationError("CDS_FHIR_POOL_SIZE must be at least 1")
        if not 0 < settings.fhir_max_page_bytes <= settings.fhir_max_call_bytes:
            raise ConfigurationError(
                "CDS_FHIR_MAX_PAGE_BYTES must be at least 1 and at most CDS_FHIR_MAX_CALL_BYTES"
            )
        self._settings = settings
        session = requests.Session()
        session.trust_env = False  # no proxies or .netrc credentials from the environment
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # store no cookies
        session.headers.update(
            {
                "Accept": "application/fhir+json",
                "Accept-Encoding": ACCEPTED_ENCODINGS,
                "User-Agent": "her2-nsclc-cds prefetch",
            }
        )
        adapter = HTTPAdapter(pool_maxsize=settings.fhir_pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session
        self._executor = ThreadPoolExecutor(
            max_workers=settings.fhir_pool_size, thread_name_prefix="prefetch"
        )

    def __enter__(self) -> PrefetchResolver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the worker threads and pooled connections (app shutdown).

        Does not wait: a request still in flight ends within its timeout."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._session.close()

    def resolve(
        self,
        request: HookRequest,
        templates: Sequence[PrefetchTemplate],
        *,
        deadline: float | None = None,
        extra_keys: Sequence[str] = (),
    ) -> ResolvedData:
        """The resources of every template (and of ``extra_keys`` the client sent); raises
        PreconditionFailed for a required key that cannot be had. ``deadline`` is a
        ``time.monotonic()`` value (default: ``settings.fhir_deadline_s`` from now)."""
        started = time.monotonic()
        call = _Call(
            base=_Base.parse(request.fhirServer) if request.fhirServer else None,
            headers=_auth_headers(request),
            deadline=deadline if deadline is not None else started + self._settings.fhir_deadline_s,
        )
        prefetch: Mapping[str, Any] = request.prefetch or {}
        templates = [*templates, *_extra_templates(templates, extra_keys, prefetch)]
        outcomes: dict[str, _KeyOutcome] = {}
        pending: dict[Future[_KeyOutcome], PrefetchTemplate] = {}
        try:
            for template in templates:
                outcome = self._plan(template, prefetch, request, call, pending)
                if outcome is not None:
                    self._settle(template, outcome, outcomes, call)
            while pending:
                remaining = call.deadline - time.monotonic()
                if remaining <= 0:
                    break
                done, _ = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
                for future in done:
                    template = pending.pop(future)
                    self._settle(template, future.result(), outcomes, call)
            late = self._deadline_reason()
            for future, template in pending.items():
                future.cancel()
                self._settle(template, _KeyOutcome(failure=late, source="fhir"), outcomes, call)
        finally:
            call.cancelled.set()  # stops any worker still running, e.g. after a 412
            for future in pending:
                future.cancel()

        resources, identities = unique_union(
            (outcomes[t.key].resources, outcomes[t.key].identities) for t in templates
        )
        unavailable = tuple(t.key for t in templates if outcomes[t.key].failure is not None)
        fetches, fetch_seconds = call.totals()
        stats = FetchStats(fetches, fetch_seconds, time.monotonic() - started)
        logger.debug(
            "prefetch hookInstance=%s keys=%d resources=%d unavailable=%d fetches=%d "
            "fetch_seconds=%.3f wall_seconds=%.3f",
            request.hookInstance,
            len(templates),
            len(resources),
            len(unavailable),
            stats.fetches,
            stats.fetch_seconds_total,
            stats.wall_seconds,
        )
        return ResolvedData(resources, unavailable, stats, identities=identities)

    def read(
        self,
        request: HookRequest,
        references: Sequence[str],
        *,
        key: str,
        deadline: float | None = None,
    ) -> ReadResult:
        """Read each relative ``Type/id`` reference from ``fhirServer`` at once, as a read
        template's key is fetched (same checks, byte caps and deadline; ``key`` names them in
        logs and the tally). A reference that cannot be had -- including one the server
        does not hold (404/410) -- is a failure, never an exception."""
        started = time.monotonic()
        call = _Call(
            base=_Base.parse(request.fhirServer) if request.fhirServer else None,
            headers=_auth_headers(request),
            deadline=deadline if deadline is not None else started + self._settings.fhir_deadline_s,
        )
        found: list[Any] = []
        failures: dict[str, str] = {}
        pending: dict[Future[_KeyOutcome], str] = {}
        try:
            for reference in dict.fromkeys(references):
                if call.base is None:
                    failures[reference] = "the request has no usable fhirServer"
                    continue
                template = PrefetchTemplate(key, reference)
                if not template.is_read or template.resource_type is None:
                    failures[reference] = "not a Type/id reference"
                    continue
                url = f"{call.base.url}/{reference}"
                pending[self._executor.submit(self._fetch, template, url, call)] = reference
            while pending:
                remaining = call.deadline - time.monotonic()
                if remaining <= 0:
                    break
                done, _ = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
                for future in done:
                    reference = pending.pop(future)
                    outcome = future.result()
                    failure = _read_failure(outcome, reference)
                    if failure is not None:
                        failures[reference] = failure
                    else:
                        found.extend(outcome.resources)
            for reference in pending.values():
                failures[reference] = self._deadline_reason()
        finally:
            call.cancelled.set()
            for future in pending:
                future.cancel()
        fetches, fetch_seconds = call.totals()
        stats = FetchStats(fetches, fetch_seconds, time.monotonic() - started)
        logger.debug(
            "read key=%s references=%d read=%d failed=%d fetches=%d wall_seconds=%.3f",
            key,
            len(references),
            len(found),
            len(failures),
            stats.fetches,
            stats.wall_seconds,
        )
        return ReadResult(tuple(found), failures, stats)

    # -- planning: what the client sent, and what must be fetched --------------------

    def _plan(
        self,
        template: PrefetchTemplate,
        prefetch: Mapping[str, Any],
        request: HookRequest,
        call: _Call,
        pending: dict[Future[_KeyOutcome], PrefetchTemplate],
    ) -> _KeyOutcome | None:
        """The key's outcome when no fetch is needed; otherwise submit the fetch."""
        if template.key not in prefetch and any(
            _resource_type(prefetch.get(key)) == "Bundle" for key in template.covered_by
        ):
            return _KeyOutcome(source="prefetch (a broader key)")
        if template.key in prefetch:
            value = prefetch[template.key]
            kind = _resource_type(value)
            if value is None:
                return _KeyOutcome()
            found = _gather((value,)) if kind == "Bundle" else _NOTHING_FOUND
            if kind == "Bundle" and _any_failed(found.outcomes):
                kind = "OperationOutcome"  # the client's search failed: fetch it again
            if kind == "Bundle":
                unapplied = _unapplied_parameters(template, request, value)
                next_url = _next_link(value)
                if next_url is None:
                    return found.outcome(unapplied=unapplied)
                if call.base is None:
                    return _KeyOutcome(
                        failure="the prefetched Bundle has a next page and the request "
                        "has no usable fhirServer"
                    )
                first_page: Mapping[str, Any] = value
                future = self._executor.submit(
                    self._continue, template, first_page, call, unapplied
                )
                pending[future] = template
                return None
            if kind is not None and kind != "OperationOutcome":
                return _KeyOutcome((value,))
            why = "an OperationOutcome" if kind == "OperationOutcome" else "not a FHIR resource"
            no_server = f"the client's prefetch is {why} and the request has no usable fhirServer"
        else:
            no_server = "the client sent no prefetch and the request has no usable fhirServer"
        if call.base is None:
            return _KeyOutcome(failure=no_server)
        try:
            relative = render_query(template.query, request.context)
        except TokenValueMissingError as error:
            return _KeyOutcome(failure=f"its query cannot be rendered: {error}")
        url = f"{call.base.url}/{relative.lstrip('/')}"
        pending[self._executor.submit(self._fetch, template, url, call)] = template
        return None

    def _settle(
        self,
        template: PrefetchTemplate,
        outcome: _KeyOutcome,
        outcomes: dict[str, _KeyOutcome],
        call: _Call,
    ) -> None:
        outcome = _settle_search(template, outcome)
        outcomes[template.key] = outcome
        if logger.isEnabledFor(logging.DEBUG):  # the tally takes a lock: not for nothing
            fetches, seconds = call.tally(template.key)
            logger.debug(
                "prefetch key=%s source=%s resources=%d fetches=%d fetch_seconds=%.3f",
                template.key,
                outcome.source if outcome.failure is None else "unavailable",
                len(outcome.resources),
                fetches,
                seconds,
            )
        if outcome.failure is None:
            return
        message = f"prefetch key {template.key!r} could not be fetched: {outcome.failure}"
        if template.required:
            logger.warning("%s (required)", message)
            raise PreconditionFailed(message, expression=(f"prefetch.{template.key}",))
        logger.info("%s (optional: continuing without it)", message)

    def _deadline_reason(self) -> str:
        return f"the FHIR deadline of {self._settings.fhir_deadline_s:g} s passed"

    # -- fetching (worker threads) ---------------------------------------------------

    def _fetch(self, template: PrefetchTemplate, url: str, call: _Call) -> _KeyOutcome:
        """Fetch the key's query and every next page."""
        try:
            body = self._get(template.key, url, call, read=template.is_read)
            if body is None:
                return _KeyOutcome(source="fhir")
            answer = self._check_answer(template, body)
            if _resource_type(answer) != "Bundle":
                return _KeyOutcome((answer,), source="fhir")
            found = self._pages(template.key, answer, url, call)
            unapplied = _unapplied_parameters(template, None, answer, sent=url)
            return found.outcome(source="fhir", unapplied=unapplied)
        except _KeyFailedError as failure:
            metrics.fhir_fetch_failed(failure.kind)
            return _KeyOutcome(failure=failure.reason, source="fhir")

    def _continue(
        self,
        template: PrefetchTemplate,
        page: Mapping[str, Any],
        call: _Call,
        unapplied: tuple[tuple[str, str], ...] = (),
    ) -> _KeyOutcome:
        """Follow the next pages of a Bundle the client prefetched."""
        page_url = f"{call.base.url}/" if call.base is not None else ""
        try:
            found = self._pages(template.key, page, page_url, call)
        except _KeyFailedError as failure:
            metrics.fhir_fetch_failed(failure.kind)
            return _KeyOutcome(failure=failure.reason, source="prefetch+fhir")
        return found.outcome(source="prefetch+fhir", unapplied=unapplied)

    def _pages(self, key: str, page: Mapping[str, Any], page_url: str, call: _Call) -> _Found:
        """The resources of ``page`` and of every ``next`` page after it."""
        pages = [page]
        seen = {page_url}
        followed = 0
        while (link := _next_link(page)) is not None:
            next_url = urljoin(page_url, link)
            if call.base is None or not call.base.contains(next_url):
                raise _KeyFailedError(
                    "a next link points outside the fhirServer base URL", kind="next-link"
                )
            if next_url in seen:
                raise _KeyFailedError("a next link repeats a page already read")
            if followed >= self._settings.fhir_max_pages:
                raise _KeyFailedError(
                    f"the search has more than {self._settings.fhir_max_pages} next pages"
                )
            body = self._get(key, next_url, call, read=False)
            if _resource_type(body) != "Bundle":
                raise _KeyFailedError(f"a next page is {_describe(body)}, not a Bundle")
            page, page_url = body, next_url
            seen.add(page_url)
            followed += 1
            pages.append(page)
        return _gather(pages)

    def _check_answer(self, template: PrefetchTemplate, body: Any) -> Mapping[str, Any]:
        kind = _resource_type(body)
        if template.is_read:
            wanted = template.resource_type
            if kind is None or kind == "OperationOutcome" or (wanted and kind != wanted):
                raise _KeyFailedError(
                    f"the FHIR server answered with {_describe(body)}, not a {wanted or 'resource'}"
                )
        elif kind != "Bundle":
            raise _KeyFailedError(f"the FHIR server answered with {_describe(body)}, not a Bundle")
        result: Mapping[str, Any] = body
        return result

    def _get(self, key: str, url: str, call: _Call, *, read: bool) -> Any:
        """The parsed JSON body of a GET; None for a read's 404/410. Raises _KeyFailedError."""
        remaining = call.deadline - time.monotonic()
        if remaining <= 0 or call.cancelled.is_set():
            raise _KeyFailedError(self._deadline_reason(), kind="deadline")
        timeout = min(self._settings.fhir_request_timeout_s, remaining)
        started = time.monotonic()
        try:
            with self._session.get(
                url, headers=call.headers, timeout=timeout, stream=True, allow_redirects=False
            ) as response:
                if read and response.status_code in _MISSING_STATUSES:
                    return None
                if not 200 <= response.status_code < 300:
                    raise _KeyFailedError(
                        f"the FHIR server answered {response.status_code}", kind="status"
                    )
                media_type = _media_type(response.headers.get("Content-Type"))
                if media_type not in FHIR_JSON_TYPES:
                    shown = media_type if _MEDIA_TYPE.fullmatch(media_type) else "unknown"
                    raise _KeyFailedError(
                        f"the FHIR server answered with content type {shown}, not FHIR JSON",
                        kind="content-type",
                    )
                body = self._read_body(response, call)
            self._check_time(call)
            parsed = strict_json_loads(body)
            del body
            self._check_time(call)  # parsed too late: the call has given up on it
            return parsed
        except _KeyFailedError:
            raise
        except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, deep nesting
            raise _KeyFailedError(
                "the FHIR server answered with malformed JSON", kind="malformed"
            ) from None
        except (
            requests.RequestException,
            urllib3.exceptions.HTTPError,
            http.client.HTTPException,
            OSError,
            zlib.error,
        ) as error:
            reason, kind = self._transport_reason(error, call)
            raise _KeyFailedError(reason, kind=kind) from None
        finally:
            call.record(key, time.monotonic() - started)

    def _check_time(self, call: _Call) -> None:
        if time.monotonic() >= call.deadline or call.cancelled.is_set():
            raise _KeyFailedError(self._deadline_reason(), kind="deadline")

    def _read_body(self, response: requests.Response, call: _Call) -> bytes:
        """The body, decoded, read in pieces: a trickling server cannot outlast the deadline,
        and no page (``fhir_max_page_bytes``) or call (``fhir_max_call_bytes``) grows past its
        cap, counted in decompressed bytes, so that a gzip bomb stops at the cap too."""
        page_cap = self._settings.fhir_max_page_bytes
        call_cap = self._settings.fhir_max_call_bytes
        length = response.headers.get("Content-Length", "")
        encoding = _media_type(response.headers.get("Content-Encoding")) or "identity"
        if encoding == "identity" and length.isdigit() and int(length) > page_cap:
            raise _KeyFailedError(_too_large("a page", page_cap), kind="too-large")
        decoder = _Decoder(encoding)
        chunks: list[bytes] = []
        size = 0
        while True:
            self._check_time(call)
            raw = response.raw.read1(_CHUNK_BYTES, decode_content=False)
            for piece in decoder.decode(raw, limit=page_cap - size + 1):
                size += len(piece)
                if size > page_cap:
                    raise _KeyFailedError(_too_large("a page", page_cap), kind="too-large")
                if call.add_bytes(len(piece)) > call_cap:
                    raise _KeyFailedError(_too_large("this call", call_cap), kind="too-large")
                chunks.append(piece)
            if not raw:
                if not decoder.complete:
                    raise _KeyFailedError(
                        "the FHIR server's compressed answer is truncated", kind="malformed"
                    )
                return b"".join(chunks)

    def _transport_reason(self, error: Exception, call: _Call) -> tuple[str, str]:
        """The failure's reason and its kind (a metrics label)."""
        if time.monotonic() >= call.deadline or call.cancelled.is_set():
            return self._deadline_reason(), "deadline"
        if isinstance(error, zlib.error):
            return "the FHIR server's compressed answer is corrupt", "malformed"
        if isinstance(error, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError):
            return "the FHIR server did not answer within the request timeout", "timeout"
        if isinstance(error, requests.ConnectionError | ConnectionError):
            return "the connection to the FHIR server failed", "connection"
        return f"the request to the FHIR server failed ({type(error).__name__})", "transport"


def _too_large(what: str, cap: int) -> str:
    return f"the FHIR server's answers for {what} exceed {cap} bytes"


class _Decoder:
    """Content-Encoding decoding with bounded output: pieces of at most ``limit`` bytes,
    whatever one compressed chunk expands to. gzip (several members too), deflate
    (zlib-wrapped or raw), identity; any other encoding fails the key."""

    def __init__(self, encoding: str) -> None:
        if encoding not in ("identity", "gzip", "x-gzip", "deflate"):
            raise _KeyFailedError(
                "the FHIR server answered with an encoding that was not asked for",
                kind="content-type",
            )
        self._identity = encoding == "identity"
        self._raw_deflate_tried = encoding != "deflate"
        self._wbits = 16 + zlib.MAX_WBITS if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._zlib: Any = None
        self.complete = self._identity
        """Whether the compressed stream ended where the body ended."""

    def decode(self, data: bytes, *, limit: int) -> Iterator[bytes]:
        """The decoded bytes of ``data`` in pieces of at most ``limit`` bytes; the caller
        stops iterating at its cap (what is left is never decompressed)."""
        if self._identity:
            if data:
                yield data
            return
        limit = max(1, limit)
        while data:
            if self._zlib is None or self._zlib.eof:
                if self._zlib is not None and not data.strip(b"\x00"):
                    return  # padding after the last gzip member
                self._zlib = zlib.decompressobj(self._wbits)
                self.complete = False
            try:
                out = self._zlib.decompress(data, limit)
            except zlib.error:
                if self._raw_deflate_tried:
                    raise
                self._raw_deflate_tried = True  # "deflate" sent as a raw stream, as some do
                self._wbits = -zlib.MAX_WBITS
                self._zlib = zlib.decompressobj(self._wbits)
                out = self._zlib.decompress(data, limit)
            self._raw_deflate_tried = True
            if self._zlib.eof:
                self.complete = True
                data = self._zlib.unused_data
            else:
                data = self._zlib.unconsumed_tail
            if out:
                yield out


# --- FHIR JSON helpers --------------------------------------------------------------


def _auth_headers(request: HookRequest) -> dict[str, str]:
    if request.fhirAuthorization is None:
        return {}
    return {"Authorization": f"Bearer {request.fhirAuthorization.access_token}"}


def _resource_type(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("resourceType")
        if isinstance(kind, str) and kind:
            return kind
    return None


def _id_of(value: Any) -> str | None:
    ident = value.get("id") if isinstance(value, dict) else None
    return ident if isinstance(ident, str) else None


def _read_failure(outcome: _KeyOutcome, reference: str) -> str | None:
    """Why the read of ``reference`` failed (None: it returned that resource)."""
    if outcome.failure is not None:
        return outcome.failure
    if not outcome.resources:
        return "the FHIR server has no such resource"
    if _id_of(outcome.resources[0]) != reference.rsplit("/", 1)[-1]:
        return "the FHIR server answered with another resource"
    return None


def _describe(value: Any) -> str:
    """What a JSON value is, without its content (for diagnostics)."""
    kind = _resource_type(value)
    if kind is None:
        return f"a JSON {type(value).__name__} that is not a FHIR resource"
    return f"a {kind}" if _RESOURCE_TYPE.fullmatch(kind) else "an unknown resource type"


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            if isinstance(url, str) and url:
                return url
    return None


@dataclass(frozen=True, slots=True)
class _Found:
    """A search's results, from one walk over its pages' entries (``_gather``)."""

    resources: tuple[Any, ...]
    outcomes: tuple[Any, ...]
    """The OperationOutcomes among ``resources``."""
    identities: AbstractSet[Identity] | None
    """As ``_KeyOutcome.identities``: None when two of ``resources`` share one."""

    def outcome(self, **fields: Any) -> _KeyOutcome:
        return _KeyOutcome(
            self.resources, outcomes=self.outcomes, identities=self.identities, **fields
        )


_NOTHING_FOUND = _Found((), (), frozenset())


def _gather(pages: Sequence[Mapping[str, Any]]) -> _Found:
    """The entries' resources of ``pages``, with what ``_settle_search`` and ``resolve``
    would otherwise walk them again for: their OperationOutcomes and identities.

    An entry with ``search.mode`` ``outcome`` is dropped; an entry without a
    ``resource`` is kept as it is, as is an ``entry`` that is not a list."""
    entries: list[Any] = []
    for page in pages:
        page_entries = page.get("entry")
        if page_entries is None:
            continue
        if not isinstance(page_entries, list):
            return _gather_any(pages)
        entries.extend(page_entries)
    if not entries:
        return _NOTHING_FOUND
    found = _gather_usual(entries)
    return found if found is not None else _gather_any(pages)


_TYPE_OF = itemgetter(0)


def _gather_usual(entries: list[Any]) -> _Found | None:
    """``_gather`` of entries of the usual shape -- each an object with a ``resource``
    object that has a ``resourceType`` and a hashable ``id``, no OperationOutcome and no
    ``search`` of mode ``outcome`` -- in comprehensions; None for any other shape.

    Every resource a search returns passes here: the comprehensions cost about two
    thirds of ``_gather_any``'s loops. The identities may hold pairs of a type or id that
    is not a non-empty string (``_identity`` gives none for those); that only makes
    ``unique_union`` compare more, as no such pair equals a JSON resource's identity."""
    try:
        resources = [
            entry["resource"]
            for entry in entries
            if not (search := entry.get("search")) or search.get("mode") != "outcome"
        ]
        pairs = [(resource["resourceType"], resource["id"]) for resource in resources]
        identities = set(pairs)
    except (KeyError, TypeError, AttributeError):  # not an object, no such member, a list id
        return None
    if len(resources) < len(entries) or "OperationOutcome" in map(_TYPE_OF, identities):
        return None  # a search outcome entry (kept when it has no resource) or outcome
    return _Found(tuple(resources), (), identities if len(identities) == len(pairs) else None)


def _gather_any(pages: Sequence[Mapping[str, Any]]) -> _Found:
    """``_gather`` of entries of any shape."""
    resources: list[Any] = []
    for page in pages:
        entries = page.get("entry")
        if entries is None:
            continue
        if not isinstance(entries, list):
            resources.append(entries)
            continue
        for entry in entries:
            if isinstance(entry, dict) and "resource" in entry:
                search = entry.get("search")
                if isinstance(search, dict) and search.get("mode") == "outcome":
                    continue
                resources.append(entry["resource"])
            else:
                resources.append(entry)
    return _Found(tuple(resources), *_outcomes_and_identities(resources))


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


# --- Staging and EHR quirks (resolution logic, not fetching) ---------------------------

EXTRA_KEY_QUERY = "Bundle"
"""The query of the stand-in template made for a key no template has (never fetched)."""


def _extra_templates(
    templates: Sequence[PrefetchTemplate], extra_keys: Sequence[str], prefetch: Mapping[str, Any]
) -> list[PrefetchTemplate]:
    """Stand-in templates for the keys the client sent beyond this stage's templates.

    Only a Bundle or a single resource (not an OperationOutcome) is used; ``null`` is
    nothing. A key that a required template counts on (``covered_by``) is required in
    turn: its next pages failing fails the call, as the key it stands for would."""
    known = {t.key for t in templates}
    needed = {
        key for t in templates if t.required and t.key not in prefetch for key in t.covered_by
    }
    extras: list[PrefetchTemplate] = []
    for key in dict.fromkeys(extra_keys):
        if key in known or key not in prefetch or not key:
            continue
        value = prefetch[key]
        kind = _resource_type(value)
        if value is None:
            continue
        if kind is None or kind == "OperationOutcome":
            logger.info("prefetch key=%s not used: %s", key, _describe(value))
            continue
        extras.append(PrefetchTemplate(key, EXTRA_KEY_QUERY, required=key in needed))
    return extras


def unique_union(
    parts: Iterable[tuple[tuple[Any, ...], AbstractSet[Identity] | None]],
) -> tuple[tuple[Any, ...], set[Identity]]:
    """The parts' resources one after the other, each once (the first of those sharing a
    resource type and id), and a set holding the identities of what it keeps.

    Each part comes with a set holding the identities of its resources when they are
    known and none repeats (else None: it is de-duplicated here). Parts rarely share a
    resource, so a part whose identities are disjoint from those before it is taken
    whole: comparing two sets is done in C, while walking the resources again would cost
    a Python step each."""
    kept: list[tuple[Any, ...]] = []
    seen: set[Identity] = set()
    for resources, known in parts:
        part, identities = (resources, known) if known is not None else _unique(resources)
        if not seen.isdisjoint(identities):
            part = tuple(r for r in part if _identity(r) not in seen)
        seen.update(identities)
        kept.append(part)
    return tuple(chain.from_iterable(kept)), seen


def _identity(resource: Any) -> Identity | None:
    if type(resource) is dict:
        kind, ident = resource.get("resourceType"), resource.get("id")
        if type(kind) is str and type(ident) is str and kind and ident:
            return kind, ident
    return None


def _unique(resources: Iterable[Any]) -> tuple[tuple[Any, ...], set[Identity]]:
    """The first of the resources sharing an identity, and those identities."""
    seen: set[Identity] = set()
    add = seen.add
    kept: list[Any] = []
    keep = kept.append
    for resource in resources:
        if type(resource) is dict:
            kind, ident = resource.get("resourceType"), resource.get("id")
            if type(kind) is str and type(ident) is str and kind and ident:
                key = (kind, ident)
                if key in seen:
                    continue
                add(key)
        keep(resource)
    return tuple(kept), seen


def _outcomes_and_identities(
    resources: Iterable[Any],
) -> tuple[tuple[Any, ...], set[Identity] | None]:
    """The OperationOutcomes among ``resources``, and their identities (None when two share
    one), in one walk (``_identity`` inline)."""
    outcomes: list[Any] = []
    seen: set[Identity] = set()
    add = seen.add
    repeated = False
    for resource in resources:
        if type(resource) is not dict:
            continue
        kind, ident = resource.get("resourceType"), resource.get("id")
        if kind == "OperationOutcome":
            outcomes.append(resource)
        if type(kind) is str and type(ident) is str and kind and ident:
            key = (kind, ident)
            repeated = repeated or key in seen
            add(key)
    return tuple(outcomes), None if repeated else seen


_FAILED_SEVERITIES = frozenset({"error", "fatal"})


def _outcome_failed(resource: Any) -> bool:
    issues = resource.get("issue") if isinstance(resource, dict) else None
    if not isinstance(issues, list):
        return False
    return any(isinstance(i, dict) and i.get("severity") in _FAILED_SEVERITIES for i in issues)


def _any_failed(outcomes: Iterable[Any]) -> bool:
    """Whether one of a search's OperationOutcomes has an error or fatal issue."""
    return any(map(_outcome_failed, outcomes))


def _is_outcome(resource: Any) -> bool:
    return type(resource) is dict and resource.get("resourceType") == "OperationOutcome"


def _outcomes(resources: Iterable[Any]) -> tuple[Any, ...]:
    """The OperationOutcomes among ``resources``."""
    return tuple(r for r in resources if _is_outcome(r))


def _settle_search(template: PrefetchTemplate, outcome: _KeyOutcome) -> _KeyOutcome:
    """A search key's results without the server's remarks, filtered here on the
    parameters the server did not apply; a failed search fails the key."""
    if outcome.failure is not None or template.is_read:
        return outcome
    resources = outcome.resources
    outcomes = outcome.outcomes if outcome.outcomes is not None else _outcomes(resources)
    if _any_failed(outcomes):
        return _KeyOutcome(
            failure="the search was answered with an error OperationOutcome",
            source=outcome.source,
        )
    kept = tuple(r for r in resources if not _is_outcome(r)) if outcomes else resources
    if outcome.unapplied:
        kept = _filter_locally(template.key, kept, outcome.unapplied)
    if len(kept) == len(resources):
        return outcome
    return _KeyOutcome(kept, source=outcome.source)


_NOT_FILTERS = frozenset({"patient", "subject", "_count", "_sort", "_include", "_revinclude"})

LOCAL_FILTERS: Mapping[str, str] = {
    "category": "concept",
    "code": "concept",
    "intent": "code",
    "status": "code",
}
"""Search parameters this module can apply to results itself, and the kind of element
(a CodeableConcept or list of them, or a code) of the same name each one reads."""


def _query_parameters(url: str) -> list[tuple[str, str]]:
    query = urlsplit(url).query
    return [(name, value) for name, value in parse_qsl(query, keep_blank_values=True)]


def _unapplied_parameters(
    template: PrefetchTemplate,
    request: HookRequest | None,
    bundle: Mapping[str, Any],
    *,
    sent: str | None = None,
) -> tuple[tuple[str, str], ...]:
    """The template's filtering parameters that the Bundle's ``self`` link leaves out.

    No ``self`` link: the server is trusted. ``sent`` is the URL fetched; without it
    the template is rendered with the request's context."""
    if template.is_read or template.query == EXTRA_KEY_QUERY:
        return ()
    self_link = _self_link(bundle)
    if self_link is None:
        return ()
    if sent is None:
        if request is None:
            return ()
        try:
            sent = render_query(template.query, request.context)
        except PrefetchTokenError:
            return ()
    shown = {name.split(":", 1)[0] for name, _ in _query_parameters(self_link)}
    return tuple(
        (name, value)
        for name, value in _query_parameters(sent)
        if name not in _NOT_FILTERS and name.split(":", 1)[0] not in shown
    )


def _self_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "self":
            url = link.get("url")
            if isinstance(url, str) and url:
                return url
    return None


def _filter_locally(
    key: str, resources: tuple[Any, ...], unapplied: tuple[tuple[str, str], ...]
) -> tuple[Any, ...]:
    kept = resources
    for name, value in unapplied:
        kind = LOCAL_FILTERS.get(name)
        if kind is None:
            logger.info("prefetch key=%s: the server ignored %s; not checked here", key, name)
            continue
        wanted = [_token(item) for item in value.split(",") if item]
        kept = tuple(
            r for r in kept if not isinstance(r, dict) or _matches(r.get(name), kind, wanted)
        )
        logger.info("prefetch key=%s: the server ignored %s; filtered here", key, name)
    return kept


def answers_query(query: str, resource: Any) -> bool:
    """Whether ``resource`` is one a search ``query`` (relative, rendered or not) returns,
    judged on its type and on the parameters ``LOCAL_FILTERS`` can check (patient and
    other parameters are not checked). For building prefetch the way a client would."""
    kind = _resource_type(resource)
    path, _, _ = query.partition("?")
    if kind is None or path.strip("/").split("/", 1)[0] != kind:
        return False
    for name, value in _query_parameters(query):
        filter_kind = LOCAL_FILTERS.get(name)
        if filter_kind is None:
            continue
        wanted = [_token(item) for item in value.split(",") if item]
        if not _matches(resource.get(name), filter_kind, wanted):
            return False
    return True


def _token(text: str) -> tuple[str | None, str]:
    """A token search value: ``system|code``, ``|code`` (no system) or ``code``."""
    if "|" in text:
        system, _, code = text.partition("|")
        return system, code
    return None, text


def _matches(element: Any, kind: str, wanted: list[tuple[str | None, str]]) -> bool:
    if kind == "code":
        return isinstance(element, str) and any(code == element for _, code in wanted)
    concepts = element if isinstance(element, list) else [element]
    for concept in concepts:
        codings = concept.get("coding") if isinstance(concept, dict) else None
        for coding in codings if isinstance(codings, list) else ():
            if not isinstance(coding, dict):
                continue
            for system, code in wanted:
                if coding.get("code") == code and (
                    system is None or coding.get("system") == (system or None)
                ):
                    return True
    return False

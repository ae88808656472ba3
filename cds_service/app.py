"""The application factory and the HTTP endpoints.

A view parses, resolves data, and hands over to ``pipeline.run_hook``; every
error becomes a FHIR OperationOutcome through one handler. Long-lived parts
(the prefetch resolver with its pooled HTTP session, the feedback store) are
made once here, at start-up, never per request.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Callable
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from cds_service import errors, health, metrics, urls
from cds_service.auth import AuthenticationFailed, Authenticator, open_authenticator
from cds_service.catalog import OrderCatalog, load_order_catalog
from cds_service.discovery import ServiceRegistry
from cds_service.feedback_store import (
    FeedbackStore,
    FeedbackStoreUnavailable,
    open_feedback_store,
)
from cds_service.http import read_json_object, validate
from cds_service.pipeline import mapping_options, run_hook
from cds_service.prefetch import PrefetchResolver
from cds_service.replay_store import ReplayStoreUnavailable
from cds_service.scope import resolve_staged
from cds_service.settings import Settings
from cds_service.smart import views as smart
from cds_service.wire import CONTEXT_MODEL, FeedbackRequest, HookRequest, check_feedback_body

logger = logging.getLogger(__name__)
access_log = logging.getLogger("cds_service.access")

EXTENSION_KEY = "cds_service"

api = Blueprint("cds", __name__)


class Components:
    """What the views share for the life of the process."""

    def __init__(
        self,
        settings: Settings,
        *,
        today: Callable[[], date],
        resolver: PrefetchResolver,
        store: FeedbackStore,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.settings = settings
        self.today = today
        self.registry = ServiceRegistry()
        self.services = self.registry.by_id()
        self.discovery = self.registry.discovery_document()
        self.resolver = resolver
        self.store = store
        self.catalog = (
            load_order_catalog(settings.order_catalog) if settings.order_catalog else OrderCatalog()
        )
        """The site order catalog, validated here: an invalid file stops the start-up."""
        self.mapping_options = mapping_options(settings.clinical, self.catalog)
        """The mapping's options, with the catalog's drug codes: built once, here."""
        self.authenticator = authenticator
        """None when authentication is off (see ``auth.open_authenticator``)."""


def create_app(settings: Settings, *, today: Callable[[], date] = date.today) -> Flask:
    """Build the Flask app. ``today`` is injectable so that tests can fix the date."""
    app = Flask(__name__)
    # One byte over the limit: Werkzeug ends a body without Content-Length (chunked)
    # silently at MAX_CONTENT_LENGTH, so read_json_object must be able to see one more
    # byte to answer 413 rather than parse a truncated body.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION_KEY] = Components(
        settings,
        today=today,
        authenticator=open_authenticator(settings),  # first: refuses start-up without issuers
        resolver=PrefetchResolver(settings),
        store=open_feedback_store(settings.feedback_database_url, settings.stores),
    )
    if (
        not settings.auth.disabled
        and not settings.authentication_required
        and not (settings.fhir_servers)
    ):  # development without issuers (CDS_AUTH_DISABLED says it in its own notice)
        logger.warning(
            "Authentication is off and CDS_FHIR_SERVERS is empty: hook calls may name any "
            "fhirServer, and the service will fetch from it (set CDS_FHIR_SERVERS to limit it)"
        )
    app.register_blueprint(api)
    smart.register(
        app, settings, today=today, options=app.extensions[EXTENSION_KEY].mapping_options
    )
    app.register_error_handler(errors.ServiceError, _service_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.before_request(_start_timer)
    app.before_request(_authenticate)
    app.after_request(_cors)
    return app


def components() -> Components:
    found: Components = current_app.extensions[EXTENSION_KEY]
    return found


# --- Endpoints -----------------------------------------------------------------------


@api.get("/cds-services", strict_slashes=False)
def discovery() -> Response:
    """Discovery (cds-hooks_2.0@4-@13); ``/cds-services/`` answers the same, not a redirect
    (clients that append a slash to the discovery URL)."""
    return jsonify(components().discovery)


@api.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    parts = components()
    hooks = parts.services.get(service_id)
    if hooks is None:
        raise errors.NotFound(f"No CDS service with id {service_id!r}")
    body = read_json_object(request, max_bytes=parts.settings.max_body_bytes)
    hook_request = validate(HookRequest, body)
    g.hook_instance = hook_request.hookInstance
    service = next((s for h, s in hooks.items() if h.value == hook_request.hook), None)
    if service is None:
        served = ", ".join(sorted(h.value for h in hooks))
        raise errors.BadRequest(
            f"Service {service_id!r} serves {served}, not this hook", expression=("hook",)
        )
    hook = service.hook
    g.hook = hook.value
    context = validate(CONTEXT_MODEL[hook], hook_request.context, prefix="context")
    if hook_request.fhirServer is not None:
        _check_fhir_server(parts, hook_request.fhirServer)
    staged = resolve_staged(
        parts.resolver,
        hook_request,
        service,
        draft_orders=getattr(context, "draftOrders", None),
        selections=getattr(context, "selections", None),
        options=parts.mapping_options,
        deadline_s=parts.settings.fhir_deadline_s,
        today=parts.today(),
        medication_reads=parts.settings.fhir_max_medication_reads,
    )
    data = staged.data
    if not staged.in_scope:
        g.log = {
            "hook": hook.value,
            "scope": "out",
            "cards": 0,
            "fetches": data.stats.fetches,
            "fetchMs": round(data.stats.wall_seconds * 1000, 2),
        }
        return jsonify({"cards": []})
    result = run_hook(
        hook,
        hook_request.hookInstance,
        context,
        data,
        settings=parts.settings,
        today=parts.today(),
        catalog=parts.catalog,
        options=parts.mapping_options,
        validated=staged.validated,
    )
    for card in result.response["cards"]:
        topic = card.get("source", {}).get("topic", {})
        metrics.card_sent(str(topic.get("code", "unknown")), str(card.get("indicator")))
    if result.issued:
        parts.store.remember_cards(service_id, result.issued)
    g.log = {
        "hook": hook.value,
        "scope": "in",
        "rules": [rule for _, rule in result.issued],
        "cards": len(result.issued),
        "droppedCards": result.dropped,
        "dataIssues": result.data_issues,
        "fetches": data.stats.fetches,
        "fetchMs": round(data.stats.wall_seconds * 1000, 2),
        "fetchSumMs": round(data.stats.fetch_seconds_total * 1000, 2),
        "mapMs": round(result.map_ms, 2),
        "rulesMs": round(result.rules_ms, 2),
    }
    return jsonify(result.response)


@api.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> tuple[Response, int]:
    """Feedback (cds-hooks_2.0@148): stored idempotently, never with patient data."""
    parts = components()
    if service_id not in parts.services:
        raise errors.NotFound(f"No CDS service with id {service_id!r}")
    body = read_json_object(request, max_bytes=parts.settings.max_body_bytes)
    check_feedback_body(
        body,
        max_items=parts.settings.feedback_max_items,
        max_text_chars=parts.settings.feedback_max_text_chars,
    )
    items = validate(FeedbackRequest, body).feedback
    for index, item in enumerate(items):
        if item.outcome == "accepted" and not item.acceptedSuggestions:
            raise errors.BadRequest(
                "acceptedSuggestions is required when the outcome is accepted",
                expression=(f"feedback[{index}].acceptedSuggestions",),
            )
    stored = parts.store.record(service_id, items)
    g.log = {"feedbackItems": len(items), "stored": stored}
    return jsonify({"stored": stored, "received": len(items)}), 200


@api.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Liveness: the process answers. Stores are /readyz's business."""
    return jsonify({"status": "ok"}), 200


@api.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Readiness: the replay store answers (503 OperationOutcome when it does not); the
    feedback store's state is reported."""
    parts = components()
    feedback = health.feedback_store_state(parts.store)
    if parts.authenticator is None:
        replay = "not used"
    else:
        replay = "up" if health.replay_store_answers(parts.authenticator.replay_store) else "down"
    g.log = {"replayStore": replay, "feedbackStore": feedback}
    if replay == "down":
        metrics.store_failed("replay")
        raise errors.ServiceUnavailable(
            f"Not ready: the replay store does not answer (feedback store {feedback})"
        )
    return jsonify({"status": "ready", "replayStore": replay, "feedbackStore": feedback}), 200


@api.get("/metrics")
def prometheus_metrics() -> Response:
    """Prometheus exposition. Open with ``Authorization: Bearer {CDS_METRICS_TOKEN}`` when
    that is set; otherwise only to direct loopback callers (no proxy headers)."""
    settings = components().settings
    if settings.metrics_token is not None:
        _scheme, _, given = (request.headers.get("Authorization") or "").partition(" ")
        if not hmac.compare_digest(given.strip().encode(), settings.metrics_token.encode()):
            raise errors.Unauthorized("metrics: wrong or missing bearer token")
    elif not _direct_loopback_caller():
        raise errors.Forbidden("/metrics answers loopback callers only (or set CDS_METRICS_TOKEN)")
    return Response(metrics.render(), mimetype=None, content_type=metrics.CONTENT_TYPE_LATEST)


_PROXY_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded", "X-Forwarded-Host")


def _direct_loopback_caller() -> bool:
    """The peer is this machine and no proxy says it forwards someone else's request."""
    if any(name in request.headers for name in _PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def _check_fhir_server(parts: Components, fhir_server: str) -> None:
    """412 unless ``fhirServer`` is a base the caller may name (no server-side request
    forgery): the authenticated issuer's ``fhir_servers``; with authentication off,
    CDS_FHIR_SERVERS when set (any base when it is not)."""
    caller = g.get("caller")
    caller_iss = caller.iss if caller is not None else None
    if parts.authenticator is not None:
        allowed = parts.authenticator.fhir_servers(caller_iss) if caller_iss else ()
    elif parts.settings.fhir_servers:
        allowed = parts.settings.fhir_servers
    else:
        return
    if urls.base_allowed(fhir_server, allowed):
        return
    metrics.fhir_server_refused()
    logger.warning(
        "fhirServer refused: not a base this client may name",
        extra={"fields": {"fhirServer": urls.redacted(fhir_server), "iss": caller_iss}},
    )
    raise errors.PreconditionFailed(
        "fhirServer is not a FHIR server this CDS client may name", expression=("fhirServer",)
    )


@api.get("/openapi.json")
def openapi() -> Response:
    """This service's OpenAPI 3.1 description: the package's ``openapi.json``, as is."""
    return Response(_openapi_document(), mimetype="application/json")


@cache
def _openapi_document() -> bytes:
    return resources.files("cds_service").joinpath("openapi.json").read_bytes()


# --- Errors, CORS, access log -----------------------------------------------------------


def _outcome_response(error: errors.ServiceError) -> Response:
    response = jsonify(error.to_operation_outcome())
    response.status_code = error.status
    response.mimetype = "application/fhir+json"
    return response


def _service_error(error: errors.ServiceError) -> Response:
    g.error = error.diagnostics
    if isinstance(error, ReplayStoreUnavailable):
        metrics.store_failed("replay")
    elif isinstance(error, FeedbackStoreUnavailable):
        metrics.store_failed("feedback")
    if isinstance(error, errors.Unauthorized):  # bare: the reason stays in the log
        response = _outcome_response(errors.Unauthorized("Authentication failed"))
        response.headers["WWW-Authenticate"] = "Bearer"  # RFC 6750: the scheme expected
        return response
    return _outcome_response(error)


_HTTP_ERRORS: dict[int, type[errors.ServiceError]] = {
    400: errors.BadRequest,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    413: errors.PayloadTooLarge,
    415: errors.UnsupportedMediaType,
}


def _http_error(error: HTTPException) -> Response:
    """Werkzeug's own errors (routing, method, body size) as OperationOutcomes."""
    status = error.code or 500
    kind = _HTTP_ERRORS.get(status, errors.ServiceError)
    response = _outcome_response(kind(error.description or error.name))
    response.status_code = status
    allow = dict(error.get_headers()).get("Allow")
    if allow:
        response.headers["Allow"] = allow
    return response


def _unexpected_error(error: Exception) -> Response:
    logger.exception("unexpected error", exc_info=error)
    failure = errors.ServiceError("Internal error; the request was not processed")
    return _outcome_response(failure)


def _start_timer() -> None:
    g.started = time.perf_counter()


OPEN_ENDPOINTS = (
    frozenset({"cds.healthz", "cds.readyz", "cds.prometheus_metrics"}) | smart.OPEN_ENDPOINTS
)
"""Served without a CDS client's JWT, as are CORS preflight (OPTIONS) requests; /metrics
has its own protection (CDS_METRICS_TOKEN or loopback only), the SMART app's patient model
its own (``cds_service.smart``)."""


def _authenticate() -> None:
    """Every other call carries a valid JWT whose ``aud`` is the URL called (cds-hooks.md)."""
    parts = components()
    if parts.authenticator is None or request.method == "OPTIONS":
        return
    if request.endpoint in OPEN_ENDPOINTS:
        return
    if request.endpoint is None and request.path.startswith(smart.PREFIX):
        # No route under /smart/ (an encoded slash): the app's files are open, so this is
        # their 404, not a 401 (nor werkzeug's redirect to the merged slashes).
        raise errors.NotFound("No such file of the SMART app")
    try:
        caller = parts.authenticator.authenticate(
            request.headers.get("Authorization"), parts.settings.audience_base_url + request.path
        )
    except AuthenticationFailed as failure:
        g.auth = failure.identity
        metrics.auth_failed(failure.diagnostics)
        raise
    g.auth = caller.identity
    g.caller = caller


def _cors(response: Response) -> Response:
    origin = request.headers.get("Origin")
    allowed = components().settings.cors_origins
    if origin and ("*" in allowed or origin in allowed):
        response.headers["Access-Control-Allow-Origin"] = "*" if "*" in allowed else origin
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Max-Age"] = "600"
        response.vary.add("Origin")
    _log_request(response)
    return response


def _log_request(response: Response) -> None:
    # The request and g read once each (every read through Flask's proxies is a lookup).
    called, state = request._get_current_object(), g._get_current_object()  # type: ignore[attr-defined]
    seen = state.__dict__
    now = time.perf_counter()
    endpoint = called.url_rule.rule if called.url_rule else None
    service = (called.view_args or {}).get("service_id")
    status = response.status_code
    seconds = now - seen.get("started", now)
    metrics.observe_request(
        endpoint=endpoint,
        service=service if service in components().services else None,
        hook=seen.get("hook"),
        status=status,
        seconds=seconds,
    )
    record: dict[str, Any] = {
        "method": called.method,
        "endpoint": endpoint,
        "service": service,
        "hookInstance": seen.get("hook_instance"),
        "status": status,
        "ms": round(seconds * 1000, 2),
    }
    record.update(seen.get("auth", {}))
    record.update(seen.get("log", {}))
    if "error" in seen:
        record["error"] = seen["error"]
    access_log.info("request", extra={"fields": record})

"""The application factory and the HTTP endpoints.

A view parses, resolves data, and hands over to ``pipeline.run_hook``; every
error becomes a FHIR OperationOutcome through one handler. Long-lived parts
(the prefetch resolver with its pooled HTTP session, the feedback store) are
made once here, at start-up, never per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from cds_service import errors
from cds_service.auth import AuthenticationFailed, Authenticator, open_authenticator
from cds_service.catalog import OrderCatalog, load_order_catalog
from cds_service.discovery import ServiceRegistry
from cds_service.feedback_store import FeedbackStore, open_feedback_store
from cds_service.http import read_json_object, validate
from cds_service.pipeline import mapping_options, run_hook
from cds_service.prefetch import PrefetchResolver
from cds_service.scope import resolve_staged
from cds_service.settings import Settings
from cds_service.wire import CONTEXT_MODEL, FeedbackRequest, HookRequest

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
    app.register_blueprint(api)
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
    context = validate(CONTEXT_MODEL[hook], hook_request.context, prefix="context")
    staged = resolve_staged(
        parts.resolver,
        hook_request,
        service,
        draft_orders=getattr(context, "draftOrders", None),
        selections=getattr(context, "selections", None),
        options=parts.mapping_options,
        deadline_s=parts.settings.fhir_deadline_s,
        today=parts.today(),
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
    )
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
    """Liveness and the feedback store; a failing store is a 503 OperationOutcome."""
    if not components().store.ping():
        raise errors.ServiceUnavailable("The feedback store does not answer")
    return jsonify({"status": "ok", "feedbackStore": True}), 200


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


OPEN_ENDPOINTS = frozenset({"cds.healthz"})
"""Served without authentication, as are CORS preflight (OPTIONS) requests."""


def _authenticate() -> None:
    """Every other call carries a valid JWT whose ``aud`` is the URL called (cds-hooks.md)."""
    parts = components()
    if parts.authenticator is None or request.method == "OPTIONS":
        return
    if request.endpoint in OPEN_ENDPOINTS:
        return
    base = parts.settings.public_base_url or request.url_root
    try:
        caller = parts.authenticator.authenticate(
            request.headers.get("Authorization"), base.rstrip("/") + request.path
        )
    except AuthenticationFailed as failure:
        g.auth = failure.identity
        raise
    g.auth = caller.identity


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
    record: dict[str, Any] = {
        "method": request.method,
        "endpoint": request.url_rule.rule if request.url_rule else None,
        "service": (request.view_args or {}).get("service_id"),
        "hookInstance": g.get("hook_instance"),
        "status": response.status_code,
        "ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2),
    }
    record.update(g.get("auth", {}))
    record.update(g.get("log", {}))
    if "error" in g:
        record["error"] = g.error
    access_log.info("request", extra={"fields": record})

"""``/smart/``: the SMART app's files and ``POST /smart/patient-model``.

Files come from ``cds_service/static/smart/`` (the app's build output, package data),
only regular files inside it (``safe_join``: no ``..``, no absolute path) and no dotfile,
read whole (they are small) with a fixed media type per suffix; an unbuilt app answers
404 saying so. Every answer under ``/smart/`` carries the
Content-Security-Policy of ``content_security_policy``, ``nosniff`` and no referrer.

The patient model: the body is a FHIR Bundle (``collection`` or ``searchset``) of one
patient's resources, read like a hook call's body (``http.read_json_object``: content
type, size limit, UTF-8, JSON without NaN, nesting); the answer is what
``fhir_mappings.explain.explain`` makes of it with the site's mapping options, plus
``as_of``. A Bundle with resources of another patient than the launch's is refused (422):
a picture of two records mixed must never be drawn. Malformed resources are data issues
in the answer. Nothing is stored; ``Cache-Control: no-store``; the log line has counts
only. In the production profile the caller is checked first (``tokens.TokenChecker``); in
the development profile (``make run``, ``make demo``) the endpoint is open.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.routing import PathConverter
from werkzeug.security import safe_join

from cds_service import errors
from cds_service.http import read_json_object
from cds_service.settings import Settings
from cds_service.smart.tokens import FHIR_ID, TokenChecker
from fhir_mappings.build import MappingOptions
from fhir_mappings.explain import explain
from fhir_mappings.patient_scope import FOREIGN_PATIENT_REASON

__all__ = ["OPEN_ENDPOINTS", "STATIC_DIR", "SmartParts", "content_security_policy", "register"]

EXTENSION_KEY = "cds_service.smart"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "smart"
"""Where the app's build output lives (``make smart-app`` builds it)."""

BUNDLE_TYPES = frozenset({"collection", "searchset"})

MEDIA_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain",
}
"""Fixed, not the platform's guess: with ``nosniff`` a script must come as JavaScript."""

OPEN_ENDPOINTS = frozenset({"smart.app_file", "smart.app_index", "smart.patient_model"})
"""Not behind the CDS clients' JWT (a browser app has none): the files are public, and
the patient model has its own check (SMART access token, production profile)."""

PREFIX = "/smart/"
smart = Blueprint("smart", __name__, url_prefix=PREFIX.rstrip("/"))


class SmartParts:
    """What the SMART views share for the life of the process."""

    def __init__(
        self,
        settings: Settings,
        *,
        today: Callable[[], date],
        options: MappingOptions,
        static_dir: Path = STATIC_DIR,
    ) -> None:
        self.settings = settings
        self.today = today
        self.options = options
        self.static_dir = static_dir
        self.checker = None if settings.is_development else TokenChecker(settings)
        """None: the development profile, where the endpoint is open."""
        self.csp = content_security_policy(settings)


class AppFileConverter(PathConverter):
    """A path under ``/smart/``, but not ``patient-model`` (which is POST only: a GET of it
    is 405 with ``Allow: POST``, not a missing file)."""

    regex = r"(?!patient-model$)[^/].*?"


def register(
    app: Flask, settings: Settings, *, today: Callable[[], date], options: MappingOptions
) -> None:
    app.extensions[EXTENSION_KEY] = SmartParts(settings, today=today, options=options)
    app.url_map.converters["smart_app_file"] = AppFileConverter
    app.register_blueprint(smart)


def _parts() -> SmartParts:
    found: SmartParts = current_app.extensions[EXTENSION_KEY]
    return found


def content_security_policy(settings: Settings) -> str:
    """No inline script or style, no eval, nothing from elsewhere; fetches to this service,
    the allowlisted FHIR servers and ``CDS_SMART_CONNECT_SRC``; framed by this service and
    ``CDS_SMART_FRAME_ANCESTORS``. Development adds any loopback port to ``connect-src``
    (the demo's FHIR server)."""
    connect = ["'self'", *(_origin(base) for base in settings.smart.issuers)]
    connect += settings.smart.connect_src
    if settings.is_development:
        connect += ["http://127.0.0.1:*", "http://localhost:*"]
    frame = ["'self'", *settings.smart.frame_ancestors]
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {' '.join(dict.fromkeys(connect))}",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {' '.join(dict.fromkeys(frame))}",
        )
    )


def _origin(base: str) -> str:
    parts = urlsplit(base)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


@smart.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = _parts().csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint == "smart.patient_model":
        response.headers["Cache-Control"] = "no-store"
    return response


# --- Files ---------------------------------------------------------------------------------


@smart.get("/")
def app_index() -> Response:
    return _file("index.html")


@smart.get("/<smart_app_file:filename>")
def app_file(filename: str) -> Response:
    return _file(filename)


def _file(filename: str) -> Response:
    directory = _parts().static_dir
    if not (directory / "index.html").is_file():
        raise errors.NotFound(
            "The SMART app is not built: its files are missing from cds_service/static/smart "
            "(make smart-app builds them)"
        )
    path = safe_join(str(directory), filename)
    if (
        path is None
        or any(part.startswith(".") for part in re.split(r"[/\\]", filename))
        or not os.path.isfile(path)
    ):
        raise errors.NotFound("No such file of the SMART app")
    suffix = os.path.splitext(path)[1].lower()
    content = Path(path).read_bytes()  # small files; no file handle outlives the request
    response = Response(content, mimetype=MEDIA_TYPES.get(suffix, "application/octet-stream"))
    response.headers["Cache-Control"] = "no-cache"  # revalidate: a new build shows at once
    response.add_etag()
    response.make_conditional(request)  # 304 for a matching If-None-Match, in place
    return response


# --- The patient model ---------------------------------------------------------------------

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
AS_OF_RANGE = (date(1900, 1, 1), date(2999, 12, 31))
"""Evaluation dates accepted: the mapping subtracts and adds windows of days to it."""


@smart.post("/patient-model")
def patient_model() -> Response:
    parts = _parts()
    patient_header = request.headers.get("X-SMART-Patient")
    if parts.checker is not None:
        caller = parts.checker.check(
            request.headers.get("Authorization"), request.headers.get("X-SMART-Iss"), patient_header
        )
        patient_header = caller.patient_id
    as_of = _as_of(request.args.getlist("as_of"), parts.today)
    bundle = _bundle(read_json_object(request, max_bytes=parts.settings.max_body_bytes))
    patient_id = _patient_id(patient_header, bundle)
    result = explain([bundle], as_of, options=parts.options, patient_id=patient_id)
    if any(issue.get("reason") == FOREIGN_PATIENT_REASON for issue in result["data_issues"]):
        raise errors.UnprocessableEntity(
            "The Bundle holds resources of another patient than the launch's: refused, "
            "so that no picture mixes two records"
        )
    result["as_of"] = as_of.isoformat()
    g.log = {
        "resources": sum(result["resources_received"].values()),
        "dataIssues": len(result["data_issues"]),
    }
    return jsonify(result)


def _as_of(given: list[str], today: Callable[[], date]) -> date:
    if not given:
        return today()
    if len(given) > 1 or not _DATE.fullmatch(given[0]):
        raise errors.BadRequest("as_of must be one date, YYYY-MM-DD", expression=("as_of",))
    try:
        as_of = date.fromisoformat(given[0])
    except ValueError:
        raise errors.BadRequest("as_of is not a calendar date", expression=("as_of",)) from None
    if not AS_OF_RANGE[0] <= as_of <= AS_OF_RANGE[1]:
        raise errors.BadRequest(
            "as_of must be between 1900-01-01 and 2999-12-31", expression=("as_of",)
        )
    return as_of


def _bundle(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("resourceType") != "Bundle":
        raise errors.BadRequest(
            "Request body must be a FHIR Bundle of the patient's resources",
            expression=("resourceType",),
        )
    kind = body.get("type")
    if not isinstance(kind, str) or kind not in BUNDLE_TYPES:
        raise errors.BadRequest(
            "Bundle.type must be collection or searchset", expression=("Bundle.type",)
        )
    if "entry" in body and not isinstance(body["entry"], list):
        raise errors.BadRequest("Bundle.entry must be an array", expression=("Bundle.entry",))
    return body


def _patient_id(header: str | None, bundle: dict[str, Any]) -> str:
    """The launch's patient: checked (production), named (``X-SMART-Patient``), or the
    Bundle's Patient resource; without any of them mixed records could not be told apart."""
    if header is not None:
        if not FHIR_ID.fullmatch(header):
            raise errors.BadRequest(
                "X-SMART-Patient must be a FHIR id", expression=("X-SMART-Patient",)
            )
        return header
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
            patient_id = resource.get("id")
            if isinstance(patient_id, str) and FHIR_ID.fullmatch(patient_id):
                return patient_id
    raise errors.UnprocessableEntity(
        "The Bundle has no Patient resource with a valid id and X-SMART-Patient is not set: "
        "the patient the resources must be about is unknown"
    )

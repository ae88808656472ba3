"""The service's OpenAPI 3.1 description, generated: ``python -m cds_service.openapi``.

The packaged ``cds_service/openapi.json`` is what ``GET /openapi.json`` serves byte for
byte and what the hostile-input tests generate requests from. It is written by this
module, never by hand: ``python -m cds_service.openapi`` rewrites it, and
``tests/test_openapi.py`` fails when the stored file differs from what this module
generates (so a change to a wire model, a route or a prefetch template that is not
regenerated is caught, and the diff shows in review).

What comes from where:

- the response (``HookResponse``, its cards, suggestions, actions, links, sources,
  override reasons and the data-quality extension): the wire models of
  ``cds_service.wire``, through pydantic's ``model_json_schema`` machinery, as sent
  (``None`` is never sent, so no schema allows ``null``);
- the service ids, their hooks and the prefetch keys with their templates:
  ``cds_service.discovery``; the nesting limit: ``cds_service.http``;
- the rest (paths, status codes and what they mean, request and feedback schemas,
  examples): stated once below. Request schemas are not generated from the lenient
  request models: they say what a client may send, including the ``null`` and unknown
  fields that the service tolerates.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from cds_service.discovery import ALL_DATA, SCOPE_DATA, SERVICES, WHOLE_RECORD_OBSERVATIONS
from cds_service.http import MAX_DEPTH
from cds_service.prefetch import PrefetchTemplate
from cds_service.wire import FHIR_RESOURCE_SCHEMA, HookResponse

Json = dict[str, Any]

PATH = Path(__file__).parent / "openapi.json"
REF = "#/components/schemas/{model}"


def ref(name: str) -> Json:
    return {"$ref": REF.format(model=name)}


def nullable(schema: Json) -> Json:
    return {"oneOf": [schema, {"type": "null"}]}


TEXT: Json = {"type": "string", "minLength": 1}
STORED_TEXT_CHARS = 2000
"""CDS_FEEDBACK_MAX_TEXT_CHARS by default (``cds_service.settings``)."""
FEEDBACK_ITEMS = 100
"""CDS_FEEDBACK_MAX_ITEMS by default (``cds_service.settings``)."""
STORED_TEXT: Json = {
    "type": "string",
    "maxLength": STORED_TEXT_CHARS,
    "pattern": "^[^\\u0000\\ud800-\\udfff]*$",
}

# --- Responses ---------------------------------------------------------------------------


def problem(description: str) -> Json:
    """A non-2xx answer: a FHIR R4 OperationOutcome."""
    return {
        "description": description,
        "content": {"application/fhir+json": {"schema": ref("OperationOutcome")}},
    }


def ok(description: str, schema: Json, media_type: str = "application/json") -> Json:
    return {"description": description, "content": {media_type: {"schema": schema}}}


UNAUTHENTICATED = problem(
    "Authentication is on and the request carries no valid JWT (no reason given)"
)
NO_SUCH_SERVICE = problem("No CDS service with this id")
TOO_LARGE = problem("The body is larger than the configured limit")
NOT_JSON = problem("The content type is not JSON")

HOOK_RESPONSES: Json = {
    "200": ok(
        "Cards (maybe none) and, when some data could not be read, the data-quality extension",
        ref("HookResponse"),
    ),
    "400": problem(
        "Malformed request: not JSON, not UTF-8, not an object, nested too deeply, or a "
        "missing or mistyped field"
    ),
    "401": UNAUTHENTICATED,
    "412": problem(
        "Required data could not be had: no usable prefetch for a required key and no usable "
        "fhirServer, or the FHIR server failed; or fhirServer is not a FHIR server the calling "
        "client may name"
    ),
    "413": TOO_LARGE,
    "415": NOT_JSON,
}


def json_body(schema: Json, examples: Json | None = None) -> Json:
    """A request body: the same schema (and examples) as JSON and as FHIR JSON."""
    media: Json = {"schema": schema}
    if examples is not None:
        media["examples"] = examples
    return {
        "required": True,
        "content": {"application/json": media, "application/fhir+json": media},
    }


# --- Hook calls --------------------------------------------------------------------------

SCOPE_FIRST = (
    "The patient and the conditions (the discovery prefetch) decide scope first: a patient "
    "without NSCLC recorded (and without an anticancer draft order or an ILD/pneumonitis "
    'condition) is answered `{"cards": []}` without reading anything else. In scope, the '
    "rest of the record is taken from the keys the client sent, and fetched from `fhirServer` "
    "otherwise. Prefetch keys that are absent, or whose value is not a usable FHIR resource, "
    "are fetched from `fhirServer`; when a required key cannot be had the answer is 412."
)

DISCOVERY_PREFETCH: Json = {
    "patient": {"resourceType": "Patient", "id": "1288992"},
    "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": []},
}
DRAFT_TDXD: Json = {
    "resourceType": "MedicationRequest",
    "id": "draft-1",
    "status": "draft",
    "intent": "proposal",
    "subject": {"reference": "Patient/1288992"},
    "medicationCodeableConcept": {"text": "trastuzumab deruxtecan"},
}


def _drafts(*resources: Json) -> Json:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


HOOK_CALLS: dict[str, Json] = {
    "patient-view": {
        "operationId": "patientView",
        "summary": "patient-view: where the patient is in the HER2 NSCLC treatment sequence",
        "request": "PatientViewRequest",
        "description": "A patient-view call (CDS Hooks 2.0, HTTP Request).",
        "context": "PatientViewContext",
        "example": {
            "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {"userId": "Practitioner/abc", "patientId": "1288992", "encounterId": "456"},
        },
    },
    "order-select": {
        "operationId": "orderSelect",
        "summary": "order-select: checks on the selected anticancer orders",
        "request": "OrderSelectRequest",
        "description": "An order-select call.",
        "context": "OrderSelectContext",
        "example": {
            "hookInstance": "0e6fb3c6-5c1b-4f3e-9a43-3c1d4e8b2a10",
            "context": {
                "userId": "Practitioner/abc",
                "patientId": "1288992",
                "draftOrders": _drafts(DRAFT_TDXD),
                "selections": ["MedicationRequest/draft-1"],
            },
        },
    },
    "order-sign": {
        "operationId": "orderSign",
        "summary": "order-sign: checks before signing anticancer orders",
        "request": "OrderSignRequest",
        "description": "An order-sign call.",
        "context": "OrderSignContext",
        "example": {
            "hookInstance": "0e6fb3c6-5c1b-4f3e-9a43-3c1d4e8b2a10",
            "context": {
                "userId": "Practitioner/abc",
                "patientId": "1288992",
                "draftOrders": _drafts(),
            },
        },
    },
}
"""Per hook: the operation, its request schema and its example (with the discovery
prefetch answered)."""


def hook_operation(hook: str) -> Json:
    call = HOOK_CALLS[hook]
    example = {"hook": hook, **call["example"], "prefetch": DISCOVERY_PREFETCH}
    return {
        "tags": ["cds-hooks"],
        "operationId": call["operationId"],
        "summary": call["summary"],
        "description": SCOPE_FIRST,
        "requestBody": json_body(
            ref(call["request"]),
            {
                call["operationId"]: {
                    "summary": f"{hook} with the discovery prefetch (patient, conditions) answered",
                    "value": example,
                }
            },
        ),
        "responses": HOOK_RESPONSES,
    }


def hook_request(hook: str) -> Json:
    call = HOOK_CALLS[hook]
    return {
        "description": call["description"],
        "type": "object",
        "required": ["hook", "hookInstance", "context"],
        "properties": {
            "hook": {"const": hook},
            "hookInstance": {
                **TEXT,
                "description": "A UUID for this hook call (not checked to be one).",
            },
            "fhirServer": {
                "type": ["string", "null"],
                "minLength": 1,
                "description": "Base URL of the CDS client's FHIR server; used to fetch "
                "prefetch keys the client did not (or could not) send. Only http(s) URLs are "
                "ever fetched.",
            },
            "fhirAuthorization": nullable(ref("FhirAuthorization")),
            "context": ref(call["context"]),
            "prefetch": nullable(ref("Prefetch")),
        },
    }


def contexts() -> Json:
    patient: Json = {
        "userId": {**TEXT, "description": "e.g. Practitioner/123"},
        "patientId": TEXT,
        "encounterId": {"type": ["string", "null"], "minLength": 1},
    }
    drafts: Json = {
        "type": "object",
        "description": "A FHIR Bundle of draft orders; read tolerantly (unreadable orders "
        "become data issues).",
    }
    plain = {**patient, "userId": TEXT}
    return {
        "PatientViewContext": {
            "type": "object",
            "required": ["userId", "patientId"],
            "properties": patient,
        },
        "OrderSignContext": {
            "type": "object",
            "required": ["userId", "patientId", "draftOrders"],
            "properties": {**plain, "draftOrders": drafts},
        },
        "OrderSelectContext": {
            "type": "object",
            "required": ["userId", "patientId", "draftOrders", "selections"],
            "properties": {
                **plain,
                "draftOrders": drafts,
                "selections": {
                    "type": "array",
                    "items": TEXT,
                    "description": "References (Type/id) into draftOrders",
                },
            },
        },
    }


def _prefetch_key(template: PrefetchTemplate) -> Json:
    if template in SCOPE_DATA:
        return {
            "description": f"{template.query} (discovery prefetch; required)",
            "oneOf": [ref("FhirResource"), {"type": "null"}],
        }
    need = (
        "required"
        if template.required
        else "optional: when it cannot be had, listed as unavailable"
    )
    return {
        "description": f"{template.query} (not advertised: read only for a patient in scope, "
        f"sent by the client or fetched; {need}; not read at all for a patient out of scope, "
        "so any value is accepted then)"
    }


def prefetch() -> Json:
    keys = {t.key: _prefetch_key(t) for t in ALL_DATA}
    for key in WHOLE_RECORD_OBSERVATIONS:
        keys[key] = {
            "description": "Observation?patient={{context.patientId}}: the former whole-record "
            "key, not advertised; when sent, it answers every Observation key; not read at all "
            "for a patient out of scope, so any value is accepted then)"
        }
    return {
        "description": "Prefetched data by key (the templates are in discovery). Per key: "
        "absent -> fetched from fhirServer; `null` -> no data; a Bundle -> its entries (next "
        "pages followed on fhirServer); another FHIR resource -> used as is; an "
        "OperationOutcome or any other value -> fetched from fhirServer. A required key that "
        "cannot be had is a 412; an optional one (procedures, diagnosticReports) is listed as "
        "unavailable in the data-quality extension. Resources that cannot be read (not an "
        "object, no resourceType, failing FHIR R4 validation) never fail the call: they are "
        "listed as data issues.",
        "type": "object",
        "properties": keys,
    }


# --- The response, from the wire models ---------------------------------------------------


class _AsSent(GenerateJsonSchema):
    """JSON Schema of what is sent: ``exclude_none`` serialisation never sends ``null`` or
    a default."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def handle_ref_overrides(self, json_schema: JsonSchemaValue) -> JsonSchemaValue:
        if json_schema.get("$ref") == FHIR_RESOURCE_SCHEMA:  # a component of this module
            return json_schema
        return super().handle_ref_overrides(json_schema)


def _untitled(value: Any) -> Any:
    """Without titles (they repeat the component names), descriptions (docstrings) on one
    line."""
    if isinstance(value, dict):
        return {
            k: " ".join(v.split()) if k == "description" and isinstance(v, str) else _untitled(v)
            for k, v in value.items()
            if not (k == "title" and isinstance(v, str))
        }
    if isinstance(value, list):
        return [_untitled(v) for v in value]
    return value


def response_schemas() -> Json:
    """The hook response and everything in it, as components (``$ref`` by model name)."""
    _, generated = models_json_schema(
        [(HookResponse, "serialization")], ref_template=REF, schema_generator=_AsSent
    )
    defs: Json = _untitled(generated["$defs"])
    return defs


# --- Feedback ------------------------------------------------------------------------------

CODING_PART: Json = {
    "anyOf": [STORED_TEXT, {"type": ["object", "array", "number", "boolean", "null"]}]
}


def feedback_schemas() -> Json:
    return {
        "FeedbackRequest": {
            "type": "object",
            "required": ["feedback"],
            "properties": {
                "feedback": {
                    "type": "array",
                    "minItems": 1,
                    "items": ref("FeedbackItem"),
                    "maxItems": FEEDBACK_ITEMS,
                    "description": f"At most CDS_FEEDBACK_MAX_ITEMS items ({FEEDBACK_ITEMS} by "
                    "default); more: 400",
                }
            },
        },
        "FeedbackItem": {
            "type": "object",
            "required": ["card", "outcome", "outcomeTimestamp"],
            "properties": {
                "card": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The card's uuid; at most CDS_FEEDBACK_MAX_TEXT_CHARS "
                    f"characters ({STORED_TEXT_CHARS} by default), without NUL or unpaired "
                    "surrogates (400 otherwise), as for every string below that the store reads",
                    "maxLength": STORED_TEXT_CHARS,
                    "pattern": STORED_TEXT["pattern"],
                },
                "outcome": {"enum": ["accepted", "overridden"]},
                "outcomeTimestamp": {"type": "string", "format": "date-time"},
                "acceptedSuggestions": nullable(
                    {"type": "array", "items": ref("AcceptedSuggestion")}
                ),
                "overrideReason": nullable(ref("OverrideReason")),
            },
            "if": {"properties": {"outcome": {"const": "accepted"}}},
            "then": {
                "required": ["acceptedSuggestions"],
                "properties": {"acceptedSuggestions": {"type": "array", "minItems": 1}},
            },
        },
        "AcceptedSuggestion": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {**STORED_TEXT, "minLength": 1}},
        },
        "OverrideReason": {
            "type": "object",
            "properties": {
                "reason": {
                    "type": ["object", "null"],
                    "description": "A Coding from the card's overrideReasons",
                    "properties": dict.fromkeys(("system", "code", "display"), CODING_PART),
                },
                "userComment": {"anyOf": [STORED_TEXT, {"type": "null"}]},
            },
        },
        "FeedbackResponse": {
            "type": "object",
            "required": ["stored", "received"],
            "additionalProperties": False,
            "properties": {
                "stored": {"type": "integer", "minimum": 0},
                "received": {"type": "integer", "minimum": 1},
            },
        },
    }


# --- The document --------------------------------------------------------------------------


def service_ids() -> list[str]:
    return list(dict.fromkeys(s.id for s in SERVICES))


def paths() -> Json:
    ids = service_ids()
    hooks = {s.id: s.hook.value for s in SERVICES}
    described: Json = {
        "/cds-services": {
            "get": {
                "tags": ["cds-hooks"],
                "operationId": "discovery",
                "summary": "Discovery: the services offered (cds-hooks_2.0@4-@13)",
                "responses": {
                    "200": ok("The discovery document", ref("DiscoveryResponse")),
                    "401": UNAUTHENTICATED,
                },
            }
        }
    }
    for service_id in ids:
        described[f"/cds-services/{service_id}"] = {"post": hook_operation(hooks[service_id])}
    described["/cds-services/{service_id}"] = {
        "post": {
            "tags": ["cds-hooks"],
            "operationId": "unknownService",
            "summary": "A service id that discovery does not list",
            "description": "Answered 404 before the body is read.",
            "parameters": [
                {
                    "name": "service_id",
                    "in": "path",
                    "required": True,
                    "schema": {**TEXT, "not": {"enum": ids}},
                }
            ],
            "responses": {"401": UNAUTHENTICATED, "404": NO_SUCH_SERVICE},
        }
    }
    described["/cds-services/{service_id}/feedback"] = {
        "parameters": [{"$ref": "#/components/parameters/ServiceId"}],
        "post": {
            "tags": ["cds-hooks"],
            "operationId": "feedback",
            "summary": "Feedback on cards (cds-hooks_2.0@148); idempotent",
            "requestBody": json_body(ref("FeedbackRequest")),
            "responses": {
                "200": ok(
                    "How many items were received and how many were new", ref("FeedbackResponse")
                ),
                "400": problem(
                    "Malformed request (as for a hook call), an accepted outcome without "
                    "acceptedSuggestions, more items than CDS_FEEDBACK_MAX_ITEMS, a string "
                    "longer than CDS_FEEDBACK_MAX_TEXT_CHARS, or text with NUL or an unpaired "
                    "surrogate"
                ),
                "401": UNAUTHENTICATED,
                "404": NO_SUCH_SERVICE,
                "413": TOO_LARGE,
                "415": NOT_JSON,
            },
        },
    }
    described |= operations()
    described |= smart_paths()
    return described


def operations() -> Json:
    return {
        "/healthz": {
            "get": {
                "tags": ["operations"],
                "operationId": "health",
                "summary": "Liveness: the process answers (no store is asked)",
                "security": [],
                "responses": {"200": ok("The process answers", ref("Health"))},
            }
        },
        "/readyz": {
            "get": {
                "tags": ["operations"],
                "operationId": "readiness",
                "summary": "Readiness: the replay store answers; the feedback store's state is "
                "reported",
                "security": [],
                "responses": {
                    "200": ok("Ready to serve calls", ref("Readiness")),
                    "503": problem(
                        "Not ready: the replay store (needed to authenticate calls) does not answer"
                    ),
                },
            }
        },
        "/metrics": {
            "get": {
                "tags": ["operations"],
                "operationId": "metrics",
                "summary": "Prometheus metrics (text exposition format); no patient data in "
                "any label",
                "description": "Open to direct loopback callers only, or, when "
                "CDS_METRICS_TOKEN is set, to callers sending `Authorization: Bearer "
                "<CDS_METRICS_TOKEN>`. Never needs a CDS client's JWT.",
                "security": [],
                "responses": {
                    "200": ok("The metrics", {"type": "string"}, "text/plain"),
                    "401": problem("CDS_METRICS_TOKEN is set and the request does not carry it"),
                    "403": problem(
                        "CDS_METRICS_TOKEN is not set and the caller is not a direct loopback "
                        "caller"
                    ),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "tags": ["operations"],
                "operationId": "openapi",
                "summary": "This description",
                "responses": {
                    "200": ok(
                        "The OpenAPI 3.1 description of this service",
                        {"type": "object", "required": ["openapi", "paths"]},
                    ),
                    "401": UNAUTHENTICATED,
                },
            }
        },
    }


def schemas() -> Json:
    return {
        "OperationOutcome": {
            "description": "FHIR R4 OperationOutcome with one issue; diagnostics name field "
            "paths, never submitted values.",
            "type": "object",
            "required": ["resourceType", "issue"],
            "properties": {
                "resourceType": {"const": "OperationOutcome"},
                "issue": {"type": "array", "minItems": 1, "items": ref("OperationOutcomeIssue")},
            },
        },
        "OperationOutcomeIssue": {
            "type": "object",
            "required": ["severity", "code"],
            "properties": {
                "severity": {"enum": ["fatal", "error", "warning", "information"]},
                "code": TEXT,
                "diagnostics": TEXT,
                "expression": {"type": "array", "minItems": 1, "items": TEXT},
            },
        },
        "DiscoveryResponse": {
            "type": "object",
            "required": ["services"],
            "properties": {"services": {"type": "array", "items": ref("CdsService")}},
        },
        "CdsService": {
            "type": "object",
            "required": ["hook", "id", "description"],
            "properties": {
                "hook": TEXT,
                "id": TEXT,
                "title": TEXT,
                "description": TEXT,
                "prefetch": {"type": "object", "additionalProperties": TEXT},
                "usageRequirements": TEXT,
            },
        },
        **{HOOK_CALLS[hook]["request"]: hook_request(hook) for hook in HOOK_CALLS},
        "FhirAuthorization": {
            "description": "Access to fhirServer (cds-hooks_2.0@61); the token is sent as a "
            "Bearer token and never logged.",
            "type": "object",
            "required": ["access_token", "token_type"],
            "properties": {
                "access_token": TEXT,
                "token_type": {"const": "Bearer"},
                "expires_in": {"type": ["integer", "null"]},
                "scope": {"type": ["string", "null"]},
                "subject": {"type": ["string", "null"]},
                "patient": {"type": ["string", "null"]},
            },
        },
        **contexts(),
        "Prefetch": prefetch(),
        "FhirResource": {
            "type": "object",
            "required": ["resourceType"],
            "properties": {"resourceType": TEXT},
        },
        **response_schemas(),
        **feedback_schemas(),
        **smart_schemas(),
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"const": "ok"}},
        },
        "Readiness": {
            "type": "object",
            "required": ["status", "replayStore", "feedbackStore"],
            "properties": {
                "status": {"const": "ready"},
                "replayStore": {
                    "enum": ["up", "not used"],
                    "description": "`not used` when authentication is off",
                },
                "feedbackStore": {"enum": ["up", "down"]},
            },
        },
    }


# --- The SMART app (cds_service/smart) ----------------------------------------------------

SMART_HEADERS = (
    "Every answer under /smart/ carries a strict Content-Security-Policy (see README, SMART "
    "app), X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer."
)


def _smart_get(operation_id: str, summary: str, responses: Json, **more: Any) -> Json:
    return {
        "get": {
            "tags": ["smart"],
            "operationId": operation_id,
            "summary": summary,
            "description": SMART_HEADERS,
            "security": [],
            **more,
            "responses": responses,
        }
    }


def smart_paths() -> Json:
    """The app's files and its patient-model endpoint (``cds_service.smart.views``)."""
    return {
        "/smart/": _smart_get(
            "smartAppIndex",
            "The SMART app's page (index.html)",
            {
                "200": ok("The app's index.html", {"type": "string"}, "text/html"),
                "404": problem(
                    "The SMART app is not built (no index.html in cds_service/static/smart)"
                ),
            },
        ),
        "/smart/{filename}": _smart_get(
            "smartAppFile",
            "A file of the SMART app's build (launch.html, scripts, styles)",
            {
                "200": ok("The file", {}, "*/*"),
                "404": problem(
                    "No such file in the build directory (also for any path leading outside "
                    "it, and for every file while the app is not built)"
                ),
            },
            parameters=[
                {
                    "name": "filename",
                    "in": "path",
                    "required": True,
                    "description": "Path of the file inside the build directory (may contain "
                    "/); no dotfiles, nothing outside it",
                    "schema": {"type": "string"},
                }
            ],
        ),
        "/smart/patient-model": {"post": smart_patient_model()},
    }


def smart_patient_model() -> Json:
    return {
        "tags": ["smart"],
        "operationId": "smartPatientModel",
        "summary": "The patient model with sources, for the SMART app; nothing stored, "
        "Cache-Control: no-store",
        "description": SMART_HEADERS,
        "security": [{"smartAccessToken": []}, {}],
        "parameters": [
            {
                "name": "as_of",
                "in": "query",
                "required": False,
                "description": "Evaluation date, YYYY-MM-DD, 1900-01-01 to 2999-12-31 "
                "(default: today)",
                "schema": {
                    "type": "string",
                    "format": "date",
                    "pattern": "^(19|2[0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}$",
                },
            },
            {
                "name": "X-SMART-Iss",
                "in": "header",
                "required": False,
                "description": "The FHIR base the access token was issued for (required in "
                "production)",
                "schema": {"type": "string"},
            },
            {
                "name": "X-SMART-Patient",
                "in": "header",
                "required": False,
                "description": "The launch's patient id (required in production; otherwise "
                "the Bundle's Patient resource)",
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9\\-.]{1,64}$"},
            },
        ],
        "requestBody": json_body(ref("SmartBundle")),
        "responses": {
            "200": ok("The patient model", ref("PatientModelResponse")),
            "400": problem(
                "Malformed request (as for a hook call), not a Bundle of type collection or "
                "searchset, a bad as_of or X-SMART-Patient, or (production) no X-SMART-Iss"
            ),
            "401": problem(
                "Production: no SMART access token, or its FHIR server refused it for the "
                "patient (no reason given)"
            ),
            "403": problem("Production: X-SMART-Iss is not in CDS_SMART_ISSUERS"),
            "413": problem("The body is larger than CDS_MAX_BODY_BYTES"),
            "415": NOT_JSON,
            "422": problem(
                "The Bundle holds resources of another patient than the launch's, or the "
                "patient is unknown (no X-SMART-Patient and no Patient resource)"
            ),
            "503": problem("Production: the FHIR server did not answer the access-token check"),
        },
    }


SMART_ACCESS_TOKEN: Json = {
    "type": "http",
    "scheme": "bearer",
    "description": "The SMART app's own access token, with the headers X-SMART-Iss (its FHIR "
    "base, one of CDS_SMART_ISSUERS) and X-SMART-Patient (the launch's patient). Checked by "
    "reading Patient/{id} from that FHIR server with it. Required in the production profile; "
    "the endpoint is open in development.",
}


def smart_schemas() -> Json:
    return {
        "SmartBundle": {
            "description": "A FHIR R4 Bundle (collection or searchset) of one patient's "
            "resources, as the SMART app read them. Entries are read tolerantly: a malformed "
            "resource is a data issue in the answer.",
            "type": "object",
            "required": ["resourceType", "type"],
            "properties": {
                "resourceType": {"const": "Bundle"},
                "type": {"enum": ["collection", "searchset"]},
                "entry": {"type": "array"},
            },
        },
        "PatientModelResponse": {
            "description": "What `python -m fhir_mappings explain` prints for the Bundle "
            "(fhir_mappings/explain.py), plus as_of. Never stored.",
            "type": "object",
            "required": ["resources_received", "patient", "data_issues", "as_of"],
            "properties": {
                "resources_received": {
                    "type": "object",
                    "additionalProperties": {"type": "integer"},
                },
                "patient": {
                    "type": "object",
                    "description": "The patient model; every fact carries its FHIR sources",
                },
                "data_issues": {"type": "array", "items": ref("PatientModelDataIssue")},
                "as_of": {"type": "string", "format": "date"},
            },
        },
        "PatientModelDataIssue": {
            "type": "object",
            "required": ["resource_type", "resource_id", "reason"],
            "properties": {
                "resource_type": {"type": "string"},
                "resource_id": {"type": ["string", "null"]},
                "reason": {"type": "string"},
            },
        },
    }


def document() -> Json:
    """The OpenAPI 3.1 description of the service."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "HER2-altered NSCLC CDS Hooks service",
            "version": "0.1.0",
            "summary": "CDS Hooks 2.0 service (patient-view, order-select, order-sign) for "
            "HER2-altered advanced non-small-cell lung cancer, on FHIR R4.",
            "description": "The service's own description of its HTTP interface (CDS Hooks "
            "2.0, https://cds-hooks.hl7.org/2.0/). Requests are JSON (`application/json` or "
            "`application/fhir+json`), at most the configured body size (CDS_MAX_BODY_BYTES, "
            f"5 MiB by default) and nested at most {MAX_DEPTH} levels deep. Unknown fields are "
            "accepted and ignored; the fields the service uses are checked strictly. Every "
            "non-2xx answer of the CDS Hooks endpoints carries a FHIR R4 OperationOutcome. A "
            "`null` or unusable prefetch value is described under `Prefetch`.",
        },
        "tags": [
            {"name": "cds-hooks", "description": "CDS Hooks 2.0 endpoints"},
            {
                "name": "operations",
                "description": "Health, readiness, metrics and this description",
            },
            {
                "name": "smart",
                "description": "The SMART app (the HER2 journey): its files and its patient model",
            },
        ],
        "security": [{"cdsHooksJwt": []}, {}],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "cdsHooksJwt": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The CDS client's signed JWT (cds-hooks_2.0@176): ES384 or "
                    "RS384, `iss` on the allowlist, `aud` the exact URL called, "
                    "`exp`/`iat`/`nbf` current, `jti` not seen before. Required in production; "
                    "off in development unless issuers are configured.",
                },
                "smartAccessToken": SMART_ACCESS_TOKEN,
            },
            "parameters": {
                "ServiceId": {
                    "name": "service_id",
                    "in": "path",
                    "required": True,
                    "description": "A service id from discovery; any other id is a 404.",
                    "schema": {"type": "string", "enum": service_ids()},
                }
            },
            "schemas": schemas(),
        },
    }


def rendered() -> str:
    """The document as stored: two-space indented JSON, one final newline."""
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write ``cds_service/openapi.json``; ``--check``: exit 1 when it is not up to date."""
    args = list(sys.argv[1:] if argv is None else argv)
    text = rendered()
    if args == ["--check"]:
        current = PATH.read_text(encoding="utf-8") if PATH.exists() else ""
        if current != text:
            print(f"{PATH.name} is not the generated description: python -m cds_service.openapi")
            return 1
        return 0
    if args:
        print("usage: python -m cds_service.openapi [--check]", file=sys.stderr)
        return 2
    PATH.write_text(text, encoding="utf-8")
    print(f"wrote {PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

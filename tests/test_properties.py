"""Property-based tests of the pure parts: body reading, wire models, self-check, mapping.

Hypothesis generates arbitrary JSON (and arbitrary bytes) and FHIR-shaped resources
whose elements hold arbitrary JSON. The properties: nothing raises except the
documented ``ServiceError``; a parsed body is exactly what was sent; validation
messages never echo submitted values; the self-check finds every null or empty
element; and ``build_patient`` turns every unreadable resource into a ``DataIssue``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from werkzeug.test import EnvironBuilder

from cds_service.errors import BadRequest, PayloadTooLarge, ServiceError, UnsupportedMediaType
from cds_service.http import MAX_DEPTH, read_json_object, validate
from cds_service.selfcheck import check_card, check_response
from cds_service.wire import (
    FeedbackItem,
    FeedbackRequest,
    HookRequest,
    OrderSelectContext,
    OrderSignContext,
    PatientViewContext,
)
from fhir_mappings.build import build_patient
from fhir_mappings.model import DataIssue

AS_OF = date(2026, 11, 21)
LIMIT = 64 * 1024
BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- Strategies ----------------------------------------------------------------------------

finite_floats = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = st.none() | st.booleans() | st.integers() | finite_floats | st.text(max_size=20)


def json_values(scalars: st.SearchStrategy[Any] = json_scalars) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=25,
    )


json_objects = st.dictionaries(st.text(max_size=12), json_values(), max_size=6)

CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/fhir+json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
    ]
)


def _request(body: bytes, content_type: str) -> Any:
    builder = EnvironBuilder(method="POST", data=body, content_type=content_type or None)
    return builder.get_request()


# --- cds_service.http ----------------------------------------------------------------------


def _read(body: bytes, content_type: str, max_bytes: int) -> dict[str, Any] | ServiceError:
    """What ``read_json_object`` makes of a body: the object, or the ServiceError raised."""
    try:
        return read_json_object(_request(body, content_type), max_bytes=max_bytes)
    except ServiceError as error:
        return error


@BOUNDED
@given(body=st.binary(max_size=300), content_type=CONTENT_TYPES)
def test_any_bytes_give_an_object_or_a_documented_error(body: bytes, content_type: str) -> None:
    """cds-hooks_2.0@1: bytes of any kind are a JSON object or a 400/413/415, nothing else."""
    result = _read(body, content_type, max_bytes=200)
    if isinstance(result, ServiceError):
        assert isinstance(result, BadRequest | PayloadTooLarge | UnsupportedMediaType)
        if len(body) > 200 and result.status != 415:
            assert result.status == 413
    else:
        assert isinstance(result, dict)
        assert len(body) <= 200


@BOUNDED
@given(
    body=json_objects, content_type=st.sampled_from(["application/json", "application/fhir+json"])
)
def test_a_json_object_is_read_as_sent(body: dict[str, Any], content_type: str) -> None:
    raw = json.dumps(body).encode()
    assert read_json_object(_request(raw, content_type), max_bytes=len(raw)) == body


@BOUNDED
@given(body=json_objects, extra=st.integers(min_value=1, max_value=50))
def test_one_byte_over_the_limit_is_413(body: dict[str, Any], extra: int) -> None:
    raw = json.dumps(body).encode()
    with pytest.raises(PayloadTooLarge):
        read_json_object(_request(raw + b" " * extra, "application/json"), max_bytes=len(raw))


@BOUNDED
@given(text=st.text(max_size=200))
def test_text_is_read_as_json_or_refused_with_400(text: str) -> None:
    result = _read(text.encode("utf-8", "surrogatepass"), "application/json", max_bytes=LIMIT)
    if isinstance(result, ServiceError):
        assert isinstance(result, BadRequest)
    else:
        assert result == json.loads(text)


@settings(max_examples=30, deadline=None)
@given(depth=st.integers(min_value=MAX_DEPTH - 3, max_value=MAX_DEPTH + 3))
def test_the_depth_limit_is_exact(depth: int) -> None:
    """cds-hooks_2.0@1: 100 levels are read; 101 are a 400."""
    nested: Any = {}
    for _ in range(depth - 1):
        nested = {"a": nested}
    raw = json.dumps(nested).encode()
    if depth > MAX_DEPTH:
        with pytest.raises(BadRequest, match="nested more than 100 levels"):
            read_json_object(_request(raw, "application/json"), max_bytes=LIMIT)
    else:
        assert read_json_object(_request(raw, "application/json"), max_bytes=LIMIT) == nested


# --- cds_service.wire and http.validate ----------------------------------------------------

WIRE_MODELS: list[type[BaseModel]] = [
    HookRequest,
    PatientViewContext,
    OrderSignContext,
    OrderSelectContext,
    FeedbackRequest,
    FeedbackItem,
]
SECRET = "SECRET-VALUE-7f3a"
"""A marker inside submitted values: no validation message may contain it."""

secret_scalars = json_scalars | st.text(max_size=10).map(lambda t: SECRET + t)
FIELDS = [
    "hook",
    "hookInstance",
    "fhirServer",
    "fhirAuthorization",
    "context",
    "prefetch",
    "userId",
    "patientId",
    "encounterId",
    "draftOrders",
    "selections",
    "feedback",
    "card",
    "outcome",
    "outcomeTimestamp",
    "acceptedSuggestions",
    "overrideReason",
    "access_token",
    "token_type",
]
wire_like = st.dictionaries(st.sampled_from(FIELDS), json_values(secret_scalars), max_size=8)


def _validation_error(model: type[BaseModel], data: Any) -> BadRequest | None:
    try:
        validate(model, data, prefix="context")
    except BadRequest as error:
        return error
    return None


@BOUNDED
@given(model=st.sampled_from(WIRE_MODELS), data=wire_like | json_values(secret_scalars))
def test_validation_fails_only_with_a_400_that_echoes_no_value(
    model: type[BaseModel], data: Any
) -> None:
    """cds-hooks_2.0@1: wrong types anywhere are a 400 naming field paths, never values."""
    error = _validation_error(model, data)
    if error is not None:
        assert SECRET not in error.diagnostics
        assert all(SECRET not in path for path in error.expression)
        assert error.diagnostics.startswith("Invalid request: ")


@BOUNDED
@given(model=st.sampled_from(WIRE_MODELS), data=json_values())
def test_wire_models_raise_nothing_but_validation_errors(model: type[BaseModel], data: Any) -> None:
    with contextlib.suppress(ValidationError):
        model.model_validate(data)


non_blank = st.text(min_size=1, max_size=30).filter(lambda t: t.strip() != "")
contexts = st.fixed_dictionaries(
    {"userId": non_blank, "patientId": non_blank},
    optional={"encounterId": non_blank, "extra": json_values()},
)


@BOUNDED
@given(
    hook=st.sampled_from(["patient-view", "order-select", "order-sign"]),
    instance=non_blank,
    context=contexts,
    extras=st.dictionaries(st.text(min_size=1, max_size=8).map(lambda k: "x-" + k), json_values()),
)
def test_valid_hook_requests_are_accepted_with_unknown_fields_kept(
    hook: str, instance: str, context: dict[str, Any], extras: dict[str, Any]
) -> None:
    """cds-hooks_2.0@1: unknown fields are allowed and ignored, not refused."""
    body = {"hook": hook, "hookInstance": instance, "context": context, **extras}
    request = HookRequest.model_validate(body)
    assert request.hook == hook
    assert request.context == context
    assert all(getattr(request, key) == value for key, value in extras.items())


@BOUNDED
@given(stamp=st.datetimes(min_value=datetime(1900, 1, 1), timezones=st.just(UTC)))
def test_feedback_timestamps_are_iso_date_times(stamp: datetime) -> None:
    item = {"card": "c", "outcome": "overridden", "outcomeTimestamp": stamp.isoformat()}
    assert FeedbackItem.model_validate(item).outcomeTimestamp == stamp


@BOUNDED
@given(
    value=st.integers() | finite_floats | st.integers(min_value=0).map(str) | st.dates().map(str)
)
def test_feedback_timestamps_that_are_not_date_times_are_400(value: Any) -> None:
    """Regression: pydantic's lax datetime read 0 or "1700000000" as a Unix time."""
    item = {"card": "c", "outcome": "overridden", "outcomeTimestamp": value}
    with pytest.raises(BadRequest, match=r"outcomeTimestamp: must be a date-time"):
        validate(FeedbackItem, item)


# --- cds_service.selfcheck -----------------------------------------------------------------

VALID_RESPONSE: dict[str, Any] = {
    "cards": [
        {
            "uuid": "6b0b6c4e-5b8e-4f4c-9f39-4d1f0a9f8a01",
            "summary": "No molecular results: order broad NGS before first-line therapy",
            "detail": "Advanced NSCLC needs **broad NGS** including ERBB2.",
            "indicator": "info",
            "source": {
                "label": "NCCN NSCLC",
                "url": "https://www.nccn.org/",
                "topic": {"system": "urn:her2-nsclc-cds:rule-id", "code": "test-broad-ngs"},
            },
            "suggestions": [
                {
                    "label": "Order a broad NGS panel on tissue",
                    "uuid": "2f9c3f1a-3c55-4c1e-8d0c-2a1b7d9e6f02",
                    "isRecommended": True,
                    "actions": [
                        {
                            "type": "create",
                            "description": "Create a ServiceRequest",
                            "resource": {"resourceType": "ServiceRequest", "status": "draft"},
                        },
                        {
                            "type": "delete",
                            "description": "Remove the draft order",
                            "resourceId": "MedicationRequest/abc",
                        },
                    ],
                }
            ],
            "selectionBehavior": "any",
            "overrideReasons": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes",
                    "code": "patient-refusal",
                    "display": "Patient refused",
                }
            ],
            "links": [{"label": "Guideline", "url": "https://example.org/g", "type": "absolute"}],
        }
    ],
    "extension": {"her2-nsclc-cds.data-quality": {"unavailable": ["procedures"]}},
}


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        found.append((*path, key))
        if isinstance(item, dict | list):
            found.extend(_paths(item, (*path, key)))
    return found


VALID_PATHS = _paths(VALID_RESPONSE)


def test_the_valid_response_passes() -> None:
    assert check_response(VALID_RESPONSE) == []


@BOUNDED
@given(path=st.sampled_from(VALID_PATHS), empty=st.sampled_from([None, "", [], {}, "  "]))
def test_every_null_or_empty_element_is_reported(path: tuple[Any, ...], empty: Any) -> None:
    """cds-hooks_2.0@3: no element is null or empty except ``cards: []``."""
    response = copy.deepcopy(VALID_RESPONSE)
    parent = response
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = empty
    problems = check_response(response)
    if path == ("cards",) and empty == []:
        assert problems == []
    elif empty == "  ":  # blank text: reported where text is required
        assert problems or path[-1] not in {"uuid", "summary", "label", "description", "display"}
    else:
        assert problems, path


def _acceptable(field: str, value: Any) -> bool:
    """Whether ``value`` is a sendable ``uuid``, ``summary``, ``indicator`` or ``source``."""
    if field == "indicator":
        return isinstance(value, str) and value in {"info", "warning", "critical"}
    if field == "source":
        value = value.get("label") if isinstance(value, dict) else None
    text_ok = isinstance(value, str) and bool(value.strip())
    if field == "summary":
        return text_ok and len(value) < 140 and "\n" not in value
    return text_ok


@BOUNDED
@given(
    field=st.sampled_from(["uuid", "summary", "indicator", "source"]),
    value=json_values() | st.sampled_from(["info", "critical", "x" * 139, "x" * 140, "a\nb"]),
)
def test_a_card_with_a_wrong_required_field_is_reported(field: str, value: Any) -> None:
    """cds-hooks_2.0@80, @83, @87, @88, @90: uuid, summary, indicator and source."""
    card = copy.deepcopy(VALID_RESPONSE["cards"][0])
    card[field] = value
    if not _acceptable(field, value):
        assert check_card(card), (field, value)
    elif field != "source":  # a source may still hold other faults
        assert check_card(card) == []


@BOUNDED
@given(payload=json_values())
def test_the_self_check_never_raises(payload: Any) -> None:
    assert isinstance(check_response(payload), list)
    assert isinstance(check_card(payload), list)
    assert all(isinstance(problem, str) for problem in check_response({"cards": [payload]}))


# --- fhir_mappings.build.build_patient -----------------------------------------------------

RESOURCE_TYPES = [
    "Condition",
    "Observation",
    "MedicationStatement",
    "MedicationRequest",
    "MedicationAdministration",
    "Medication",
    "Procedure",
    "DiagnosticReport",
    "AdverseEvent",
    "ImagingStudy",
    "Specimen",
    "Patient",
    "Bundle",
    "OperationOutcome",
]
TEXTS = [
    "Non-small cell lung cancer, stage IV",
    "Adenocarcinoma of lung",
    "Squamous cell carcinoma of lung",
    "Metastatic to brain",
    "Pneumonitis grade 2",
    "Interstitial lung disease",
    "ERBB2 exon 20 insertion p.Y772_A775dup",
    "HER2 IHC 3+",
    "ERBB2 amplification",
    "EGFR L858R",
    "Left ventricular ejection fraction",
    "Neutrophils [#/volume] in Blood",
    "Alanine aminotransferase",
    "Bilirubin total",
    "Body weight",
    "ECOG performance status",
    "trastuzumab deruxtecan",
    "zongertinib",
    "pembrolizumab",
    "carboplatin",
    "pemetrexed",
    "osimertinib",
    "CT chest",
    "Echocardiogram",
    "Radiotherapy of thorax",
    "Stereotactic radiosurgery brain",
    "Progressive disease",
]
CODINGS = [
    ("http://snomed.info/sct", "254637007"),
    ("http://snomed.info/sct", "254626006"),
    ("http://snomed.info/sct", "59529006"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "C34.90"),
    ("http://loinc.org", "48018-6"),
    ("http://loinc.org", "81247-9"),
    ("http://loinc.org", "69548-6"),
    ("http://loinc.org", "10230-1"),
    ("http://loinc.org", "751-8"),
    ("http://loinc.org", "1742-6"),
    ("http://loinc.org", "29463-7"),
    ("http://snomed.info/sct", "271299001"),
]
concept = st.fixed_dictionaries(
    {},
    optional={
        "text": st.sampled_from(TEXTS) | st.text(max_size=10),
        "coding": st.lists(
            st.sampled_from(CODINGS).map(lambda c: {"system": c[0], "code": c[1]}) | json_values(),
            max_size=3,
        ),
    },
)
dates = st.sampled_from(["2025-03-01", "2026-10-01T10:00:00Z", "2024", "2024-13-45", "x", ""])
quantity = st.fixed_dictionaries(
    {},
    optional={
        "value": st.integers() | st.floats() | st.text(max_size=4),
        "unit": st.sampled_from(["%", "10*9/L", "U/L", "mg/dL", "kg", "mg/kg"]),
        "code": st.sampled_from(["%", "10*9/L", "U/L", "mg/dL", "kg"]),
    },
)
any_json = json_values(json_scalars | st.floats())  # NaN and Infinity too: FHIR servers send them
ELEMENTS: dict[str, st.SearchStrategy[Any]] = {
    "id": st.text(min_size=1, max_size=8) | any_json,
    "status": st.sampled_from(["final", "active", "completed", "stopped", "entered-in-error"])
    | any_json,
    "code": concept | any_json,
    "subject": st.just({"reference": "Patient/p1"}) | any_json,
    "clinicalStatus": concept | any_json,
    "verificationStatus": concept | any_json,
    "stage": st.lists(st.fixed_dictionaries({"summary": concept}), max_size=2) | any_json,
    "onsetDateTime": dates | any_json,
    "recordedDate": dates | any_json,
    "effectiveDateTime": dates | any_json,
    "effectivePeriod": st.fixed_dictionaries({}, optional={"start": dates, "end": dates}),
    "issued": dates | any_json,
    "authoredOn": dates | any_json,
    "occurrenceDateTime": dates | any_json,
    "performedDateTime": dates | any_json,
    "valueQuantity": quantity | any_json,
    "valueString": st.sampled_from(TEXTS) | any_json,
    "valueCodeableConcept": concept | any_json,
    "component": st.lists(
        st.fixed_dictionaries({"code": concept}, optional={"valueCodeableConcept": concept}),
        max_size=3,
    )
    | any_json,
    "category": st.lists(concept, max_size=2) | concept | any_json,
    "medicationCodeableConcept": concept | any_json,
    "medicationReference": st.just({"reference": "Medication/m1"}) | any_json,
    "dosageInstruction": st.lists(
        st.fixed_dictionaries({}, optional={"text": st.text(max_size=10), "doseAndRate": any_json}),
        max_size=2,
    )
    | any_json,
    "intent": st.sampled_from(["order", "proposal"]) | any_json,
    "conclusion": st.sampled_from(TEXTS) | any_json,
    "result": st.lists(st.just({"reference": "Observation/o1"}), max_size=2) | any_json,
    "event": concept | any_json,
    "note": st.lists(st.fixed_dictionaries({"text": st.sampled_from(TEXTS)}), max_size=2)
    | any_json,
    "extension": any_json,
    "entry": st.lists(
        st.fixed_dictionaries({}, optional={"resource": any_json, "fullUrl": st.text(max_size=8)}),
        max_size=3,
    ),
}
fhir_like = st.builds(
    lambda kind, elements: {"resourceType": kind, **elements},
    st.sampled_from(RESOURCE_TYPES) | any_json,
    st.fixed_dictionaries({}, optional=ELEMENTS),
)
resources = st.lists(fhir_like | any_json, max_size=8)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(items=resources)
def test_build_patient_never_raises(items: list[Any]) -> None:
    """Parse tolerantly: any JSON at all maps to a patient model, whatever it holds."""
    model = build_patient(items, as_of=AS_OF, draft_orders={"entry": items}, selections=["x"])
    assert all(isinstance(issue, DataIssue) for issue in model.data_issues)


@BOUNDED
@given(items=st.lists(any_json.filter(lambda v: not isinstance(v, dict)), min_size=1))
def test_values_that_are_not_objects_are_data_issues(items: list[Any]) -> None:
    model = build_patient(items, as_of=AS_OF)
    if any(item is not None for item in items):  # null means "no data" (cds-hooks.md)
        assert any(issue.resource_type == "(not a resource)" for issue in model.data_issues)
    else:
        assert model.data_issues == ()


@BOUNDED
@given(item=json_objects.filter(lambda o: not isinstance(o.get("resourceType"), str)))
def test_objects_without_a_resource_type_are_data_issues(item: dict[str, Any]) -> None:
    model = build_patient([item], as_of=AS_OF)
    assert any(issue.reason == "no resourceType" for issue in model.data_issues)


WRONG_TYPES: dict[str, st.SearchStrategy[Any]] = {
    "onsetDateTime": st.integers() | st.lists(st.text(), min_size=1) | st.just("2024-02-30"),
    "subject": st.text(min_size=1) | st.integers() | st.lists(st.integers(), min_size=1),
    "clinicalStatus": st.text(min_size=1) | st.integers(),
    "stage": st.integers() | st.booleans(),
    "recordedDate": st.integers() | st.just("not a date"),
}


@BOUNDED
@given(element=st.sampled_from(sorted(WRONG_TYPES)), data=st.data())
def test_an_invalid_relevant_resource_is_a_data_issue_naming_it(
    element: str, data: st.DataObject
) -> None:
    """A Condition the mapping reads (NSCLC by code), with one element of the wrong type:
    a data issue with its type and id, and the rest of the record still read."""
    broken = {
        "resourceType": "Condition",
        "id": "broken",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "254637007"}]},
        element: data.draw(WRONG_TYPES[element]),
    }
    sound = {
        "resourceType": "Condition",
        "id": "sound",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "254626006"}]},
        "subject": {"reference": "Patient/p1"},
        "stage": [{"summary": {"text": "Stage IV"}}],
    }
    model = build_patient([broken, sound], as_of=AS_OF)
    assert ("Condition", "broken") in {(i.resource_type, i.resource_id) for i in model.data_issues}
    assert model.cancer is not None
    assert "Condition/sound" in model.cancer.sources


@settings(max_examples=20, deadline=None)
@given(depth=st.integers(min_value=300, max_value=3_000))
def test_a_resource_nested_too_deeply_for_validation_is_a_data_issue(depth: int) -> None:
    """Regression: FHIR validation of a deeply nested resource raised RecursionError, a 500
    (such resources still arrive from FHIR servers, whose answers are not depth-checked)."""
    extension: dict[str, Any] = {"url": "urn:x", "valueString": "leaf"}
    for _ in range(depth):
        extension = {"url": "urn:x", "extension": [extension]}
    condition = {
        "resourceType": "Condition",
        "id": "deep",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "254637007"}]},
        "extension": [extension],
    }
    model = build_patient([condition], as_of=AS_OF)
    assert DataIssue("Condition", "deep", "failed R4B validation: nested too deeply") in (
        model.data_issues
    )


def test_nan_from_a_fhir_server_does_not_break_the_mapping() -> None:
    observation = {
        "resourceType": "Observation",
        "id": "lvef",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "10230-1"}]},
        "effectiveDateTime": "2026-10-01",
        "valueQuantity": {"value": math.nan, "unit": "%"},
    }
    build_patient([observation], as_of=AS_OF)

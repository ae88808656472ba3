"""Pydantic models of the CDS Hooks 2.0 wire format (requests, responses, feedback).

Requests are parsed leniently where the spec and real clients allow (unknown
fields are kept and ignored) and strictly where the service depends on a field
(``hook``, ``hookInstance``, ``context`` and its typed fields). Responses are
built from these models and serialised with ``exclude_none`` so that no element
is ever ``null``; ``cds_service.selfcheck`` then checks the remaining invariants.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from cds_service.errors import BadRequest

NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]

FHIR_RESOURCE_SCHEMA = "#/components/schemas/FhirResource"
"""Where the OpenAPI description (``cds_service.openapi``) describes a FHIR resource."""

MAX_SUMMARY_CHARS = 140
"""A card's ``summary`` must be under 140 characters (cds-hooks_2.0@83)."""


class Hook(StrEnum):
    PATIENT_VIEW = "patient-view"
    ORDER_SELECT = "order-select"
    ORDER_SIGN = "order-sign"


class _Lenient(BaseModel):
    """Incoming objects: extra fields allowed, types checked strictly."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


class FhirAuthorization(_Lenient):
    access_token: NonEmptyStr
    token_type: Literal["Bearer"]
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None

    def __repr__(self) -> str:  # never show the token, even in a traceback
        return "FhirAuthorization(access_token=<redacted>)"

    __str__ = __repr__


class PatientViewContext(_Lenient):
    userId: NonEmptyStr  # noqa: N815 - CDS Hooks field names
    patientId: NonEmptyStr  # noqa: N815
    encounterId: NonEmptyStr | None = None  # noqa: N815


class OrderSignContext(PatientViewContext):
    draftOrders: dict[str, Any]  # noqa: N815 - a FHIR Bundle, mapped tolerantly later


class OrderSelectContext(OrderSignContext):
    selections: list[NonEmptyStr]


HookContext = PatientViewContext | OrderSelectContext | OrderSignContext

CONTEXT_MODEL: dict[Hook, type[PatientViewContext]] = {
    Hook.PATIENT_VIEW: PatientViewContext,
    Hook.ORDER_SELECT: OrderSelectContext,
    Hook.ORDER_SIGN: OrderSignContext,
}


class HookRequest(_Lenient):
    hook: NonEmptyStr
    hookInstance: NonEmptyStr  # noqa: N815
    fhirServer: NonEmptyStr | None = None  # noqa: N815
    fhirAuthorization: FhirAuthorization | None = None  # noqa: N815
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


# --- Responses -----------------------------------------------------------------------


class _Outgoing(BaseModel):
    """Outgoing objects: serialised with ``exclude_none`` and by alias, so an absent
    element is never sent as ``null``."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Coding(_Outgoing):
    system: NonEmptyStr
    code: NonEmptyStr
    display: NonEmptyStr | None = None


class OverrideReasonCoding(_Outgoing):
    """A card's override reason: a Coding with its display (cds-hooks_2.0@136, @219)."""

    system: NonEmptyStr
    code: NonEmptyStr
    display: NonEmptyStr


class Source(_Outgoing):
    label: NonEmptyStr
    url: NonEmptyStr | None = None
    icon: NonEmptyStr | None = None
    topic: Coding | None = None


class ActionType(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class Action(_Outgoing):
    type: ActionType
    description: NonEmptyStr
    resource: Annotated[dict[str, Any], WithJsonSchema({"$ref": FHIR_RESOURCE_SCHEMA})] | None = (
        None
    )
    resourceId: NonEmptyStr | None = None  # noqa: N815


class Suggestion(_Outgoing):
    label: NonEmptyStr
    uuid: NonEmptyStr
    isRecommended: bool | None = None  # noqa: N815
    actions: Annotated[list[Action], Field(min_length=1)] | None = None


class Indicator(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def urgency(self) -> int:
        return {"info": 0, "warning": 1, "critical": 2}[self.value]


class SelectionBehavior(StrEnum):
    AT_MOST_ONE = "at-most-one"
    ANY = "any"


class Link(_Outgoing):
    label: NonEmptyStr
    url: NonEmptyStr
    type: Literal["absolute", "smart"]
    appContext: NonEmptyStr | None = None  # noqa: N815


class Card(_Outgoing):
    model_config = ConfigDict(
        json_schema_extra={"dependentRequired": {"suggestions": ["selectionBehavior"]}}
    )

    uuid: NonEmptyStr
    summary: Annotated[str, StringConstraints(min_length=1, max_length=MAX_SUMMARY_CHARS - 1)]
    detail: NonEmptyStr | None = Field(default=None, description="GitHub Flavored Markdown")
    indicator: Indicator
    source: Source
    suggestions: Annotated[list[Suggestion], Field(min_length=1)] | None = None
    selectionBehavior: SelectionBehavior | None = None  # noqa: N815
    overrideReasons: Annotated[list[OverrideReasonCoding], Field(min_length=1)] | None = None  # noqa: N815
    links: Annotated[list[Link], Field(min_length=1)] | None = None


class DataIssueEntry(_Outgoing):
    """A resource that could not be read, or was read only in part. No values."""

    resourceType: NonEmptyStr  # noqa: N815
    id: NonEmptyStr | None = None
    reason: NonEmptyStr


class DataQuality(_Outgoing):
    """What could not be read (cds-hooks_2.0@214, @215): optional prefetch keys that were
    unavailable, and resources that became data issues."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    unavailable: Annotated[list[NonEmptyStr], Field(min_length=1)] | None = None
    issues: Annotated[list[DataIssueEntry], Field(min_length=1)] | None = None


DATA_QUALITY_EXTENSION = "her2-nsclc-cds.data-quality"
"""Response extension (cds-hooks_2.0@214, @215) listing what could not be read."""


class ResponseExtension(_Outgoing):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    data_quality: DataQuality | None = Field(default=None, alias=DATA_QUALITY_EXTENSION)


class HookResponse(_Outgoing):
    cards: list[Card]
    extension: ResponseExtension | None = None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


# --- Feedback -------------------------------------------------------------------------


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    OVERRIDDEN = "overridden"


class AcceptedSuggestion(_Lenient):
    id: NonEmptyStr


class OverrideReason(_Lenient):
    reason: dict[str, Any] | None = None
    userComment: str | None = None  # noqa: N815


_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}")


def _date_time_text(value: object) -> object:
    """Only an ISO 8601 date-time string: pydantic's lax datetime would also read a number,
    or a string of digits, as a Unix time."""
    if not isinstance(value, str) or not _DATE_TIME.match(value):
        raise PydanticCustomError("datetime_type", "must be an ISO 8601 date-time")
    return value


def _in_utc_range(value: datetime) -> datetime:
    """A date-time that has a UTC equivalent (``0001-01-01T00:00:00+01:00`` has none): it
    is stored in UTC, so one without is a 400, not an overflow (a 500) in the store."""
    try:
        value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    except OverflowError:
        raise PydanticCustomError("datetime_type", "date-time out of range") from None
    return value


class FeedbackItem(_Lenient):
    card: NonEmptyStr
    outcome: Annotated[Outcome, Field(strict=False)]
    outcomeTimestamp: Annotated[  # noqa: N815
        datetime,
        Field(strict=False),
        BeforeValidator(_date_time_text),
        AfterValidator(_in_utc_range),
    ]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None  # noqa: N815
    overrideReason: OverrideReason | None = None  # noqa: N815


class FeedbackRequest(_Lenient):
    feedback: Annotated[list[FeedbackItem], Field(min_length=1)]


# --- Feedback bounds ------------------------------------------------------------------


def check_feedback_body(body: Any, *, max_items: int, max_text_chars: int) -> None:
    """Refuse (400) what a feedback store must never see: more than ``max_items`` items, or
    in a field the store reads (``card``, ``acceptedSuggestions[].id``, the override
    reason's ``system``, ``code`` and ``display``, ``userComment``) a string longer than
    ``max_text_chars`` or text no database holds as it is (NUL, an unpaired UTF-16
    surrogate from a ``\\ud800``-style escape). Runs on the parsed JSON, before the wire
    models. Fields the store never reads are bounded by the body size limit only."""
    items = body.get("feedback") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return  # the wire model says what is wrong
    if len(items) > max_items:
        raise BadRequest(
            f"Invalid request: feedback has more than {max_items} items",
            expression=("feedback",),
        )
    for index, item in enumerate(items):
        if isinstance(item, dict):
            for path, text in _stored_texts(item, f"feedback[{index}]"):
                _check_text(text, path, max_text_chars)


def _stored_texts(item: dict[str, Any], where: str) -> list[tuple[str, str]]:
    found: list[tuple[str, Any]] = [(f"{where}.card", item.get("card"))]
    accepted = item.get("acceptedSuggestions")
    if isinstance(accepted, list):
        found.extend(
            (f"{where}.acceptedSuggestions[{n}].id", s.get("id"))
            for n, s in enumerate(accepted)
            if isinstance(s, dict)
        )
    override = item.get("overrideReason")
    if isinstance(override, dict):
        found.append((f"{where}.overrideReason.userComment", override.get("userComment")))
        reason = override.get("reason")
        if isinstance(reason, dict):
            found.extend(
                (f"{where}.overrideReason.reason.{name}", reason.get(name))
                for name in ("system", "code", "display")
            )
    return [(path, value) for path, value in found if isinstance(value, str)]


_UNREPRESENTABLE = re.compile("[\x00\ud800-\udfff]")


def _check_text(text: str, path: str, max_chars: int) -> None:
    if len(text) > max_chars:
        raise BadRequest(
            f"Invalid request: {_shown(path)}: longer than {max_chars} characters",
            expression=(_shown(path),),
        )
    if _UNREPRESENTABLE.search(text):
        raise BadRequest(
            f"Invalid request: {_shown(path)}: contains NUL or an unpaired surrogate",
            expression=(_shown(path),),
        )


def _shown(path: str) -> str:
    return path

"""Entry point of the mapping: FHIR R4 JSON resources to one PatientModel.

Flow: flatten (Bundles in the list are opened; anything that is not a JSON object with a
``resourceType`` is a ``DataIssue``) -> index by reference -> per resource, one reader
by resource type, whose route (``fhir_mappings.routing``: the pre-filters on raw JSON,
codes and text, decided once per distinct code) says which families read it -> only then
R4B validation (``parse.validate``; failures are ``DataIssue``s and the rest
of the record is still used) -> the family modules read facts -> merge.

Resources with ``status`` (or ``verificationStatus``) ``entered-in-error`` are dropped
before anything else. Referenced ``Medication`` and ``Specimen`` resources are read for
their codes/type only and are not validated themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from fhir_mappings import (
    conditions,
    genomics,
    imaging,
    lines,
    measurements,
    medications,
    nyha,
    reproductive,
    routing,
)
from fhir_mappings.genomics import EgfrFinding, GenomicFacts
from fhir_mappings.medications import MedicationEvent, ProgressionEvent
from fhir_mappings.model import (
    CoMedication,
    Comorbidity,
    ComorbidityKind,
    DataIssue,
    Demographics,
    EgfrStatus,
    Her2Mutation,
    Her2Status,
    IldCause,
    IldEpisode,
    Imaging,
    ImagingKind,
    MatchedBy,
    Measurement,
    MeasurementKind,
    NyhaStatement,
    PatientModel,
    PregnancyTest,
    ReproductiveStatus,
    Significance,
)
from fhir_mappings.parse import (
    JsonObject,
    Resource,
    ResourceIndex,
    ValidationMemo,
    as_object,
    choice_date,
    issue,
    objects,
    parse_date,
    string,
)
from fhir_mappings.patient_scope import PatientScope
from fhir_mappings.terminology import NO_SITE_DRUG_CODES, SiteDrugCodes
from fhir_mappings.variants import KinaseDomain


@dataclass(frozen=True, slots=True)
class MappingOptions:
    """The mapping's own settings (filled from cds_service.settings.ClinicalSettings)."""

    regimen_window_days: int = 28
    new_line_gap_days: int = 120
    kinase_domain_first: int = 720
    kinase_domain_last: int = 987
    measurement_lookback_days: int = 180
    """Measurements read: all within this many days of ``as_of``, plus the latest older
    value and the latest value on or before each drug course's start (its baseline)."""
    site_drug_codes: SiteDrugCodes = NO_SITE_DRUG_CODES
    """The site order catalog's drug codes (``cds_service.catalog``), built once at start-up:
    a code listed there identifies its drug (``terminology.match_drug``)."""


_Flat = tuple[JsonObject, str | None]
"""A resource and the ``fullUrl`` of the Bundle entry that held it (None outside one)."""


def _flatten(resources: Iterable[Any], issues: list[DataIssue]) -> list[_Flat]:
    """The resources, Bundles opened (each entry with its ``fullUrl``); what is not a JSON
    object with a non-blank ``resourceType`` is a data issue instead."""
    flat: list[_Flat] = []
    for item in resources:
        # The usual item, decided inline: a plain resource (a dict with a usable type).
        if type(item) is dict:
            kind = item.get("resourceType")
            if type(kind) is str and kind != "Bundle" and kind and not kind.isspace():
                flat.append((item, None))
                continue
        _flatten_item(item, issues, flat)
    return flat


def _flatten_item(
    item: object,
    issues: list[DataIssue],
    flat: list[_Flat],
    full_url: str | None = None,
    in_entry: bool = False,
) -> None:
    """The general case of ``_flatten``. A resource in a Bundle nested in an entry keeps
    the ``fullUrl`` of the outermost entry, as it always has."""
    obj = as_object(item)
    if obj is None:
        if item is not None:
            issues.append(issue(item, "not a JSON object"))
        return
    resource_type = string(obj, "resourceType")
    if resource_type is None:
        issues.append(issue(obj, "no resourceType"))
        return
    if resource_type != "Bundle":
        flat.append((obj, full_url))
        return
    for entry in objects(obj.get("entry")):
        inner = entry.get("resource")
        if inner is None:
            issues.append(DataIssue("Bundle", string(obj, "id"), "entry without resource"))
        else:
            url = full_url if in_entry else string(entry, "fullUrl")
            _flatten_item(inner, issues, flat, url, in_entry=True)


def _entered_in_error(raw: JsonObject) -> bool:
    if raw.get("status") == "entered-in-error":
        return True
    verification = raw.get("verificationStatus")
    return verification is not None and routing.has_code(verification, _ENTERED_IN_ERROR)


_ENTERED_IN_ERROR = frozenset({"entered-in-error"})


@dataclass(slots=True)
class _Collected:
    pending: list[_PendingMeasurement]
    genomic: list[tuple[Resource, GenomicFacts]]
    reports: list[Resource]
    events: list[MedicationEvent]
    progressions: list[ProgressionEvent]
    measurements: list[Measurement]
    imaging: list[Imaging]
    cancer: list[conditions.CancerEvidence]
    advanced_sources: list[str]
    brain_treatment: list[str]
    ild: list[IldEpisode]
    ild_events: list[tuple[IldEpisode, list[str]]]
    comorbidities: list[Comorbidity]
    issues: list[DataIssue]
    version2: _Version2


@dataclass(slots=True)
class _Version2:
    """Facts of the version-2 checks (``fhir_mappings.reproductive``)."""

    demographics: Demographics | None = None
    pregnancy_tests: list[PregnancyTest] = field(default_factory=list)
    reproductive_status: list[ReproductiveStatus] = field(default_factory=list)
    co_medications: list[CoMedication] = field(default_factory=list)
    nyha: list[NyhaStatement | DataIssue] = field(default_factory=list)


def _read_observation_version2(
    raw: JsonObject, route: routing.ObservationRoute, check: _Validator, out: _Version2
) -> None:
    """NYHA, pregnancy tests, menopause / hysterectomy stated in an Observation."""
    if route.version2 is routing.Version2.NONE or (resource := check(raw)) is None:
        return
    if route.version2 is routing.Version2.NYHA:
        if stated := nyha.read_nyha(resource):
            out.nyha.append(stated)
    elif route.version2 is routing.Version2.PREGNANCY_TEST:
        if (test := reproductive.read_pregnancy_test(resource)) is not None:
            out.pregnancy_tests.append(test)
    elif (
        route.reproductive is not None
        and (status := reproductive.read_reproductive_status(resource, route.reproductive))
        is not None
    ):
        out.reproductive_status.append(status)


class _Validator:
    """Validates each raw resource at most once (once per call with a shared ``memo``), and
    records each failure as a data issue of this build."""

    def __init__(self, issues: list[DataIssue], memo: ValidationMemo) -> None:
        self._issues = issues
        self._memo = memo
        self._done: dict[int, Resource | None] = {}

    def __call__(self, raw: JsonObject) -> Resource | None:
        key = id(raw)
        if key not in self._done:
            checked = self._memo.validate(raw)
            if isinstance(checked, DataIssue):
                self._issues.append(checked)
                self._done[key] = None
            else:
                self._done[key] = checked
        return self._done[key]


@dataclass(frozen=True, slots=True)
class _PendingMeasurement:
    raw: JsonObject
    kind: MeasurementKind
    matched_by: MatchedBy
    when: date | None


@dataclass(slots=True)
class _Links:
    """What other resources say about an Observation, found before reading it."""

    significance: dict[int, Significance]
    """Clinical significance stated by a separate implication Observation (derivedFrom /
    hasMember), keyed by ``id()`` of the variant's raw JSON."""
    report_dates: dict[int, date]
    """The date of the DiagnosticReport whose ``result`` holds an Observation
    (``effective[x]``, else ``issued``; clinical-rules.md 9.3), keyed by ``id()``."""


def _links(linking: Sequence[JsonObject], index: ResourceIndex) -> _Links:
    links = _Links({}, {})
    conflicting: set[int] = set()
    for raw in linking:
        resource_type = raw.get("resourceType")
        if resource_type == "DiagnosticReport" and "result" in raw:
            when = choice_date(raw, "effective") or parse_date(raw.get("issued"))
            if when is not None:
                for ref in objects(raw.get("result")):
                    target = index.resolve(ref, raw)
                    if target is not None:
                        links.report_dates.setdefault(id(target), when)
        elif resource_type == "Observation" and ("derivedFrom" in raw or "hasMember" in raw):
            significance = genomics.implication_significance(raw)
            if significance is None:
                continue
            for ref in [*objects(raw.get("derivedFrom")), *objects(raw.get("hasMember"))]:
                target = index.resolve(ref, raw)
                if target is None or target is raw:
                    continue
                known = links.significance.get(id(target))
                if known is not None and known is not significance:
                    conflicting.add(id(target))
                links.significance[id(target)] = significance
    for key in conflicting:
        # Two implications disagree: the lab's call is not settled, read it as uncertain.
        links.significance[key] = Significance.UNCERTAIN
    return links


def _read_observation(raw: JsonObject, r: _Reading) -> None:
    """An Observation's main reading, then its version-2 check, as its route says."""
    route = routing.observation_route(raw)
    reading = route.reading
    if reading is routing.Reading.GENOMIC:
        if (resource := r.check(raw)) is not None:
            significance = r.links.significance.get(id(raw))
            facts = genomics.read_genomic(resource, r.index, r.domain, significance)
            r.out.genomic.append((resource, facts))
            r.out.issues.extend(facts.issues)
    elif reading is routing.Reading.MEASUREMENT and route.measurement is not None:
        kind, matched_by = route.measurement
        # Its own effective[x]; else the date of the report that holds it; else issued.
        when = (
            choice_date(raw, "effective")
            or r.links.report_dates.get(id(raw))
            or parse_date(raw.get("issued"))
        )
        r.out.pending.append(_PendingMeasurement(raw, kind, matched_by, when))
    elif reading is routing.Reading.DISEASE_STATUS:
        resource = r.check(raw)
        progression = lines.read_disease_status(resource) if resource is not None else None
        if progression is not None:
            r.out.progressions.append(progression)
    elif reading is routing.Reading.STAGE:
        resource = r.check(raw)
        if resource is not None and conditions.read_stage_observation(resource):
            r.out.advanced_sources.append(resource.reference)
    _read_observation_version2(raw, route, r.check, r.out.version2)


def _select_measurements(
    pending: Sequence[_PendingMeasurement],
    anchors: Sequence[date],
    cutoff: date,
    check: _Validator,
    issues: list[DataIssue],
) -> list[Measurement]:
    """Read the measurements in the lookback window, the latest older one, and baselines."""
    read: dict[int, Measurement | None] = {}

    def read_one(item: _PendingMeasurement) -> Measurement | None:
        key = id(item)
        if key not in read:
            resource = check(item.raw)
            found = (
                measurements.read_measurement(resource, item.kind, item.matched_by, item.when)
                if resource is not None
                else None
            )
            if isinstance(found, DataIssue):
                issues.append(found)
                found = None
            read[key] = found
        return read[key]

    def latest_on_or_before(items: Sequence[_PendingMeasurement], limit: date) -> None:
        for item in items:
            if item.when is not None and item.when <= limit and read_one(item) is not None:
                return

    by_kind: dict[MeasurementKind, list[_PendingMeasurement]] = {}
    for item in pending:
        by_kind.setdefault(item.kind, []).append(item)
    for items in by_kind.values():
        items.sort(key=lambda i: i.when or date.min, reverse=True)
        for item in items:
            if item.when is None or item.when >= cutoff:
                read_one(item)
        latest_on_or_before(items, cutoff)
        for anchor in anchors:
            latest_on_or_before(items, anchor)
    return [m for m in read.values() if m is not None]


@dataclass(frozen=True, slots=True)
class _Reading:
    """What every reader of one build needs: the record's index, the validator, where the
    facts go, and the call's settings."""

    index: ResourceIndex
    check: _Validator
    out: _Collected
    domain: KinaseDomain
    as_of: date
    links: _Links
    site: SiteDrugCodes


@dataclass(frozen=True, slots=True)
class _Record:
    """The call's resources after one pass over them (``_gather``)."""

    index: ResourceIndex
    """Every resource about the call's patient (or about no patient), by reference."""
    read: list[tuple[Callable[[JsonObject, _Reading], None], JsonObject]]
    """Each resource one of ``_READERS`` reads, with its reader, in record order; those
    entered in error are left out."""
    linking: list[JsonObject]
    """What ``_links`` reads: DiagnosticReports with a ``result``, Observations with a
    ``derivedFrom`` or ``hasMember``."""


def _gather(resources: Iterable[Any], issues: list[DataIssue], patient_id: str | None) -> _Record:
    """Flatten, drop what is about another patient (``patient_scope``), index, and pick
    out what the readers and ``_links`` read: one pass over the flattened resources, which
    are thousands in a large record. The flattening's issues come first, as ever."""
    record = _Record(ResourceIndex(), [], [])
    scope = PatientScope(patient_id) if patient_id is not None else None
    add, read, linking = record.index.add, record.read.append, record.linking.append
    for raw, full_url in _flatten(resources, issues):
        if scope is not None and (dropped := scope.foreign(raw)) is not None:
            issues.append(dropped)
            continue
        add(raw, full_url)
        # ``_flatten`` kept only resources whose resourceType is a non-blank string.
        kind: str = raw["resourceType"]
        if (kind == "DiagnosticReport" and "result" in raw) or (
            kind == "Observation" and ("derivedFrom" in raw or "hasMember" in raw)
        ):
            linking(raw)
        reader = _READERS.get(kind)
        if reader is not None and not _entered_in_error(raw):
            read((reader, raw))
    return record


def _read_condition(raw: JsonObject, r: _Reading) -> None:
    route = routing.family_route(raw, "Condition")
    if route.relevant and (resource := r.check(raw)) is not None:
        _add(r.out.cancer, conditions.read_cancer_condition(resource))
        _add(r.out.ild, conditions.read_ild_condition(resource, r.index, r.site))
        r.out.comorbidities.extend(conditions.read_comorbidities(resource))
    _read_reproductive_state(raw, route, r)


def _read_reproductive_state(raw: JsonObject, route: routing.FamilyRoute, r: _Reading) -> None:
    """Menopause, hysterectomy, oophorectomy stated in a Condition or Procedure (version 2)."""
    if (
        (kind := route.reproductive) is not None
        and (resource := r.check(raw)) is not None
        and (status := reproductive.read_reproductive_status(resource, kind)) is not None
    ):
        r.out.version2.reproductive_status.append(status)


def _read_patient(raw: JsonObject, r: _Reading) -> None:
    """The patient's sex and birth date (version 2): the first Patient read."""
    if r.out.version2.demographics is None and (resource := r.check(raw)) is not None:
        r.out.version2.demographics = reproductive.read_demographics(resource)


def _read_medication(raw: JsonObject, r: _Reading) -> None:
    """A course of a recognised drug; else why a medication is not counted, or a course of
    another anticancer drug the record marks as cancer-related; then, for a drug that is
    not recognised, the version-2 check of a CYP3A co-medication."""
    concept, _ = medications.medication_of(raw, r.index)
    route = routing.medication_route(concept, r.site)
    if route.drug is not None:
        if (resource := r.check(raw)) is not None:
            _add_event(r.out, medications.read_event(resource, r.index, r.as_of, site=r.site))
        return
    _read_unrecognised_medication(raw, route, r)
    if (
        route.cyp3a
        # the concept itself, not a reference's display
        and reproductive.co_medication_concept(raw, r.index) is not None
        and (resource := r.check(raw)) is not None
        and (found := reproductive.read_co_medication(resource, r.index, r.as_of)) is not None
    ):
        r.out.version2.co_medications.append(found)


def _read_unrecognised_medication(
    raw: JsonObject, route: routing.MedicationRoute, r: _Reading
) -> None:
    if route.named is not None:
        r.out.issues.append(
            issue(raw, f"medication code not recognised; its text names {route.named.value}")
        )
    elif medications.marked_for_another_cancer(raw, r.index):
        r.out.issues.append(
            issue(raw, "cancer-related medication for another condition: not counted")
        )
    elif medications.marked_cancer_related(raw, r.index) and (resource := r.check(raw)):
        event = medications.read_event(resource, r.index, r.as_of, other_anticancer=True)
        _add_event(r.out, event)


def _add_event(out: _Collected, event: MedicationEvent | DataIssue | None) -> None:
    if isinstance(event, DataIssue):
        out.issues.append(event)
    elif event is not None:
        out.events.append(event)


def _read_report(raw: JsonObject, r: _Reading) -> None:
    route = routing.family_route(raw, "DiagnosticReport")
    if route.relevant and (resource := r.check(raw)) is not None:  # a genomic report
        r.out.reports.append(resource)
    _read_imaging_of(raw, route.imaging, r)


def _read_procedure(raw: JsonObject, r: _Reading) -> None:
    route = routing.family_route(raw, "Procedure")
    if route.relevant and (resource := r.check(raw)) is not None:
        radiation, brain = conditions.read_procedure(resource, r.index)
        _add(r.out.comorbidities, radiation)
        if brain:
            r.out.brain_treatment.append(resource.reference)
    _read_imaging_of(raw, route.imaging, r)
    _read_reproductive_state(raw, route, r)


def _read_imaging(raw: JsonObject, r: _Reading) -> None:
    _read_imaging_of(raw, imaging.imaging_kind(raw), r)


def _read_imaging_of(raw: JsonObject, kind: ImagingKind | None, r: _Reading) -> None:
    if kind and (resource := r.check(raw)) is not None:
        _add(r.out.imaging, imaging.read_imaging(resource))


def _read_adverse_event(raw: JsonObject, r: _Reading) -> None:
    if conditions.is_relevant_adverse_event(raw) and (resource := r.check(raw)) is not None:
        _add(r.out.ild_events, conditions.read_ild_adverse_event(resource, r.index, r.site))


_READERS: dict[str, Callable[[JsonObject, _Reading], None]] = {
    "Patient": _read_patient,
    "Observation": _read_observation,
    "Condition": _read_condition,
    **dict.fromkeys(medications.MEDICATION_TYPES, _read_medication),
    "DiagnosticReport": _read_report,
    "Procedure": _read_procedure,
    "ImagingStudy": _read_imaging,
    "AdverseEvent": _read_adverse_event,
}
"""The reader of each resource type the model is built from; other types are only indexed."""


def _add(target: list[Any], item: object) -> None:
    if item is not None:
        target.append(item)


def build_patient(
    resources: Sequence[Any],
    *,
    as_of: date,
    draft_orders: Mapping[str, Any] | None = None,
    selections: Sequence[str] | None = None,
    options: MappingOptions = MappingOptions(),
    unavailable_data: Sequence[str] = (),
    patient_id: str | None = None,
    validated: ValidationMemo | None = None,
) -> PatientModel:
    """Build the patient model from raw FHIR JSON (dicts; anything else is a data issue).

    With ``patient_id`` (the hook's ``context.patientId``), resources about another patient
    are dropped and reported (``patient_scope``). ``validated``: the call's validation
    results so far (``cds_service.scope`` read some of these resources already); a
    resource that failed is reported by this build all the same."""
    issues: list[DataIssue] = []
    record = _gather(resources if isinstance(resources, Sequence) else [], issues, patient_id)
    index = record.index
    domain = KinaseDomain(options.kinase_domain_first, options.kinase_domain_last)
    site = options.site_drug_codes
    out = _Collected([], [], [], [], [], [], [], [], [], [], [], [], [], issues, _Version2())
    memo = validated if validated is not None else ValidationMemo()
    check = _Validator(issues, memo)
    reading = _Reading(index, check, out, domain, as_of, _links(record.linking, index), site)
    for reader, raw in record.read:
        reader(raw, reading)

    exposures, stop_progressions = medications.build_exposures(
        out.events, as_of, options.new_line_gap_days
    )
    therapy_lines, line_issues = lines.build_lines(
        exposures,
        [*out.progressions, *stop_progressions],
        as_of=as_of,
        regimen_window_days=options.regimen_window_days,
        new_line_gap_days=options.new_line_gap_days,
    )
    issues.extend(line_issues)

    out.measurements.extend(
        _select_measurements(
            out.pending,
            sorted({e.start for e in exposures if e.start}, reverse=True),
            as_of - timedelta(days=options.measurement_lookback_days),
            check,
            issues,
        )
    )
    her2, egfr = _genomics(out, index, domain)
    episodes = [
        conditions.with_tdxd_timing(e, exposures, as_of)
        for e in conditions.with_stop_attribution(
            conditions.merge_adverse_events(out.ild, out.ild_events), exposures
        )
    ]
    comorbidities = list(out.comorbidities)
    comorbidities.extend(
        Comorbidity(ComorbidityKind.THORACIC_RADIATION, e.onset, e.sources)
        for e in episodes
        if e.cause is IldCause.RADIATION
    )
    if isinstance(draft_orders, Mapping):
        # Epic sends the Medication resources of the drafts in the draftOrders Bundle.
        for entry in objects(draft_orders.get("entry")):
            drafted = as_object(entry.get("resource"))
            if drafted is not None:
                index.add(drafted, string(entry, "fullUrl"))
    orders, order_issues = medications.read_draft_orders(
        draft_orders, selections, index, site, validated=memo
    )
    issues.extend(order_issues)
    issues.extend(n for n in out.version2.nyha if isinstance(n, DataIssue))
    return PatientModel(
        as_of=as_of,
        cancer=conditions.build_cancer(out.cancer, out.advanced_sources, out.brain_treatment),
        her2=her2,
        egfr=egfr,
        exposures=exposures,
        lines=therapy_lines,
        ild_episodes=tuple(sorted(episodes, key=lambda e: e.onset or e.recorded or date.min)),
        comorbidities=_merge_comorbidities(comorbidities),
        measurements=tuple(sorted(out.measurements, key=lambda m: (m.kind, m.date or date.min))),
        imaging=tuple(sorted(out.imaging, key=lambda i: (i.kind, i.date or date.min))),
        draft_orders=orders,
        data_issues=tuple(dict.fromkeys(issues)),
        unavailable_data=tuple(unavailable_data),
        demographics=out.version2.demographics or Demographics(),
        pregnancy_tests=tuple(
            sorted(out.version2.pregnancy_tests, key=lambda t: t.date or date.min)
        ),
        reproductive_status=tuple(out.version2.reproductive_status),
        co_medications=tuple(out.version2.co_medications),
        nyha_statements=tuple(n for n in out.version2.nyha if isinstance(n, NyhaStatement)),
    )


def _genomics(
    out: _Collected, index: ResourceIndex, domain: KinaseDomain
) -> tuple[Her2Status, EgfrStatus]:
    facts = [f for _, f in out.genomic]
    structured = {r.reference for r, f in out.genomic if f}
    for report in out.reports:
        results = {string(r, "reference") for r in objects(report.data.get("result"))}
        if any(ref and any(ref.endswith(s) for s in structured) for ref in results):
            continue
        report_facts = genomics.read_genomic(report, index, domain)
        facts.append(report_facts)
        out.issues.extend(report_facts.issues)
    her2 = Her2Status(
        mutations=_merge_mutations(m for f in facts for m in f.mutations),
        negative_results=tuple(n for f in facts for n in f.negatives),
        ihc=tuple(i for f in facts for i in f.ihc),
        amplification=tuple(a for f in facts for a in f.amplification),
    )
    return her2, _egfr_status([e for f in facts for e in f.egfr])


def _merge_mutations(mutations: Iterable[Her2Mutation]) -> tuple[Her2Mutation, ...]:
    """One entry per (normalised change, date): the same finding from two resources."""
    merged: dict[tuple[str, date | None], Her2Mutation] = {}
    for mutation in mutations:
        key = (mutation.protein_change or mutation.notation.lower(), mutation.date)
        if key in merged:
            first = merged[key]
            merged[key] = replace(
                first, sources=tuple(dict.fromkeys(first.sources + mutation.sources))
            )
        else:
            merged[key] = mutation
    return tuple(merged.values())


def _egfr_status(findings: Sequence[EgfrFinding]) -> EgfrStatus:
    if not findings:
        return EgfrStatus()
    mutated_values = {f.mutated for f in findings if f.mutated is not None}
    exon20_values = {f.exon20_insertion for f in findings if f.exon20_insertion is not None}
    sensitising_values = {f.sensitising for f in findings if f.sensitising is not None}
    return EgfrStatus(
        mutated=True if True in mutated_values else (False if mutated_values else None),
        exon20_insertion=True if True in exon20_values else (False if exon20_values else None),
        sensitising=(
            True if True in sensitising_values else (False if sensitising_values else None)
        ),
        date=max((f.date for f in findings if f.date), default=None),
        sources=tuple(dict.fromkeys(f.source for f in findings)),
    )


def _merge_comorbidities(items: Sequence[Comorbidity]) -> tuple[Comorbidity, ...]:
    by_kind: dict[ComorbidityKind, Comorbidity] = {}
    for item in items:
        known = by_kind.get(item.kind)
        if known is None:
            by_kind[item.kind] = item
            continue
        onsets = [d for d in (known.onset, item.onset) if d]
        by_kind[item.kind] = Comorbidity(
            item.kind,
            min(onsets, default=None),
            tuple(dict.fromkeys(known.sources + item.sources)),
        )
    return tuple(by_kind.values())

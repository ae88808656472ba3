"""Lines of therapy for advanced disease (clinical-rules.md, section 5).

Input: drug exposures (courses, from ``medications``) and documented progressions
(disease-status Observations 97509-4 valued 271299001 "worsened", and stop reasons).

- Curative-intent exposures are left out (therapy for early-stage disease is not a line).
  Exposures with no start date cannot be placed: each is a ``DataIssue``.
- Exposures are taken in start order. A new line starts when the next exposure begins
  more than ``new_line_gap_days`` (120) after the last therapy of the current line; or
  it is a drug outside the current regimen started more than ``regimen_window_days`` (28)
  after the line's start, or after a documented progression on the current line.
  Otherwise it joins the current line: a drug of the regimen again (maintenance,
  re-recorded course), a cisplatin <-> carboplatin swap, or any drug started within the
  window. Dropping a drug and dose changes never start a line (they create no new
  exposure).
- Progression on a line: a progression dated from the line's start up to the next
  line's start (up to ``as_of`` for the last line), or a progression stop reason of one
  of its exposures. Section 3 also counts "a new line started after a previous one":
  a line followed by another is marked progressed unless the drugs that ended it (the
  last to stop) were all stopped for toxicity (e.g. T-DXd stopped for ILD); such an
  inferred progression is dated by the next line's start and cites its sources.
- Progression date (clinical-rules.md 9.1): the date of the documented evidence: a
  disease-status Observation, a stop reason with its own date (the stopped record's
  end), else the start of the next line; never the start date of the stopped order.
- Class: any platinum -> ``platinum`` (a platinum doublet with or without ICI); else a
  HER2 ADC -> ``her2-adc``; HER2 TKI -> ``her2-tki``; amivantamab / mobocertinib ->
  ``egfr-ex20``; EGFR TKI -> ``egfr-tki``; ICI only -> ``ici``; anything else -> ``other``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from fhir_mappings.medications import ProgressionEvent
from fhir_mappings.model import (
    DRUG_CLASS,
    DataIssue,
    Drug,
    DrugClass,
    DrugExposure,
    LineClass,
    StopReason,
    TherapyLine,
)
from fhir_mappings.parse import Resource, as_object, choice_date, parse_date
from fhir_mappings.terminology import CONDITION_WORSENED, DISEASE_STATUS, codings, match

_PLATINUM_SWAP = {Drug.CISPLATIN: Drug.CARBOPLATIN, Drug.CARBOPLATIN: Drug.CISPLATIN}
DISEASE_STATUS_CODES = frozenset(c.code for c in DISEASE_STATUS.codes)


def is_disease_status(raw: object) -> bool:
    """Cheap pre-filter on a raw Observation."""
    obj = as_object(raw)
    if obj is None:
        return False
    return any(code in DISEASE_STATUS_CODES for _, code in codings(obj.get("code")))


def read_disease_status(resource: Resource) -> ProgressionEvent | None:
    """A progression from a disease-status Observation (value 271299001 or its text)."""
    data = resource.data
    if match(data.get("code"), DISEASE_STATUS) is None:
        return None
    if match(data.get("valueCodeableConcept"), CONDITION_WORSENED) is None:
        return None
    when = choice_date(data, "effective") or parse_date(data.get("issued"))
    return ProgressionEvent(when, resource.reference)


def line_class(drugs: frozenset[Drug]) -> LineClass:
    classes = {DRUG_CLASS[d] for d in drugs}
    for drug_class, result in (
        (DrugClass.PLATINUM, LineClass.PLATINUM),
        (DrugClass.HER2_ADC, LineClass.HER2_ADC),
        (DrugClass.HER2_TKI, LineClass.HER2_TKI),
        (DrugClass.EGFR_EX20, LineClass.EGFR_EX20),
        (DrugClass.EGFR_TKI, LineClass.EGFR_TKI),
    ):
        if drug_class in classes:
            return result
    if classes == {DrugClass.ICI}:
        return LineClass.ICI
    return LineClass.OTHER


@dataclass(slots=True)
class _Line:
    start: date
    exposures: list[DrugExposure] = field(default_factory=list)

    @property
    def drugs(self) -> frozenset[Drug]:
        return frozenset(e.drug for e in self.exposures)

    def last_activity(self, as_of: date) -> date:
        dates = [self.start]
        for e in self.exposures:
            dates.extend(d for d in (e.start, e.end) if d)
            dates.extend(r.date for r in e.doses if r.date)
            if e.active:
                dates.append(as_of)
        return max(dates)

    def has(self, drug: Drug) -> bool:
        drugs = self.drugs
        return drug in drugs or _PLATINUM_SWAP.get(drug) in drugs


def _progressed_between(
    progressions: Sequence[ProgressionEvent], start: date, end: date, sources: set[str]
) -> list[ProgressionEvent]:
    return [
        p
        for p in progressions
        if (p.date is not None and start <= p.date <= end)
        or (p.date is None and p.source in sources)
    ]


def build_lines(
    exposures: Sequence[DrugExposure],
    progressions: Sequence[ProgressionEvent],
    *,
    as_of: date,
    regimen_window_days: int,
    new_line_gap_days: int,
) -> tuple[tuple[TherapyLine, ...], tuple[DataIssue, ...]]:
    issues = tuple(
        DataIssue(
            e.sources[0].split("/")[0] if e.sources else "(unknown)",
            e.sources[0].split("/", 1)[-1] if e.sources else None,
            "anticancer drug without a start date: not placed in a line",
        )
        for e in exposures
        if e.start is None and not e.curative_intent
    )
    placed = sorted(
        (e for e in exposures if e.start is not None and not e.curative_intent),
        key=lambda e: (e.start or date.min, e.drug.value),
    )
    drafts: list[_Line] = []
    for exposure in placed:
        start = exposure.start or date.min
        current = drafts[-1] if drafts else None
        if current is None or _starts_new_line(
            current,
            exposure,
            start,
            progressions=progressions,
            as_of=as_of,
            window=regimen_window_days,
            gap=new_line_gap_days,
        ):
            drafts.append(_Line(start))
        drafts[-1].exposures.append(exposure)
    lines = [
        _finish(
            number, draft, drafts[number] if number < len(drafts) else None, progressions, as_of
        )
        for number, draft in enumerate(drafts, start=1)
    ]
    return tuple(lines), issues


def _starts_new_line(
    current: _Line,
    exposure: DrugExposure,
    start: date,
    *,
    progressions: Sequence[ProgressionEvent],
    as_of: date,
    window: int,
    gap: int,
) -> bool:
    if (start - current.last_activity(as_of)).days > gap:
        return True
    if current.has(exposure.drug):
        return False
    sources = {s for e in current.exposures for s in e.sources}
    if _progressed_between(progressions, current.start, start, sources):
        return True
    return (start - current.start).days > window


def _ended_for_toxicity(draft: _Line) -> bool:
    """Whether the drugs that ended the line (the last to stop) all stopped for toxicity."""
    ends = {e: e.end or e.start for e in draft.exposures}
    last = max((d for d in ends.values() if d), default=None)
    final = [e for e, end in ends.items() if end == last]
    return bool(final) and all(e.stop_reason is StopReason.TOXICITY for e in final)


def _finish(
    number: int,
    draft: _Line,
    following: _Line | None,
    progressions: Sequence[ProgressionEvent],
    as_of: date,
) -> TherapyLine:
    active = any(e.active for e in draft.exposures)
    sources = tuple(dict.fromkeys(s for e in draft.exposures for s in e.sources))
    window_end = following.start if following is not None else as_of
    stated = _progressed_between(progressions, draft.start, window_end, set(sources))
    stated = [
        p for p in stated if p.date is not None and (following is None or p.date < window_end)
    ] + [p for p in stated if p.date is None]
    progressed = bool(stated)
    progression_date = min((p.date for p in stated if p.date), default=None)
    progression_sources = tuple(dict.fromkeys(p.source for p in stated))
    if progressed and progression_date is None and following is not None:
        # Stated without a date of its own (a stop reason on an undated stop): the start
        # of the next line is the dated evidence (clinical-rules.md 9.1).
        progression_date = following.start
    if not progressed and following is not None and not _ended_for_toxicity(draft):
        progressed = True
        progression_date = following.start
        progression_sources = tuple(
            dict.fromkeys(s for e in following.exposures for s in e.sources)
        )
    # The course end: stated ends, administrations; else the next line's start; never the
    # first date of a completed / stopped order.
    ends = [e.end for e in draft.exposures if e.end]
    ends.extend(
        r.date
        for e in draft.exposures
        for r in e.doses
        if r.date and r.source.startswith("MedicationAdministration/")
    )
    end = max(ends, default=None)
    if end is None:
        end = following.start if following is not None else None
    drugs = draft.drugs
    return TherapyLine(
        number=number,
        drugs=drugs,
        line_class=line_class(drugs),
        start=draft.start,
        end=None if active else end,
        active=active,
        progressed=progressed,
        progression_date=progression_date,
        progression_sources=progression_sources,
        sources=sources,
    )

"""Cancer, ILD / pneumonitis episodes and comorbidities (Conditions, AdverseEvents,
stage Observations, Procedures).

Decisions (safer behaviour where the spec is silent):

- Conditions ``refuted`` / ``entered-in-error`` are ignored; resolved conditions still
  count as history (a resolved pneumonitis is still "prior ILD").
- NSCLC: SNOMED 254637007 / 254626006 / 59529006 [?] or text; ICD-10-CM C34.* (lung
  cancer without histology) counts as NSCLC unless the text says small cell (and not
  "non-small cell"): about 85 % of lung cancers are NSCLC, and the cost of a wrong
  "NSCLC" is an informational card, while a wrong "not NSCLC" silences every rule.
- Histology: squamous (59529006 [?], "squamous" not negated) vs non-squamous
  (254626006, "adenocarcinoma", "large cell", "non-squamous"); both stated (e.g.
  adenosquamous) -> unknown.
- Advanced: True on stage IV (Condition.stage summary or a stage Observation, matched by
  text because no stage code is in section 7), M1*, "metastatic", "unresectable", or
  brain / leptomeningeal metastases. Never False: an early stage at diagnosis does not
  exclude a later, unrecorded recurrence, so "not stated advanced" stays None (unknown).
- Brain metastases: True when a condition says so, else None; ``treated`` True when a
  brain-directed procedure (radiosurgery, SRS, whole-brain radiotherapy, craniotomy) or
  the condition text says treated, else None (unknown, not "untreated").
- ILD grade: only a stated CTCAE grade ("grade 2", "CTCAE grade 1", "G2", a grade
  extension coded 1-5 in a CTCAE system); SNOMED mild/moderate/severe is NOT mapped to a
  grade (the mapping would be a guess) -> None.
- ILD onset: ``onset[x]`` only (``recordedDate`` is kept separately as ``recorded``, an
  upper bound); ``on_tdxd`` is then computed in ``build`` (None when onset is unknown).
- ILD cause: radiation code / words -> radiation; a named drug (evidence, suspect
  entity, note) -> ``drug`` with that drug, or ``ici`` for a checkpoint inhibitor;
  "immune-related", "checkpoint", "irAE" -> ``ici``; a drug-induced code -> ``drug``.
- Hypoxia: "oxygen", "hypoxia", "hypoxemia", "desaturation" when not negated.
- Comorbidities: COPD, heart failure, LV systolic dysfunction by code or text; moderate
  or worse renal impairment by text only (CKD stage 3-5, ESRD); prior thoracic radiation
  from a thoracic radiotherapy Procedure or a radiation pneumonitis.
- An AdverseEvent for ILD merges into the Condition it names in ``resultingCondition``
  (or one with the same onset date); otherwise it is an episode of its own. A CTCAE
  grade extension coded 0 means the event did not occur: no episode.
- Attribution (clinical-rules.md 9.3, ``IldEpisode.attributed_drugs``): every drug named
  in the episode's text, its evidence detail / AdverseEvent suspect entities, and (in
  ``build``) a drug whose stop reason names ILD / pneumonitis, given the latest episode
  that began on or before that stop.
- Stage: mCODE TNM category / stage group Observations ("cM category", "Clinical TNM
  stage grouping") are read by their words: cM1 / pM1 or stage IV is advanced, cM0 or
  an earlier stage says nothing (never "not advanced").
- Prior thoracic radiation: a radiotherapy Procedure (words, or the mCODE radiotherapy
  course summary code 1217123003) whose body site or words are thoracic, or whose
  reasonCode / reasonReference is a lung cancer.
- Heart failure counts from its ``onset[x]``, never from ``recordedDate`` or an asserted
  date; a text that mentions it only negated ("without congestive heart failure") is
  not heart failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from fhir_mappings.medications import cycle_days, medication_of
from fhir_mappings.model import (
    DRUG_CLASS,
    Cancer,
    Comorbidity,
    ComorbidityKind,
    Drug,
    DrugClass,
    DrugExposure,
    Histology,
    IldCause,
    IldEpisode,
    MatchedBy,
)
from fhir_mappings.parse import (
    JsonObject,
    Resource,
    ResourceIndex,
    as_object,
    choice_date,
    objects,
    parse_date,
    string,
)
from fhir_mappings.terminology import (
    BRAIN_METASTASIS,
    COPD,
    HEART_FAILURE,
    ILD,
    ILD_DRUG_INDUCED,
    ILD_RADIATION,
    LEPTOMENINGEAL,
    LUNG_ADENOCARCINOMA,
    LUNG_CANCER,
    LUNG_SQUAMOUS,
    LV_SYSTOLIC_DYSFUNCTION,
    NO_SITE_DRUG_CODES,
    NSCLC,
    RADIOTHERAPY_COURSE,
    RENAL_IMPAIRMENT_MODERATE_OR_WORSE,
    CodeSet,
    SiteDrugCodes,
    codings,
    concept_text,
    drugs_named,
    match,
    match_drug,
    mentions,
    normalise_text,
)

_CONDITION_SETS: tuple[CodeSet, ...] = (
    NSCLC,
    LUNG_ADENOCARCINOMA,
    LUNG_SQUAMOUS,
    LUNG_CANCER,
    BRAIN_METASTASIS,
    LEPTOMENINGEAL,
    ILD,
    COPD,
    HEART_FAILURE,
    LV_SYSTOLIC_DYSFUNCTION,
    RENAL_IMPAIRMENT_MODERATE_OR_WORSE,
)
_CANCER_SETS = (NSCLC, LUNG_ADENOCARCINOMA, LUNG_SQUAMOUS, LUNG_CANCER)
_IGNORED_VERIFICATION = frozenset({"refuted", "entered-in-error"})


def is_relevant_condition(raw: JsonObject) -> bool:
    """Cheap pre-filter: a Condition whose code is in one of the condition code sets."""
    code = raw.get("code")
    pairs = codings(code)
    if any(s.match_coding(system, value) for s in _CONDITION_SETS for system, value in pairs):
        return True
    words = normalise_text(concept_text(code))
    return any(s.match_words(words) for s in _CONDITION_SETS)


def is_relevant_adverse_event(raw: JsonObject) -> bool:
    return match(raw.get("event"), ILD) is not None


_STAGE_WORDS = re.compile(r"stage|tnm|metasta|\b[cpy]{0,2}m\s*category", re.IGNORECASE)


def is_stage_observation(raw: JsonObject) -> bool:
    return bool(_STAGE_WORDS.search(concept_text(raw.get("code"))))


def _status_code(concept: object) -> str | None:
    for _, code in codings(concept):
        return code
    text = concept_text(concept).strip().lower()
    return text or None


def is_ignored(data: JsonObject) -> bool:
    return _status_code(data.get("verificationStatus")) in _IGNORED_VERIFICATION


def _extension_texts(data: JsonObject) -> list[str]:
    texts: list[str] = []
    for extension in objects(data.get("extension")):
        texts.append(concept_text(extension.get("valueCodeableConcept")))
        texts.append(string(extension, "valueString") or "")
    return texts


def condition_text(data: JsonObject) -> str:
    """Code, stage, severity, notes and extension texts of a Condition (for text rules)."""
    parts = [concept_text(data.get("code")), concept_text(data.get("severity"))]
    for stage in objects(data.get("stage")):
        parts.append(concept_text(stage.get("summary")))
        parts.append(concept_text(stage.get("type")))
    parts.extend(string(n, "text") or "" for n in objects(data.get("note")))
    parts.extend(_extension_texts(data))
    for evidence in objects(data.get("evidence")):
        parts.extend(concept_text(c) for c in objects(evidence.get("code")))
        parts.extend(string(d, "display") or "" for d in objects(evidence.get("detail")))
    return " ; ".join(p for p in parts if p)


# --- stage / advanced ----------------------------------------------------------------------

_STAGE_IV = re.compile(r"\bstage\s*(?:iv|4)[abc]?\b|^\s*(?:iv|4)[abc]?\s*$", re.IGNORECASE)
_M1 = re.compile(r"\b[cpy]{0,2}m1[abc]?\d?\b", re.IGNORECASE)
_ADVANCED_WORDS = ("metastatic", "metastasis", "metastases", "unresectable", "stage iv",
                   "stage iva", "stage ivb", "stage ivc")  # fmt: skip


def advanced_from_text(text: str) -> bool:
    if _STAGE_IV.search(text) or _M1.search(text):
        return True
    return mentions(text, _ADVANCED_WORDS)


def read_stage_observation(resource: Resource) -> bool:
    """Whether a stage / M-category Observation states advanced disease."""
    data = resource.data
    value = " ; ".join(
        [concept_text(data.get("valueCodeableConcept")), string(data, "valueString") or ""]
    )
    code = concept_text(data.get("code")).lower()
    if _STAGE_IV.search(value) or (_M1.search(value) and ("m" in code or "metast" in code)):
        return True
    return advanced_from_text(value) if value.strip() else False


# --- cancer -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CancerEvidence:
    """What one Condition says about the cancer."""

    source: str
    nsclc: bool | None
    squamous: bool
    non_squamous: bool
    advanced: bool
    brain_metastases: bool
    brain_treated: bool
    leptomeningeal: bool
    diagnosis_date: date | None


def read_cancer_condition(resource: Resource) -> CancerEvidence | None:
    data = resource.data
    if is_ignored(data):
        return None
    code = data.get("code")
    text = condition_text(data)
    brain = match(code, BRAIN_METASTASIS) is not None
    lepto = match(code, LEPTOMENINGEAL) is not None or mentions(text, ("leptomeningeal",))
    cancer_match = [s for s in _CANCER_SETS if match(code, s) is not None]
    if not cancer_match and not brain and not lepto:
        return None
    nsclc: bool | None = None
    if any(s in cancer_match for s in (NSCLC, LUNG_ADENOCARCINOMA, LUNG_SQUAMOUS)):
        nsclc = True
    elif LUNG_CANCER in cancer_match:
        lowered = text.lower().replace("-", " ")
        small_cell = "small cell" in lowered and "non small cell" not in lowered
        nsclc = not small_cell
    squamous = match(code, LUNG_SQUAMOUS) is not None or (
        mentions(text, ("squamous",)) and not mentions(text, ("adenosquamous",))
    )
    non_squamous = match(code, LUNG_ADENOCARCINOMA) is not None or mentions(
        text, ("adenocarcinoma", "large cell", "non squamous", "nonsquamous")
    )
    if mentions(text, ("adenosquamous",)):
        squamous = non_squamous = True
    treated = mentions(text, ("treated", "radiosurgery", "srs", "resected", "post radiation"))
    return CancerEvidence(
        source=resource.reference,
        nsclc=nsclc,
        squamous=squamous,
        non_squamous=non_squamous,
        advanced=brain or lepto or advanced_from_text(text),
        brain_metastases=brain,
        brain_treated=brain and treated,
        leptomeningeal=lepto,
        diagnosis_date=(choice_date(data, "onset") or parse_date(data.get("recordedDate")))
        if cancer_match
        else None,
    )


def build_cancer(
    evidence: Sequence[CancerEvidence],
    advanced_sources: Sequence[str],
    brain_treatment_sources: Sequence[str],
) -> Cancer | None:
    """Merge what the Conditions, stage Observations and Procedures say."""
    primary = [e for e in evidence if e.nsclc is not None]
    if not primary:
        return None
    squamous = any(e.squamous for e in evidence)
    non_squamous = any(e.non_squamous for e in evidence)
    histology = (
        Histology.SQUAMOUS
        if squamous and not non_squamous
        else Histology.NON_SQUAMOUS
        if non_squamous and not squamous
        else Histology.UNKNOWN
    )
    brain = any(e.brain_metastases for e in evidence)
    advanced = any(e.advanced for e in evidence) or bool(advanced_sources)
    treated = any(e.brain_treated for e in evidence) or (brain and bool(brain_treatment_sources))
    sources = [
        e.source for e in evidence if e.nsclc is not None or e.advanced or e.brain_metastases
    ]
    sources.extend(advanced_sources)
    if brain:
        sources.extend(brain_treatment_sources)
    return Cancer(
        nsclc=any(e.nsclc for e in primary),
        histology=histology,
        advanced=True if advanced else None,
        brain_metastases=True if brain else None,
        brain_metastases_treated=True if treated else None,
        leptomeningeal=True if any(e.leptomeningeal for e in evidence) else None,
        diagnosis_date=min((e.diagnosis_date for e in primary if e.diagnosis_date), default=None),
        sources=tuple(dict.fromkeys(sources)),
    )


# --- ILD ------------------------------------------------------------------------------------

_GRADE = re.compile(
    r"\b(?:ctcae\s*(?:v\d(?:\.\d+)?\s*)?)?(?:grade|gr\.?)\s*:?\s*([1-5]|iv|v|i{1,3})\b"
    r"|\bg([1-5])\b",
    re.IGNORECASE,
)
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5}
_HYPOXIA = ("oxygen", "hypoxia", "hypoxemia", "hypoxaemia", "hypoxic", "desaturation",
            "supplemental o2", "o2 requirement")  # fmt: skip
_ICI_WORDS = ("immune related", "immune mediated", "checkpoint inhibitor", "irae",
              "immunotherapy related")  # fmt: skip


def grade_from_text(text: str) -> int | None:
    found = _GRADE.search(text)
    if found is None:
        return None
    value = (found.group(1) or found.group(2)).lower()
    return int(value) if value.isdigit() else _ROMAN.get(value)


_GRADE_CODES = frozenset({"0", "1", "2", "3", "4", "5"})
"""CTCAE grade codes; 0 means the adverse event did not occur (an AdverseEvent with
grade 0 is not an episode)."""


def _grade_from_extensions(data: JsonObject) -> int | None:
    for extension in objects(data.get("extension")):
        url = (string(extension, "url") or "").lower()
        concept = extension.get("valueCodeableConcept")
        for system, code in codings(concept):
            if ("ctcae" in system.lower() or "grade" in url) and code in _GRADE_CODES:
                return int(code)
        text = concept_text(concept) + " " + (string(extension, "valueString") or "")
        if "grade" in url and text.strip():
            found = (
                grade_from_text("grade " + text)
                if text.strip().isdigit()
                else grade_from_text(text)
            )
            if found is not None:
                return found
    return None


def _cause(code: object, text: str, suspect_drugs: Iterable[Drug]) -> tuple[IldCause, Drug | None]:
    if any(ILD_RADIATION.match_coding(s, c) for s, c in codings(code)) or mentions(
        text, ("radiation", "radiotherapy")
    ):
        return IldCause.RADIATION, None
    named = [*suspect_drugs, *drugs_named(text)]
    non_ici = [d for d in named if DRUG_CLASS[d] is not DrugClass.ICI]
    if non_ici:
        return IldCause.DRUG, non_ici[0]
    if named:
        return IldCause.ICI, named[0]
    if mentions(text, _ICI_WORDS):
        return IldCause.ICI, None
    if any(ILD_DRUG_INDUCED.match_coding(s, c) for s, c in codings(code)) or mentions(
        text, ("drug induced", "drug related")
    ):
        return IldCause.DRUG, None
    return IldCause.UNKNOWN, None


def _referenced_drugs(
    references: Iterable[JsonObject],
    container: JsonObject,
    index: ResourceIndex,
    site: SiteDrugCodes = NO_SITE_DRUG_CODES,
) -> list[Drug]:
    found: list[Drug] = []
    for ref in references:
        target = index.resolve(ref, container)
        if target is not None:
            concept, _ = medication_of(target, index)
            if concept is None and string(target, "resourceType") == "Medication":
                concept = as_object(target.get("code"))
            hit = match_drug(concept, site) if concept is not None else None
            if hit is not None:
                found.append(hit.drug)
    return found


_ACTIVE_STATUS = frozenset({"active", "recurrence", "relapse"})


def read_ild_condition(
    resource: Resource, index: ResourceIndex, site: SiteDrugCodes = NO_SITE_DRUG_CODES
) -> IldEpisode | None:
    data = resource.data
    if is_ignored(data) or match(data.get("code"), ILD) is None:
        return None
    text = condition_text(data)
    clinical = _status_code(data.get("clinicalStatus"))
    abatement = choice_date(data, "abatement")
    active = clinical in _ACTIVE_STATUS if clinical else abatement is None
    detail_refs = [d for e in objects(data.get("evidence")) for d in objects(e.get("detail"))]
    evidence_drugs = _referenced_drugs(detail_refs, data, index, site)
    cause, cause_drug = _cause(data.get("code"), text, evidence_drugs)
    grade = _grade_from_extensions(data)
    return IldEpisode(
        attributed_drugs=frozenset([*evidence_drugs, *drugs_named(text)]),
        onset=choice_date(data, "onset"),
        resolved=abatement,
        active=active,
        grade=grade or grade_from_text(text),
        cause=cause,
        cause_drug=cause_drug,
        on_tdxd=None,
        hypoxia=mentions(text, _HYPOXIA),
        sources=(resource.reference,),
        recorded=parse_date(data.get("recordedDate")),
    )


def read_ild_adverse_event(
    resource: Resource, index: ResourceIndex, site: SiteDrugCodes = NO_SITE_DRUG_CODES
) -> tuple[IldEpisode, list[str]] | None:
    """An ILD AdverseEvent as an episode, with the Condition references it resulted in."""
    data = resource.data
    if match(data.get("event"), ILD) is None:
        return None
    if string(data, "actuality") == "potential":
        return None
    texts = [concept_text(data.get("event")), concept_text(data.get("severity"))]
    texts.append(concept_text(data.get("outcome")))
    texts.extend(string(n, "text") or "" for n in objects(data.get("note")))
    texts.extend(_extension_texts(data))
    suspects = [as_object(s.get("instance")) for s in objects(data.get("suspectEntity"))]
    suspect_refs = [s for s in suspects if s is not None]
    texts.extend(string(s, "display") or "" for s in suspect_refs)
    text = " ; ".join(t for t in texts if t)
    outcome = _status_code(data.get("outcome"))
    grade = _grade_from_extensions(data)
    if grade == 0:
        return None  # CTCAE grade 0: the adverse event did not occur
    suspects_named = _referenced_drugs(suspect_refs, data, index, site)
    cause, drug = _cause(data.get("event"), text, suspects_named)
    episode = IldEpisode(
        onset=parse_date(data.get("date")) or parse_date(data.get("detected")),
        resolved=None,
        active=outcome not in ("resolved", "recovered", "recovered/resolved"),
        attributed_drugs=frozenset([*suspects_named, *drugs_named(text)]),
        grade=grade or grade_from_text(text),
        cause=cause,
        cause_drug=drug,
        hypoxia=mentions(text, _HYPOXIA),
        sources=(resource.reference,),
        recorded=parse_date(data.get("recordedDate")),
    )
    resulting = [
        ref for r in objects(data.get("resultingCondition")) if (ref := string(r, "reference"))
    ]
    return episode, resulting


def merge_adverse_events(
    episodes: list[IldEpisode], events: Sequence[tuple[IldEpisode, list[str]]]
) -> list[IldEpisode]:
    merged = list(episodes)
    for event, resulting in events:
        target = next(
            (
                i
                for i, e in enumerate(merged)
                if any(r.endswith(e.sources[0]) for r in resulting)
                or (event.onset is not None and e.onset == event.onset)
            ),
            None,
        )
        if target is None:
            merged.append(event)
            continue
        base = merged[target]
        merged[target] = replace(
            base,
            grade=base.grade if base.grade is not None else event.grade,
            cause=base.cause if base.cause is not IldCause.UNKNOWN else event.cause,
            cause_drug=base.cause_drug or event.cause_drug,
            hypoxia=base.hypoxia or event.hypoxia,
            onset=base.onset or event.onset,
            attributed_drugs=base.attributed_drugs | event.attributed_drugs,
            sources=(*base.sources, *event.sources),
        )
    return merged


def with_stop_attribution(
    episodes: Sequence[IldEpisode], exposures: Sequence[DrugExposure]
) -> list[IldEpisode]:
    """A drug whose stop reason names ILD / pneumonitis is attributed the latest episode
    that began on or before its stop (the only episode when none is dated)."""
    result = list(episodes)
    for exposure in exposures:
        if not exposure.stopped_for_ild:
            continue
        stop = exposure.end
        dated = [
            i
            for i, e in enumerate(result)
            if e.onset is not None and (stop is None or e.onset <= stop)
        ]
        if dated:
            target = max(dated, key=lambda i: result[i].onset or date.min)
        elif len(result) == 1:
            target = 0
        else:
            continue
        episode = result[target]
        result[target] = replace(
            episode, attributed_drugs=episode.attributed_drugs | {exposure.drug}
        )
    return result


def with_tdxd_timing(
    episode: IldEpisode, exposures: Sequence[DrugExposure], as_of: date
) -> IldEpisode:
    """``on_tdxd``: onset between a T-DXd course's start and its end (or today) + 2 cycles."""
    if episode.onset is None:
        return replace(episode, on_tdxd=None)
    window = timedelta(days=2 * cycle_days(Drug.TRASTUZUMAB_DERUXTECAN))
    on = any(
        e.drug is Drug.TRASTUZUMAB_DERUXTECAN
        and e.start is not None
        and e.start <= episode.onset <= (e.end or as_of) + window
        for e in exposures
    )
    return replace(episode, on_tdxd=on)


# --- comorbidities ---------------------------------------------------------------------------


def read_comorbidities(resource: Resource) -> list[Comorbidity]:
    data = resource.data
    if is_ignored(data):
        return []
    code = data.get("code")
    onset = choice_date(data, "onset")
    found: list[Comorbidity] = []
    for kind, code_set in (
        (ComorbidityKind.COPD, COPD),
        (ComorbidityKind.HEART_FAILURE, HEART_FAILURE),
        (ComorbidityKind.LV_DYSFUNCTION, LV_SYSTOLIC_DYSFUNCTION),
        (ComorbidityKind.RENAL_IMPAIRMENT, RENAL_IMPAIRMENT_MODERATE_OR_WORSE),
    ):
        matched = match(code, code_set)
        if matched is MatchedBy.TEXT and not mentions(concept_text(code), code_set.texts):
            continue  # the words occur only negated ("... without congestive heart failure")
        if matched is not None:
            found.append(Comorbidity(kind, onset, (resource.reference,)))
    return found


_RADIATION = ("radiation", "radiotherapy", "irradiation", "sbrt", "sabr", "imrt",
              "chemoradiation", "chemoradiotherapy", "stereotactic body")  # fmt: skip
_THORAX = ("thorax", "thoracic", "chest", "lung", "mediastinum", "mediastinal", "hilar",
           "bronchus")  # fmt: skip
_BRAIN_TREATMENT = ("radiosurgery", "srs", "gamma knife", "whole brain", "wbrt",
                    "craniotomy")  # fmt: skip
_PROCEDURE_DONE = frozenset({"completed", "in-progress"})


def procedure_text(data: JsonObject) -> str:
    parts = [concept_text(data.get("code"))]
    parts.extend(concept_text(b) for b in objects(data.get("bodySite")))
    parts.extend(string(n, "text") or "" for n in objects(data.get("note")))
    return " ; ".join(p for p in parts if p)


def is_relevant_procedure(raw: JsonObject) -> bool:
    if _is_radiotherapy_course(raw):
        return True
    text = procedure_text(raw)
    return mentions(text, _RADIATION) or mentions(text, _BRAIN_TREATMENT)


def _is_radiotherapy_course(data: JsonObject) -> bool:
    """An mCODE radiotherapy course summary (its fixed SNOMED code 1217123003)."""
    return any(RADIOTHERAPY_COURSE.match_coding(s, c) for s, c in codings(data.get("code")))


def _for_lung_cancer(data: JsonObject, index: ResourceIndex | None) -> bool:
    """A reasonCode, or a reasonReference to a Condition, that is a lung cancer."""
    concepts: list[object] = list(objects(data.get("reasonCode")))
    if index is not None:
        for ref in objects(data.get("reasonReference")):
            target = index.resolve(ref, data)
            if target is not None:
                concepts.append(target.get("code"))
    return any(match(c, s) is not None for c in concepts for s in _CANCER_SETS)


def read_procedure(
    resource: Resource, index: ResourceIndex | None = None
) -> tuple[Comorbidity | None, bool]:
    """(prior thoracic radiation, brain-directed treatment) of a Procedure. Radiation:
    the words, or an mCODE radiotherapy course summary; thoracic: a chest / lung body
    site or words, or a reason that is the lung cancer."""
    data = resource.data
    if string(data, "status") not in _PROCEDURE_DONE:
        return None, False
    text = procedure_text(data)
    radiation = _is_radiotherapy_course(data) or mentions(text, _RADIATION)
    thoracic = radiation and (mentions(text, _THORAX) or _for_lung_cancer(data, index))
    brain = mentions(text, _BRAIN_TREATMENT) or (
        mentions(text, _RADIATION) and mentions(text, ("brain", "cranial"))
    )
    comorbidity = (
        Comorbidity(
            ComorbidityKind.THORACIC_RADIATION,
            choice_date(data, "performed"),
            (resource.reference,),
        )
        if thoracic
        else None
    )
    return comorbidity, brain


# --- Scope ------------------------------------------------------------------------------

_SCOPE_SETS: tuple[CodeSet, ...] = (*_CANCER_SETS, ILD)
_SCOPE_WORDS = re.compile(
    "|".join(re.escape(normalise_text(text)) for s in _SCOPE_SETS for text in s.texts)
)
"""The text phrases of those sets, as ``normalise_text`` gives them, in one pattern: one
scan of a Condition's text instead of one per phrase (the check runs on every Condition
of every chart opened)."""
_SCOPE_ANCHORS = re.compile(
    "|".join(
        sorted(
            {
                re.escape(max(normalise_text(text).split(), key=len))
                for s in _SCOPE_SETS
                for text in s.texts
                if text.strip()
            }
        )
    )
)
"""The longest word of each of those phrases: a phrase can only occur in a text whose
lower-cased form holds its longest word, so a text without any of them is rejected
before it is normalised (most Conditions of a chart: hypertension, diabetes...)."""


def may_put_in_scope(raw: JsonObject) -> bool:
    """Cheap pre-filter for the service's scope decision: a Condition whose code (or the
    code's text) is in a lung-cancer or an ILD code set. ``build_patient`` reads NSCLC
    (``read_cancer_condition``) and ILD (``read_ild_condition``) from no other
    Condition, so a record none of whose Conditions passes has neither."""
    code = raw.get("code")
    usual = _usual_concept(code)
    if usual is None:  # any other shape: the mapping's own readers
        pairs, text = codings(code), concept_text(code)
    else:
        pairs, text = usual
    if any(s.match_coding(system, value) for s in _SCOPE_SETS for system, value in pairs):
        return True
    if _SCOPE_ANCHORS.search(text.lower()) is None:
        return False
    return _SCOPE_WORDS.search(normalise_text(text)) is not None


def _usual_concept(code: object) -> tuple[list[tuple[str, str]], str] | None:
    """``codings`` and ``concept_text`` of a CodeableConcept of the usual shapes (an object
    with a ``coding`` list of objects, or with ``text`` only, and no ``display`` of its
    own), in one pass; None for any other shape."""
    if type(code) is not dict or "display" in code:
        return None
    pairs: list[tuple[str, str]] = []
    texts: list[str] = []
    text = code.get("text")
    if type(text) is str and text.strip():
        texts.append(text)
    items = code.get("coding")
    if items is None and "system" not in code and "code" not in code:
        return pairs, " | ".join(texts)  # text only
    if type(items) is not list or not items:
        return None
    for item in items:
        if type(item) is not dict:
            return None
        system, value, display = item.get("system"), item.get("code"), item.get("display")
        if type(system) is str and type(value) is str and system.strip() and value.strip():
            pairs.append((system, value))
        if type(display) is str and display.strip():
            texts.append(display)
    return pairs, " | ".join(texts)

"""What a rule is, what it concludes, and the registry that holds the rules.

A rule is a small pure function over a :class:`~cds_service.rules.situation.Situation`
(the patient model plus the hook and the settings), registered with its metadata by
the :func:`rule` decorator: its id (``clinical-rules.md`` section 6), the hooks it
serves, its possible indicators, its confidence tags and its citation. The function
yields :class:`Conclusion` objects; ``evaluate`` turns each into a :class:`Finding`
(conclusion + the rule's metadata). Card rendering reads only findings.

Suggestions are described abstractly here (``Prescribe``, ``Request``, ``ChangeDose``,
``CancelOrder``); ``cds_service.cards`` turns them into FHIR R4 actions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from cds_service.wire import Hook, Indicator, SelectionBehavior
from fhir_mappings.model import Dose, Drug, PatientModel, Sources, TherapyLine

if TYPE_CHECKING:
    from cds_service.rules.situation import Situation


class Confidence(StrEnum):
    """How well a statement is supported (clinical-rules.md, confidence tags)."""

    LABEL = "L"
    """Read in an FDA label or trial report."""
    SEEDS = "S"
    """Stated in the expert seeds and consistent with the labels."""
    EXPERT = "E"
    """Expert opinion with no prospective data."""
    UNVERIFIED = "?"
    """Not verified: configurable, said so in the card, never presented as label fact."""

    @property
    def tag(self) -> str:
        return f"[{self.value}]"

    @property
    def meaning(self) -> str:
        return {
            "L": "FDA label or trial report",
            "S": "guideline as reported by experts, consistent with labels",
            "E": "expert opinion",
            "?": "not verified",
        }[self.value]


@dataclass(frozen=True, slots=True)
class Citation:
    """A card's ``source``: the most specific document, with a public URL where known."""

    label: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Fact:
    """One patient fact a rule used, with its date and FHIR sources.

    A fact with no sources states an absence ("no LVEF in the last 90 days"): the card
    says it was not found, never that the value is normal.
    """

    text: str
    date: date | None = None
    sources: Sources = ()


# --- Suggested actions (abstract; rendered to FHIR by cds_service.cards) ------------------


class Service(StrEnum):
    """Tests, imaging and referrals that suggestions can order (ServiceRequest ``code.text``)."""

    NGS_TISSUE = "Broad NGS panel (tissue)"
    CTDNA_PLASMA = "Plasma ctDNA NGS"
    REBIOPSY_NGS = "Re-biopsy with NGS panel including ERBB2 (tissue)"
    CTDNA_ERBB2 = "Plasma ctDNA NGS including ERBB2"
    HER2_IHC = "HER2 immunohistochemistry (tissue)"
    CHEST_CT = "CT chest (high resolution)"
    ECHOCARDIOGRAM = "Echocardiogram"
    PULMONOLOGY = "Pulmonology referral"
    LIVER_PANEL = "Hepatic function panel"
    CBC = "Complete blood count with differential"
    PREGNANCY_TEST = "Pregnancy test (serum hCG)"


@dataclass(frozen=True, slots=True)
class DoseInstruction:
    """A dose to put in a draft MedicationRequest."""

    dose: Dose
    frequency: int
    """Administrations per period."""
    period: int
    period_unit: str
    """UCUM time unit of the period: ``d`` or ``wk``."""
    route: str
    text: str
    with_food: bool = False


@dataclass(frozen=True, slots=True)
class Prescribe:
    """Create a draft MedicationRequest. ``dosage`` None: no dose given (``note`` says why)."""

    drug: Drug
    dosage: DoseInstruction | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """Create a draft ServiceRequest (test, imaging, referral)."""

    service: Service
    due: date | None = None
    """Latest date to do it (``occurrencePeriod.end``), e.g. "repeat LVEF within 3 weeks"."""


@dataclass(frozen=True, slots=True)
class ChangeDose:
    """Update a draft order: the order as sent, with this dose."""

    order_ref: str
    dosage: DoseInstruction


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Delete a draft order (by ``resourceId``)."""

    order_ref: str
    drug: Drug | None = None


@dataclass(frozen=True, slots=True)
class UseOrderSet:
    """Order a regimen through the site's order set (``order-set:<name>`` in the site order
    catalog). Never drafted drug by drug: without a catalog entry the suggestion is not
    offered (clinical-rules.md 9.1, "no bare chemotherapy drafts")."""

    name: str
    """The catalog's order-set name, e.g. ``platinum-doublet``."""
    regimen: str
    """What the order set is, for the action's description."""


SuggestedAction = Prescribe | Request | ChangeDose | CancelOrder | UseOrderSet


@dataclass(frozen=True, slots=True)
class Proposal:
    """One card suggestion: a label and the actions accepted together."""

    label: str
    actions: tuple[SuggestedAction, ...]
    recommended: bool = False

    def creates(self, drug: Drug) -> bool:
        return any(isinstance(a, Prescribe) and a.drug is drug for a in self.actions)


class OverrideSet(StrEnum):
    """Which override reasons a card offers (codes in ``cds_service.cards``)."""

    TREATMENT_CHOICE = "treatment-choice"
    TESTING = "testing"
    SAFETY = "safety"


# --- Conclusions and findings ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Conclusion:
    """What one rule concluded for one patient (or one draft order)."""

    indicator: Indicator
    summary: str
    """One line, under 140 characters, plain and specific."""
    facts: tuple[Fact, ...]
    """The patient facts the rule used, with dates and FHIR sources."""
    guidance: tuple[str, ...]
    """What the label or guideline says (Markdown sentences, the project's own words)."""
    proposals: tuple[Proposal, ...] = ()
    selection: SelectionBehavior | None = None
    """Required when there are proposals; ``at-most-one`` for alternatives."""
    uncertainties: tuple[str, ...] = ()
    """Unverified points, missing data and configurable thresholds, said plainly."""
    show_lines: bool = False
    """Render the lines of therapy as derived (when the card depends on them)."""
    order_refs: tuple[str, ...] = ()
    """The draft orders the card speaks about ("MedicationRequest/abc")."""
    drug: Drug | None = None
    """The drug the card is about (for supersession)."""
    halts_drug: bool = False
    """A critical hold or discontinuation of ``drug``: supersedes reminders about it."""
    permanent: bool = False
    """The halt is a permanent discontinuation (supersedes temporary holds)."""
    supersedes: tuple[str, ...] = ()
    """Rule ids this card makes redundant for the same order (or patient, on patient-view)."""
    citation: Citation | None = None
    """Overrides the rule's citation when the card cites a more specific source."""
    override_set: OverrideSet | None = None
    """Overrides the rule's override-reason set."""


@dataclass(frozen=True, slots=True)
class Finding:
    """A conclusion with the metadata of the rule that drew it."""

    rule_id: str
    title: str
    indicator: Indicator
    summary: str
    facts: tuple[Fact, ...]
    guidance: tuple[str, ...]
    citation: Citation
    confidence: tuple[Confidence, ...]
    override_set: OverrideSet
    proposals: tuple[Proposal, ...] = ()
    selection: SelectionBehavior | None = None
    uncertainties: tuple[str, ...] = ()
    show_lines: bool = False
    order_refs: tuple[str, ...] = ()
    drug: Drug | None = None
    halts_drug: bool = False
    permanent: bool = False
    supersedes: tuple[str, ...] = ()
    rank: int = 0
    """Position of the rule in the registry (ties in card order)."""
    other_reasons: tuple[Fact, ...] = ()
    """Other current reasons to hold or change the same drug, from the cards this one
    superseded (a critical card never hides a second reason, clinical-rules.md 9.1)."""
    lines: tuple[TherapyLine, ...] = ()
    """The lines of therapy as derived, shown when ``show_lines`` (``with_card_data``)."""
    unverified_code_drugs: frozenset[Drug] = frozenset()
    """Drugs of the card (its draft orders; the courses when ``show_lines``) recognised only
    by an RxNorm code not yet verified: the card says so."""
    orders_as_sent: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, hash=False)
    """The draft orders that a ``ChangeDose`` of the card changes, as sent, by reference."""


def with_card_data(f: Finding, patient: PatientModel) -> Finding:
    """What the card of ``f`` shows beyond the rule's conclusion, taken from the patient
    model once the findings are arranged: card rendering reads only findings."""
    orders = [o for o in patient.draft_orders if o.reference in f.order_refs]
    exposures = patient.exposures if f.show_lines else ()
    unverified = frozenset(
        {o.drug for o in orders if o.unverified_code_only and o.drug}
        | {e.drug for e in exposures if e.unverified_code_only}
    )
    changed = {a.order_ref for p in f.proposals for a in p.actions if isinstance(a, ChangeDose)}
    as_sent = {
        o.reference: o.resource
        for o in patient.draft_orders
        if o.reference in changed and o.resource is not None
    }
    if not (f.show_lines or unverified or as_sent):
        return f
    return replace(
        f,
        lines=patient.lines if f.show_lines else (),
        unverified_code_drugs=unverified,
        orders_as_sent=as_sent,
    )


RuleCheck = Callable[["Situation"], Iterable[Conclusion]]


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule of clinical-rules.md section 6 with its metadata."""

    id: str
    title: str
    hooks: frozenset[Hook]
    indicators: tuple[Indicator, ...]
    confidence: tuple[Confidence, ...]
    citation: Citation
    override_set: OverrideSet
    check: RuleCheck = field(compare=False)
    rank: int = 0

    def conclude(self, situation: Situation) -> tuple[Finding, ...]:
        # map, not a generator expression: most rules conclude nothing on a call, and the
        # generator's own frame was a good part of what asking them cost.
        return tuple(map(self._finding, self.check(situation)))

    def _finding(self, c: Conclusion) -> Finding:
        return Finding(
            rule_id=self.id,
            title=self.title,
            indicator=c.indicator,
            summary=c.summary,
            facts=c.facts,
            guidance=c.guidance,
            citation=c.citation or self.citation,
            confidence=self.confidence,
            override_set=c.override_set or self.override_set,
            proposals=c.proposals,
            selection=c.selection,
            uncertainties=c.uncertainties,
            show_lines=c.show_lines,
            order_refs=c.order_refs,
            drug=c.drug,
            halts_drug=c.halts_drug,
            permanent=c.permanent,
            supersedes=c.supersedes,
            rank=self.rank,
        )


PV = frozenset({Hook.PATIENT_VIEW})
ORDERS = frozenset({Hook.ORDER_SELECT, Hook.ORDER_SIGN})
ALL_HOOKS = PV | ORDERS

REGISTERED: list[Rule] = []
"""Every rule, in registration order (filled by ``@rule``; see ``rules.REGISTRY``)."""


def rule(
    rule_id: str,
    *,
    title: str,
    hooks: frozenset[Hook],
    indicators: tuple[Indicator, ...],
    confidence: tuple[Confidence, ...],
    citation: Citation,
    override_set: OverrideSet,
) -> Callable[[RuleCheck], RuleCheck]:
    """Register a rule function under its spec id (ids are unique)."""

    def register(check: RuleCheck) -> RuleCheck:
        if any(r.id == rule_id for r in REGISTERED):
            raise ValueError(f"rule {rule_id} registered twice")
        REGISTERED.append(
            Rule(
                id=rule_id,
                title=title,
                hooks=hooks,
                indicators=indicators,
                confidence=confidence,
                citation=citation,
                override_set=override_set,
                check=check,
                rank=len(REGISTERED),
            )
        )
        return check

    return register

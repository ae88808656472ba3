"""The situation a rule reads: the patient model, the hook, the settings, and the
derived clinical facts that several rules share (written once here, by name).

Everything is computed from the patient model; missing data stays "unknown"
(``None``), never "absent". Each helper that a card can cite also gives the
:class:`~cds_service.rules.base.Fact` to show, with its date and FHIR sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property

from cds_service.rules.base import Fact
from cds_service.rules.labels import short_name
from cds_service.settings import ClinicalSettings
from cds_service.wire import Hook
from fhir_mappings.model import (
    DRUG_CLASS,
    Comorbidity,
    ComorbidityKind,
    Dose,
    DoseUnit,
    DraftOrder,
    Drug,
    DrugClass,
    DrugExposure,
    Her2Amplification,
    Her2Ihc,
    Her2Mutation,
    Her2NegativeResult,
    Histology,
    IhcScore,
    IldCause,
    IldEpisode,
    ImagingKind,
    MatchedBy,
    Measurement,
    MeasurementKind,
    NyhaStatement,
    PatientModel,
    Specimen,
    TherapyLine,
    UnreadableRecords,
    VariantClass,
)

HER2_DIRECTED = frozenset(
    d for d, c in DRUG_CLASS.items() if c in (DrugClass.HER2_ADC, DrugClass.HER2_TKI)
)
"""T-DXd, T-DM1, zongertinib, sevabertinib, poziotinib."""
HER2_TKIS = frozenset({Drug.ZONGERTINIB, Drug.SEVABERTINIB, Drug.POZIOTINIB})
LABELED_HER2_TKIS = (Drug.ZONGERTINIB, Drug.SEVABERTINIB)
CHEMOTHERAPY = frozenset(
    d for d, c in DRUG_CLASS.items() if c in (DrugClass.PLATINUM, DrugClass.CHEMOTHERAPY)
)
ICIS = frozenset(d for d, c in DRUG_CLASS.items() if c is DrugClass.ICI)
NOT_HER2_AGENTS = frozenset({Drug.POZIOTINIB, Drug.MOBOCERTINIB, Drug.AMIVANTAMAB})
TDXD = Drug.TRASTUZUMAB_DERUXTECAN
TDM1 = Drug.TRASTUZUMAB_EMTANSINE


@dataclass(frozen=True, slots=True)
class Progression:
    """Documented progression on a drug or line."""

    date: date | None
    fact: Fact


@dataclass(frozen=True, slots=True)
class Target:
    """What a drug-safety card speaks about: a draft order (order hooks) or the active
    drug (patient-view)."""

    drug: Drug
    order: DraftOrder | None
    facts: tuple[Fact, ...]

    @property
    def refs(self) -> tuple[str, ...]:
        return (self.order.reference,) if self.order else ()


@dataclass(frozen=True)
class Situation:
    patient: PatientModel
    hook: Hook
    settings: ClinicalSettings

    # --- context --------------------------------------------------------------------------

    @property
    def today(self) -> date:
        return self.patient.as_of

    @property
    def on_patient_view(self) -> bool:
        return self.hook is Hook.PATIENT_VIEW

    @property
    def at_sign(self) -> bool:
        return self.hook is Hook.ORDER_SIGN

    @cached_property
    def orders(self) -> tuple[DraftOrder, ...]:
        """The orders this hook speaks about: none on patient-view, the selected ones on
        order-select, every draft order on order-sign (``DraftOrder.selected``)."""
        if self.on_patient_view:
            return ()
        return tuple(o for o in self.patient.draft_orders if o.selected)

    @cached_property
    def anticancer_orders(self) -> tuple[DraftOrder, ...]:
        return tuple(o for o in self.orders if o.drug is not None)

    def orders_of(self, *drugs: Drug) -> tuple[DraftOrder, ...]:
        return tuple(o for o in self.orders if o.drug in drugs)

    def targets(self, *drugs: Drug) -> tuple[Target, ...]:
        """Draft orders of ``drugs`` on order hooks; their active courses on patient-view."""
        if self.on_patient_view:
            seen: dict[Drug, list[Fact]] = {}
            for e in self.active(*drugs):
                seen.setdefault(e.drug, []).append(self.exposure_fact(e))
            return tuple(Target(d, None, tuple(f)) for d, f in seen.items())
        return tuple(
            Target(o.drug, o, (self.order_fact(o),))
            for o in self.orders_of(*drugs)
            if o.drug is not None
        )

    def all_drafts_of(self, *drugs: Drug) -> tuple[DraftOrder, ...]:
        """Every draft order of these drugs, selected or not (for "same orders" checks)."""
        return tuple(o for o in self.patient.draft_orders if o.drug in drugs)

    # --- cancer ---------------------------------------------------------------------------

    @property
    def in_scope(self) -> bool:
        """NSCLC in the record and not stated to be early-stage (unknown stage: in scope,
        and the cards say so)."""
        cancer = self.patient.cancer
        return cancer is not None and cancer.nsclc and cancer.advanced is not False

    @property
    def stage_unknown(self) -> bool:
        cancer = self.patient.cancer
        return cancer is None or cancer.advanced is None

    @property
    def histology(self) -> Histology:
        cancer = self.patient.cancer
        return Histology.UNKNOWN if cancer is None else cancer.histology

    @property
    def squamous(self) -> bool:
        return self.histology is Histology.SQUAMOUS

    def cancer_fact(self) -> Fact:
        cancer = self.patient.cancer
        if cancer is None:
            return Fact("No NSCLC diagnosis found in the record")
        stage = {True: "advanced", False: "not advanced", None: "stage not stated"}[cancer.advanced]
        histology = {
            Histology.SQUAMOUS: "squamous",
            Histology.NON_SQUAMOUS: "non-squamous",
            Histology.UNKNOWN: "histology not stated",
        }[cancer.histology]
        return Fact(f"NSCLC, {histology}, {stage}", cancer.diagnosis_date, cancer.sources)

    def scope_uncertainties(self) -> tuple[str, ...]:
        notes: list[str] = []
        if self.stage_unknown:
            notes.append(
                "The record does not state that the disease is advanced; this advice "
                "applies to unresectable or metastatic NSCLC only."
            )
        return tuple(notes)

    # --- HER2 -----------------------------------------------------------------------------

    def mutations(self, *classes: VariantClass) -> tuple[Her2Mutation, ...]:
        return tuple(m for m in self.patient.her2.mutations if m.variant_class in classes)

    @property
    def tkd(self) -> tuple[Her2Mutation, ...]:
        return self.mutations(VariantClass.TKD_ACTIVATING)

    @property
    def non_tkd(self) -> tuple[Her2Mutation, ...]:
        return self.mutations(VariantClass.NON_TKD_ACTIVATING)

    @property
    def activating(self) -> tuple[Her2Mutation, ...]:
        return self.mutations(VariantClass.TKD_ACTIVATING, VariantClass.NON_TKD_ACTIVATING)

    @property
    def ihc3(self) -> tuple[Her2Ihc, ...]:
        return tuple(i for i in self.patient.her2.ihc if i.score is IhcScore.THREE_PLUS)

    @property
    def amplified(self) -> tuple[Her2Amplification, ...]:
        return tuple(a for a in self.patient.her2.amplification if a.positive)

    @property
    def her2_disease(self) -> bool:
        """Any actionable HER2 alteration: activating mutation, IHC 3+ or amplification."""
        return bool(self.activating or self.ihc3 or self.amplified)

    @property
    def tdxd_eligible_biomarker(self) -> bool:
        """Activating mutation (NSCLC indication) or IHC 3+ (tumour-agnostic indication)."""
        return bool(self.activating or self.ihc3)

    def her2_test_dates(self) -> tuple[date | None, ...]:
        her2 = self.patient.her2
        return (
            tuple(m.date for m in her2.mutations)
            + tuple(n.date for n in her2.negative_results)
            + tuple(i.date for i in her2.ihc)
            + tuple(a.date for a in her2.amplification)
        )

    @staticmethod
    def mutation_fact(m: Her2Mutation) -> Fact:
        parts = [m.variant_class.value]
        if m.specimen is not Specimen.UNKNOWN:
            parts.append(f"{m.specimen.value} specimen")
        if m.significance.value != "unstated":
            parts.append(m.significance.value)
        if m.matched_by is MatchedBy.TEXT:
            parts.append("recognised from text")
        name = m.protein_change or m.notation
        return Fact(f"ERBB2 {name} ({'; '.join(parts)})", m.date, m.sources)

    @staticmethod
    def negative_fact(n: Her2NegativeResult) -> Fact:
        return Fact(
            f"ERBB2 mutation testing negative ({n.specimen.value} specimen)", n.date, n.sources
        )

    @staticmethod
    def ihc_fact(i: Her2Ihc) -> Fact:
        return Fact(f"HER2 IHC {i.score.value}", i.date, i.sources)

    @staticmethod
    def amplification_fact(a: Her2Amplification) -> Fact:
        detail = []
        if a.ratio is not None:
            detail.append(f"ratio {a.ratio:g}")
        if a.copy_number is not None:
            detail.append(f"copy number {a.copy_number:g}")
        extra = f" ({', '.join(detail)})" if detail else ""
        verdict = "positive" if a.positive else "negative"
        return Fact(f"HER2 amplification {verdict}{extra}", a.date, a.sources)

    def tkd_uncertainties(self, used: tuple[Her2Mutation, ...]) -> tuple[str, ...]:
        """[?] The kinase-domain boundary; confirm with an FDA-approved test when not stated."""
        if not used:
            return ()
        notes = []
        if any(m.fda_approved_test is not True for m in used):
            notes.append(
                "The test is not stated to be FDA-approved: confirm the ERBB2 mutation with an "
                "FDA-approved test before a labeled HER2 therapy."
            )
        notes.append(
            "[?] A variant is classed tkd-activating when its first residue lies in the kinase "
            f"domain (residues {self.settings.kinase_domain_first}-"
            f"{self.settings.kinase_domain_last}), an approximation of the companion "
            "diagnostic's list; the boundary is configurable."
        )
        if any(m.matched_by is MatchedBy.TEXT for m in used):
            notes.append("The variant was recognised from free text, not from a coded result.")
        return tuple(notes)

    # --- therapy --------------------------------------------------------------------------

    @property
    def lines(self) -> tuple[TherapyLine, ...]:
        return self.patient.lines

    def prior_lines(self, excluding: Drug | None = None) -> tuple[TherapyLine, ...]:
        """Lines for advanced disease other than a line of ``excluding`` alone (so that a
        patient continuing a drug is not counted as pretreated by that drug)."""
        return tuple(line for line in self.lines if excluding is None or line.drugs - {excluding})

    @property
    def platinum_lines(self) -> tuple[TherapyLine, ...]:
        return tuple(line for line in self.lines if line.contains_class(DrugClass.PLATINUM))

    def exposures(self, *drugs: Drug) -> tuple[DrugExposure, ...]:
        return tuple(e for e in self.patient.exposures if e.drug in drugs)

    def last_dose_date(self, drug: Drug) -> date | None:
        """The date of the latest recorded dose (administration or order) of ``drug``."""
        dates = [r.date for e in self.exposures(drug) for r in e.doses if r.date is not None]
        return max(dates, default=None)

    def received(self, *drugs: Drug) -> bool:
        return bool(self.exposures(*drugs)) or any(line.drugs & set(drugs) for line in self.lines)

    def active(self, *drugs: Drug) -> tuple[DrugExposure, ...]:
        return tuple(e for e in self.exposures(*drugs) if e.active)

    @property
    def her2_directed_received(self) -> tuple[DrugExposure, ...]:
        return self.exposures(*HER2_DIRECTED)

    def first_start(self, drug: Drug) -> date | None:
        starts = [e.start for e in self.exposures(drug) if e.start is not None]
        return min(starts) if starts else None

    def symptomatic_nyha_after(self, start: date | None) -> tuple[NyhaStatement, ...]:
        """NYHA class II-IV statements dated after ``start``: symptomatic heart failure
        (clinical-rules.md 9.3), as a heart-failure diagnosis with onset after it is.
        Undated statements never count as after."""
        if start is None:
            return ()
        return tuple(
            n
            for n in self.patient.nyha_statements
            if n.symptomatic and n.date is not None and n.date > start
        )

    def progression_on(self, *drugs: Drug) -> Progression | None:
        """Documented progression on a line containing one of ``drugs``, or a stop for
        progression. The latest one when several."""
        found: list[Progression] = []
        for line in self.lines:
            if line.progressed and line.drugs & set(drugs):
                names = ", ".join(sorted(short_name(d) for d in line.drugs))
                sources = line.progression_sources or line.sources
                when = line.progression_date or line.end
                found.append(
                    Progression(
                        when, Fact(f"Progression on line {line.number} ({names})", when, sources)
                    )
                )
        for e in self.exposures(*drugs):
            if e.stop_reason is not None and e.stop_reason.value == "progression":
                found.append(
                    Progression(
                        e.end,
                        Fact(f"{short_name(e.drug)} stopped for progression", e.end, e.sources),
                    )
                )
        if not found:
            return None
        return max(found, key=lambda p: p.date or date.min)

    def progression_on_class(self, drug_class: DrugClass) -> Progression | None:
        return self.progression_on(*(d for d, c in DRUG_CLASS.items() if c is drug_class))

    @staticmethod
    def exposure_fact(e: DrugExposure) -> Fact:
        state = "active" if e.active else e.status.value
        start = f", started {e.start.isoformat()}" if e.start else ", start date not stated"
        return Fact(f"{short_name(e.drug)} ({state}{start})", e.start, e.sources)

    @staticmethod
    def line_fact(line: TherapyLine) -> Fact:
        names = ", ".join(sorted(short_name(d) for d in line.drugs))
        start = line.start.isoformat() if line.start else "start not stated"
        end = line.end.isoformat() if line.end else ("ongoing" if line.active else "end not stated")
        progression = ""
        if line.progressed:
            when = line.progression_date.isoformat() if line.progression_date else "date not stated"
            progression = f", progression {when}"
        return Fact(
            f"Line {line.number}: {names} ({line.line_class.value}), {start} to {end}{progression}",
            None,
            line.progression_sources + line.sources,
        )

    @staticmethod
    def order_fact(order: DraftOrder) -> Fact:
        name = short_name(order.drug) if order.drug else order.resource_type
        dose = f" {format_dose(order.dose)}" if order.dose else " (no dose stated)"
        freq = f", {order.frequency}" if order.frequency else ""
        return Fact(f"Draft order: {name}{dose}{freq}", None, (order.reference,))

    # --- ILD ------------------------------------------------------------------------------

    @property
    def ild_episodes(self) -> tuple[IldEpisode, ...]:
        return self.patient.ild_episodes

    @staticmethod
    def unresolved(ep: IldEpisode) -> bool:
        return ep.active and ep.resolved is None

    def began_on_tdxd(self, ep: IldEpisode) -> bool | None:
        """True / False when known; None when T-DXd was given but the onset is undated."""
        if ep.on_tdxd is not None:
            return ep.on_tdxd
        if not self.received(TDXD):
            return False
        start = self.first_start(TDXD)
        if start is None:
            return None
        if ep.onset is not None:
            return ep.onset >= start
        if ep.recorded is not None and ep.recorded < start:
            return False  # recorded before T-DXd began: it cannot have begun on it
        return None

    @staticmethod
    def ild_fact(ep: IldEpisode) -> Fact:
        grade = f"grade {ep.grade}" if ep.grade is not None else "grade not recorded"
        if ep.resolved is not None:
            status = f"resolved {ep.resolved.isoformat()}"
        elif ep.active:
            status = "unresolved"
        else:
            status = "resolved (date not stated)"
        cause = _CAUSE_TEXT[ep.cause]
        if ep.cause_drug is not None:
            cause = f"{cause} ({short_name(ep.cause_drug)})"
        onset = f"onset {ep.onset.isoformat()}" if ep.onset else "onset date not stated"
        hypoxia = ", oxygen need or hypoxia" if ep.hypoxia else ""
        text = f"ILD/pneumonitis, {onset}, {grade}, {status}, {cause}{hypoxia}"
        return Fact(text, None, ep.sources)

    def ici_pneumonitis(self) -> tuple[IldEpisode, ...]:
        return tuple(
            ep
            for ep in self.ild_episodes
            if ep.cause is IldCause.ICI or (ep.cause_drug is not None and ep.cause_drug in ICIS)
        )

    # --- measurements ---------------------------------------------------------------------

    def latest(self, kind: MeasurementKind) -> Measurement | None:
        return self.patient.latest(kind)

    def measurements(self, kind: MeasurementKind) -> tuple[Measurement, ...]:
        return tuple(m for m in self.patient.measurements if m.kind is kind)

    @property
    def weight(self) -> Measurement | None:
        return self.latest(MeasurementKind.WEIGHT)

    @staticmethod
    def measurement_fact(m: Measurement, label: str) -> Fact:
        unit = f" {m.unit}" if m.unit else ""
        uln = ""
        if m.upper_limit:
            uln = f" ({m.value / m.upper_limit:.1f} x ULN {m.upper_limit:g})"
        return Fact(f"{label} {m.value:g}{unit}{uln}", m.date, m.sources)

    def within(self, when: date | None, days: int, *, before: date | None = None) -> bool:
        """Dated within ``days`` before ``before`` (default today) and not after today."""
        if when is None:
            return False
        end = before or self.today
        return end - timedelta(days=days) <= when <= self.today

    @property
    def imaging_unreadable(self) -> bool:
        return self.patient.unreadable(UnreadableRecords.IMAGING)

    def no_chest_ct_fact(self, days: int) -> Fact:
        if self.imaging_unreadable:
            return Fact(
                f"Chest CT in the last {days} days: unknown (imaging records could not be read)"
            )
        return Fact(f"No chest CT found in the last {days} days")

    def chest_ct_within(self, days: int) -> Fact | None:
        recent = [
            i
            for i in self.patient.imaging
            if i.kind is ImagingKind.CHEST_CT and self.within(i.date, days)
        ]
        if not recent:
            return None
        ct = max(recent, key=lambda i: i.date or date.min)
        return Fact("Chest CT", ct.date, ct.sources)


_CAUSE_TEXT = {
    IldCause.DRUG: "drug-related",
    IldCause.ICI: "immune checkpoint inhibitor-related",
    IldCause.RADIATION: "radiation-related",
    IldCause.OTHER: "other cause",
    IldCause.UNKNOWN: "cause not stated",
}

COMORBIDITY_TEXT = {
    ComorbidityKind.COPD: "COPD",
    ComorbidityKind.HEART_FAILURE: "Heart failure",
    ComorbidityKind.LV_DYSFUNCTION: "LV systolic dysfunction",
    ComorbidityKind.RENAL_IMPAIRMENT: "Moderate or worse renal impairment",
    ComorbidityKind.THORACIC_RADIATION: "Prior thoracic radiation",
}


def comorbidity_fact(c: Comorbidity) -> Fact:
    return Fact(COMORBIDITY_TEXT[c.kind], c.onset, c.sources)


NYHA_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}


def nyha_text(n: NyhaStatement) -> str:
    return f"NYHA class {NYHA_ROMAN.get(n.functional_class, str(n.functional_class))}"


def nyha_fact(n: NyhaStatement) -> Fact:
    how = " (an Observation named NYHA by its text)" if n.matched_by is MatchedBy.TEXT else ""
    return Fact(f"{nyha_text(n)} (symptomatic heart failure){how}", n.date, n.sources)


def format_dose(dose: Dose) -> str:
    return f"{dose.value:g} {dose.unit.value}"


def dose_in_mg_per_kg(dose: Dose, weight_kg: float | None) -> float | None:
    if dose.unit is DoseUnit.MG_PER_KG:
        return dose.value
    if weight_kg:
        return dose.value / weight_kg
    return None


def matches(value: float, level: float, tolerance: float) -> bool:
    return abs(value - level) <= tolerance * level

"""The patient model: what the clinical rules read (clinical-rules.md, section 3).

FHIR types stop at this boundary. Every fact is a frozen dataclass that keeps
the FHIR references it came from (``sources``, e.g. ``"Observation/123"``) and
its date, so that a card can say why it fired and ``explain`` can show it.

Missing data is never a negative: a fact that was not found is ``None`` or an
empty tuple, and the rules must read "unknown", never "absent".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, TypeVar

Sources = tuple[str, ...]
"""FHIR references ("Observation/abc") that a fact was derived from."""


class MatchedBy(StrEnum):
    """How a resource was recognised: by (system, code), or by text as a fallback."""

    CODE = "code"
    TEXT = "text"


# --- Cancer ---------------------------------------------------------------------------


class Histology(StrEnum):
    SQUAMOUS = "squamous"
    NON_SQUAMOUS = "non-squamous"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Cancer:
    """The lung cancer as the record states it. ``None`` means "not stated"."""

    nsclc: bool
    histology: Histology = Histology.UNKNOWN
    advanced: bool | None = None
    brain_metastases: bool | None = None
    brain_metastases_treated: bool | None = None
    leptomeningeal: bool | None = None
    diagnosis_date: date | None = None
    sources: Sources = ()


# --- HER2 and other drivers -----------------------------------------------------------


class VariantClass(StrEnum):
    """Classes of an ERBB2 variant (clinical-rules.md, section 4)."""

    TKD_ACTIVATING = "tkd-activating"
    NON_TKD_ACTIVATING = "non-tkd-activating"
    RESISTANCE = "resistance"
    VUS = "vus"
    BENIGN = "benign"


class Significance(StrEnum):
    PATHOGENIC = "pathogenic"
    LIKELY_PATHOGENIC = "likely-pathogenic"
    UNCERTAIN = "uncertain"
    LIKELY_BENIGN = "likely-benign"
    BENIGN = "benign"
    UNSTATED = "unstated"


class Specimen(StrEnum):
    TISSUE = "tissue"
    PLASMA = "plasma"
    UNKNOWN = "unknown"


class IhcScore(StrEnum):
    ZERO = "0"
    ONE_PLUS = "1+"
    TWO_PLUS = "2+"
    THREE_PLUS = "3+"
    NEGATIVE = "negative (0 or 1+)"
    """Reported only as an interpretation, "negative" (e.g. an mCODE tumour-marker test):
    tested, not 3+; the exact score (0 or 1+) is not known."""


@dataclass(frozen=True, slots=True)
class Her2Mutation:
    """An ERBB2 variant result."""

    notation: str
    """The notation as the record gives it (p.HGVS, c.HGVS or text)."""
    protein_change: str | None
    """Normalised one-letter p.HGVS without reference prefix, e.g. ``p.Y772_A775dup``."""
    variant_class: VariantClass
    significance: Significance = Significance.UNSTATED
    specimen: Specimen = Specimen.UNKNOWN
    fda_approved_test: bool | None = None
    exon20_insertion: bool = False
    date: date | None = None
    sources: Sources = ()
    matched_by: MatchedBy = MatchedBy.CODE


@dataclass(frozen=True, slots=True)
class Her2NegativeResult:
    """ERBB2 mutation testing done, no alteration detected ("tested negative")."""

    specimen: Specimen = Specimen.UNKNOWN
    date: date | None = None
    sources: Sources = ()


@dataclass(frozen=True, slots=True)
class Her2Ihc:
    score: IhcScore
    date: date | None = None
    sources: Sources = ()


@dataclass(frozen=True, slots=True)
class Her2Amplification:
    positive: bool
    ratio: float | None = None
    copy_number: float | None = None
    date: date | None = None
    sources: Sources = ()


@dataclass(frozen=True, slots=True)
class Her2Status:
    """Each kind of HER2 result kept separately: a tumour can have several."""

    mutations: tuple[Her2Mutation, ...] = ()
    negative_results: tuple[Her2NegativeResult, ...] = ()
    ihc: tuple[Her2Ihc, ...] = ()
    amplification: tuple[Her2Amplification, ...] = ()

    @property
    def mutation_tested(self) -> bool:
        """True when any ERBB2 mutation result exists, positive, negative or VUS."""
        return bool(self.mutations or self.negative_results)

    @property
    def latest_ihc(self) -> Her2Ihc | None:
        return _latest(self.ihc)


@dataclass(frozen=True, slots=True)
class EgfrStatus:
    """EGFR results, for the EGFR-TKI resistance and exon 20 rules. None: not stated."""

    mutated: bool | None = None
    exon20_insertion: bool | None = None
    date: date | None = None
    sources: Sources = ()
    sensitising: bool | None = None
    """An EGFR-sensitising (activating) mutation: exon 19 deletion, L858R, exon 20
    insertion or another activating EGFR variant (``variants.egfr_sensitising``); False
    when tested negative or only a resistance change; None when not known."""


# --- Therapy --------------------------------------------------------------------------


class Drug(StrEnum):
    """Anticancer drugs the service recognises (clinical-rules.md, sections 1 and 7)."""

    TRASTUZUMAB_DERUXTECAN = "trastuzumab deruxtecan"
    ZONGERTINIB = "zongertinib"
    SEVABERTINIB = "sevabertinib"
    TRASTUZUMAB_EMTANSINE = "ado-trastuzumab emtansine"
    POZIOTINIB = "poziotinib"
    MOBOCERTINIB = "mobocertinib"
    AMIVANTAMAB = "amivantamab"
    CARBOPLATIN = "carboplatin"
    CISPLATIN = "cisplatin"
    PEMETREXED = "pemetrexed"
    PACLITAXEL = "paclitaxel"
    NAB_PACLITAXEL = "nab-paclitaxel"
    DOCETAXEL = "docetaxel"
    PEMBROLIZUMAB = "pembrolizumab"
    NIVOLUMAB = "nivolumab"
    ATEZOLIZUMAB = "atezolizumab"
    DURVALUMAB = "durvalumab"
    CEMIPLIMAB = "cemiplimab"
    IPILIMUMAB = "ipilimumab"
    TREMELIMUMAB = "tremelimumab"
    OSIMERTINIB = "osimertinib"
    GEFITINIB = "gefitinib"
    ERLOTINIB = "erlotinib"
    AFATINIB = "afatinib"
    TRASTUZUMAB = "trastuzumab"
    """Recognised (clinical-rules.md 9.3) so that it is never confused with T-DXd / T-DM1;
    not HER2-directed therapy for NSCLC lines (class ``other``)."""
    TUCATINIB = "tucatinib"
    OTHER_ANTICANCER = "other anticancer drug"
    """A drug outside this list that the record marks as cancer-related (the mCODE
    cancer-related medication profile, or a reason that is the lung cancer): kept as
    therapy of class ``other`` (9.3), never dropped. ``DrugExposure.name`` says which."""


class DrugClass(StrEnum):
    PLATINUM = "platinum"
    ICI = "ici"
    HER2_ADC = "her2-adc"
    HER2_TKI = "her2-tki"
    EGFR_TKI = "egfr-tki"
    EGFR_EX20 = "egfr-ex20"
    CHEMOTHERAPY = "chemotherapy"
    OTHER = "other"


DRUG_CLASS: dict[Drug, DrugClass] = {
    Drug.TRASTUZUMAB_DERUXTECAN: DrugClass.HER2_ADC,
    Drug.TRASTUZUMAB_EMTANSINE: DrugClass.HER2_ADC,
    Drug.ZONGERTINIB: DrugClass.HER2_TKI,
    Drug.SEVABERTINIB: DrugClass.HER2_TKI,
    Drug.POZIOTINIB: DrugClass.HER2_TKI,
    Drug.MOBOCERTINIB: DrugClass.EGFR_EX20,
    Drug.AMIVANTAMAB: DrugClass.EGFR_EX20,
    Drug.CARBOPLATIN: DrugClass.PLATINUM,
    Drug.CISPLATIN: DrugClass.PLATINUM,
    Drug.PEMETREXED: DrugClass.CHEMOTHERAPY,
    Drug.PACLITAXEL: DrugClass.CHEMOTHERAPY,
    Drug.NAB_PACLITAXEL: DrugClass.CHEMOTHERAPY,
    Drug.DOCETAXEL: DrugClass.CHEMOTHERAPY,
    Drug.PEMBROLIZUMAB: DrugClass.ICI,
    Drug.NIVOLUMAB: DrugClass.ICI,
    Drug.ATEZOLIZUMAB: DrugClass.ICI,
    Drug.DURVALUMAB: DrugClass.ICI,
    Drug.CEMIPLIMAB: DrugClass.ICI,
    Drug.IPILIMUMAB: DrugClass.ICI,
    Drug.TREMELIMUMAB: DrugClass.ICI,
    Drug.OSIMERTINIB: DrugClass.EGFR_TKI,
    Drug.GEFITINIB: DrugClass.EGFR_TKI,
    Drug.ERLOTINIB: DrugClass.EGFR_TKI,
    Drug.AFATINIB: DrugClass.EGFR_TKI,
    Drug.TRASTUZUMAB: DrugClass.OTHER,
    Drug.TUCATINIB: DrugClass.OTHER,
    Drug.OTHER_ANTICANCER: DrugClass.OTHER,
}
"""Pharmacological class of each drug (clinical-rules.md, section 5)."""


class LineClass(StrEnum):
    """Class of a line of therapy (clinical-rules.md, section 5)."""

    PLATINUM = "platinum"
    ICI = "ici"
    HER2_ADC = "her2-adc"
    HER2_TKI = "her2-tki"
    EGFR_TKI = "egfr-tki"
    EGFR_EX20 = "egfr-ex20"
    OTHER = "other"


class ExposureStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    STOPPED = "stopped"
    UNKNOWN = "unknown"


class StopReason(StrEnum):
    PROGRESSION = "progression"
    TOXICITY = "toxicity"
    OTHER = "other"


class DoseUnit(StrEnum):
    MG_PER_KG = "mg/kg"
    MG = "mg"


@dataclass(frozen=True, slots=True)
class Dose:
    value: float
    unit: DoseUnit


@dataclass(frozen=True, slots=True)
class DoseRecord:
    """One administration or order of a drug at a dose."""

    dose: Dose
    date: date | None
    source: str


@dataclass(frozen=True, slots=True)
class DrugExposure:
    """One drug's course in the record, merged from its statements, requests and
    administrations."""

    drug: Drug
    start: date | None
    end: date | None = None
    status: ExposureStatus = ExposureStatus.UNKNOWN
    active: bool = False
    """Active order or statement, or last administration within two cycles."""
    stop_reason: StopReason | None = None
    stopped_for_ild: bool = False
    """A stop reason (status reason or note of a stopped record) names ILD / pneumonitis."""
    curative_intent: bool = False
    doses: tuple[DoseRecord, ...] = ()
    sources: Sources = ()
    unverified_code_only: bool = False
    """Recognised only by an RxNorm code that clinical-rules.md marks unverified."""
    name: str | None = None
    """The medication's text as recorded (set for ``Drug.OTHER_ANTICANCER``)."""

    @property
    def drug_class(self) -> DrugClass:
        return DRUG_CLASS[self.drug]

    @property
    def last_dose(self) -> Dose | None:
        dated = [d for d in self.doses if d.date is not None]
        if dated:
            return max(dated, key=lambda d: d.date or date.min).dose
        return self.doses[-1].dose if self.doses else None


@dataclass(frozen=True, slots=True)
class TherapyLine:
    """A line of therapy for advanced disease (clinical-rules.md, section 5)."""

    number: int
    drugs: frozenset[Drug]
    line_class: LineClass
    start: date | None
    end: date | None = None
    active: bool = False
    progressed: bool = False
    progression_date: date | None = None
    progression_sources: Sources = ()
    sources: Sources = ()

    def contains_class(self, drug_class: DrugClass) -> bool:
        return any(DRUG_CLASS[d] is drug_class for d in self.drugs)


# --- ILD / pneumonitis ----------------------------------------------------------------


class IldCause(StrEnum):
    DRUG = "drug"
    ICI = "ici"
    RADIATION = "radiation"
    OTHER = "other"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class IldEpisode:
    onset: date | None
    resolved: date | None = None
    """Abatement date; None while unresolved or not stated."""
    active: bool = True
    """Clinical status active / recurrence / relapse (or not stated and no abatement)."""
    grade: int | None = None
    """CTCAE grade 1-5 when coded or stated; None: not recorded."""
    cause: IldCause = IldCause.UNKNOWN
    cause_drug: Drug | None = None
    on_tdxd: bool | None = None
    """Began while T-DXd was active; None when the onset date is unknown."""
    hypoxia: bool = False
    """Oxygen need or hypoxia stated for the episode."""
    sources: Sources = ()
    recorded: date | None = None
    """When the episode was recorded (an upper bound of the onset when onset is unknown)."""
    attributed_drugs: frozenset[Drug] = frozenset()
    """Drugs the record attributes the episode to (clinical-rules.md 9.3): named in the
    episode's text, an AdverseEvent suspect entity, or a drug whose stop reason names ILD /
    pneumonitis (the latest episode that began on or before that stop)."""


# --- Comorbidities, measurements, imaging ----------------------------------------------


class ComorbidityKind(StrEnum):
    COPD = "copd"
    HEART_FAILURE = "heart-failure"
    LV_DYSFUNCTION = "lv-systolic-dysfunction"
    RENAL_IMPAIRMENT = "renal-impairment-moderate-or-worse"
    THORACIC_RADIATION = "prior-thoracic-radiation"


@dataclass(frozen=True, slots=True)
class Comorbidity:
    kind: ComorbidityKind
    onset: date | None = None
    sources: Sources = ()


class MeasurementKind(StrEnum):
    LVEF = "lvef"
    ALT = "alt"
    AST = "ast"
    BILIRUBIN = "bilirubin-total"
    ANC = "anc"
    WEIGHT = "body-weight"
    ECOG = "ecog"
    TEMPERATURE = "body-temperature"
    """Body temperature in Cel (`neutropenia-tdxd`: febrile neutropenia)."""
    PLATELETS = "platelets"


@dataclass(frozen=True, slots=True)
class Measurement:
    kind: MeasurementKind
    value: float
    unit: str | None
    """Normalised units: % (LVEF), U/L, mg/dL, 10*9/L (ANC, platelets), kg, Cel; ECOG unitless."""
    date: date | None
    upper_limit: float | None = None
    """Upper limit of normal from the reference range, when present."""
    sources: Sources = ()
    matched_by: MatchedBy = MatchedBy.CODE


class ImagingKind(StrEnum):
    CHEST_CT = "chest-ct"
    ECHOCARDIOGRAM = "echocardiogram"


@dataclass(frozen=True, slots=True)
class Imaging:
    kind: ImagingKind
    date: date | None
    sources: Sources = ()
    matched_by: MatchedBy = MatchedBy.TEXT


# --- Reproductive status, co-medications (clinical-rules.md 9.2) ---------------------------


class Sex(StrEnum):
    """Administrative gender of the Patient resource (FHIR ``gender``)."""

    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Demographics:
    """Sex and birth date from the Patient resource; None / UNKNOWN: not stated."""

    sex: Sex = Sex.UNKNOWN
    birth_date: date | None = None
    sources: Sources = ()

    def age_on(self, day: date) -> int | None:
        if self.birth_date is None:
            return None
        born = self.birth_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


class PregnancyResult(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class PregnancyTest:
    """An hCG pregnancy test (serum or urine)."""

    result: PregnancyResult
    date: date | None
    sources: Sources = ()
    matched_by: MatchedBy = MatchedBy.CODE


class ReproductiveStatusKind(StrEnum):
    """Documented states that end reproductive potential."""

    MENOPAUSE = "menopause"
    HYSTERECTOMY = "hysterectomy"
    BILATERAL_OOPHORECTOMY = "bilateral-oophorectomy"


@dataclass(frozen=True, slots=True)
class ReproductiveStatus:
    kind: ReproductiveStatusKind
    date: date | None = None
    sources: Sources = ()
    matched_by: MatchedBy = MatchedBy.TEXT


@dataclass(frozen=True, slots=True)
class NyhaStatement:
    """An Observation stating a New York Heart Association functional class (I-IV), for
    symptomatic heart failure (clinical-rules.md 9.3); ``fhir_mappings.nyha``."""

    functional_class: int
    """1 to 4."""
    date: date | None
    sources: Sources = ()
    matched_by: MatchedBy = MatchedBy.CODE
    """CODE: a verified NYHA LOINC code; TEXT: the Observation's code named NYHA in words."""

    @property
    def symptomatic(self) -> bool:
        """Class II-IV: heart failure with symptoms."""
        return self.functional_class >= 2


class Cyp3aModulator(StrEnum):
    """CYP3A inhibitors and inducers by strength (FDA classification; examples only)."""

    STRONG_INHIBITOR = "strong CYP3A inhibitor"
    MODERATE_INHIBITOR = "moderate CYP3A inhibitor"
    STRONG_INDUCER = "strong CYP3A inducer"
    MODERATE_INDUCER = "moderate CYP3A inducer"


@dataclass(frozen=True, slots=True)
class CoMedication:
    """A non-anticancer drug in the record that interacts with a HER2 TKI (CYP3A)."""

    name: str
    """The interacting drug's generic name as the terminology module lists it."""
    effect: Cyp3aModulator
    active: bool
    start: date | None = None
    sources: Sources = ()
    matched_by: MatchedBy = MatchedBy.TEXT


# --- Orders under consideration -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DraftOrder:
    """A draft order from the hook context (order-select / order-sign)."""

    reference: str
    """``"MedicationRequest/abc"``: the id that update and delete suggestions use."""
    resource_type: str
    drug: Drug | None
    """None: not an anticancer drug this service knows (e.g. a statin)."""
    dose: Dose | None = None
    frequency: str | None = None
    status: str | None = None
    selected: bool = True
    """order-select: in ``selections``; order-sign: every draft order."""
    medication_text: str | None = None
    """The medication's text or display as ordered (for card wording)."""
    unverified_code_only: bool = False
    """Recognised only by an RxNorm code that clinical-rules.md marks unverified."""
    matched_by: MatchedBy = MatchedBy.CODE
    """How ``drug`` was identified: CODE (a drug code of the concept) or TEXT (a text-only
    concept naming exactly one recognised drug). No dose update on a TEXT-identified drug."""
    co_medication: CoMedication | None = None
    """The order is a CYP3A inhibitor or inducer (not an anticancer drug), for
    `interaction-cyp3a-tki`."""
    named_in_text: Drug | None = None
    """``drug`` is None because the concept's drug codes identify no drug (clinical-rules.md
    9.1: never the text for a coded concept), while its text names exactly this one
    recognised drug: for `order-drug-not-identified` (its checks did not run)."""
    code_systems: tuple[str, ...] = ()
    """The coding systems of such a concept (set only with ``named_in_text``)."""
    resource: Mapping[str, Any] | None = field(
        default=None, compare=False, repr=False, metadata={"explain": False}
    )
    """The order resource as sent, when ``reference`` is its ``Type/id``: what an update
    suggestion changes (the dose) and keeps (the rest). Not shown by ``explain``."""


# --- Data quality ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataIssue:
    """A resource that could not be read, or was read only in part. No values."""

    resource_type: str
    resource_id: str | None
    reason: str


# --- The whole patient ------------------------------------------------------------------


class UnreadableRecords(StrEnum):
    """Families of records whose absence a rule must read as "unknown" when they could not
    be read, by the data (prefetch keys, cds_service.discovery) that carries them."""

    PROCEDURES = "procedures"
    """Procedures (e.g. a hysterectomy or oophorectomy)."""
    IMAGING = "imaging"
    """Imaging studies, read from procedures and diagnostic reports."""

    @property
    def prefetch_keys(self) -> tuple[str, ...]:
        return _PREFETCH_KEYS[self]


_PREFETCH_KEYS: dict[UnreadableRecords, tuple[str, ...]] = {
    UnreadableRecords.PROCEDURES: ("procedures",),
    UnreadableRecords.IMAGING: ("procedures", "diagnosticReports"),
}


@dataclass(frozen=True, slots=True)
class PatientModel:
    as_of: date
    """The evaluation date (today, for a live hook call)."""
    cancer: Cancer | None = None
    her2: Her2Status = field(default_factory=Her2Status)
    egfr: EgfrStatus = field(default_factory=EgfrStatus)
    exposures: tuple[DrugExposure, ...] = ()
    lines: tuple[TherapyLine, ...] = ()
    """Lines for advanced disease, in order; curative-intent therapy excluded."""
    ild_episodes: tuple[IldEpisode, ...] = ()
    comorbidities: tuple[Comorbidity, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    imaging: tuple[Imaging, ...] = ()
    draft_orders: tuple[DraftOrder, ...] = ()
    data_issues: tuple[DataIssue, ...] = ()
    unavailable_data: tuple[str, ...] = ()
    """Prefetch keys whose data could not be read; rules treat that data as unknown."""
    demographics: Demographics = field(default_factory=Demographics)
    pregnancy_tests: tuple[PregnancyTest, ...] = ()
    reproductive_status: tuple[ReproductiveStatus, ...] = ()
    co_medications: tuple[CoMedication, ...] = ()
    """CYP3A inhibitors and inducers in the record (for `interaction-cyp3a-tki`)."""
    nyha_statements: tuple[NyhaStatement, ...] = ()
    """NYHA functional classes stated (for symptomatic heart failure, 9.3)."""

    def unreadable(self, records: UnreadableRecords) -> bool:
        """Whether records of this family could not be read (their data is unknown)."""
        return any(key in self.unavailable_data for key in records.prefetch_keys)

    def latest(self, kind: MeasurementKind) -> Measurement | None:
        return _latest(tuple(m for m in self.measurements if m.kind is kind))

    def exposures_to(self, drug: Drug) -> tuple[DrugExposure, ...]:
        return tuple(e for e in self.exposures if e.drug is drug)

    def has_comorbidity(self, kind: ComorbidityKind) -> bool:
        return any(c.kind is kind for c in self.comorbidities)


_T = TypeVar("_T", Her2Ihc, Measurement)


def _latest(items: tuple[_T, ...]) -> _T | None:
    """The most recent item; undated items count as older than any dated one."""
    if not items:
        return None
    return max(items, key=lambda item: item.date or date.min)

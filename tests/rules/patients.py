"""Hand-built patient models for the rule tests, named after clinical situations.

Values are spelled out (dates, doses, variants, references) so that a test reads as a
vignette. Everything evaluates on 2026-11-21.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from cds_service.rules import Finding, evaluate
from cds_service.settings import ClinicalSettings
from cds_service.wire import Hook
from fhir_mappings.model import (
    Cancer,
    Comorbidity,
    ComorbidityKind,
    Dose,
    DoseRecord,
    DoseUnit,
    DraftOrder,
    Drug,
    DrugExposure,
    EgfrStatus,
    ExposureStatus,
    Her2Amplification,
    Her2Ihc,
    Her2Mutation,
    Her2NegativeResult,
    Her2Status,
    Histology,
    IhcScore,
    IldCause,
    IldEpisode,
    Imaging,
    ImagingKind,
    LineClass,
    Measurement,
    MeasurementKind,
    PatientModel,
    Significance,
    Specimen,
    StopReason,
    TherapyLine,
    VariantClass,
)

TODAY = date(2026, 11, 21)
PV, OS, SG = Hook.PATIENT_VIEW, Hook.ORDER_SELECT, Hook.ORDER_SIGN

NSCLC_STAGE_IV = Cancer(
    nsclc=True,
    histology=Histology.NON_SQUAMOUS,
    advanced=True,
    diagnosis_date=date(2026, 1, 5),
    sources=("Condition/nsclc",),
)
SQUAMOUS_STAGE_IV = replace(NSCLC_STAGE_IV, histology=Histology.SQUAMOUS)
EARLY_STAGE = replace(NSCLC_STAGE_IV, advanced=False)

EXON20_DUP = Her2Mutation(
    notation="NM_004448.4:c.2313_2324dup p.(Tyr772_Ala775dup)",
    protein_change="p.Y772_A775dup",
    variant_class=VariantClass.TKD_ACTIVATING,
    significance=Significance.PATHOGENIC,
    specimen=Specimen.TISSUE,
    exon20_insertion=True,
    date=date(2026, 1, 20),
    sources=("Observation/erbb2-variant",),
)
S310F = Her2Mutation(
    notation="p.S310F",
    protein_change="p.S310F",
    variant_class=VariantClass.NON_TKD_ACTIVATING,
    significance=Significance.PATHOGENIC,
    specimen=Specimen.TISSUE,
    date=date(2026, 1, 20),
    sources=("Observation/erbb2-s310f",),
)
VUS = Her2Mutation(
    notation="p.R1153Q",
    protein_change="p.R1153Q",
    variant_class=VariantClass.VUS,
    significance=Significance.UNCERTAIN,
    specimen=Specimen.TISSUE,
    date=date(2026, 1, 20),
    sources=("Observation/erbb2-vus",),
)
TISSUE_NEGATIVE = Her2NegativeResult(Specimen.TISSUE, date(2026, 1, 20), ("Observation/ngs-neg",))
PLASMA_NEGATIVE = Her2NegativeResult(Specimen.PLASMA, date(2026, 1, 18), ("Observation/ctdna-neg",))
IHC_3PLUS = Her2Ihc(IhcScore.THREE_PLUS, date(2026, 7, 2), ("Observation/her2-ihc",))
IHC_1PLUS = Her2Ihc(IhcScore.ONE_PLUS, date(2026, 7, 2), ("Observation/her2-ihc",))
AMPLIFIED = Her2Amplification(True, ratio=3.1, date=date(2026, 7, 2), sources=("Observation/ish",))

WEIGHT_72 = Measurement(
    MeasurementKind.WEIGHT, 72.0, "kg", date(2026, 11, 14), sources=("Observation/weight",)
)
WEIGHT_95 = replace(WEIGHT_72, value=95.0)
LVEF_60 = Measurement(
    MeasurementKind.LVEF, 60.0, "%", date(2026, 10, 30), sources=("Observation/lvef",)
)
ALT_NORMAL = Measurement(
    MeasurementKind.ALT, 30.0, "U/L", date(2026, 11, 14), 40.0, ("Observation/alt",)
)
AST_NORMAL = Measurement(
    MeasurementKind.AST, 28.0, "U/L", date(2026, 11, 14), 40.0, ("Observation/ast",)
)
BILI_NORMAL = Measurement(
    MeasurementKind.BILIRUBIN, 0.6, "mg/dL", date(2026, 11, 14), 1.2, ("Observation/bili",)
)
LIVER_NORMAL = (ALT_NORMAL, AST_NORMAL, BILI_NORMAL)
CHEST_CT_RECENT = Imaging(ImagingKind.CHEST_CT, date(2026, 11, 2), ("ImagingStudy/ct",))

CARBO_PEM_PEMBRO_LINE = TherapyLine(
    number=1,
    drugs=frozenset({Drug.CARBOPLATIN, Drug.PEMETREXED, Drug.PEMBROLIZUMAB}),
    line_class=LineClass.PLATINUM,
    start=date(2026, 2, 3),
    end=date(2026, 10, 6),
    progressed=True,
    progression_date=date(2026, 10, 20),
    progression_sources=("Observation/progression",),
    sources=("MedicationRequest/carbo", "MedicationRequest/pem", "MedicationRequest/pembro"),
)
CARBO_PEM_PEMBRO = tuple(
    DrugExposure(
        drug=drug,
        start=date(2026, 2, 3),
        end=date(2026, 10, 6),
        status=ExposureStatus.STOPPED,
        stop_reason=StopReason.PROGRESSION,
        sources=(f"MedicationRequest/{name}",),
    )
    for drug, name in (
        (Drug.CARBOPLATIN, "carbo"),
        (Drug.PEMETREXED, "pem"),
        (Drug.PEMBROLIZUMAB, "pembro"),
    )
)


def tdxd_course(
    *,
    start: date = date(2026, 8, 4),
    doses: tuple[tuple[date, float], ...] = ((date(2026, 8, 4), 5.4), (date(2026, 8, 25), 5.4)),
    active: bool = True,
    stop_reason: StopReason | None = None,
    end: date | None = None,
) -> DrugExposure:
    return DrugExposure(
        drug=Drug.TRASTUZUMAB_DERUXTECAN,
        start=start,
        end=end,
        status=ExposureStatus.ACTIVE if active else ExposureStatus.STOPPED,
        active=active,
        stop_reason=stop_reason,
        doses=tuple(
            DoseRecord(Dose(value, DoseUnit.MG_PER_KG), when, f"MedicationAdministration/tdxd-{i}")
            for i, (when, value) in enumerate(doses)
        ),
        sources=("MedicationRequest/tdxd-course",),
    )


def tdxd_line(number: int = 2, *, progressed: bool = False, active: bool = True) -> TherapyLine:
    return TherapyLine(
        number=number,
        drugs=frozenset({Drug.TRASTUZUMAB_DERUXTECAN}),
        line_class=LineClass.HER2_ADC,
        start=date(2026, 8, 4),
        active=active,
        progressed=progressed,
        progression_date=date(2026, 11, 10) if progressed else None,
        sources=("MedicationRequest/tdxd-course",),
    )


def zongertinib_course(*, active: bool = True, progressed: bool = False) -> DrugExposure:
    return DrugExposure(
        drug=Drug.ZONGERTINIB,
        start=date(2026, 3, 2),
        end=None if active else date(2026, 10, 30),
        status=ExposureStatus.ACTIVE if active else ExposureStatus.STOPPED,
        active=active,
        stop_reason=StopReason.PROGRESSION if progressed else None,
        doses=(DoseRecord(Dose(120.0, DoseUnit.MG), date(2026, 3, 2), "MedicationRequest/zong"),),
        sources=("MedicationRequest/zong",),
    )


def zongertinib_line(*, progressed: bool) -> TherapyLine:
    return TherapyLine(
        number=1,
        drugs=frozenset({Drug.ZONGERTINIB}),
        line_class=LineClass.HER2_TKI,
        start=date(2026, 3, 2),
        end=date(2026, 10, 30) if progressed else None,
        active=not progressed,
        progressed=progressed,
        progression_date=date(2026, 10, 30) if progressed else None,
        progression_sources=("Observation/progression-zong",) if progressed else (),
        sources=("MedicationRequest/zong",),
    )


def order(
    drug: Drug | None,
    ident: str,
    *,
    dose: float | None = None,
    unit: DoseUnit = DoseUnit.MG_PER_KG,
    selected: bool = True,
    resource_type: str = "MedicationRequest",
) -> DraftOrder:
    return DraftOrder(
        reference=f"{resource_type}/{ident}",
        resource_type=resource_type,
        drug=drug,
        dose=Dose(dose, unit) if dose is not None else None,
        status="draft",
        selected=selected,
    )


STATIN = order(None, "atorvastatin")
DIET = order(None, "pureed-diet", resource_type="NutritionOrder")


def untreated_exon20(**changes: object) -> PatientModel:
    """Vignette 1: stage IV non-squamous NSCLC, ERBB2 p.Y772_A775dup, no treatment, 72 kg."""
    base = PatientModel(
        as_of=TODAY,
        cancer=NSCLC_STAGE_IV,
        her2=Her2Status(mutations=(EXON20_DUP,)),
        measurements=(WEIGHT_72, LVEF_60, *LIVER_NORMAL),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def exon20_after_platinum(**changes: object) -> PatientModel:
    """Vignette 2: the same patient after carboplatin + pemetrexed + pembrolizumab, progressed."""
    defaults: dict[str, object] = {
        "exposures": CARBO_PEM_PEMBRO,
        "lines": (CARBO_PEM_PEMBRO_LINE,),
    }
    return untreated_exon20(**{**defaults, **changes})


ANC_NORMAL = Measurement(
    MeasurementKind.ANC, 2.4, "10*9/L", date(2026, 11, 19), sources=("Observation/anc",)
)


def on_tdxd_second_line(**changes: object) -> PatientModel:
    """After platinum, on T-DXd 5.4 mg/kg since 2026-08-04 (two cycles given)."""
    defaults: dict[str, object] = {
        "exposures": (*CARBO_PEM_PEMBRO, tdxd_course()),
        "lines": (CARBO_PEM_PEMBRO_LINE, tdxd_line()),
        "imaging": (CHEST_CT_RECENT,),
        "measurements": (
            WEIGHT_72,
            replace(LVEF_60, date=date(2026, 7, 20)),
            *LIVER_NORMAL,
            ANC_NORMAL,
        ),
    }
    return exon20_after_platinum(**{**defaults, **changes})


def rule_ids(
    patient: PatientModel, hook: Hook, settings: ClinicalSettings | None = None
) -> list[str]:
    return [f.rule_id for f in evaluate(patient, hook, settings or ClinicalSettings())]


def findings_of(
    rule_id: str, patient: PatientModel, hook: Hook, settings: ClinicalSettings | None = None
) -> list[Finding]:
    return [
        f for f in evaluate(patient, hook, settings or ClinicalSettings()) if f.rule_id == rule_id
    ]


def ild(
    onset: date | None,
    *,
    grade: int | None = None,
    resolved: date | None = None,
    cause: IldCause = IldCause.UNKNOWN,
    cause_drug: Drug | None = None,
    on_tdxd: bool | None = None,
    hypoxia: bool = False,
) -> IldEpisode:
    return IldEpisode(
        onset=onset,
        resolved=resolved,
        active=resolved is None,
        grade=grade,
        cause=cause,
        cause_drug=cause_drug,
        on_tdxd=on_tdxd,
        hypoxia=hypoxia,
        sources=("Condition/pneumonitis",),
    )


def comorbidity(kind: ComorbidityKind) -> Comorbidity:
    return Comorbidity(kind, date(2020, 5, 1), (f"Condition/{kind.value}",))


__all__ = [
    "AMPLIFIED",
    "ANC_NORMAL",
    "CARBO_PEM_PEMBRO",
    "CARBO_PEM_PEMBRO_LINE",
    "CHEST_CT_RECENT",
    "DIET",
    "EARLY_STAGE",
    "EXON20_DUP",
    "IHC_1PLUS",
    "IHC_3PLUS",
    "LIVER_NORMAL",
    "LVEF_60",
    "OS",
    "PLASMA_NEGATIVE",
    "PV",
    "S310F",
    "SG",
    "SQUAMOUS_STAGE_IV",
    "STATIN",
    "TISSUE_NEGATIVE",
    "TODAY",
    "VUS",
    "WEIGHT_72",
    "WEIGHT_95",
    "EgfrStatus",
    "comorbidity",
    "exon20_after_platinum",
    "findings_of",
    "ild",
    "on_tdxd_second_line",
    "order",
    "rule_ids",
    "tdxd_course",
    "tdxd_line",
    "untreated_exon20",
    "zongertinib_course",
    "zongertinib_line",
]

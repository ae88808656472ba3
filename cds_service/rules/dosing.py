"""Dose-level arithmetic shared by the ILD and dose rules (label levels in ``labels``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cds_service.rules import labels
from cds_service.rules.base import Fact
from cds_service.rules.situation import TDXD, Situation, dose_in_mg_per_kg, format_dose, matches
from fhir_mappings.model import Dose, DoseRecord, Drug


@dataclass(frozen=True, slots=True)
class LastDose:
    """The last recorded dose of a drug, as a label level where it matches one."""

    record: DoseRecord
    level: float | None
    """The label level it matches (mg/kg for T-DXd, mg for zongertinib); None: no match."""

    @property
    def fact(self) -> Fact:
        return Fact(
            f"Last recorded dose {format_dose(self.record.dose)}",
            self.record.date,
            (self.record.source,),
        )


def snap(value: float, levels: tuple[float, ...], tolerance: float) -> float | None:
    for level in levels:
        if matches(value, level, tolerance):
            return level
    return None


def tdxd_mg_per_kg(s: Situation, dose: Dose) -> float | None:
    weight = s.weight
    return dose_in_mg_per_kg(dose, weight.value if weight else None)


def tdxd_level(s: Situation, dose: Dose) -> float | None:
    value = tdxd_mg_per_kg(s, dose)
    if value is None:
        return None
    return snap(value, labels.TDXD_NSCLC_DOSE_LEVELS_MG_PER_KG, s.settings.dose_tolerance_fraction)


def last_dose(s: Situation, drug: Drug, *, on_or_before: date | None = None) -> LastDose | None:
    """The latest dose record of ``drug`` (dated on or before ``on_or_before`` when given;
    undated records only when nothing dated qualifies)."""
    records = [r for e in s.exposures(drug) for r in e.doses]
    dated = [r for r in records if r.date is not None]
    if on_or_before is not None:
        dated = [r for r in dated if r.date is not None and r.date <= on_or_before]
    if dated:
        record = max(dated, key=lambda r: r.date or date.min)
    elif records and (on_or_before is None or all(r.date is None for r in records)):
        record = records[-1]
    else:
        return None
    if drug is TDXD:
        level = tdxd_level(s, record.dose)
    else:
        level = snap(
            record.dose.value, labels.ZONGERTINIB_DOSE_LEVELS_MG, s.settings.dose_tolerance_fraction
        )
    return LastDose(record, level)


def tdxd_level_below(level: float) -> float | None:
    """The next lower T-DXd level; None: below 3.2 mg/kg, discontinue."""
    levels = labels.TDXD_NSCLC_DOSE_LEVELS_MG_PER_KG
    index = levels.index(level)
    return levels[index + 1] if index + 1 < len(levels) else None

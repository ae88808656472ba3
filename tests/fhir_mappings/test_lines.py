"""Lines of therapy (clinical-rules.md section 5), from exposures and progressions."""

from __future__ import annotations

from datetime import date

import pytest

from fhir_mappings.lines import build_lines, line_class
from fhir_mappings.medications import ProgressionEvent
from fhir_mappings.model import Drug, DrugExposure, LineClass, StopReason, TherapyLine

AS_OF = date(2025, 6, 1)


def _exposure(
    drug: Drug,
    start: date | None,
    end: date | None = None,
    *,
    active: bool = False,
    curative: bool = False,
    stop: StopReason | None = None,
) -> DrugExposure:
    return DrugExposure(
        drug=drug,
        start=start,
        end=end,
        active=active,
        curative_intent=curative,
        stop_reason=stop,
        sources=(f"MedicationRequest/{drug.name.lower()}-{start}",),
    )


def _lines(
    exposures: list[DrugExposure],
    progressions: tuple[ProgressionEvent, ...] = (),
    *,
    window: int = 28,
    gap: int = 120,
) -> tuple[TherapyLine, ...]:
    lines, _ = build_lines(
        exposures, progressions, as_of=AS_OF, regimen_window_days=window, new_line_gap_days=gap
    )
    return lines


def test_drugs_started_within_the_window_form_one_regimen() -> None:
    lines = _lines(
        [
            _exposure(Drug.CARBOPLATIN, date(2024, 1, 1), date(2024, 3, 1)),
            _exposure(Drug.PEMETREXED, date(2024, 1, 1), date(2024, 8, 1)),
            _exposure(Drug.PEMBROLIZUMAB, date(2024, 1, 29), date(2024, 8, 1)),
        ]
    )
    assert len(lines) == 1
    assert lines[0].line_class is LineClass.PLATINUM
    assert lines[0].end == date(2024, 8, 1)


def test_a_new_drug_after_the_window_starts_a_new_line() -> None:
    lines = _lines(
        [
            _exposure(Drug.CARBOPLATIN, date(2024, 1, 1), date(2024, 3, 1)),
            _exposure(Drug.PEMBROLIZUMAB, date(2024, 1, 30), date(2024, 8, 1)),
        ]
    )
    assert [line.drugs for line in lines] == [{Drug.CARBOPLATIN}, {Drug.PEMBROLIZUMAB}]
    assert lines[0].progressed is True
    # clinical-rules.md 9.1: an inferred progression is dated by the next line's start.
    assert lines[0].progression_date == date(2024, 1, 30)


def test_the_window_is_a_setting() -> None:
    exposures = [
        _exposure(Drug.CARBOPLATIN, date(2024, 1, 1), date(2024, 3, 1)),
        _exposure(Drug.PEMBROLIZUMAB, date(2024, 1, 30), date(2024, 8, 1)),
    ]
    assert len(_lines(exposures, window=35)) == 1


def test_platinum_swap_after_the_window_stays_in_the_line() -> None:
    lines = _lines(
        [
            _exposure(Drug.CISPLATIN, date(2024, 1, 1), date(2024, 2, 1), stop=StopReason.TOXICITY),
            _exposure(Drug.PEMETREXED, date(2024, 1, 1), date(2024, 6, 1)),
            _exposure(Drug.CARBOPLATIN, date(2024, 2, 22), date(2024, 4, 1)),
        ]
    )
    assert len(lines) == 1
    assert lines[0].drugs == {Drug.CISPLATIN, Drug.PEMETREXED, Drug.CARBOPLATIN}


def test_gap_over_the_setting_restarts_even_the_same_regimen() -> None:
    exposures = [
        _exposure(Drug.PEMBROLIZUMAB, date(2023, 1, 1), date(2023, 4, 1)),
        _exposure(Drug.PEMBROLIZUMAB, date(2023, 7, 30), date(2023, 12, 1)),  # 120 days
    ]
    assert len(_lines(exposures)) == 1
    restarted = [
        _exposure(Drug.PEMBROLIZUMAB, date(2023, 1, 1), date(2023, 4, 1)),
        _exposure(Drug.PEMBROLIZUMAB, date(2023, 8, 30), date(2023, 12, 1)),
    ]
    assert len(_lines(restarted)) == 2


def test_progression_makes_a_drug_within_the_window_a_new_line() -> None:
    exposures = [
        _exposure(Drug.OSIMERTINIB, date(2024, 1, 1), date(2024, 1, 20)),
        _exposure(Drug.CARBOPLATIN, date(2024, 1, 25), date(2024, 4, 1)),
    ]
    progression = ProgressionEvent(date(2024, 1, 20), "Observation/pd")
    lines = _lines(exposures, (progression,))
    assert [line.line_class for line in lines] == [LineClass.EGFR_TKI, LineClass.PLATINUM]
    assert lines[0].progression_date == date(2024, 1, 20)
    assert lines[0].progression_sources == ("Observation/pd",)
    assert len(_lines(exposures)) == 1


def test_maintenance_continues_after_progression_is_not_a_new_line() -> None:
    exposures = [
        _exposure(Drug.PEMETREXED, date(2024, 1, 1), date(2024, 9, 1)),
        _exposure(Drug.PEMETREXED, date(2024, 6, 1), date(2024, 9, 1)),
    ]
    lines = _lines(exposures, (ProgressionEvent(date(2024, 5, 1), "Observation/pd"),))
    assert len(lines) == 1
    assert lines[0].progressed is True


def test_curative_intent_and_undated_exposures_are_not_lines() -> None:
    lines, issues = build_lines(
        [
            _exposure(Drug.CISPLATIN, date(2021, 1, 1), date(2021, 3, 1), curative=True),
            _exposure(Drug.DOCETAXEL, None),
            _exposure(Drug.ZONGERTINIB, date(2025, 1, 1), active=True),
        ],
        (),
        as_of=AS_OF,
        regimen_window_days=28,
        new_line_gap_days=120,
    )
    assert [(line.number, line.line_class, line.active) for line in lines] == [
        (1, LineClass.HER2_TKI, True)
    ]
    assert lines[0].end is None
    assert [i.reason for i in issues] == [
        "anticancer drug without a start date: not placed in a line"
    ]


def test_stopped_for_toxicity_before_the_next_line_is_not_progression() -> None:
    lines = _lines(
        [
            _exposure(
                Drug.TRASTUZUMAB_DERUXTECAN,
                date(2024, 1, 1),
                date(2024, 5, 1),
                stop=StopReason.TOXICITY,
            ),
            _exposure(Drug.ZONGERTINIB, date(2024, 6, 1), active=True),
        ]
    )
    assert lines[0].progressed is False


@pytest.mark.parametrize(
    ("drugs", "expected"),
    [
        ({Drug.CARBOPLATIN, Drug.PEMETREXED, Drug.PEMBROLIZUMAB}, LineClass.PLATINUM),
        ({Drug.CISPLATIN, Drug.AMIVANTAMAB, Drug.PEMETREXED}, LineClass.PLATINUM),
        ({Drug.PEMBROLIZUMAB}, LineClass.ICI),
        ({Drug.NIVOLUMAB, Drug.IPILIMUMAB}, LineClass.ICI),
        ({Drug.TRASTUZUMAB_EMTANSINE}, LineClass.HER2_ADC),
        ({Drug.POZIOTINIB}, LineClass.HER2_TKI),
        ({Drug.MOBOCERTINIB}, LineClass.EGFR_EX20),
        ({Drug.AFATINIB}, LineClass.EGFR_TKI),
        ({Drug.DOCETAXEL, Drug.PEMBROLIZUMAB}, LineClass.OTHER),
    ],
)
def test_line_classes(drugs: set[Drug], expected: LineClass) -> None:
    assert line_class(frozenset(drugs)) is expected

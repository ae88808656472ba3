"""Which record families the rules must read as unknown, from the prefetch keys that could
not be read: the mapping knows the key names, the rules ask by family."""

from __future__ import annotations

from datetime import date

import pytest

from fhir_mappings.model import PatientModel, UnreadableRecords

PROCEDURES, IMAGING = UnreadableRecords.PROCEDURES, UnreadableRecords.IMAGING


@pytest.mark.parametrize(
    ("unavailable", "procedures", "imaging"),
    [
        ((), False, False),
        (("procedures",), True, True),
        (("diagnosticReports",), False, True),
        (("observationsLaboratory", "adverseEvents"), False, False),
    ],
)
def test_unreadable_families_follow_the_keys_that_carry_them(
    unavailable: tuple[str, ...], procedures: bool, imaging: bool
) -> None:
    patient = PatientModel(as_of=date(2026, 11, 20), unavailable_data=unavailable)
    assert patient.unreadable(PROCEDURES) is procedures
    assert patient.unreadable(IMAGING) is imaging

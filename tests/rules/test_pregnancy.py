"""9.2 `embryo-fetal`: first order of a HER2 drug; missing sex or age is never read as "not
of reproductive potential"."""

from __future__ import annotations

from datetime import date

from cds_service.rules.base import Request, Service
from cds_service.settings import ClinicalSettings
from cds_service.wire import Indicator
from fhir_mappings.model import (
    Demographics,
    DoseUnit,
    Drug,
    PatientModel,
    PregnancyResult,
    PregnancyTest,
    ReproductiveStatus,
    ReproductiveStatusKind,
    Sex,
)
from tests.rules.patients import (
    OS,
    PV,
    SG,
    exon20_after_platinum,
    findings_of,
    on_tdxd_second_line,
    order,
    rule_ids,
)

RULE = "embryo-fetal"
TDXD = Drug.TRASTUZUMAB_DERUXTECAN
WOMAN_40 = Demographics(Sex.FEMALE, date(1986, 5, 2), ("Patient/p1",))


def first_tdxd(demographics: Demographics = WOMAN_40, **changes: object) -> PatientModel:
    return exon20_after_platinum(
        demographics=demographics, draft_orders=(order(TDXD, "tdxd", dose=5.4),), **changes
    )


def test_woman_of_40_without_a_test_gets_info_and_a_recommended_pregnancy_test() -> None:
    [finding] = findings_of(RULE, first_tdxd(), SG)
    assert finding.indicator is Indicator.INFO
    [proposal] = finding.proposals
    assert proposal.recommended
    assert proposal.actions == (Request(Service.PREGNANCY_TEST),)
    assert any("7 months after the last dose" in g for g in finding.guidance)


def test_negative_test_in_the_last_7_days_silences() -> None:
    test = PregnancyTest(PregnancyResult.NEGATIVE, date(2026, 11, 15), ("Observation/hcg",))
    assert RULE not in rule_ids(first_tdxd(pregnancy_tests=(test,)), SG)
    older = PregnancyTest(PregnancyResult.NEGATIVE, date(2026, 11, 10), ("Observation/hcg",))
    assert RULE in rule_ids(first_tdxd(pregnancy_tests=(older,)), SG)


def test_window_is_a_setting() -> None:
    older = PregnancyTest(PregnancyResult.NEGATIVE, date(2026, 11, 10), ("Observation/hcg",))
    settings = ClinicalSettings(recent_pregnancy_test_days=14)
    assert RULE not in rule_ids(first_tdxd(pregnancy_tests=(older,)), SG, settings)


def test_positive_test_is_a_warning() -> None:
    test = PregnancyTest(PregnancyResult.POSITIVE, date(2026, 11, 18), ("Observation/hcg",))
    [finding] = findings_of(RULE, first_tdxd(pregnancy_tests=(test,)), SG)
    assert finding.indicator is Indicator.WARNING
    assert "positive pregnancy test" in finding.summary


def test_menopause_or_hysterectomy_or_age_outside_the_range_silences_for_a_woman() -> None:
    for kind in ReproductiveStatusKind:
        status = ReproductiveStatus(kind, date(2020, 1, 1), ("Condition/x",))
        assert RULE not in rule_ids(first_tdxd(reproductive_status=(status,)), SG), kind
    woman_64 = Demographics(Sex.FEMALE, date(1962, 3, 14))
    assert RULE not in rule_ids(first_tdxd(woman_64), SG)


def test_unknown_age_counts_as_possible_reproductive_potential() -> None:
    [finding] = findings_of(RULE, first_tdxd(Demographics(Sex.FEMALE, None)), SG)
    assert any("Age is not recorded" in u for u in finding.uncertainties)


def test_man_gets_contraception_advice_only() -> None:
    man = Demographics(Sex.MALE, date(1975, 8, 30))
    [finding] = findings_of(RULE, first_tdxd(man), SG)
    assert finding.proposals == ()
    assert any("4 months after the last dose" in g for g in finding.guidance)
    assert not any("Females" in g for g in finding.guidance)


def test_sex_not_recorded_says_so_and_gives_both_advices() -> None:
    [finding] = findings_of(RULE, first_tdxd(Demographics()), SG)
    assert "sex not recorded" in finding.summary
    text = " ".join(finding.guidance)
    assert "Females" in text
    assert "Males" in text
    assert not finding.proposals[0].recommended


def test_not_a_first_order_or_patient_view_is_silent() -> None:
    patient = on_tdxd_second_line(
        demographics=WOMAN_40, draft_orders=(order(TDXD, "tdxd", dose=5.4),)
    )
    assert RULE not in rule_ids(patient, SG)
    assert RULE not in rule_ids(first_tdxd(), PV)


def test_tkis_state_no_unverified_duration_as_label_fact_tdm1_does() -> None:
    for drug, dose in ((Drug.ZONGERTINIB, 120), (Drug.SEVABERTINIB, 20)):
        patient = exon20_after_platinum(
            demographics=WOMAN_40, draft_orders=(order(drug, "o", dose=dose, unit=DoseUnit.MG),)
        )
        [finding] = findings_of(RULE, patient, OS)
        female = next(g for g in finding.guidance if g.startswith("Females"))
        assert female.endswith("[?]"), drug
        assert "Warnings and Precautions" in finding.guidance[0]
        assert "boxed" not in finding.guidance[0]
    tdm1 = exon20_after_platinum(
        demographics=WOMAN_40,
        draft_orders=(order(Drug.TRASTUZUMAB_EMTANSINE, "o", dose=3.6),),
    )
    [finding] = findings_of(RULE, tdm1, OS)
    assert "boxed warning" in finding.guidance[0]
    assert "7 months after the last dose. [L]" in finding.guidance[1]


def test_unreadable_procedures_are_named_not_read_as_no_hysterectomy() -> None:
    [finding] = findings_of(RULE, first_tdxd(unavailable_data=("procedures",)), SG)
    assert any("Procedures could not be read" in u for u in finding.uncertainties)

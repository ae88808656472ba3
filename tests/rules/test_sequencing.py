"""6.2 Sequencing rules: a positive case and one case per exclusion each."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from cds_service.rules import evaluate
from cds_service.rules.base import (
    CancelOrder,
    Prescribe,
    Proposal,
    Request,
    Service,
    UseOrderSet,
)
from cds_service.settings import ClinicalSettings
from cds_service.wire import Hook, Indicator, SelectionBehavior
from fhir_mappings.model import (
    Cancer,
    ComorbidityKind,
    Dose,
    DoseUnit,
    Drug,
    DrugExposure,
    EgfrStatus,
    ExposureStatus,
    Her2Status,
    Histology,
    IldCause,
    IldEpisode,
    Measurement,
    MeasurementKind,
    Specimen,
    StopReason,
)
from tests.rules.patients import (
    AMPLIFIED,
    CARBO_PEM_PEMBRO,
    CARBO_PEM_PEMBRO_LINE,
    EARLY_STAGE,
    EXON20_DUP,
    IHC_1PLUS,
    IHC_3PLUS,
    NSCLC_STAGE_IV,
    OS,
    PV,
    S310F,
    SG,
    SQUAMOUS_STAGE_IV,
    STATIN,
    TISSUE_NEGATIVE,
    VUS,
    WEIGHT_72,
    comorbidity,
    exon20_after_platinum,
    findings_of,
    ild,
    on_tdxd_second_line,
    order,
    rule_ids,
    tdxd_course,
    tdxd_line,
    untreated_exon20,
    zongertinib_course,
    zongertinib_line,
)

PLASMA_EXON20 = replace(EXON20_DUP, specimen=Specimen.PLASMA, sources=("Observation/erbb2-ctdna",))
"""The same ERBB2 exon 20 duplication, found in plasma (ctDNA) only."""


PLATINUM_REGIMEN = "platinum doublet chemotherapy with or without an ICI"


def created(proposal: Proposal) -> list[Drug]:
    return [a.drug for a in proposal.actions if isinstance(a, Prescribe)]


def deleted(proposal: Proposal) -> list[str]:
    return [a.order_ref for a in proposal.actions if isinstance(a, CancelOrder)]


# --- seq-first-line-tkd ---------------------------------------------------------------


def test_first_line_tkd_prefers_zongertinib_120_mg_at_72_kg() -> None:
    [finding] = findings_of("seq-first-line-tkd", untreated_exon20(), PV)
    [zongertinib, platinum] = finding.proposals
    assert zongertinib.recommended
    # the platinum doublet is never drafted drug by drug: only the site's order set
    assert platinum.actions == (UseOrderSet("platinum-doublet", PLATINUM_REGIMEN),)
    assert not platinum.recommended
    [prescribe] = zongertinib.actions
    assert isinstance(prescribe, Prescribe)
    assert prescribe.dosage is not None
    assert prescribe.dosage.dose == Dose(120.0, DoseUnit.MG)
    assert finding.selection is SelectionBehavior.AT_MOST_ONE
    assert "120 mg" in finding.summary
    assert any("platinum doublet" in g and "order set" in g for g in finding.guidance)


def test_first_line_tkd_cites_the_first_line_approval_words() -> None:
    [finding] = findings_of("seq-first-line-tkd", untreated_exon20(), PV)
    [approval] = [g for g in finding.guidance if "2026-02-26" in g]
    assert "an FDA-authorized test" in approval
    assert approval.endswith("[L]")


def test_first_line_tkd_plasma_only_mutation_is_never_recommended() -> None:
    patient = untreated_exon20(her2=Her2Status(mutations=(PLASMA_EXON20,)))
    [finding] = findings_of("seq-first-line-tkd", patient, PV)
    zongertinib, _platinum_order_set = finding.proposals
    assert not zongertinib.recommended
    assert zongertinib.label.endswith(
        "(confirm in tumour specimen (tissue or cytology) before a HER2 TKI)"
    )
    assert "plasma only" in finding.summary
    assert any("tumour specimens" in g and g.endswith("[L]") for g in finding.guidance)


def test_first_line_tkd_tissue_and_plasma_mutation_stays_recommended() -> None:
    patient = untreated_exon20(her2=Her2Status(mutations=(EXON20_DUP, PLASMA_EXON20)))
    [finding] = findings_of("seq-first-line-tkd", patient, PV)
    assert finding.proposals[0].recommended
    assert "confirm in tumour specimen" not in finding.proposals[0].label


def test_first_line_tkd_gives_180_mg_at_95_kg() -> None:
    patient = untreated_exon20(measurements=(replace(WEIGHT_72, value=95.0),))
    [finding] = findings_of("seq-first-line-tkd", patient, PV)
    [prescribe] = finding.proposals[0].actions
    assert isinstance(prescribe, Prescribe)
    assert prescribe.dosage is not None
    assert prescribe.dosage.dose == Dose(180.0, DoseUnit.MG)


def test_first_line_tkd_without_weight_gives_no_dose_and_says_so() -> None:
    [finding] = findings_of("seq-first-line-tkd", untreated_exon20(measurements=()), PV)
    [prescribe] = finding.proposals[0].actions
    assert isinstance(prescribe, Prescribe)
    assert prescribe.dosage is None
    assert any("No body weight is recorded" in u for u in finding.uncertainties)
    assert "dose by weight" in finding.summary


def test_first_line_tkd_with_unknown_histology_says_so() -> None:
    cancer = replace(NSCLC_STAGE_IV, histology=Histology.UNKNOWN)
    [finding] = findings_of("seq-first-line-tkd", untreated_exon20(cancer=cancer), PV)
    assert any("Histology is not stated" in u for u in finding.uncertainties)


def test_first_line_tkd_on_order_of_carboplatin_offers_a_switch() -> None:
    patient = untreated_exon20(
        draft_orders=(order(Drug.CARBOPLATIN, "carbo"), order(Drug.PEMETREXED, "pem"))
    )
    [finding] = findings_of("seq-first-line-tkd", patient, SG)
    [switch] = finding.proposals
    assert deleted(switch) == ["MedicationRequest/carbo", "MedicationRequest/pem"]
    assert created(switch) == [Drug.ZONGERTINIB]


def test_no_card_ever_drafts_carboplatin_or_pemetrexed() -> None:
    chemo = {Drug.CARBOPLATIN, Drug.CISPLATIN, Drug.PEMETREXED, Drug.PACLITAXEL}
    patients = [
        (untreated_exon20(), PV),
        (untreated_exon20(draft_orders=(order(Drug.PEMBROLIZUMAB, "pembro", dose=200),)), SG),
        (PROGRESSED_ON_ZONGERTINIB, PV),
        (replace(PROGRESSED_ON_ZONGERTINIB, draft_orders=(order(Drug.DOCETAXEL, "doce"),)), OS),
    ]
    for patient, hook in patients:
        for finding in evaluate(patient, hook, ClinicalSettings()):
            for proposal in finding.proposals:
                assert not set(created(proposal)) & chemo, (finding.rule_id, proposal.label)


def test_first_line_tkd_silent_when_zongertinib_is_ordered() -> None:
    patient = untreated_exon20(
        draft_orders=(order(Drug.ZONGERTINIB, "zong", dose=120, unit=DoseUnit.MG),)
    )
    assert "seq-first-line-tkd" not in rule_ids(patient, OS)


def test_first_line_tkd_silent_for_a_statin_order() -> None:
    assert rule_ids(untreated_exon20(draft_orders=(STATIN,)), OS) == []


@pytest.mark.parametrize(
    "patient",
    [
        untreated_exon20(cancer=SQUAMOUS_STAGE_IV),
        untreated_exon20(lines=(CARBO_PEM_PEMBRO_LINE,), exposures=CARBO_PEM_PEMBRO),
        untreated_exon20(her2=Her2Status(mutations=(S310F,))),
        untreated_exon20(cancer=EARLY_STAGE),
    ],
    ids=["squamous", "already-treated", "non-tkd-mutation", "early-stage"],
)
def test_first_line_tkd_exclusions(patient: object) -> None:
    assert "seq-first-line-tkd" not in rule_ids(patient, PV)  # type: ignore[arg-type]


# --- seq-first-line-cns ---------------------------------------------------------------

BRAIN_METS = replace(NSCLC_STAGE_IV, brain_metastases=True, brain_metastases_treated=False)


def test_first_line_cns_fires_with_untreated_brain_metastases() -> None:
    [finding] = findings_of("seq-first-line-cns", untreated_exon20(cancer=BRAIN_METS), PV)
    assert "brain metastases" in finding.summary
    assert finding.proposals == ()


def test_first_line_cns_fires_with_leptomeningeal_disease() -> None:
    cancer = replace(NSCLC_STAGE_IV, leptomeningeal=True)
    assert "seq-first-line-cns" in rule_ids(untreated_exon20(cancer=cancer), PV)


def test_first_line_cns_silent_when_brain_metastases_were_treated() -> None:
    cancer = replace(BRAIN_METS, brain_metastases_treated=True)
    assert "seq-first-line-cns" not in rule_ids(untreated_exon20(cancer=cancer), PV)


def test_first_line_cns_silent_without_cns_disease() -> None:
    assert "seq-first-line-cns" not in rule_ids(untreated_exon20(), PV)


def test_first_line_cns_silent_after_a_first_line() -> None:
    assert "seq-first-line-cns" not in rule_ids(exon20_after_platinum(cancer=BRAIN_METS), PV)


# --- seq-after-platinum ---------------------------------------------------------------


def test_after_platinum_lists_three_options_none_recommended() -> None:
    [finding] = findings_of("seq-after-platinum", exon20_after_platinum(), PV)
    assert [created(p) for p in finding.proposals] == [
        [Drug.TRASTUZUMAB_DERUXTECAN],
        [Drug.ZONGERTINIB],
        [Drug.SEVABERTINIB],
    ]
    assert not any(p.recommended for p in finding.proposals)
    assert finding.summary == (
        "HER2 TKD mutation after platinum: T-DXd, zongertinib or sevabertinib preferred"
    )
    assert finding.show_lines


@pytest.mark.parametrize(
    ("drug", "dose", "unit"),
    [
        (Drug.TRASTUZUMAB_DERUXTECAN, 5.4, DoseUnit.MG_PER_KG),
        (Drug.ZONGERTINIB, 120.0, DoseUnit.MG),
        (Drug.SEVABERTINIB, 20.0, DoseUnit.MG),
    ],
    ids=["t-dxd", "zongertinib", "sevabertinib"],
)
@pytest.mark.parametrize("hook", [OS, SG])
def test_after_platinum_silent_when_a_preferred_drug_is_ordered(
    drug: Drug, dose: float, unit: DoseUnit, hook: Hook
) -> None:
    patient = exon20_after_platinum(draft_orders=(order(drug, "her2", dose=dose, unit=unit),))
    assert "seq-after-platinum" not in rule_ids(patient, hook)


def test_after_platinum_on_docetaxel_order_offers_the_three_instead() -> None:
    patient = exon20_after_platinum(draft_orders=(order(Drug.DOCETAXEL, "doce", dose=75),))
    [finding] = findings_of("seq-after-platinum", patient, SG)
    assert [created(p) for p in finding.proposals] == [
        [Drug.TRASTUZUMAB_DERUXTECAN],
        [Drug.ZONGERTINIB],
        [Drug.SEVABERTINIB],
    ]
    assert all(deleted(p) == ["MedicationRequest/doce"] for p in finding.proposals)
    assert all(p.label.startswith("Instead: ") for p in finding.proposals)


def test_after_platinum_plasma_only_mutation_marks_the_tkis_and_keeps_t_dxd() -> None:
    low_lvef = Measurement(
        MeasurementKind.LVEF, 45.0, "%", date(2026, 11, 1), sources=("Observation/lvef-low",)
    )
    patient = exon20_after_platinum(
        her2=Her2Status(mutations=(PLASMA_EXON20,)), measurements=(WEIGHT_72, low_lvef)
    )
    [finding] = findings_of("seq-after-platinum", patient, PV)
    by_drug = {created(p)[0]: p for p in finding.proposals}
    caveat = "(confirm in tumour specimen (tissue or cytology) before a HER2 TKI)"
    assert by_drug[Drug.ZONGERTINIB].label.endswith(caveat)
    assert by_drug[Drug.SEVABERTINIB].label.endswith(caveat)
    assert "confirm" not in by_drug[Drug.TRASTUZUMAB_DERUXTECAN].label
    # sevabertinib is the only option free of modifiers, yet never recommended on plasma only
    assert not any(p.recommended for p in finding.proposals)
    assert any("tumour or plasma specimens" in g for g in finding.guidance)


def test_after_platinum_copd_puts_t_dxd_last() -> None:
    patient = exon20_after_platinum(comorbidities=(comorbidity(ComorbidityKind.COPD),))
    [finding] = findings_of("seq-after-platinum", patient, PV)
    assert [created(p) for p in finding.proposals][-1] == [Drug.TRASTUZUMAB_DERUXTECAN]
    assert not any(p.recommended for p in finding.proposals)  # two remain unmodified
    assert any("COPD" in g for g in finding.guidance)


def test_after_platinum_recommends_the_only_unmodified_option() -> None:
    low_lvef = Measurement(
        MeasurementKind.LVEF, 45.0, "%", date(2026, 11, 1), sources=("Observation/lvef-low",)
    )
    patient = exon20_after_platinum(measurements=(WEIGHT_72, low_lvef))
    [finding] = findings_of("seq-after-platinum", patient, PV)
    first = finding.proposals[0]
    assert created(first) == [Drug.SEVABERTINIB]
    assert first.recommended
    assert sum(p.recommended for p in finding.proposals) == 1


def test_after_platinum_squamous_offers_t_dxd_only() -> None:
    [finding] = findings_of(
        "seq-after-platinum", exon20_after_platinum(cancer=SQUAMOUS_STAGE_IV), PV
    )
    assert [created(p) for p in finding.proposals] == [[Drug.TRASTUZUMAB_DERUXTECAN]]


@pytest.mark.parametrize(
    "patient",
    [
        untreated_exon20(),
        on_tdxd_second_line(),
        exon20_after_platinum(her2=Her2Status(mutations=(S310F,))),
        exon20_after_platinum(cancer=EARLY_STAGE),
    ],
    ids=["no-platinum-line", "her2-drug-already", "non-tkd", "early-stage"],
)
def test_after_platinum_exclusions(patient: object) -> None:
    assert "seq-after-platinum" not in rule_ids(patient, PV)  # type: ignore[arg-type]


def test_after_platinum_silent_on_orders_without_anticancer_drug() -> None:
    assert rule_ids(exon20_after_platinum(draft_orders=(STATIN,)), SG) == []


# --- seq-non-tkd ---------------------------------------------------------------


def test_non_tkd_after_a_line_suggests_t_dxd() -> None:
    patient = exon20_after_platinum(her2=Her2Status(mutations=(S310F,)))
    [finding] = findings_of("seq-non-tkd", patient, PV)
    assert [created(p) for p in finding.proposals] == [[Drug.TRASTUZUMAB_DERUXTECAN]]
    assert "p.S310F" in finding.summary


def test_non_tkd_before_any_line_suggests_nothing() -> None:
    [finding] = findings_of(
        "seq-non-tkd", untreated_exon20(her2=Her2Status(mutations=(S310F,))), PV
    )
    assert finding.proposals == ()


def test_non_tkd_silent_with_a_tkd_mutation_too() -> None:
    patient = untreated_exon20(her2=Her2Status(mutations=(S310F, EXON20_DUP)))
    assert "seq-non-tkd" not in rule_ids(patient, PV)


def test_non_tkd_silent_when_t_dxd_is_the_order() -> None:
    patient = exon20_after_platinum(
        her2=Her2Status(mutations=(S310F,)),
        draft_orders=(order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=5.4),),
    )
    assert "seq-non-tkd" not in rule_ids(patient, SG)


# --- seq-ihc3 -----------------------------------------------------------------------------

IHC3_AFTER_CHEMO = exon20_after_platinum(
    her2=Her2Status(negative_results=(TISSUE_NEGATIVE,), ihc=(IHC_3PLUS,))
)


def test_ihc3_after_chemotherapy_suggests_t_dxd() -> None:
    [finding] = findings_of("seq-ihc3", IHC3_AFTER_CHEMO, PV)
    [only] = finding.proposals
    assert created(only) == [Drug.TRASTUZUMAB_DERUXTECAN]
    assert only.recommended
    assert "no satisfactory alternative" in finding.summary
    assert any(
        "no satisfactory alternative treatment options" in g and g.endswith("[L]")
        for g in finding.guidance
    )


@pytest.mark.parametrize(
    "patient",
    [
        replace(IHC3_AFTER_CHEMO, lines=(), exposures=()),
        replace(IHC3_AFTER_CHEMO, her2=Her2Status(mutations=(EXON20_DUP,), ihc=(IHC_3PLUS,))),
        replace(IHC3_AFTER_CHEMO, her2=Her2Status(ihc=(IHC_1PLUS,))),
        replace(
            IHC3_AFTER_CHEMO,
            exposures=(*CARBO_PEM_PEMBRO, tdxd_course()),
            lines=(CARBO_PEM_PEMBRO_LINE, tdxd_line()),
        ),
    ],
    ids=["no-prior-line", "activating-mutation", "ihc-1plus", "t-dxd-received"],
)
def test_ihc3_exclusions(patient: object) -> None:
    assert "seq-ihc3" not in rule_ids(patient, PV)  # type: ignore[arg-type]


# --- seq-amplification-only ---------------------------------------------------------------


def test_amplification_only_suggests_ihc_when_absent() -> None:
    patient = exon20_after_platinum(
        her2=Her2Status(negative_results=(TISSUE_NEGATIVE,), amplification=(AMPLIFIED,))
    )
    ids = rule_ids(patient, PV)
    assert "seq-amplification-only" in ids
    assert "test-her2-ihc" not in ids  # superseded: same IHC suggestion
    [finding] = findings_of("seq-amplification-only", patient, PV)
    assert [a for p in finding.proposals for a in p.actions] == [Request(Service.HER2_IHC)]


def test_amplification_only_with_ihc_1plus_suggests_no_test() -> None:
    patient = untreated_exon20(her2=Her2Status(amplification=(AMPLIFIED,), ihc=(IHC_1PLUS,)))
    [finding] = findings_of("seq-amplification-only", patient, PV)
    assert finding.proposals == ()


@pytest.mark.parametrize(
    "her2",
    [
        Her2Status(amplification=(AMPLIFIED,), mutations=(EXON20_DUP,)),
        Her2Status(amplification=(AMPLIFIED,), ihc=(IHC_3PLUS,)),
        Her2Status(amplification=(replace(AMPLIFIED, positive=False),)),
    ],
    ids=["activating-mutation", "ihc-3plus", "not-amplified"],
)
def test_amplification_only_exclusions(her2: Her2Status) -> None:
    assert "seq-amplification-only" not in rule_ids(untreated_exon20(her2=her2), PV)


# --- seq-after-zongertinib ---------------------------------------------------------------

PROGRESSED_ON_ZONGERTINIB = untreated_exon20(
    exposures=(zongertinib_course(active=False, progressed=True),),
    lines=(zongertinib_line(progressed=True),),
)


def test_after_zongertinib_offers_t_dxd_and_t_dm1_and_names_platinum() -> None:
    [finding] = findings_of("seq-after-zongertinib", PROGRESSED_ON_ZONGERTINIB, PV)
    assert [created(p) for p in finding.proposals] == [
        [Drug.TRASTUZUMAB_DERUXTECAN],
        [Drug.TRASTUZUMAB_EMTANSINE],
        [],
    ]
    assert finding.proposals[2].actions == (UseOrderSet("platinum-doublet", PLATINUM_REGIMEN),)
    assert "platinum +/- ICI" in finding.summary
    assert any("platinum doublet" in g and "order set" in g for g in finding.guidance)
    assert not any(p.recommended for p in finding.proposals)


def test_after_zongertinib_t_dm1_carries_3_6_mg_per_kg_every_3_weeks() -> None:
    [finding] = findings_of("seq-after-zongertinib", PROGRESSED_ON_ZONGERTINIB, PV)
    tdm1 = finding.proposals[1]
    [prescribe] = tdm1.actions
    assert isinstance(prescribe, Prescribe)
    assert prescribe.dosage is not None
    assert prescribe.dosage.dose == Dose(3.6, DoseUnit.MG_PER_KG)
    assert (prescribe.dosage.period, prescribe.dosage.period_unit) == (3, "wk")
    assert prescribe.dosage.route == "Intravenous"
    assert "3.6 mg/kg IV every 3 weeks" in tdm1.label
    assert any("3.6 mg/kg" in g and g.endswith("[L]") for g in finding.guidance)


@pytest.mark.parametrize(
    "episode",
    [
        ild(date(2026, 5, 1), grade=2, resolved=date(2026, 6, 1), cause=IldCause.ICI),
        ild(date(2026, 5, 1), grade=None, resolved=date(2026, 6, 1), hypoxia=True),
    ],
    ids=["grade-2", "grade-unknown-with-hypoxia"],
)
def test_after_zongertinib_t_dm1_cautioned_after_grade_2_ild(episode: IldEpisode) -> None:
    patient = replace(PROGRESSED_ON_ZONGERTINIB, ild_episodes=(episode,))
    [finding] = findings_of("seq-after-zongertinib", patient, PV)
    tdm1 = finding.proposals[1]
    assert created(tdm1) == [Drug.TRASTUZUMAB_EMTANSINE]
    assert tdm1.label.endswith("caution, prior ILD grade >= 2")
    assert not tdm1.recommended
    assert any("[E]" in g and "cautioned" in g for g in finding.guidance)


def test_after_zongertinib_grade_1_ild_adds_no_caution() -> None:
    patient = replace(
        PROGRESSED_ON_ZONGERTINIB,
        ild_episodes=(ild(date(2026, 5, 1), grade=1, resolved=date(2026, 5, 20)),),
    )
    [finding] = findings_of("seq-after-zongertinib", patient, PV)
    assert "caution" not in finding.proposals[1].label


def test_after_zongertinib_names_platinum_even_when_both_adcs_were_received() -> None:
    patient = replace(
        PROGRESSED_ON_ZONGERTINIB,
        exposures=(
            zongertinib_course(active=False, progressed=True),
            tdxd_course(active=False, end=date(2026, 2, 1)),
            replace(tdxd_course(active=False), drug=Drug.TRASTUZUMAB_EMTANSINE),
        ),
    )
    [finding] = findings_of("seq-after-zongertinib", patient, PV)
    [platinum] = finding.proposals  # offered only through the site's order set
    assert platinum.actions == (UseOrderSet("platinum-doublet", PLATINUM_REGIMEN),)
    assert "platinum +/- ICI" in finding.summary


def test_after_zongertinib_leaves_out_what_was_received() -> None:
    patient = replace(
        PROGRESSED_ON_ZONGERTINIB,
        exposures=(*CARBO_PEM_PEMBRO, zongertinib_course(active=False, progressed=True)),
        lines=(CARBO_PEM_PEMBRO_LINE, replace(zongertinib_line(progressed=True), number=2)),
    )
    [finding] = findings_of("seq-after-zongertinib", patient, PV)
    assert [created(p) for p in finding.proposals] == [
        [Drug.TRASTUZUMAB_DERUXTECAN],
        [Drug.TRASTUZUMAB_EMTANSINE],
    ]


def test_after_zongertinib_silent_without_progression() -> None:
    patient = untreated_exon20(
        exposures=(zongertinib_course(),), lines=(zongertinib_line(progressed=False),)
    )
    assert "seq-after-zongertinib" not in rule_ids(patient, PV)


# --- seq-after-tdxd ---------------------------------------------------------------

PROGRESSED_ON_TDXD = on_tdxd_second_line(
    exposures=(*CARBO_PEM_PEMBRO, tdxd_course(active=False, end=date(2026, 11, 10))),
    lines=(CARBO_PEM_PEMBRO_LINE, tdxd_line(progressed=True, active=False)),
)


def test_after_tdxd_offers_both_tkis() -> None:
    [finding] = findings_of("seq-after-tdxd", PROGRESSED_ON_TDXD, PV)
    assert [created(p) for p in finding.proposals] == [[Drug.ZONGERTINIB], [Drug.SEVABERTINIB]]
    assert any("44 %" in g and "38 %" in g for g in finding.guidance)


STOPPED_FOR_ILD = on_tdxd_second_line(
    exposures=(
        *CARBO_PEM_PEMBRO,
        tdxd_course(active=False, end=date(2026, 9, 20), stop_reason=StopReason.TOXICITY),
    ),
    lines=(CARBO_PEM_PEMBRO_LINE, tdxd_line(active=False)),
    ild_episodes=(ild(date(2026, 9, 20), grade=2, resolved=date(2026, 10, 30), on_tdxd=True),),
)


def test_after_tdxd_fires_after_a_stop_for_ild_as_info_with_ild_cautions() -> None:
    [finding] = findings_of("seq-after-tdxd", STOPPED_FOR_ILD, PV)
    assert finding.indicator is Indicator.INFO
    assert [created(p) for p in finding.proposals] == [[Drug.ZONGERTINIB], [Drug.SEVABERTINIB]]
    assert not any(p.recommended for p in finding.proposals)
    assert "stopped for ILD" in finding.summary
    assert any("Beamion LUNG-1" in g and "ILD" in g and g.endswith("[L]") for g in finding.guidance)
    assert any("SOHO-01" in u and "unverified" in u for u in finding.uncertainties)
    assert any("ILD/pneumonitis" in f.text for f in finding.facts)


def test_after_tdxd_ild_stop_recommends_nothing_even_with_one_unmodified_option() -> None:
    alt = Measurement(
        MeasurementKind.ALT, 200.0, "U/L", date(2026, 11, 14), 40.0, ("Observation/alt-high",)
    )
    patient = replace(STOPPED_FOR_ILD, measurements=(WEIGHT_72, alt))
    without_ild = replace(PROGRESSED_ON_TDXD, measurements=(WEIGHT_72, alt))
    assert not any(p.recommended for p in findings_of("seq-after-tdxd", patient, PV)[0].proposals)
    # the same liver modifier alone leaves both TKIs cautioned: nothing to recommend either way
    assert not any(
        p.recommended for p in findings_of("seq-after-tdxd", without_ild, PV)[0].proposals
    )


def test_after_tdxd_ild_episode_while_t_dxd_is_still_active_is_not_a_stop() -> None:
    patient = on_tdxd_second_line(
        ild_episodes=(ild(date(2026, 9, 20), grade=1, resolved=date(2026, 10, 1), on_tdxd=True),)
    )
    assert "seq-after-tdxd" not in rule_ids(patient, PV)


def test_after_tdxd_ild_not_on_t_dxd_is_not_a_stop_for_ild() -> None:
    patient = replace(
        STOPPED_FOR_ILD,
        ild_episodes=(
            ild(
                date(2026, 5, 1),
                grade=2,
                resolved=date(2026, 6, 1),
                cause=IldCause.ICI,
                on_tdxd=False,
            ),
        ),
    )
    assert "seq-after-tdxd" not in rule_ids(patient, PV)


def test_after_tdxd_silent_without_tkd_mutation() -> None:
    patient = replace(PROGRESSED_ON_TDXD, her2=Her2Status(mutations=(S310F,)))
    assert "seq-after-tdxd" not in rule_ids(patient, PV)


def test_after_tdxd_silent_without_progression() -> None:
    assert "seq-after-tdxd" not in rule_ids(on_tdxd_second_line(), PV)


# --- seq-tki-after-tki ---------------------------------------------------------------


SEVABERTINIB_START_CARDS = {"gi-sevabertinib", "start-sevabertinib"}
"""The sevabertinib start card (``gi-sevabertinib``, renamed ``start-sevabertinib`` by 9.2)."""


def test_tki_after_tki_is_info_no_data_and_offers_delete_or_t_dxd() -> None:
    patient = replace(
        PROGRESSED_ON_ZONGERTINIB,
        draft_orders=(order(Drug.SEVABERTINIB, "seva", dose=20, unit=DoseUnit.MG),),
    )
    ids = rule_ids(patient, OS)
    assert "seq-tki-after-tki" in ids
    assert "seq-after-zongertinib" not in ids
    assert "start-sevabertinib" in ids  # 9.1: no longer replaced by seq-tki-after-tki
    [finding] = findings_of("seq-tki-after-tki", patient, OS)
    assert finding.indicator is Indicator.INFO
    assert "no data" in finding.summary
    assert any(
        "patients previously treated with a HER2 TKI were not in the labeled study population" in g
        for g in finding.guidance
    )
    assert any("within the words of its indication" in g for g in finding.guidance)
    remove, switch = finding.proposals
    assert deleted(remove) == ["MedicationRequest/seva"]
    assert created(remove) == []
    assert created(switch) == [Drug.TRASTUZUMAB_DERUXTECAN]
    assert not any(p.recommended for p in finding.proposals)


@pytest.mark.parametrize("hook", [OS, SG])
def test_tki_after_tki_never_silences_the_sevabertinib_start_card(hook: Hook) -> None:
    patient = replace(
        PROGRESSED_ON_ZONGERTINIB,
        draft_orders=(order(Drug.SEVABERTINIB, "seva", dose=20, unit=DoseUnit.MG),),
    )
    assert set(rule_ids(patient, hook)) & SEVABERTINIB_START_CARDS
    for finding in evaluate(patient, hook, ClinicalSettings()):
        if finding.rule_id.startswith(("seq-", "test-")):
            assert not set(finding.supersedes) & SEVABERTINIB_START_CARDS, finding.rule_id


def test_tki_after_tki_silent_without_progression_on_a_tki() -> None:
    patient = exon20_after_platinum(
        draft_orders=(order(Drug.SEVABERTINIB, "seva", dose=20, unit=DoseUnit.MG),)
    )
    assert "seq-tki-after-tki" not in rule_ids(patient, OS)


def test_tki_after_tki_silent_when_the_same_tki_is_reordered() -> None:
    patient = replace(
        PROGRESSED_ON_ZONGERTINIB,
        draft_orders=(order(Drug.ZONGERTINIB, "zong", dose=120, unit=DoseUnit.MG),),
    )
    assert "seq-tki-after-tki" not in rule_ids(patient, OS)


# --- seq-ici-monotherapy ---------------------------------------------------------------


def test_ici_monotherapy_warns_for_pembrolizumab_alone() -> None:
    patient = untreated_exon20(
        draft_orders=(order(Drug.PEMBROLIZUMAB, "pembro", dose=200, unit=DoseUnit.MG),)
    )
    [finding] = findings_of("seq-ici-monotherapy", patient, SG)
    assert finding.indicator is Indicator.WARNING


def test_ici_monotherapy_silent_with_chemotherapy_in_the_drafts() -> None:
    patient = untreated_exon20(
        draft_orders=(
            order(Drug.PEMBROLIZUMAB, "pembro", dose=200, unit=DoseUnit.MG),
            order(Drug.CARBOPLATIN, "carbo", selected=False),
        )
    )
    assert "seq-ici-monotherapy" not in rule_ids(patient, OS)


def test_ici_monotherapy_silent_as_maintenance_of_the_regimen() -> None:
    ongoing = replace(CARBO_PEM_PEMBRO_LINE, progressed=False, progression_date=None, active=True)
    patient = untreated_exon20(
        lines=(ongoing,),
        draft_orders=(order(Drug.PEMBROLIZUMAB, "pembro", dose=200, unit=DoseUnit.MG),),
    )
    assert "seq-ici-monotherapy" not in rule_ids(patient, SG)


def test_ici_monotherapy_silent_without_activating_mutation() -> None:
    patient = untreated_exon20(
        her2=Her2Status(negative_results=(TISSUE_NEGATIVE,)),
        draft_orders=(order(Drug.PEMBROLIZUMAB, "pembro", dose=200, unit=DoseUnit.MG),),
    )
    assert "seq-ici-monotherapy" not in rule_ids(patient, SG)


# --- seq-adc-tki-together ---------------------------------------------------------------


def test_adc_tki_together_t_dxd_ordered_while_zongertinib_active() -> None:
    patient = untreated_exon20(
        exposures=(zongertinib_course(),),
        lines=(zongertinib_line(progressed=False),),
        draft_orders=(order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=5.4),),
    )
    [finding] = findings_of("seq-adc-tki-together", patient, SG)
    [remove] = finding.proposals
    assert deleted(remove) == ["MedicationRequest/tdxd"]


def test_adc_tki_together_both_ordered_gives_one_card_with_two_choices() -> None:
    patient = exon20_after_platinum(
        draft_orders=(
            order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=5.4),
            order(Drug.ZONGERTINIB, "zong", dose=120, unit=DoseUnit.MG),
        )
    )
    [finding] = findings_of("seq-adc-tki-together", patient, SG)
    assert [deleted(p) for p in finding.proposals] == [
        ["MedicationRequest/zong"],
        ["MedicationRequest/tdxd"],
    ]
    assert finding.selection is SelectionBehavior.AT_MOST_ONE


def test_adc_tki_together_silent_when_the_tki_was_stopped() -> None:
    patient = untreated_exon20(
        exposures=(zongertinib_course(active=False, progressed=True),),
        lines=(zongertinib_line(progressed=True),),
        draft_orders=(order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=5.4),),
    )
    assert "seq-adc-tki-together" not in rule_ids(patient, SG)


# --- seq-not-her2-agent --------------------------------------------------------------------------


@pytest.mark.parametrize("drug", [Drug.AMIVANTAMAB, Drug.MOBOCERTINIB, Drug.POZIOTINIB])
def test_not_her2_agent_warns_and_offers_eligible_her2_agents(drug: Drug) -> None:
    patient = exon20_after_platinum(draft_orders=(order(drug, "other", dose=1, unit=DoseUnit.MG),))
    [finding] = findings_of("seq-not-her2-agent", patient, OS)
    assert deleted(finding.proposals[0]) == ["MedicationRequest/other"]
    assert [created(p) for p in finding.proposals[1:]] == [
        [Drug.TRASTUZUMAB_DERUXTECAN],
        [Drug.ZONGERTINIB],
        [Drug.SEVABERTINIB],
    ]
    assert not any(Drug.AMIVANTAMAB in created(p) for p in finding.proposals)


def test_not_her2_agent_silent_with_an_egfr_exon20_insertion() -> None:
    patient = exon20_after_platinum(
        egfr=EgfrStatus(mutated=True, exon20_insertion=True, sources=("Observation/egfr",)),
        draft_orders=(order(Drug.AMIVANTAMAB, "amivantamab", dose=1050, unit=DoseUnit.MG),),
    )
    assert "seq-not-her2-agent" not in rule_ids(patient, OS)


def test_not_her2_agent_silent_with_an_egfr_sensitising_mutation() -> None:
    patient = exon20_after_platinum(
        egfr=EgfrStatus(
            mutated=True, exon20_insertion=False, sensitising=True, sources=("Observation/egfr",)
        ),
        draft_orders=(order(Drug.AMIVANTAMAB, "amivantamab", dose=1050, unit=DoseUnit.MG),),
    )
    assert "seq-not-her2-agent" not in rule_ids(patient, SG)


def test_not_her2_agent_silent_after_an_egfr_tki_line() -> None:
    osimertinib = DrugExposure(
        Drug.OSIMERTINIB,
        date(2025, 3, 1),
        date(2026, 1, 15),
        ExposureStatus.STOPPED,
        stop_reason=StopReason.PROGRESSION,
        sources=("MedicationRequest/osi",),
    )
    patient = exon20_after_platinum(
        exposures=(osimertinib, *CARBO_PEM_PEMBRO),
        draft_orders=(order(Drug.AMIVANTAMAB, "amivantamab", dose=1050, unit=DoseUnit.MG),),
    )
    assert "seq-not-her2-agent" not in rule_ids(patient, SG)


def test_not_her2_agent_an_erbb2_exon20_insertion_never_counts_as_egfr() -> None:
    patient = exon20_after_platinum(
        draft_orders=(order(Drug.AMIVANTAMAB, "amivantamab", dose=1050, unit=DoseUnit.MG),),
    )
    assert EXON20_DUP.exon20_insertion
    [finding] = findings_of("seq-not-her2-agent", patient, SG)
    assert finding.summary == (
        "Amivantamab is not a HER2 therapy: it has no HER2 indication; labeled for "
        "EGFR-mutant NSCLC"
    )


def test_not_her2_agent_egfr_variant_of_unstated_type_is_said_not_assumed() -> None:
    patient = exon20_after_platinum(
        egfr=EgfrStatus(mutated=True, sources=("Observation/egfr",)),
        draft_orders=(order(Drug.AMIVANTAMAB, "amivantamab", dose=1050, unit=DoseUnit.MG),),
    )
    [finding] = findings_of("seq-not-her2-agent", patient, SG)
    assert any("type not stated" in f.text for f in finding.facts)
    assert any("does not say which" in u for u in finding.uncertainties)


def test_not_her2_agent_egfr_resistance_change_alone_does_not_silence() -> None:
    patient = exon20_after_platinum(
        egfr=EgfrStatus(mutated=True, sensitising=False, sources=("Observation/egfr",)),
        draft_orders=(order(Drug.MOBOCERTINIB, "mobo", dose=160, unit=DoseUnit.MG),),
    )
    [finding] = findings_of("seq-not-her2-agent", patient, SG)
    assert "US withdrawal announced October 2023" in finding.summary


def test_not_her2_agent_silent_without_her2_disease() -> None:
    patient = exon20_after_platinum(
        her2=Her2Status(negative_results=(TISSUE_NEGATIVE,)),
        draft_orders=(order(Drug.AMIVANTAMAB, "amivantamab", dose=1050, unit=DoseUnit.MG),),
    )
    assert "seq-not-her2-agent" not in rule_ids(patient, OS)


# --- seq-off-label-tki ---------------------------------------------------------------


def test_off_label_tki_zongertinib_for_ihc3_offers_t_dxd() -> None:
    patient = replace(
        IHC3_AFTER_CHEMO,
        draft_orders=(order(Drug.ZONGERTINIB, "zong", dose=120, unit=DoseUnit.MG),),
    )
    ids = rule_ids(patient, OS)
    assert "seq-off-label-tki" in ids
    assert "seq-ihc3" not in ids
    [finding] = findings_of("seq-off-label-tki", patient, OS)
    assert "no HER2 TKD-activating mutation" in finding.summary
    [switch] = finding.proposals
    assert created(switch) == [Drug.TRASTUZUMAB_DERUXTECAN]
    assert deleted(switch) == ["MedicationRequest/zong"]


def test_off_label_tki_squamous() -> None:
    patient = exon20_after_platinum(
        cancer=SQUAMOUS_STAGE_IV,
        draft_orders=(order(Drug.ZONGERTINIB, "zong", dose=120, unit=DoseUnit.MG),),
    )
    [finding] = findings_of("seq-off-label-tki", patient, SG)
    assert "squamous histology" in finding.summary


def test_off_label_tki_sevabertinib_first_line_offers_zongertinib() -> None:
    patient = untreated_exon20(
        draft_orders=(order(Drug.SEVABERTINIB, "seva", dose=20, unit=DoseUnit.MG),)
    )
    [finding] = findings_of("seq-off-label-tki", patient, OS)
    assert "no prior systemic therapy" in finding.summary
    [switch] = finding.proposals
    assert created(switch) == [Drug.ZONGERTINIB]


def test_off_label_tki_silent_on_label() -> None:
    patient = exon20_after_platinum(
        draft_orders=(order(Drug.SEVABERTINIB, "seva", dose=20, unit=DoseUnit.MG),)
    )
    assert "seq-off-label-tki" not in rule_ids(patient, OS)


def test_off_label_tki_silent_for_first_line_zongertinib() -> None:
    patient = untreated_exon20(
        draft_orders=(order(Drug.ZONGERTINIB, "zong", dose=120, unit=DoseUnit.MG),)
    )
    assert "seq-off-label-tki" not in rule_ids(patient, OS)


# --- seq-off-label-tdxd ---------------------------------------------------------------


def test_off_label_tdxd_first_line() -> None:
    patient = untreated_exon20(draft_orders=(order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=5.4),))
    [finding] = findings_of("seq-off-label-tdxd", patient, OS)
    assert "no prior systemic therapy" in finding.summary
    assert finding.proposals == ()


def test_off_label_tdxd_without_her2_biomarker() -> None:
    patient = exon20_after_platinum(
        her2=Her2Status(negative_results=(TISSUE_NEGATIVE,), ihc=(IHC_1PLUS,)),
        draft_orders=(order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=5.4),),
    )
    [finding] = findings_of("seq-off-label-tdxd", patient, SG)
    assert "no activating ERBB2 mutation or IHC 3+" in finding.summary


def test_off_label_tdxd_supersedes_the_vus_card() -> None:
    patient = exon20_after_platinum(
        her2=Her2Status(mutations=(VUS,)),
        draft_orders=(order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=5.4),),
    )
    ids = rule_ids(patient, SG)
    assert "seq-off-label-tdxd" in ids
    assert "test-vus" not in ids
    [finding] = findings_of("seq-off-label-tdxd", patient, SG)
    assert finding.summary == (
        "T-DXd outside its labeled indications: only an ERBB2 variant of uncertain "
        "significance on file"
    )


def test_off_label_tki_supersedes_the_vus_card_and_names_the_vus() -> None:
    patient = exon20_after_platinum(
        her2=Her2Status(mutations=(VUS,)),
        draft_orders=(order(Drug.ZONGERTINIB, "zong", dose=120, unit=DoseUnit.MG),),
    )
    ids = rule_ids(patient, OS)
    assert "seq-off-label-tki" in ids
    assert "test-vus" not in ids
    [finding] = findings_of("seq-off-label-tki", patient, OS)
    assert "only an ERBB2 variant of uncertain significance on file" in finding.summary
    assert len(finding.summary) < 140


def test_off_label_tdxd_for_vus_does_not_silence_the_vus_card_of_another_order() -> None:
    patient = exon20_after_platinum(
        her2=Her2Status(mutations=(VUS,)),
        draft_orders=(
            order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=5.4),
            order(Drug.TRASTUZUMAB_EMTANSINE, "tdm1", dose=3.6),
        ),
    )
    [vus] = findings_of("test-vus", patient, SG)
    assert vus.order_refs == ("MedicationRequest/tdm1",)


@pytest.mark.parametrize(
    "her2",
    [
        Her2Status(mutations=(EXON20_DUP,)),
        Her2Status(mutations=(S310F,)),
        Her2Status(ihc=(IHC_3PLUS,)),
    ],
    ids=["tkd", "non-tkd", "ihc-3plus"],
)
def test_off_label_tdxd_silent_on_label(her2: Her2Status) -> None:
    patient = exon20_after_platinum(
        her2=her2, draft_orders=(order(Drug.TRASTUZUMAB_DERUXTECAN, "tdxd", dose=5.4),)
    )
    assert "seq-off-label-tdxd" not in rule_ids(patient, SG)


# --- scope ----------------------------------------------------------------------------------------


def test_sequencing_needs_an_nsclc_diagnosis() -> None:
    assert rule_ids(untreated_exon20(cancer=None), PV) == []
    assert rule_ids(untreated_exon20(cancer=Cancer(nsclc=False)), PV) == []


def test_disabled_rule_is_silent() -> None:
    settings = ClinicalSettings(disabled_rules=frozenset({"seq-first-line-tkd"}))
    assert "seq-first-line-tkd" not in rule_ids(untreated_exon20(), PV, settings)


def test_hooks_are_respected() -> None:
    assert "seq-first-line-cns" not in rule_ids(
        untreated_exon20(cancer=BRAIN_METS, draft_orders=(order(Drug.CARBOPLATIN, "c"),)),
        Hook.ORDER_SIGN,
    )


def test_ild_history_modifier_uses_pneumonitis() -> None:
    patient = exon20_after_platinum(
        ild_episodes=(
            ild(date(2026, 5, 1), grade=2, resolved=date(2026, 6, 1), cause=IldCause.ICI),
        )
    )
    [finding] = findings_of("seq-after-platinum", patient, PV)
    assert created(finding.proposals[-1]) == [Drug.TRASTUZUMAB_DERUXTECAN]


# --- specimen (9.1): every TKI suggestion of every sequencing card ------------------------

CAVEAT = "(confirm in tumour specimen (tissue or cytology) before a HER2 TKI)"


def test_specimen_caveat_on_replacements_offered_by_not_her2_agent() -> None:
    patient = exon20_after_platinum(
        her2=Her2Status(mutations=(PLASMA_EXON20,)),
        draft_orders=(order(Drug.AMIVANTAMAB, "amivantamab", dose=1050, unit=DoseUnit.MG),),
    )
    [finding] = findings_of("seq-not-her2-agent", patient, SG)
    for proposal in finding.proposals:
        drugs = created(proposal)
        is_tki = Drug.ZONGERTINIB in drugs or Drug.SEVABERTINIB in drugs
        assert proposal.label.endswith(CAVEAT) is is_tki, proposal.label
        assert not proposal.recommended


def test_specimen_caveat_on_the_on_label_switch_of_off_label_sevabertinib() -> None:
    patient = untreated_exon20(
        her2=Her2Status(mutations=(PLASMA_EXON20,)),
        draft_orders=(order(Drug.SEVABERTINIB, "seva", dose=20, unit=DoseUnit.MG),),
    )
    [finding] = findings_of("seq-off-label-tki", patient, OS)
    [switch] = finding.proposals
    assert created(switch) == [Drug.ZONGERTINIB]
    assert switch.label.endswith(CAVEAT)
    assert any("tumour specimens" in g for g in finding.guidance)


def test_unknown_specimen_is_not_read_as_plasma_only() -> None:
    patient = untreated_exon20(
        her2=Her2Status(mutations=(replace(EXON20_DUP, specimen=Specimen.UNKNOWN),))
    )
    [finding] = findings_of("seq-first-line-tkd", patient, PV)
    assert finding.proposals[0].recommended
    assert CAVEAT not in finding.proposals[0].label


def test_off_label_tki_summary_stays_short_with_every_reason() -> None:
    patient = untreated_exon20(
        cancer=SQUAMOUS_STAGE_IV,
        her2=Her2Status(mutations=(VUS,)),
        draft_orders=(order(Drug.SEVABERTINIB, "seva", dose=20, unit=DoseUnit.MG),),
    )
    [finding] = findings_of("seq-off-label-tki", patient, SG)
    assert finding.summary == (
        "Sevabertinib outside its labeled indication: only an ERBB2 VUS on file, squamous "
        "histology, no prior systemic therapy"
    )
    assert len(finding.summary) < 140

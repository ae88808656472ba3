"""Writes the request fixtures of the golden tests and the vignettes.

    .venv/bin/python -m tests.rules.make_fixtures

Each golden fixture is named ``<rule-id>__fires__<scenario>.json`` or
``<rule-id>__silent__<scenario>.json`` (the rule must, or must not, give a card), and
``none__silent__<scenario>.json`` for requests that must get no card at all. The
vignettes (``tests/vignettes``) are the ten clinical stories of the rules issue. The
patient histories below are the clinical content; ``tests/rules/fhir.py`` only shapes
JSON. Today is 2026-11-21 in every fixture.

The files are stored, so that a reviewer reads a request beside its golden answer;
``tests/rules/test_fixtures.py`` fails when a stored file differs from what this module
builds (run it again after changing a history, and commit both).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.rules import fhir
from tests.rules.fhir import Json

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
VIGNETTES = HERE.parent / "vignettes"

PV, OS, SG = "patient-view", "order-select", "order-sign"

# --- Building blocks of the histories ---------------------------------------------------------

EXON20 = fhir.erbb2_variant("erbb2-variant", "NP_004439.2:p.(Tyr772_Ala775dup)")
S310F = fhir.erbb2_variant("erbb2-variant", "p.Ser310Phe")
VUS = fhir.erbb2_variant(
    "erbb2-variant", "p.Arg1153Gln", significance=("LA6682-4", "Uncertain significance")
)
TISSUE_NEGATIVE = fhir.erbb2_negative("erbb2-tissue")
PLASMA_NEGATIVE = fhir.erbb2_negative(
    "erbb2-plasma", when="2026-01-18", specimen="Plasma (cell-free DNA)"
)
EXON20_PLASMA = fhir.erbb2_variant(
    "erbb2-ctdna",
    "NP_004439.2:p.(Tyr772_Ala775dup)",
    specimen="Plasma (cell-free DNA)",
    method="Plasma ctDNA next-generation sequencing",
)
"""The same ERBB2 exon 20 duplication, found in plasma only (no tumour specimen result)."""
EGFR_NEGATIVE = fhir.egfr_result("egfr", None)
EGFR_EXON19_DELETION = fhir.egfr_result("egfr", "p.E746_A750del")
TDM1_ACTIVE = fhir.prescription(
    "t-dm1",
    "tdm1-course",
    start="2026-10-01",
    dose=3.6,
    unit="mg/kg",
    frequency=(1, 3, "wk"),
)
"""T-DM1 3.6 mg/kg every 3 weeks, active since 2026-10-01 (given off-label)."""
DX = fhir.lung_adenocarcinoma()
LABS = [fhir.weight(72), fhir.lvef(60), *fhir.liver_panel(), fhir.anc(2.4)]
RECENT_CT = fhir.chest_ct("2026-10-05")

PLATINUM_DATES = ["2026-03-02", "2026-03-23", "2026-04-13", "2026-05-04"]
MAINTENANCE_DATES = ["2026-05-25", "2026-06-15", "2026-07-06", "2026-07-27", "2026-08-17"]
PLATINUM = [
    *fhir.course("carboplatin", PLATINUM_DATES, 450, "mg"),
    *fhir.course("pemetrexed", PLATINUM_DATES + MAINTENANCE_DATES, 900, "mg"),
    *fhir.course("pembrolizumab", PLATINUM_DATES + MAINTENANCE_DATES, 200, "mg"),
    fhir.progression("progression-1", "2026-09-08"),
]
"""Carboplatin + pemetrexed + pembrolizumab, maintenance, progression 2026-09-08."""

TDXD_TWO_CYCLES = fhir.course("tdxd", ["2026-09-22", "2026-10-13"], 5.4, "mg/kg")
"""T-DXd 5.4 mg/kg started 2026-09-22 after platinum; two cycles given."""

PLATINUM_EARLY_DATES = ["2025-12-01", "2025-12-22", "2026-01-12", "2026-02-02"]
PLATINUM_EARLY = [
    *fhir.course("carboplatin", PLATINUM_EARLY_DATES, 450, "mg"),
    *fhir.course("pemetrexed", [*PLATINUM_EARLY_DATES, "2026-02-23", "2026-03-16"], 900, "mg"),
    *fhir.course("pembrolizumab", [*PLATINUM_EARLY_DATES, "2026-02-23", "2026-03-16"], 200, "mg"),
    fhir.progression("progression-1", "2026-04-27"),
]
TDXD_SINCE_MAY = fhir.course(
    "tdxd", ["2026-05-11", "2026-06-01", "2026-06-22", "2026-07-13"], 5.4, "mg/kg"
)
"""T-DXd from 2026-05-11 after an earlier platinum line; held after 2026-07-13."""

ZONGERTINIB_PROGRESSED = [
    fhir.prescription(
        "zongertinib",
        "zong-course",
        start="2026-03-02",
        status="stopped",
        end="2026-10-30",
        reason="Disease progression",
        dose=120,
    ),
    fhir.progression("progression-zong", "2026-10-30"),
]
ZONGERTINIB_ONGOING = [
    fhir.prescription("zongertinib", "zong-course", start="2026-09-01", dose=120)
]
PEMBRO_PNEUMONITIS = fhir.pneumonitis(
    "pneumonitis-pembro",
    onset="2026-06-20",
    abatement="2026-08-01",
    note="Immune-related pneumonitis on pembrolizumab, grade 2; treated with prednisone.",
)
PLATINUM_THEN_PNEUMONITIS = [
    *fhir.course("carboplatin", PLATINUM_DATES, 450, "mg"),
    *fhir.course("pemetrexed", PLATINUM_DATES + MAINTENANCE_DATES, 900, "mg"),
    *fhir.course("pembrolizumab", [*PLATINUM_DATES, "2026-05-25", "2026-06-15"], 200, "mg"),
    PEMBRO_PNEUMONITIS,
    fhir.progression("progression-1", "2026-09-08"),
]
"""Platinum doublet with pembrolizumab; pembrolizumab stopped for pneumonitis (resolved)."""

OSIMERTINIB_PROGRESSED = [
    fhir.prescription(
        "osimertinib",
        "osimertinib-course",
        start="2025-03-03",
        status="stopped",
        end="2026-09-15",
        reason="Disease progression on CT",
        dose=80,
    ),
    fhir.progression("progression-osi", "2026-09-15"),
]


def tdxd_order(mg_per_kg: float = 5.4) -> Json:
    return fhir.draft_tdxd(mg_per_kg=mg_per_kg)


# --- Vignettes (tests/vignettes) ------------------------------------------------------------------

VIGNETTES_DEF: dict[str, Json] = {
    "v01_exon20_untreated_72kg_patient_view": fhir.request("v01", PV, [DX, EXON20, *LABS]),
    "v02_exon20_after_platinum_order_select_tdxd": fhir.request(
        "v02", OS, [DX, EXON20, *LABS, *PLATINUM], drafts=[tdxd_order()]
    ),
    "v03_prior_pembrolizumab_pneumonitis_order_sign_tdxd": fhir.request(
        "v03", SG, [DX, EXON20, *LABS, *PLATINUM_THEN_PNEUMONITIS], drafts=[tdxd_order()]
    ),
    "v04_new_pneumonitis_on_tdxd_order_sign_next_cycle": fhir.request(
        "v04",
        SG,
        [
            DX,
            EXON20,
            *LABS,
            RECENT_CT,
            *PLATINUM,
            *TDXD_TWO_CYCLES,
            fhir.pneumonitis(
                "pneumonitis-tdxd",
                onset="2026-11-12",
                note="New ground-glass opacities with dry cough after two cycles of T-DXd.",
            ),
        ],
        drafts=[tdxd_order()],
    ),
    "v05_grade1_ild_resolved_after_35_days_order_sign_5_4": fhir.request(
        "v05",
        SG,
        [
            DX,
            EXON20,
            *LABS,
            RECENT_CT,
            *PLATINUM_EARLY,
            *TDXD_SINCE_MAY,
            fhir.pneumonitis(
                "pneumonitis-tdxd",
                onset="2026-07-27",
                abatement="2026-08-31",
                severity="CTCAE grade 1",
                note="Asymptomatic ground-glass opacities attributed to T-DXd; T-DXd held.",
            ),
        ],
        drafts=[tdxd_order()],
    ),
    "v06a_her2_ihc3_after_chemotherapy_patient_view": fhir.request(
        "v06a", PV, [DX, TISSUE_NEGATIVE, fhir.her2_ihc("3+"), *LABS, *PLATINUM]
    ),
    "v06b_her2_ihc3_after_chemotherapy_order_select_zongertinib": fhir.request(
        "v06b",
        OS,
        [DX, TISSUE_NEGATIVE, fhir.her2_ihc("3+"), *LABS, *PLATINUM],
        drafts=[fhir.draft_zongertinib(120)],
    ),
    "v07_progression_on_zongertinib_order_select_sevabertinib": fhir.request(
        "v07", OS, [DX, EXON20, *LABS, *ZONGERTINIB_PROGRESSED], drafts=[fhir.draft_sevabertinib()]
    ),
    "v08_no_molecular_results_order_select_carboplatin": fhir.request(
        "v08", OS, [DX, *LABS], drafts=[fhir.draft_oral_or_iv("carboplatin", "carbo-draft", 450)]
    ),
    "v09_tdxd_ordered_at_6_4_mg_per_kg": fhir.request(
        "v09",
        SG,
        [DX, EXON20, *LABS, RECENT_CT, *PLATINUM, *TDXD_TWO_CYCLES],
        drafts=[tdxd_order(6.4)],
    ),
    "v10_zongertinib_120mg_at_95kg_with_alt_4x_uln": fhir.request(
        "v10",
        OS,
        [DX, EXON20, fhir.weight(95), fhir.lvef(60), *fhir.liver_panel(alt_value=160)],
        drafts=[fhir.draft_zongertinib(120)],
    ),
}

# --- Golden fixtures: per rule, one that fires and one or more that must not ----------------

PLATINUM_PATIENT = [DX, EXON20, *LABS, *PLATINUM]
ON_TDXD = [DX, EXON20, *LABS, RECENT_CT, *PLATINUM, *TDXD_TWO_CYCLES]
UNTREATED = [DX, EXON20, *LABS]

AFTER_ZONGERTINIB = [DX, EXON20, *LABS, *ZONGERTINIB_PROGRESSED]
"""Zongertinib stopped for progression 2026-10-30; T-DM1 is one of the next options."""
TDM1_TWO_CYCLES = fhir.course("t-dm1", ["2026-10-13", "2026-11-03"], 3.6, "mg/kg")
"""T-DM1 3.6 mg/kg from 2026-10-13 after zongertinib; two cycles given."""
WOMAN_40 = fhir.patient("female", "1986-05-02")
ITRACONAZOLE = fhir.prescription("itraconazole", "itraconazole-rx", start="2026-11-10", dose=200)
"""Itraconazole (an FDA example of a strong CYP3A inhibitor), active."""

GOLDEN_DEF: dict[str, Json] = {
    # 6.1 testing
    "test-broad-ngs__fires__no_molecular_results_patient_view": fhir.request(
        "g-ngs-1", PV, [DX, *LABS]
    ),
    "test-broad-ngs__fires__no_molecular_results_order_sign_carboplatin": fhir.request(
        "g-ngs-2",
        SG,
        [DX, *LABS],
        drafts=[fhir.draft_oral_or_iv("carboplatin", "carbo-draft", 450)],
    ),
    "test-broad-ngs__fires__egfr_negative_says_no_erbb2_result": fhir.request(
        "g-ngs-4", PV, [DX, EGFR_NEGATIVE, *LABS]
    ),
    "test-broad-ngs__silent__erbb2_tissue_negative": fhir.request(
        "g-ngs-3", PV, [DX, TISSUE_NEGATIVE, *LABS]
    ),
    "test-tissue-after-plasma__fires__plasma_negative_only": fhir.request(
        "g-plasma-1", PV, [DX, PLASMA_NEGATIVE, *LABS]
    ),
    "test-tissue-after-plasma__silent__plasma_and_tissue_negative": fhir.request(
        "g-plasma-2", PV, [DX, PLASMA_NEGATIVE, TISSUE_NEGATIVE, *LABS]
    ),
    "test-her2-ihc__fires__progressed_after_platinum_no_ihc": fhir.request(
        "g-ihc-1", PV, [DX, TISSUE_NEGATIVE, *LABS, *PLATINUM]
    ),
    "test-her2-ihc__silent__ihc_1plus_on_file": fhir.request(
        "g-ihc-2", PV, [DX, TISSUE_NEGATIVE, fhir.her2_ihc("1+"), *LABS, *PLATINUM]
    ),
    "test-retest-on-resistance__fires__osimertinib_progression_old_her2_test": fhir.request(
        "g-retest-1",
        PV,
        [
            DX,
            fhir.erbb2_negative("erbb2-tissue", when="2025-02-10"),
            *LABS,
            *OSIMERTINIB_PROGRESSED,
        ],
    ),
    "test-retest-on-resistance__silent__her2_retested_after_progression": fhir.request(
        "g-retest-2",
        PV,
        [
            DX,
            fhir.erbb2_negative("erbb2-tissue", when="2025-02-10"),
            fhir.her2_ish_amplified(when="2026-10-10"),
            *LABS,
            *OSIMERTINIB_PROGRESSED,
        ],
    ),
    "test-vus__fires__erbb2_vus_only_on_active_tdm1": fhir.request(
        "g-vus-1", PV, [DX, VUS, *LABS, *PLATINUM, TDM1_ACTIVE]
    ),
    "test-vus__silent__vus_with_ihc_3plus": fhir.request(
        "g-vus-2", PV, [DX, VUS, fhir.her2_ihc("3+"), *LABS, *PLATINUM, TDM1_ACTIVE]
    ),
    "test-vus__silent__vus_only_no_her2_drug_patient_view": fhir.request(
        "g-vus-3", PV, [DX, VUS, *LABS]
    ),
    "test-vus__silent__off_label_zongertinib_card_names_the_vus": fhir.request(
        "g-vus-4", SG, [DX, VUS, *LABS, *PLATINUM], drafts=[fhir.draft_zongertinib(120)]
    ),
    # 6.2 sequencing
    "seq-first-line-tkd__fires__exon20_untreated_weight_unknown": fhir.request(
        "g-1l-1", PV, [DX, EXON20, fhir.lvef(60), *fhir.liver_panel()]
    ),
    "seq-first-line-tkd__fires__exon20_untreated_order_sign_carboplatin": fhir.request(
        "g-1l-2",
        SG,
        UNTREATED,
        drafts=[
            fhir.draft_oral_or_iv("carboplatin", "carbo-draft", 450),
            fhir.draft_oral_or_iv("pemetrexed", "pem-draft", 900),
        ],
    ),
    "seq-first-line-tkd__fires__plasma_only_mutation_not_recommended": fhir.request(
        "g-1l-5", PV, [DX, EXON20_PLASMA, *LABS]
    ),
    "seq-first-line-tkd__silent__squamous": fhir.request(
        "g-1l-3", PV, [fhir.lung_squamous(), EXON20, *LABS]
    ),
    "seq-first-line-tkd__silent__zongertinib_ordered": fhir.request(
        "g-1l-4", OS, UNTREATED, drafts=[fhir.draft_zongertinib(120)]
    ),
    "seq-first-line-cns__fires__untreated_brain_metastases": fhir.request(
        "g-cns-1", PV, [*UNTREATED, fhir.brain_metastases()]
    ),
    "seq-first-line-cns__silent__brain_metastases_treated_with_srs": fhir.request(
        "g-cns-2",
        PV,
        [*UNTREATED, fhir.brain_metastases("Treated with stereotactic radiosurgery (SRS).")],
    ),
    "seq-after-platinum__fires__exon20_progressed_after_platinum": fhir.request(
        "g-2l-1", PV, PLATINUM_PATIENT
    ),
    "seq-after-platinum__fires__with_copd_tdxd_last": fhir.request(
        "g-2l-2", PV, [*PLATINUM_PATIENT, fhir.copd()]
    ),
    "seq-after-platinum__silent__already_on_tdxd": fhir.request("g-2l-3", PV, ON_TDXD),
    "seq-after-platinum__silent__tdxd_ordered": fhir.request(
        "g-2l-4", OS, PLATINUM_PATIENT, drafts=[tdxd_order()]
    ),
    "seq-after-platinum__fires__pembrolizumab_ordered": fhir.request(
        "g-2l-5",
        SG,
        PLATINUM_PATIENT,
        drafts=[fhir.draft_oral_or_iv("pembrolizumab", "pembro-draft", 200)],
    ),
    "seq-after-platinum__fires__plasma_only_mutation": fhir.request(
        "g-2l-6", PV, [DX, EXON20_PLASMA, *LABS, *PLATINUM]
    ),
    "seq-non-tkd__fires__s310f_after_platinum": fhir.request(
        "g-ntkd-1", PV, [DX, S310F, *LABS, *PLATINUM]
    ),
    "seq-non-tkd__silent__exon20_insertion": fhir.request("g-ntkd-2", PV, PLATINUM_PATIENT),
    "seq-ihc3__fires__ihc3_after_chemotherapy": fhir.request(
        "g-ihc3-1", PV, [DX, TISSUE_NEGATIVE, fhir.her2_ihc("3+"), *LABS, *PLATINUM]
    ),
    "seq-ihc3__silent__ihc3_no_prior_line": fhir.request(
        "g-ihc3-2", PV, [DX, TISSUE_NEGATIVE, fhir.her2_ihc("3+"), *LABS]
    ),
    "seq-amplification-only__fires__ish_amplified_no_ihc": fhir.request(
        "g-amp-1", PV, [DX, TISSUE_NEGATIVE, fhir.her2_ish_amplified(), *LABS]
    ),
    "seq-amplification-only__silent__amplified_with_ihc_3plus": fhir.request(
        "g-amp-2",
        PV,
        [DX, TISSUE_NEGATIVE, fhir.her2_ish_amplified(), fhir.her2_ihc("3+"), *LABS],
    ),
    "seq-after-zongertinib__fires__progression_on_zongertinib": fhir.request(
        "g-azong-1", PV, [DX, EXON20, *LABS, *ZONGERTINIB_PROGRESSED]
    ),
    "seq-after-zongertinib__fires__prior_grade2_ild_tdm1_cautioned": fhir.request(
        "g-azong-3",
        PV,
        [DX, EXON20, *LABS, *ZONGERTINIB_PROGRESSED, PEMBRO_PNEUMONITIS],
    ),
    "seq-after-zongertinib__silent__on_zongertinib_responding": fhir.request(
        "g-azong-2", PV, [DX, EXON20, *LABS, *ZONGERTINIB_ONGOING]
    ),
    "seq-after-tdxd__fires__progression_on_tdxd": fhir.request(
        "g-atdxd-1",
        PV,
        [
            *PLATINUM_PATIENT,
            *TDXD_SINCE_MAY,
            fhir.prescription(
                "tdxd",
                "tdxd-course",
                start="2026-05-11",
                status="stopped",
                end="2026-10-05",
                reason="Disease progression",
                dose=5.4,
                unit="mg/kg",
                frequency=(1, 3, "wk"),
            ),
            fhir.progression("progression-2", "2026-10-05"),
        ],
    ),
    "seq-after-tdxd__silent__on_tdxd_no_progression": fhir.request("g-atdxd-3", PV, ON_TDXD),
    "seq-after-tdxd__fires__tdxd_stopped_for_grade2_ild": fhir.request(
        "g-atdxd-2",
        PV,
        [
            *PLATINUM_PATIENT,
            *TDXD_SINCE_MAY,
            fhir.pneumonitis(
                "pneumonitis-tdxd",
                onset="2026-07-27",
                abatement="2026-09-10",
                note="T-DXd-related pneumonitis, CTCAE grade 2; T-DXd discontinued.",
            ),
            fhir.progression("progression-2", "2026-10-05"),
        ],
    ),
    "seq-tki-after-tki__fires__sevabertinib_after_zongertinib_progression": fhir.request(
        "g-tki-1",
        SG,
        [DX, EXON20, *LABS, *ZONGERTINIB_PROGRESSED],
        drafts=[fhir.draft_sevabertinib()],
    ),
    "seq-tki-after-tki__silent__sevabertinib_after_platinum": fhir.request(
        "g-tki-2", SG, PLATINUM_PATIENT, drafts=[fhir.draft_sevabertinib()]
    ),
    "seq-ici-monotherapy__fires__pembrolizumab_alone_exon20": fhir.request(
        "g-ici-1",
        OS,
        UNTREATED,
        drafts=[fhir.draft_oral_or_iv("pembrolizumab", "pembro-draft", 200)],
    ),
    "seq-ici-monotherapy__silent__pembrolizumab_with_platinum_doublet": fhir.request(
        "g-ici-2",
        SG,
        UNTREATED,
        drafts=[
            fhir.draft_oral_or_iv("carboplatin", "carbo-draft", 450),
            fhir.draft_oral_or_iv("pemetrexed", "pem-draft", 900),
            fhir.draft_oral_or_iv("pembrolizumab", "pembro-draft", 200),
        ],
    ),
    "seq-adc-tki-together__fires__tdxd_and_zongertinib_drafts": fhir.request(
        "g-adc-1", SG, PLATINUM_PATIENT, drafts=[tdxd_order(), fhir.draft_zongertinib(120)]
    ),
    "seq-adc-tki-together__silent__tdxd_alone": fhir.request(
        "g-adc-2", SG, [*PLATINUM_PATIENT, RECENT_CT], drafts=[tdxd_order()]
    ),
    "seq-not-her2-agent__fires__amivantamab_for_erbb2_exon20": fhir.request(
        "g-not-1",
        SG,
        PLATINUM_PATIENT,
        drafts=[fhir.draft_oral_or_iv("amivantamab", "amivantamab-draft", 1050)],
    ),
    "seq-not-her2-agent__silent__egfr_exon19_deletion": fhir.request(
        "g-not-3",
        SG,
        [*PLATINUM_PATIENT, EGFR_EXON19_DELETION],
        drafts=[fhir.draft_oral_or_iv("amivantamab", "amivantamab-draft", 1050)],
    ),
    "seq-not-her2-agent__silent__after_osimertinib": fhir.request(
        "g-not-4",
        SG,
        [*PLATINUM_PATIENT, *OSIMERTINIB_PROGRESSED],
        drafts=[fhir.draft_oral_or_iv("amivantamab", "amivantamab-draft", 1050)],
    ),
    "seq-not-her2-agent__silent__no_her2_alteration": fhir.request(
        "g-not-2",
        SG,
        [DX, TISSUE_NEGATIVE, *LABS, *PLATINUM],
        drafts=[fhir.draft_oral_or_iv("amivantamab", "amivantamab-draft", 1050)],
    ),
    "seq-off-label-tki__fires__zongertinib_for_ihc3_only": fhir.request(
        "g-oltki-1",
        SG,
        [DX, TISSUE_NEGATIVE, fhir.her2_ihc("3+"), *LABS, *PLATINUM],
        drafts=[fhir.draft_zongertinib(120)],
    ),
    "seq-off-label-tki__silent__sevabertinib_after_platinum_exon20": fhir.request(
        "g-oltki-2", OS, PLATINUM_PATIENT, drafts=[fhir.draft_sevabertinib()]
    ),
    "seq-off-label-tdxd__fires__tdxd_first_line": fhir.request(
        "g-oltdxd-1", SG, [*UNTREATED, RECENT_CT], drafts=[tdxd_order()]
    ),
    "seq-off-label-tdxd__silent__tdxd_after_platinum": fhir.request(
        "g-oltdxd-2", SG, [*PLATINUM_PATIENT, RECENT_CT], drafts=[tdxd_order()]
    ),
    # 6.3 ILD
    "ild-suspected-on-tdxd__fires__new_pneumonitis_patient_view": fhir.request(
        "g-susp-1",
        PV,
        [
            *ON_TDXD,
            fhir.pneumonitis(
                "pneumonitis-tdxd", onset="2026-11-12", note="New dry cough, GGO on CT."
            ),
        ],
    ),
    "ild-suspected-on-tdxd__silent__prior_ici_pneumonitis_only": fhir.request(
        "g-susp-2",
        SG,
        [*ON_TDXD, PEMBRO_PNEUMONITIS],
        drafts=[tdxd_order()],
    ),
    "ild-grade1-tdxd__fires__resolved_in_20_days_same_dose": fhir.request(
        "g-g1-1",
        SG,
        [
            DX,
            EXON20,
            *LABS,
            RECENT_CT,
            *PLATINUM_EARLY,
            *TDXD_SINCE_MAY,
            fhir.pneumonitis(
                "pneumonitis-tdxd",
                onset="2026-07-27",
                abatement="2026-08-16",
                severity="CTCAE grade 1",
                note="Asymptomatic; attributed to T-DXd.",
            ),
        ],
        drafts=[tdxd_order()],
    ),
    "ild-grade1-tdxd__silent__grade2_instead": fhir.request(
        "g-g1-2",
        SG,
        [
            DX,
            EXON20,
            *LABS,
            RECENT_CT,
            *PLATINUM_EARLY,
            *TDXD_SINCE_MAY,
            fhir.pneumonitis(
                "pneumonitis-tdxd",
                onset="2026-07-27",
                abatement="2026-08-31",
                severity="CTCAE grade 2",
                note="Symptomatic; attributed to T-DXd.",
            ),
        ],
        drafts=[tdxd_order()],
    ),
    "ild-grade2-tdxd__fires__grade2_on_tdxd_order_sign": fhir.request(
        "g-g2-1",
        SG,
        [
            DX,
            EXON20,
            *LABS,
            RECENT_CT,
            *PLATINUM_EARLY,
            *TDXD_SINCE_MAY,
            fhir.pneumonitis(
                "pneumonitis-tdxd",
                onset="2026-07-27",
                abatement="2026-08-31",
                severity="CTCAE grade 2",
                note="Symptomatic; attributed to T-DXd.",
            ),
        ],
        drafts=[tdxd_order()],
    ),
    "ild-grade2-tdxd__silent__grade2_ici_pneumonitis_before_tdxd": fhir.request(
        "g-g2-2", SG, [*ON_TDXD, PEMBRO_PNEUMONITIS], drafts=[tdxd_order()]
    ),
    "ild-history-before-tdxd__fires__prior_ici_pneumonitis_first_tdxd": fhir.request(
        "g-hist-1",
        OS,
        [DX, EXON20, *LABS, *PLATINUM_THEN_PNEUMONITIS],
        drafts=[tdxd_order()],
    ),
    "ild-history-before-tdxd__silent__no_pneumonitis_history": fhir.request(
        "g-hist-2", OS, PLATINUM_PATIENT, drafts=[tdxd_order()]
    ),
    "ild-on-tki__fires__zongertinib_with_prior_pneumonitis": fhir.request(
        "g-tki-ild-1",
        SG,
        [DX, EXON20, *LABS, PEMBRO_PNEUMONITIS],
        drafts=[fhir.draft_zongertinib(120)],
    ),
    "ild-on-tki__fires__unresolved_pneumonitis_on_zongertinib": fhir.request(
        "g-tki-ild-2",
        PV,
        [
            DX,
            EXON20,
            *LABS,
            *ZONGERTINIB_ONGOING,
            fhir.pneumonitis("pneumonitis-new", onset="2026-11-15", note="New cough; GGO on CT."),
        ],
    ),
    "ild-on-tki__silent__zongertinib_without_ild": fhir.request(
        "g-tki-ild-3", SG, UNTREATED, drafts=[fhir.draft_zongertinib(120)]
    ),
    "ild-baseline-imaging__fires__first_tdxd_no_recent_ct": fhir.request(
        "g-ct-1", SG, PLATINUM_PATIENT, drafts=[tdxd_order()]
    ),
    "ild-baseline-imaging__silent__recent_chest_ct": fhir.request(
        "g-ct-2", SG, [*PLATINUM_PATIENT, RECENT_CT], drafts=[tdxd_order()]
    ),
    "ild-vigilance__fires__on_tdxd_with_copd": fhir.request("g-vig-1", PV, [*ON_TDXD, fhir.copd()]),
    "ild-vigilance__silent__on_tdxd_no_risk_factor": fhir.request("g-vig-2", PV, ON_TDXD),
    # 6.4 safety
    "dose-tdxd__fires__reescalation_after_reduction": fhir.request(
        "g-dose-1",
        SG,
        [
            DX,
            EXON20,
            *LABS,
            RECENT_CT,
            *PLATINUM,
            *fhir.course("tdxd", ["2026-09-22"], 5.4, "mg/kg"),
            *fhir.course("tdxd", ["2026-10-13", "2026-11-03"], 4.4, "mg/kg"),
        ],
        drafts=[tdxd_order(5.4)],
    ),
    "dose-tdxd__silent__next_cycle_at_5_4": fhir.request(
        "g-dose-2", SG, ON_TDXD, drafts=[tdxd_order(5.4)]
    ),
    "dose-zongertinib__fires__weight_not_recorded": fhir.request(
        "g-zdose-1",
        OS,
        [DX, EXON20, fhir.lvef(60), *fhir.liver_panel()],
        drafts=[fhir.draft_zongertinib(120)],
    ),
    "dose-zongertinib__silent__120mg_at_72kg": fhir.request(
        "g-zdose-2", OS, UNTREATED, drafts=[fhir.draft_zongertinib(120)]
    ),
    "cardiac-lvef__fires__first_tdxd_no_lvef": fhir.request(
        "g-lvef-1",
        SG,
        [DX, EXON20, fhir.weight(72), *fhir.liver_panel(), RECENT_CT, *PLATINUM],
        drafts=[tdxd_order()],
    ),
    "cardiac-lvef__fires__lvef_fell_on_tdxd": fhir.request(
        "g-lvef-2",
        SG,
        [
            DX,
            EXON20,
            fhir.weight(72),
            fhir.lvef(62, "2026-09-10", "lvef-baseline"),
            fhir.lvef(38, "2026-11-16", "lvef-now"),
            *fhir.liver_panel(),
            fhir.anc(2.4),
            RECENT_CT,
            *PLATINUM,
            *TDXD_TWO_CYCLES,
        ],
        drafts=[tdxd_order()],
    ),
    "cardiac-lvef__silent__recent_normal_lvef": fhir.request(
        "g-lvef-3", SG, [*PLATINUM_PATIENT, RECENT_CT], drafts=[tdxd_order()]
    ),
    "hepatic-tki__fires__no_recent_liver_panel": fhir.request(
        "g-liver-1",
        SG,
        [DX, EXON20, fhir.weight(72), fhir.lvef(60), *fhir.liver_panel("2026-08-01")],
        drafts=[fhir.draft_zongertinib(120)],
    ),
    "hepatic-tki__silent__recent_normal_liver_panel": fhir.request(
        "g-liver-2", SG, UNTREATED, drafts=[fhir.draft_zongertinib(120)]
    ),
    "neutropenia-tdxd__fires__anc_0_8": fhir.request(
        "g-anc-1",
        SG,
        [
            DX,
            EXON20,
            fhir.weight(72),
            fhir.lvef(60),
            *fhir.liver_panel(),
            fhir.anc(0.8),
            RECENT_CT,
            *PLATINUM,
            *TDXD_TWO_CYCLES,
        ],
        drafts=[tdxd_order()],
    ),
    "neutropenia-tdxd__silent__anc_2_4": fhir.request(
        "g-anc-2", SG, ON_TDXD, drafts=[tdxd_order()]
    ),
    # 9.2 new checks (version 2)
    "dose-tdm1__fires__4_mg_per_kg_after_zongertinib": fhir.request(
        "g-tdm1dose-1", SG, AFTER_ZONGERTINIB, drafts=[fhir.draft_tdm1(mg_per_kg=4.0)]
    ),
    "dose-tdm1__fires__reescalation_after_reduction": fhir.request(
        "g-tdm1dose-2",
        SG,
        [*AFTER_ZONGERTINIB, *fhir.course("t-dm1", ["2026-10-13", "2026-11-03"], 3.0, "mg/kg")],
        drafts=[fhir.draft_tdm1(mg_per_kg=3.6)],
    ),
    "dose-tdm1__silent__3_6_mg_per_kg_after_zongertinib": fhir.request(
        "g-tdm1dose-3", SG, AFTER_ZONGERTINIB, drafts=[fhir.draft_tdm1()]
    ),
    "tdm1-safety__fires__ast_6x_uln_on_tdm1": fhir.request(
        "g-tdm1-1",
        SG,
        [
            DX,
            EXON20,
            fhir.weight(72),
            fhir.lvef(60),
            fhir.alt(35, "2026-11-18"),
            fhir.ast(240, "2026-11-18"),
            fhir.bilirubin(0.7, "2026-11-18"),
            fhir.platelets(180),
            *ZONGERTINIB_PROGRESSED,
            *TDM1_TWO_CYCLES,
        ],
        drafts=[fhir.draft_tdm1()],
    ),
    "tdm1-safety__fires__patient_view_lvef_42_down_18_points": fhir.request(
        "g-tdm1-2",
        PV,
        [
            DX,
            EXON20,
            fhir.weight(72),
            fhir.lvef(60, "2026-10-05", "lvef-baseline"),
            fhir.lvef(42, "2026-11-17", "lvef-now"),
            *fhir.liver_panel(),
            fhir.platelets(180),
            *ZONGERTINIB_PROGRESSED,
            *TDM1_TWO_CYCLES,
        ],
    ),
    "tdm1-safety__silent__on_tdm1_recent_normal_labs": fhir.request(
        "g-tdm1-3",
        SG,
        [*AFTER_ZONGERTINIB, fhir.platelets(180), *TDM1_TWO_CYCLES],
        drafts=[fhir.draft_tdm1()],
    ),
    "tdm1-safety__fires__nyha_class_ii_after_tdm1_start": fhir.request(
        "g-tdm1-4",
        SG,
        [*AFTER_ZONGERTINIB, fhir.platelets(180), *TDM1_TWO_CYCLES, fhir.nyha(2, "2026-11-10")],
        drafts=[fhir.draft_tdm1()],
    ),
    "tdm1-safety__silent__nyha_class_ii_before_tdm1_start": fhir.request(
        "g-tdm1-5",
        SG,
        [*AFTER_ZONGERTINIB, fhir.platelets(180), *TDM1_TWO_CYCLES, fhir.nyha(2, "2026-09-01")],
        drafts=[fhir.draft_tdm1()],
    ),
    "her2-adc-not-interchangeable__fires__tdm1_drafted_while_tdxd_active": fhir.request(
        "g-subst-1", OS, [*ON_TDXD, fhir.platelets(180)], drafts=[fhir.draft_tdm1()]
    ),
    "her2-adc-not-interchangeable__fires__tdxd_and_trastuzumab_drafts": fhir.request(
        "g-subst-2",
        SG,
        [*PLATINUM_PATIENT, RECENT_CT, fhir.platelets(180)],
        drafts=[
            tdxd_order(),
            fhir.draft_oral_or_iv("trastuzumab", "trastuzumab-draft", 6, "mg/kg"),
        ],
    ),
    "her2-adc-not-interchangeable__silent__tdm1_after_progression_on_tdxd": fhir.request(
        "g-subst-3",
        OS,
        [
            *PLATINUM_PATIENT,
            *TDXD_TWO_CYCLES,
            fhir.progression("progression-tdxd", "2026-11-16"),
            fhir.platelets(180),
        ],
        drafts=[fhir.draft_tdm1()],
    ),
    "thrombocytopenia-tdxd__fires__platelets_40_since_last_dose": fhir.request(
        "g-plt-1", SG, [*ON_TDXD, fhir.platelets(40)], drafts=[tdxd_order()]
    ),
    "thrombocytopenia-tdxd__fires__recovered_after_grade4": fhir.request(
        "g-plt-2",
        SG,
        [
            *ON_TDXD,
            fhir.platelets(20, "2026-10-27", "platelets-nadir"),
            fhir.platelets(110, "2026-11-19"),
        ],
        drafts=[tdxd_order()],
    ),
    "thrombocytopenia-tdxd__silent__recovered_after_grade3": fhir.request(
        "g-plt-3",
        SG,
        [
            *ON_TDXD,
            fhir.platelets(45, "2026-10-27", "platelets-nadir"),
            fhir.platelets(110, "2026-11-19"),
        ],
        drafts=[tdxd_order()],
    ),
    "embryo-fetal__fires__woman_40_first_tdxd_no_pregnancy_test": fhir.request(
        "g-ef-1",
        SG,
        [*PLATINUM_PATIENT, RECENT_CT],
        drafts=[tdxd_order()],
        patient_resource=WOMAN_40,
    ),
    "embryo-fetal__fires__man_first_zongertinib": fhir.request(
        "g-ef-2",
        OS,
        UNTREATED,
        drafts=[fhir.draft_zongertinib(120)],
        patient_resource=fhir.patient("male", "1975-08-30"),
    ),
    "embryo-fetal__fires__sex_not_recorded_first_sevabertinib": fhir.request(
        "g-ef-3",
        OS,
        PLATINUM_PATIENT,
        drafts=[fhir.draft_sevabertinib()],
        patient_resource=fhir.patient(None, None),
    ),
    "embryo-fetal__silent__woman_40_negative_pregnancy_test": fhir.request(
        "g-ef-4",
        SG,
        [*PLATINUM_PATIENT, RECENT_CT, fhir.pregnancy_test("Negative")],
        drafts=[tdxd_order()],
        patient_resource=WOMAN_40,
    ),
    "embryo-fetal__silent__woman_40_after_hysterectomy": fhir.request(
        "g-ef-5",
        SG,
        [*PLATINUM_PATIENT, RECENT_CT, fhir.hysterectomy()],
        drafts=[tdxd_order()],
        patient_resource=WOMAN_40,
    ),
    "embryo-fetal__silent__woman_64_next_tdxd_cycle": fhir.request(
        "g-ef-6", SG, ON_TDXD, drafts=[tdxd_order()]
    ),
    "interaction-cyp3a-tki__fires__sevabertinib_with_itraconazole": fhir.request(
        "g-cyp-1",
        SG,
        [*PLATINUM_PATIENT, ITRACONAZOLE],
        drafts=[fhir.draft_sevabertinib()],
    ),
    "interaction-cyp3a-tki__fires__rifampin_drafted_patient_on_zongertinib": fhir.request(
        "g-cyp-2",
        OS,
        [*UNTREATED, *ZONGERTINIB_ONGOING],
        drafts=[fhir.draft_oral_or_iv("rifampin", "rifampin-draft", 600)],
    ),
    "interaction-cyp3a-tki__silent__zongertinib_with_itraconazole": fhir.request(
        "g-cyp-3", SG, [*UNTREATED, ITRACONAZOLE], drafts=[fhir.draft_zongertinib(120)]
    ),
    "start-sevabertinib__fires__sevabertinib_after_platinum": fhir.request(
        "g-gi-1", SG, PLATINUM_PATIENT, drafts=[fhir.draft_sevabertinib()]
    ),
    "start-sevabertinib__silent__zongertinib_instead": fhir.request(
        "g-gi-2", SG, UNTREATED, drafts=[fhir.draft_zongertinib(120)]
    ),
    # Version 2 (clinical-rules.md 9.1): ILD rows
    "ild-history-before-tdxd__fires__unresolved_radiation_pneumonitis_critical": fhir.request(
        "g2-hist-1",
        OS,
        [
            *PLATINUM_PATIENT,
            RECENT_CT,
            fhir.pneumonitis(
                "pneumonitis-radiation",
                onset="2026-10-01",
                note="Radiation pneumonitis after thoracic radiotherapy; still on prednisone.",
            ),
        ],
        drafts=[tdxd_order()],
    ),
    "ild-history-before-tdxd__silent__pneumonitis_began_on_tdxd": fhir.request(
        "g2-hist-2",
        SG,
        [
            *ON_TDXD,
            fhir.pneumonitis(
                "pneumonitis-tdxd",
                onset="2026-10-20",
                abatement="2026-11-05",
                severity="CTCAE grade 1",
                note="Asymptomatic; attributed to T-DXd.",
            ),
        ],
        drafts=[tdxd_order()],
    ),
    "ild-grade2-tdxd__fires__unresolved_grade2_steroids": fhir.request(
        "g2-g2-1",
        SG,
        [
            *ON_TDXD,
            fhir.pneumonitis(
                "pneumonitis-tdxd",
                onset="2026-11-10",
                severity="CTCAE grade 2",
                note="Symptomatic; attributed to T-DXd.",
            ),
        ],
        drafts=[tdxd_order()],
    ),
    "ild-on-tki__fires__zongertinib_reordered_after_its_pneumonitis": fhir.request(
        "g2-tki-ild-1",
        SG,
        [
            DX,
            EXON20,
            *LABS,
            *ZONGERTINIB_PROGRESSED,
            fhir.pneumonitis(
                "pneumonitis-zong",
                onset="2026-05-04",
                abatement="2026-05-25",
                severity="CTCAE grade 1",
                note="Pneumonitis attributed to zongertinib; zongertinib interrupted.",
            ),
        ],
        drafts=[fhir.draft_zongertinib(120)],
    ),
    "ild-vigilance__fires__first_tdxd_with_copd_carries_baseline_ct": fhir.request(
        "g2-vig-1", OS, [*PLATINUM_PATIENT, fhir.copd()], drafts=[tdxd_order()]
    ),
    "ild-baseline-imaging__silent__merged_into_vigilance_with_copd": fhir.request(
        "g2-ct-1", OS, [*PLATINUM_PATIENT, fhir.copd()], drafts=[tdxd_order()]
    ),
    # Version 2: safety and dose rows
    "cardiac-lvef__fires__lvef_44_drop_16_interrupt": fhir.request(
        "g2-lvef-1",
        SG,
        [
            DX,
            EXON20,
            fhir.weight(72),
            fhir.lvef(60, "2026-09-10", "lvef-baseline"),
            fhir.lvef(44, "2026-11-16", "lvef-now"),
            *fhir.liver_panel(),
            fhir.anc(2.4),
            RECENT_CT,
            *PLATINUM,
            *TDXD_TWO_CYCLES,
        ],
        drafts=[tdxd_order()],
    ),
    "cardiac-lvef__fires__lvef_44_drop_6_continue_and_repeat": fhir.request(
        "g2-lvef-2",
        SG,
        [
            DX,
            EXON20,
            fhir.weight(72),
            fhir.lvef(50, "2026-09-10", "lvef-baseline"),
            fhir.lvef(44, "2026-11-16", "lvef-now"),
            *fhir.liver_panel(),
            fhir.anc(2.4),
            RECENT_CT,
            *PLATINUM,
            *TDXD_TWO_CYCLES,
        ],
        drafts=[tdxd_order()],
    ),
    "cardiac-lvef__silent__lvef_46_drop_20_continue": fhir.request(
        "g2-lvef-3",
        SG,
        [
            DX,
            EXON20,
            fhir.weight(72),
            fhir.lvef(66, "2026-09-10", "lvef-baseline"),
            fhir.lvef(46, "2026-11-16", "lvef-now"),
            *fhir.liver_panel(),
            fhir.anc(2.4),
            RECENT_CT,
            *PLATINUM,
            *TDXD_TWO_CYCLES,
        ],
        drafts=[tdxd_order()],
    ),
    "cardiac-lvef__fires__heart_failure_after_tdxd_start": fhir.request(
        "g2-lvef-4", SG, [*ON_TDXD, fhir.heart_failure("2026-11-01")], drafts=[tdxd_order()]
    ),
    # 9.3: an NYHA class II-IV statement dated after the start is symptomatic heart failure
    "cardiac-lvef__fires__nyha_class_iii_after_tdxd_start": fhir.request(
        "g2-lvef-5", SG, [*ON_TDXD, fhir.nyha(3, "2026-11-01")], drafts=[tdxd_order()]
    ),
    "cardiac-lvef__silent__nyha_class_i_after_tdxd_start": fhir.request(
        "g2-lvef-6", SG, [*ON_TDXD, fhir.nyha(1, "2026-11-01")], drafts=[tdxd_order()]
    ),
    "cardiac-lvef__silent__nyha_class_iii_before_tdxd_start": fhir.request(
        "g2-lvef-7", SG, [*ON_TDXD, fhir.nyha(3, "2026-09-01")], drafts=[tdxd_order()]
    ),
    "hepatic-tki__fires__zongertinib_liver_tests_overdue": fhir.request(
        "g2-liver-1",
        PV,
        [
            DX,
            EXON20,
            fhir.weight(72),
            fhir.lvef(60),
            *fhir.liver_panel("2026-10-20"),
            *ZONGERTINIB_ONGOING,
        ],
    ),
    "hepatic-tki__silent__zongertinib_liver_tests_on_schedule": fhir.request(
        "g2-liver-2", PV, [*UNTREATED, *ZONGERTINIB_ONGOING]
    ),
    "neutropenia-tdxd__fires__febrile_neutropenia_critical": fhir.request(
        "g2-anc-1",
        SG,
        [
            DX,
            EXON20,
            fhir.weight(72),
            fhir.lvef(60),
            *fhir.liver_panel(),
            fhir.anc(0.8),
            fhir.temperature(38.7),
            RECENT_CT,
            *PLATINUM,
            *TDXD_TWO_CYCLES,
        ],
        drafts=[tdxd_order()],
    ),
    "neutropenia-tdxd__fires__no_recent_anc_asks_for_cbc": fhir.request(
        "g2-anc-2",
        SG,
        [
            DX,
            EXON20,
            fhir.weight(72),
            fhir.lvef(60),
            *fhir.liver_panel(),
            fhir.anc(0.8, "2026-11-05"),
            RECENT_CT,
            *PLATINUM,
            *TDXD_TWO_CYCLES,
        ],
        drafts=[tdxd_order()],
    ),
    "neutropenia-tdxd__fires__grade4_since_last_dose_one_level_down": fhir.request(
        "g2-anc-3",
        SG,
        [
            DX,
            EXON20,
            fhir.weight(72),
            fhir.lvef(60),
            *fhir.liver_panel(),
            fhir.anc(0.4, "2026-10-24", "anc-nadir"),
            fhir.anc(1.9),
            RECENT_CT,
            *PLATINUM,
            *TDXD_TWO_CYCLES,
        ],
        drafts=[tdxd_order()],
    ),
    "neutropenia-tdxd__silent__grade3_before_the_last_dose": fhir.request(
        "g2-anc-4",
        SG,
        [
            DX,
            EXON20,
            fhir.weight(72),
            fhir.lvef(60),
            *fhir.liver_panel(),
            fhir.anc(0.7, "2026-10-06", "anc-old"),
            fhir.anc(1.9),
            RECENT_CT,
            *PLATINUM,
            *TDXD_TWO_CYCLES,
        ],
        drafts=[tdxd_order()],
    ),
    "dose-zongertinib__fires__180mg_at_72kg": fhir.request(
        "g2-zdose-1", OS, UNTREATED, drafts=[fhir.draft_zongertinib(180)]
    ),
    "dose-zongertinib__fires__weight_crossed_90kg_mid_course": fhir.request(
        "g2-zdose-2",
        SG,
        [
            DX,
            EXON20,
            fhir.weight(86, "2026-08-28"),
            {**fhir.weight(93), "id": "weight-now"},
            fhir.lvef(60),
            *fhir.liver_panel(),
            *ZONGERTINIB_ONGOING,
        ],
        drafts=[fhir.draft_zongertinib(120)],
    ),
    "dose-zongertinib__silent__reduced_to_60mg_on_a_running_course": fhir.request(
        "g2-zdose-3",
        SG,
        [*UNTREATED, *ZONGERTINIB_ONGOING],
        drafts=[fhir.draft_zongertinib(60)],
    ),
    "dose-sevabertinib__fires__20_mg_once_daily": fhir.request(
        "g-sevadose-1", SG, PLATINUM_PATIENT, drafts=[fhir.draft_sevabertinib(per_day=1)]
    ),
    "dose-sevabertinib__silent__20_mg_twice_daily": fhir.request(
        "g-sevadose-2", SG, PLATINUM_PATIENT, drafts=[fhir.draft_sevabertinib()]
    ),
    # 9.1 drug identity: a coded order no code identifies, whose text names one drug
    "order-drug-not-identified__fires__zongertinib_under_an_unknown_rxnorm_code": fhir.request(
        "g2-ident-1",
        SG,
        UNTREATED,
        drafts=[fhir.draft("zongertinib-unknown-code", "zong-draft", 120, "mg", (1, 1, "d"))],
    ),
    "order-drug-not-identified__silent__not_among_the_selections": fhir.request(
        "g2-ident-2",
        OS,
        UNTREATED,
        drafts=[
            fhir.draft("zongertinib-unknown-code", "zong-draft", 120, "mg", (1, 1, "d")),
            fhir.draft_oral_or_iv("atorvastatin", "statin-draft", 20),
        ],
        selections=["MedicationRequest/statin-draft"],
    ),
    # No cards at all
    "none__silent__statin_order_sign_on_tdxd": fhir.request(
        "g-none-1",
        SG,
        ON_TDXD,
        drafts=[fhir.draft_oral_or_iv("atorvastatin", "statin-draft", 20)],
    ),
    "none__silent__nutrition_order_select": fhir.request(
        "g-none-2", OS, PLATINUM_PATIENT, drafts=[fhir.nutrition_order()]
    ),
}


def render(request: Json) -> str:
    """A fixture file's text: the request as indented JSON."""
    return json.dumps(request, indent=2) + "\n"


def expected_files() -> dict[Path, str]:
    """Every file this builder writes, with its text (the drift test compares the stored ones)."""
    return {
        directory / f"{name}.json": render(body)
        for directory, requests in ((FIXTURES, GOLDEN_DEF), (VIGNETTES, VIGNETTES_DEF))
        for name, body in requests.items()
    }


def main() -> None:
    files = expected_files()
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"{len(GOLDEN_DEF)} golden fixtures, {len(VIGNETTES_DEF)} vignettes written")


if __name__ == "__main__":
    main()

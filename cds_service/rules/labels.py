"""Label facts: dose levels and the sources cards cite (clinical-rules.md, sections 6.5 and 8).

Everything here is read in an FDA label (US prescribing information) or a trial report
[L], except where a name says otherwise. Thresholds that a site may tune (LVEF, liver
multiples, ANC, windows) are in ``cds_service.settings.ClinicalSettings``, not here.

URLs: DailyMed's label search (https://dailymed.nlm.nih.gov), the public home of US
labels; a trial or guideline without a verified public URL is cited by name only.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from cds_service.rules.base import Citation, DoseInstruction
from fhir_mappings.model import Dose, DoseUnit, Drug

# --- T-DXd: Enhertu US prescribing information, section 2 (NSCLC) -------------------------

TDXD_NSCLC_START_MG_PER_KG: Final = 5.4
"""HER2-mutant NSCLC dose: 5.4 mg/kg IV every 3 weeks (DESTINY-Lung02) [L]."""
TDXD_NSCLC_DOSE_LEVELS_MG_PER_KG: Final = (5.4, 4.4, 3.2)
"""Start, first and second reduction; below 3.2 mg/kg: discontinue; no re-escalation [L]."""
TDXD_CYCLE_WEEKS: Final = 3
TDXD_ILD_GRADE1_SAME_DOSE_DAYS: Final = 28
"""Grade 1 ILD resolved within this many days of onset: same dose; later: one level down [L]."""

# T-DXd LVEF table (label section 2.3, as reproduced on the Enhertu HCP site,
# https://www.enhertuhcp.com/en/manage-potential-risks/lvef) [L]. The "less than 40 %" and
# "greater than 20 %" thresholds are the settings lvef_interrupt_percent / lvef_drop_points.
TDXD_LVEF_CONTINUE_ABOVE_PERCENT: Final = 45.0
"""The table's "40 % to 45 %" band (inclusive); above 45 % with a 10-20 point drop: continue."""
TDXD_LVEF_DROP_BAND_POINTS: Final = (10.0, 20.0)
"""The table's "10 % to 20 %" absolute decrease from baseline (inclusive)."""
LVEF_REPEAT_DAYS: Final = 21
""""Repeat LVEF assessment within 3 weeks" [L]."""

# T-DXd neutropenia (label section 2.3, as reproduced on the Enhertu HCP site,
# https://www.enhertuhcp.com/en/breast/manage-potential-risks/neutropenia) [L]: grade 3
# (ANC < 1.0 to 0.5) interrupt until grade 2 or less, then maintain the dose; grade 4
# (ANC < 0.5); febrile neutropenia: ANC < 1.0 with temperature > 38.3 C or a sustained
# temperature >= 38 C for more than one hour. The treatment cells of the grade 4 and febrile
# rows were not shown in the text read: "one level down" there is unverified [?].
ANC_GRADE4_BELOW: Final = 0.5
FEVER_SINGLE_ABOVE_C: Final = 38.3
FEVER_SUSTAINED_FROM_C: Final = 38.0
TDXD_IHC3_CONDITION: Final = (
    "who have received prior systemic treatment and have no satisfactory alternative "
    "treatment options"
)
"""The tumour-agnostic HER2-positive (IHC 3+) indication's condition [L], as the US approval
words it (reported at https://medphanut.com/enhertu-gets-fda-nod-tumour-agnostic-her2-cancers/;
clinical-rules.md 9.1)."""

# --- zongertinib: Hernexeos US prescribing information --------------------------------------

ZONGERTINIB_WEIGHT_BAND_KG: Final = 90.0
ZONGERTINIB_DOSE_BELOW_BAND_MG: Final = 120.0
"""Body weight < 90 kg: 120 mg once daily [L]."""
ZONGERTINIB_DOSE_AT_OR_ABOVE_BAND_MG: Final = 180.0
"""Body weight >= 90 kg: 180 mg once daily [L]."""
ZONGERTINIB_DOSE_LEVELS_MG: Final = (180.0, 120.0, 60.0)
"""Reductions 180 -> 120 -> 60 mg, 120 -> 60 mg; discontinue if 60 mg is not tolerated [L]."""
ZONGERTINIB_LIVER_TESTS_EARLY_EVERY_DAYS: Final = 14
ZONGERTINIB_LIVER_TESTS_EARLY_PERIOD_DAYS: Final = 84
ZONGERTINIB_LIVER_TESTS_LATER_EVERY_DAYS: Final = 31
"""ALT, AST, bilirubin at baseline, every 2 weeks during the first 12 weeks, then monthly [L]
(Warnings and Precautions 5.1; "monthly" read as at most 31 days)."""
ZONGERTINIB_LVEF_INTERRUPT_BAND_PERCENT: Final = (40.0, 50.0)
ZONGERTINIB_LVEF_INTERRUPT_DROP_POINTS: Final = (10.0, 19.0)
"""[?] LVEF 40-50 % with a 10-19 point drop from baseline: interrupt. Read only in secondary
summaries of the label, not in the label's table itself: cards say "unverified"."""
ZONGERTINIB_APPROVAL_FIRST_LINE: Final = date(2026, 2, 26)
"""Accelerated approval in the first line, HER2 TKD-activating mutations [L]."""
ZONGERTINIB_FIRST_LINE_TEST: Final = "an FDA-authorized test"
"""The first-line approval's own words for the test [L]: "whose tumors have HER2 (ERBB2)
tyrosine kinase domain (TKD) activating mutations, as detected by an FDA-authorized test"
(FDA notice of 2026-02-26, read as reposted at https://www.einpresswire.com/article/895852989/
fda-grants-accelerated-approval-to-zongertinib-for-unresectable-or-metastatic-non-squamous-
non-small-cell-lung-cancer). The 2025 approval after prior therapy says "FDA-approved test"."""

# --- sevabertinib: Hyrnuo US prescribing information ----------------------------------------

SEVABERTINIB_DOSE_MG: Final = 20.0
"""20 mg twice daily with food; reductions 10 mg twice daily, then 10 mg once daily [L]."""
SEVABERTINIB_DOSE_LEVELS: Final = ((20.0, 2), (10.0, 2), (10.0, 1))
"""(mg, doses a day): 20 mg twice daily, then 10 mg twice daily, then 10 mg once daily;
permanently discontinue if 10 mg once daily is not tolerated (Hyrnuo US PI 2.2, 2.3) [L]."""

# --- T-DM1: Kadcyla US prescribing information (not approved in NSCLC) -------------------------

TDM1_START_MG_PER_KG: Final = 3.6
"""3.6 mg/kg IV every 3 weeks; "do not administer at doses greater than 3.6 mg/kg" [L]."""
TDM1_DOSE_LEVELS_MG_PER_KG: Final = (3.6, 3.0, 2.4)
"""Start, first and second reduction; further reduction needed: discontinue; the dose is not
re-escalated after a reduction (Kadcyla US PI section 2, Table 1) [L]."""
TDM1_CYCLE_WEEKS: Final = 3

# Kadcyla US PI section 2, Tables 2-5 [L] (read in mirrors of the US label, see the README)
TDM1_TRANSAMINASE_GRADE3_ULN: Final = 5.0
"""AST/ALT > 5 to <= 20 x ULN (grade 3): do not administer until grade <= 2 (<= 5 x ULN),
then reduce one dose level [L]."""
TDM1_TRANSAMINASE_GRADE4_ULN: Final = 20.0
"""AST/ALT > 20 x ULN (grade 4): permanently discontinue [L]."""
TDM1_BILIRUBIN_GRADE2_ULN: Final = 1.5
"""Total bilirubin > 1.5 to <= 3 x ULN (grade 2): do not administer until grade <= 1
(<= 1.5 x ULN), then same dose [L]."""
TDM1_BILIRUBIN_GRADE3_ULN: Final = 3.0
"""> 3 to <= 10 x ULN (grade 3): do not administer until grade <= 1, then one level down [L]."""
TDM1_BILIRUBIN_GRADE4_ULN: Final = 10.0
"""> 10 x ULN (grade 4): permanently discontinue [L]."""
TDM1_HYS_TRANSAMINASE_ULN: Final = 3.0
TDM1_HYS_BILIRUBIN_ULN: Final = 2.0
"""Serum transaminases > 3 x ULN with total bilirubin > 2 x ULN: permanently discontinue [L]."""
TDM1_LVEF_LOW_PERCENT: Final = 40.0
"""LVEF < 40 %: do not administer; repeat within 3 weeks; discontinue if confirmed [L]."""
TDM1_LVEF_BAND_HIGH_PERCENT: Final = 45.0
"""LVEF 40 % to <= 45 %: with a decrease >= 10 points from baseline, do not administer and
repeat within 3 weeks (not recovered to within 10 points: discontinue); with a decrease
< 10 points, continue and repeat within 3 weeks. LVEF > 45 %: continue [L]."""
TDM1_LVEF_DROP_POINTS: Final = 10.0

# Platelets (x 10^9/L): CTCAE grades as both labels word them [L]
PLATELETS_GRADE3_BELOW: Final = 50.0
"""Grade 3: 25 to < 50 x 10^9/L."""
PLATELETS_GRADE4_BELOW: Final = 25.0
"""Grade 4: < 25 x 10^9/L."""
PLATELETS_RESUME_AT: Final = 75.0
"""Grade <= 1 (>= 75 x 10^9/L): the count to recover to before the next dose [L]."""

# --- Response rates after a prior HER2 ADC, as labelled [L] ------------------------------------

ZONGERTINIB_ORR_AFTER_ADC_PERCENT: Final = 44
SEVABERTINIB_ORR_AFTER_ADC_PERCENT: Final = 38


def tdxd_dosage(mg_per_kg: float) -> DoseInstruction:
    return DoseInstruction(
        dose=Dose(mg_per_kg, DoseUnit.MG_PER_KG),
        frequency=1,
        period=TDXD_CYCLE_WEEKS,
        period_unit="wk",
        route="Intravenous",
        text=f"{mg_per_kg:g} mg/kg intravenously every {TDXD_CYCLE_WEEKS} weeks",
    )


def zongertinib_dosage(mg: float) -> DoseInstruction:
    return DoseInstruction(
        dose=Dose(mg, DoseUnit.MG),
        frequency=1,
        period=1,
        period_unit="d",
        route="Oral",
        text=f"{mg:g} mg orally once daily",
    )


def zongertinib_dose_for_weight(weight_kg: float) -> float:
    if weight_kg < ZONGERTINIB_WEIGHT_BAND_KG:
        return ZONGERTINIB_DOSE_BELOW_BAND_MG
    return ZONGERTINIB_DOSE_AT_OR_ABOVE_BAND_MG


def sevabertinib_dosage(mg: float, per_day: int) -> DoseInstruction:
    times = {1: "once", 2: "twice"}.get(per_day, f"{per_day} times")
    return DoseInstruction(
        dose=Dose(mg, DoseUnit.MG),
        frequency=per_day,
        period=1,
        period_unit="d",
        route="Oral",
        text=f"{mg:g} mg orally {times} daily with food",
        with_food=True,
    )


def tdm1_dosage(mg_per_kg: float) -> DoseInstruction:
    return DoseInstruction(
        dose=Dose(mg_per_kg, DoseUnit.MG_PER_KG),
        frequency=1,
        period=TDM1_CYCLE_WEEKS,
        period_unit="wk",
        route="Intravenous",
        text=f"{mg_per_kg:g} mg/kg intravenously every {TDM1_CYCLE_WEEKS} weeks",
    )


SEVABERTINIB_DOSAGE: Final = DoseInstruction(
    dose=Dose(SEVABERTINIB_DOSE_MG, DoseUnit.MG),
    frequency=2,
    period=1,
    period_unit="d",
    route="Oral",
    text=f"{SEVABERTINIB_DOSE_MG:g} mg orally twice daily with food",
    with_food=True,
)

ZONGERTINIB_WEIGHT_RULE: Final = (
    f"{ZONGERTINIB_DOSE_BELOW_BAND_MG:g} mg once daily below {ZONGERTINIB_WEIGHT_BAND_KG:g} kg, "
    f"{ZONGERTINIB_DOSE_AT_OR_ABOVE_BAND_MG:g} mg at {ZONGERTINIB_WEIGHT_BAND_KG:g} kg or more"
)

# --- Display names --------------------------------------------------------------------------

DRUG_DISPLAY: Final[dict[Drug, str]] = {
    Drug.TRASTUZUMAB_DERUXTECAN: "T-DXd (fam-trastuzumab deruxtecan-nxki, Enhertu)",
    Drug.ZONGERTINIB: "zongertinib (Hernexeos)",
    Drug.SEVABERTINIB: "sevabertinib (Hyrnuo)",
    Drug.TRASTUZUMAB_EMTANSINE: "T-DM1 (ado-trastuzumab emtansine, Kadcyla)",
    Drug.TRASTUZUMAB: "trastuzumab",
}


def short_name(drug: Drug) -> str:
    return {
        Drug.TRASTUZUMAB_DERUXTECAN: "T-DXd",
        Drug.TRASTUZUMAB_EMTANSINE: "T-DM1",
    }.get(drug, drug.value)


def sentence_case(text: str) -> str:
    """First letter upper-case, the rest as written ("T-DXd" stays "T-DXd")."""
    return text[:1].upper() + text[1:]


def display_name(drug: Drug) -> str:
    return DRUG_DISPLAY.get(drug, drug.value)


# --- Sources cited on cards (clinical-rules.md, section 8) -----------------------------------

_DAILYMED_SEARCH = "https://dailymed.nlm.nih.gov/dailymed/search.cfm?labeltype=all&query="

ENHERTU_LABEL: Final = Citation(
    "Enhertu (fam-trastuzumab deruxtecan-nxki) US prescribing information",
    _DAILYMED_SEARCH + "ENHERTU",
)
ENHERTU_LABEL_DL02: Final = Citation(
    "Enhertu US prescribing information (NSCLC, 5.4 mg/kg; DESTINY-Lung02)",
    _DAILYMED_SEARCH + "ENHERTU",
)
ENHERTU_LABEL_ILD: Final = Citation(
    "Enhertu US prescribing information: boxed warning and ILD/pneumonitis dose modifications",
    _DAILYMED_SEARCH + "ENHERTU",
)
ENHERTU_LABEL_LVEF: Final = Citation(
    "Enhertu US prescribing information: LVEF dose modifications (table as on the Enhertu HCP "
    "site)",
    "https://www.enhertuhcp.com/en/manage-potential-risks/lvef",
)
ENHERTU_LABEL_NEUTROPENIA: Final = Citation(
    "Enhertu US prescribing information: neutropenia and febrile neutropenia dose "
    "modifications (as on the Enhertu HCP site)",
    "https://www.enhertuhcp.com/en/breast/manage-potential-risks/neutropenia",
)
HERNEXEOS_LABEL: Final = Citation(
    "Hernexeos (zongertinib) US prescribing information (Beamion LUNG-1)",
    _DAILYMED_SEARCH + "HERNEXEOS",
)
HERNEXEOS_LABEL_DOSE: Final = Citation(
    "Hernexeos (zongertinib) US prescribing information: dosage by body weight",
    _DAILYMED_SEARCH + "HERNEXEOS",
)
HERNEXEOS_LABEL_LIVER: Final = Citation(
    "Hernexeos (zongertinib) US prescribing information: hepatotoxicity",
    _DAILYMED_SEARCH + "HERNEXEOS",
)
HYRNUO_LABEL: Final = Citation(
    "Hyrnuo (sevabertinib) US prescribing information (SOHO-01)",
    _DAILYMED_SEARCH + "HYRNUO",
)
HYRNUO_LABEL_LIVER: Final = Citation(
    "Hyrnuo (sevabertinib) US prescribing information: hepatotoxicity",
    _DAILYMED_SEARCH + "HYRNUO",
)
KADCYLA_LABEL: Final = Citation(
    "Kadcyla (ado-trastuzumab emtansine) US prescribing information",
    _DAILYMED_SEARCH + "KADCYLA",
)
HER2_TKI_LABELS: Final = Citation(
    "Hernexeos (zongertinib) and Hyrnuo (sevabertinib) US prescribing information",
)
HER2_AGENT_LABELS: Final = Citation(
    "Enhertu, Hernexeos and Hyrnuo US prescribing information",
)
NCCN_AS_REPORTED: Final = Citation(
    "NCCN NSCLC guideline (2026) as reported in expert commentary",
)
NCCN_TESTING: Final = Citation(
    "NCCN NSCLC guideline (2026) as reported in expert commentary: biomarker testing",
)
EXPERT_COMMENTARY: Final = Citation("Expert commentary (2026), no prospective data")
NOT_HER2_AGENTS: Final = Citation(
    "US labels of amivantamab (Rybrevant) and mobocertinib (Exkivity, US withdrawal "
    "announced October 2023); poziotinib not approved (complete response letter, 2022)",
)

# --- Version 2 sources (clinical-rules.md 9.2); which mirror of each label was read is in the
# README ("Clinical changes in version 2").

KADCYLA_LABEL_DOSE: Final = Citation(
    "Kadcyla US prescribing information, section 2: 3.6 mg/kg every 3 weeks, do not exceed "
    "3.6 mg/kg; reductions 3 then 2.4 mg/kg (Table 1); no re-escalation",
    _DAILYMED_SEARCH + "KADCYLA",
)
KADCYLA_LABEL_MODIFICATIONS: Final = Citation(
    "Kadcyla US prescribing information, section 2: dose modifications (Tables 2-5: "
    "transaminases, bilirubin, LVEF, thrombocytopenia; pulmonary toxicity) and boxed warning",
    _DAILYMED_SEARCH + "KADCYLA",
)
HER2_ADC_NOT_INTERCHANGEABLE: Final = Citation(
    "Enhertu US prescribing information, section 2.1 (do not substitute ENHERTU for or with "
    "trastuzumab or ado-trastuzumab emtansine); Kadcyla boxed warning (do not substitute "
    "KADCYLA for or with trastuzumab)",
    _DAILYMED_SEARCH + "ENHERTU",
)
ENHERTU_LABEL_THROMBOCYTOPENIA: Final = Citation(
    "Enhertu US prescribing information: thrombocytopenia dose modifications (as shown on the "
    "Enhertu HCP site)",
    "https://www.enhertuhcp.com/en/breast/manage-potential-risks/thrombocytopenia",
)
EMBRYO_FETAL_LABELS: Final = Citation(
    "Enhertu and Kadcyla boxed warnings (embryo-fetal toxicity); Enhertu, Kadcyla, Hernexeos and "
    "Hyrnuo US prescribing information, sections 5 and 8.3 (females and males of reproductive "
    "potential)",
    _DAILYMED_SEARCH + "ENHERTU",
)
HER2_TKI_INTERACTIONS: Final = Citation(
    "Hernexeos and Hyrnuo US prescribing information, section 7 (drug interactions, not read); FDA "
    "examples of CYP3A inhibitors and inducers",
    "https://www.fda.gov/drugs/drug-interactions-labeling/"
    "healthcare-professionals-fdas-examples-drugs-interact-cyp-enzymes-and-transporter-systems",
)
HYRNUO_LABEL_DOSE: Final = Citation(
    "Hyrnuo (sevabertinib) US prescribing information, sections 2.2-2.3: 20 mg twice daily with "
    "food; reductions 10 mg twice daily, then 10 mg once daily (Table 1)",
    _DAILYMED_SEARCH + "HYRNUO",
)
HYRNUO_LABEL_START: Final = Citation(
    "Hyrnuo (sevabertinib) US prescribing information: dosage (2.2) and warnings and "
    "precautions (5)",
    _DAILYMED_SEARCH + "HYRNUO",
)

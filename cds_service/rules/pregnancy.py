"""9.2 New check: embryo-fetal toxicity at the first order of a HER2 drug.

| rule | hooks | when |
|---|---|---|
| embryo-fetal | OS, SG | first order of T-DXd, T-DM1, zongertinib or sevabertinib: female of
  reproductive potential with no pregnancy test in the last 7 days; male: contraception advice |

Decisions (the safer reading where the record is silent; clinical-rules.md 9.2, 9.3):

- **First order**: the patient's first order of that drug (no earlier exposure in the record).
- **Reproductive potential** (female): age within ``reproductive_age_min``-``max`` (18-55,
  [?]: no label gives an age; the labels say "females of reproductive potential"), and no
  documented menopause, hysterectomy or bilateral oophorectomy. **Unknown age** counts as
  possible reproductive potential. **Sex unknown** (or ``other``): the card fires, says that
  sex is not recorded, and gives both the female and the male advice.
- **Pregnancy test**: one within ``recent_pregnancy_test_days`` (7) before today. Negative:
  silent for a female. Positive: warning. Result not read: info asking to check it.
- **Contraception durations** as read [L] or not [?]: T-DXd and T-DM1 7 months (females) and
  4 months (males with female partners) [L] (T-DM1 read in a drug-reference summary of the US
  label, see the README); zongertinib and sevabertinib: the card names the label's section 8.3
  and states no unverified figure as label fact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from cds_service.rules import labels
from cds_service.rules.base import (
    ORDERS,
    Conclusion,
    Confidence,
    Fact,
    OverrideSet,
    Proposal,
    Request,
    Service,
    rule,
)
from cds_service.rules.labels import short_name
from cds_service.rules.situation import TDM1, TDXD, Situation
from cds_service.wire import Indicator, SelectionBehavior
from fhir_mappings.model import (
    Demographics,
    DraftOrder,
    Drug,
    PregnancyResult,
    PregnancyTest,
    ReproductiveStatusKind,
    Sex,
    UnreadableRecords,
)

L, Q = Confidence.LABEL, Confidence.UNVERIFIED
ZONG, SEVA = Drug.ZONGERTINIB, Drug.SEVABERTINIB
DRUGS = (TDXD, TDM1, ZONG, SEVA)


@dataclass(frozen=True, slots=True)
class _Advice:
    warning: str
    female: str
    male: str


ADVICE: dict[Drug, _Advice] = {
    TDXD: _Advice(
        "Embryo-fetal toxicity is part of T-DXd's boxed warning. [L]",
        "Females of reproductive potential: verify pregnancy status before the first dose; "
        "effective contraception during treatment and for 7 months after the last dose. [L]",
        "Males with female partners of reproductive potential: effective contraception during "
        "treatment and for 4 months after the last dose. [L]",
    ),
    TDM1: _Advice(
        "Embryo-fetal toxicity is part of T-DM1's boxed warning. [L]",
        "Females of reproductive potential: verify pregnancy status before the first dose; "
        "effective contraception during treatment and for 7 months after the last dose. [L]",
        "Males with female partners of reproductive potential: effective contraception during "
        "treatment and for 4 months after the last dose. [L]",
    ),
    ZONG: _Advice(
        "Embryo-fetal toxicity is a labeled warning of zongertinib (Warnings and Precautions). [L]",
        "Females of reproductive potential: verify pregnancy status before the first dose; "
        "effective contraception during treatment and after the last dose (reported as 2 weeks; "
        "the label's section 8.3 was not read here). [?]",
        "Males with female partners: contraception as the Hernexeos label's section 8.3 states "
        "(not verified here). [?]",
    ),
    SEVA: _Advice(
        "Embryo-fetal toxicity is a labeled warning of sevabertinib (Warnings and "
        "Precautions). [L]",
        "Females of reproductive potential: verify pregnancy status before the first dose; "
        "effective contraception during treatment and after the last dose for the period in the "
        "Hyrnuo label's section 8.3 (not verified here). [?]",
        "Males with female partners: contraception as the Hyrnuo label's section 8.3 states "
        "(not verified here). [?]",
    ),
}
_END_OF_POTENTIAL = {
    ReproductiveStatusKind.MENOPAUSE: "Menopause documented",
    ReproductiveStatusKind.HYSTERECTOMY: "Hysterectomy documented",
    ReproductiveStatusKind.BILATERAL_OOPHORECTOMY: "Bilateral oophorectomy documented",
}


@rule(
    "embryo-fetal",
    title="Embryo-fetal toxicity at the first dose",
    hooks=ORDERS,
    indicators=(Indicator.INFO, Indicator.WARNING),
    confidence=(L, Q),
    citation=labels.EMBRYO_FETAL_LABELS,
    override_set=OverrideSet.SAFETY,
)
def embryo_fetal(s: Situation) -> Iterator[Conclusion]:
    for order in s.orders_of(*DRUGS):
        if order.drug is None or s.received(order.drug):
            continue
        conclusion = _embryo_fetal(s, order, order.drug)
        if conclusion is not None:
            yield conclusion


def _recent_test(s: Situation) -> PregnancyTest | None:
    days = s.settings.recent_pregnancy_test_days
    recent = [t for t in s.patient.pregnancy_tests if s.within(t.date, days)]
    if not recent:
        return None
    positive = [t for t in recent if t.result is PregnancyResult.POSITIVE]
    return positive[-1] if positive else recent[-1]


def _embryo_fetal(s: Situation, order: DraftOrder, drug: Drug) -> Conclusion | None:
    cfg = s.settings
    demographics = s.patient.demographics
    advice = ADVICE[drug]
    name = short_name(drug)
    age = demographics.age_on(s.today)
    facts: list[Fact] = [s.order_fact(order), _sex_and_age_fact(demographics, age)]
    uncertainties = [
        f"[?] Reproductive potential is assumed from age {cfg.reproductive_age_min}-"
        f"{cfg.reproductive_age_max} (a setting; no label gives an age) unless menopause, "
        "hysterectomy or bilateral oophorectomy is documented.",
    ]
    if demographics.sex is Sex.MALE:
        return Conclusion(
            indicator=Indicator.INFO,
            summary=f"First {name} order: advise contraception (embryo-fetal toxicity)",
            facts=tuple(facts),
            guidance=(advice.warning, advice.male),
            uncertainties=tuple(u for u in uncertainties[1:]),
            order_refs=(order.reference,),
            drug=drug,
        )
    ended = list(s.patient.reproductive_status)
    if ended:
        if demographics.sex is Sex.FEMALE:
            return None
        facts += [Fact(_END_OF_POTENTIAL[r.kind], r.date, r.sources) for r in ended]
    out_of_range = age is not None and not (
        cfg.reproductive_age_min <= age <= cfg.reproductive_age_max
    )
    if demographics.sex is Sex.FEMALE and out_of_range:
        return None
    test = _recent_test(s)
    if (
        test is not None
        and test.result is PregnancyResult.NEGATIVE
        and demographics.sex is Sex.FEMALE
    ):
        return None
    guidance: list[str] = [advice.warning, advice.female]
    if demographics.sex is not Sex.FEMALE:
        guidance.append(advice.male)
    proposals: tuple[Proposal, ...] = ()
    may_be_pregnant = not ended and not out_of_range
    if test is not None:
        facts.append(Fact(f"Pregnancy test: {test.result.value}", test.date, test.sources))
    else:
        facts.append(Fact(f"No pregnancy test in the last {cfg.recent_pregnancy_test_days} days"))
    if test is None and may_be_pregnant:
        proposals = (
            Proposal(
                "Order a pregnancy test (serum hCG)",
                (Request(Service.PREGNANCY_TEST),),
                recommended=demographics.sex is Sex.FEMALE,
            ),
        )
    indicator, summary = _summary(name, test, female=demographics.sex is Sex.FEMALE)
    uncertainties += _unrecorded(s, female=demographics.sex is Sex.FEMALE, age=age)
    return Conclusion(
        indicator=indicator,
        summary=summary,
        facts=tuple(facts),
        guidance=tuple(guidance),
        proposals=proposals,
        selection=SelectionBehavior.AT_MOST_ONE if proposals else None,
        uncertainties=tuple(uncertainties),
        order_refs=(order.reference,),
        drug=drug,
    )


def _sex_and_age_fact(demographics: Demographics, age: int | None) -> Fact:
    sex_text = {Sex.FEMALE: "Female", Sex.MALE: "Male"}.get(demographics.sex)
    if sex_text is None:
        return Fact("Sex not recorded (or not female/male)", None, demographics.sources)
    return Fact(
        f"{sex_text}{f', {age} years' if age is not None else ', age not recorded'}",
        None,
        demographics.sources,
    )


def _summary(name: str, test: PregnancyTest | None, *, female: bool) -> tuple[Indicator, str]:
    """Warning for a positive test; otherwise info, worded for what is known."""
    if test is not None and test.result is PregnancyResult.POSITIVE:
        return (
            Indicator.WARNING,
            f"First {name} order with a positive pregnancy test: embryo-fetal toxicity",
        )
    if test is not None and test.result is PregnancyResult.UNKNOWN:
        summary = f"First {name} order: check the pregnancy test result (embryo-fetal toxicity)"
    elif female:
        summary = f"First {name} order: verify pregnancy status and advise contraception"
    else:
        summary = (
            f"First {name} order, sex not recorded: verify pregnancy status; advise contraception"
        )
    return Indicator.INFO, summary


def _unrecorded(s: Situation, *, female: bool, age: int | None) -> list[str]:
    """What the card cannot know: sex, age, procedures that could not be read."""
    notes: list[str] = []
    if not female:
        notes.append("Sex is not recorded as female or male: the advice for both is shown.")
    if age is None:
        notes.append("Age is not recorded: reproductive potential is assumed.")
    if s.patient.unreadable(UnreadableRecords.PROCEDURES):
        notes.append("Procedures could not be read: a hysterectomy or oophorectomy may be missing.")
    return notes

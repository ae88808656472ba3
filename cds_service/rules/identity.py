"""A safety net for drug identity (clinical-rules.md 9.1, "Drug identity").

| rule | hooks | when |
|---|---|---|
| order-drug-not-identified | OS, SG | a draft order (order-select: the selections;
  order-sign: all) whose medication carries drug codes, none of which identifies a drug
  this service knows, while its text names exactly one recognised drug |

A coded medication is identified by its code only, never by its words (9.1): an order
for zongertinib under an RxNorm SCD or a site code the service does not list is not a
zongertinib order to the rules, so none of the checks on that drug runs. Left at that,
the clinician would see nothing and could take the silence for "checked". This card
says so: the order's text and code system(s), that the drug's checks did not run, and
that the site order catalog (``CDS_ORDER_CATALOG``) can map its orderable codes to the
drug (``cds_service.catalog``, "Site codes identify drugs").

The mapping decides, not this rule (``DraftOrder.named_in_text``, set by
``terminology.coded_drug_named_in_text`` when the codes identify nothing): a text naming
two drugs, or a supportive drug and an anticancer drug, names none (9.3) and gets no
card. Warning, no suggestion (the service cannot know what the order is). Tag [E]: the
project's policy (9.1), not a label row. ``drug`` is left unset on the card so that no
card about the named drug can supersede it.
"""

from __future__ import annotations

from collections.abc import Iterator

from cds_service.rules.base import ORDERS, Citation, Conclusion, Confidence, Fact, OverrideSet, rule
from cds_service.rules.labels import display_name, sentence_case, short_name
from cds_service.rules.situation import Situation
from cds_service.wire import Indicator
from fhir_mappings.model import Drug

DRUG_IDENTITY: Citation = Citation(
    "HER2-NSCLC CDS clinical rules, version 2, section 9.1: drug identity (a coded "
    "medication is identified by its code, never by its text)"
)

CHECKS: dict[Drug, str] = {
    Drug.TRASTUZUMAB_DERUXTECAN: (
        "dose, ILD/pneumonitis, LVEF, neutropenia, thrombocytopenia, embryo-fetal toxicity "
        "and sequencing"
    ),
    Drug.ZONGERTINIB: (
        "dose by body weight, ILD/pneumonitis, LVEF, liver tests, CYP3A interactions, "
        "embryo-fetal toxicity and sequencing"
    ),
    Drug.SEVABERTINIB: (
        "dose, start warnings, ILD/pneumonitis, liver tests, CYP3A interactions, "
        "embryo-fetal toxicity and sequencing"
    ),
    Drug.TRASTUZUMAB_EMTANSINE: (
        "dose, ILD/pneumonitis, liver tests, LVEF, platelets, embryo-fetal toxicity and "
        "substitution with T-DXd"
    ),
}
"""The checks the rules make on an identified order of each HER2-directed drug (for the
card's wording); other drugs: the sequencing checks."""
OTHER_CHECKS = "sequencing and line-of-therapy"


@rule(
    "order-drug-not-identified",
    title="Ordered drug not identified by its code",
    hooks=ORDERS,
    indicators=(Indicator.WARNING,),
    confidence=(Confidence.EXPERT,),
    citation=DRUG_IDENTITY,
    override_set=OverrideSet.SAFETY,
)
def order_drug_not_identified(s: Situation) -> Iterator[Conclusion]:
    for order in s.orders:
        named = order.named_in_text
        if order.drug is not None or named is None:
            continue
        name = short_name(named)
        systems = ", ".join(order.code_systems) or "(no system)"
        text = order.medication_text or display_name(named)
        checks = CHECKS.get(named, OTHER_CHECKS)
        yield Conclusion(
            indicator=Indicator.WARNING,
            summary=(
                f"{sentence_case(name)} order not identified by its code: the {name} checks "
                "did not run on it"
            ),
            facts=(
                Fact(
                    f'Draft order: "{text}", coded in {systems}; its codes identify no drug '
                    "this service knows",
                    None,
                    (order.reference,),
                ),
            ),
            guidance=(
                f"The order's text names {display_name(named)}, but its codes do not identify "
                "it as a drug this service knows. A coded order is identified by its code "
                "only, never by its words (a dexamethasone order mentioning a HER2 drug is not "
                "that drug).",
                f"So this service's {name} checks ({checks}) did **not** run on this order: "
                "check it against the label before signing.",
                "To have these orders identified, the site adds its orderable codes for this "
                "drug to the site order catalog (`CDS_ORDER_CATALOG`, a "
                "`medication:<drug>` entry).",
            ),
            order_refs=(order.reference,),
        )

"""How the cards of different rules interact: which card silences which, and why.

This module is the one place that says it. It holds

- :data:`INTERPLAY`, the table of silencings: a card of rule ``card`` makes the cards of
  the ``silenced`` rules redundant for the same draft order (or, for a card without
  orders, for the patient), under the stated condition. A rule's card names the entries
  that apply to it (``Conclusion.supersedes = silences(ENTRY, ...)``); :func:`arrange`
  honours a silencing only when the table lists that pair for that card, so a rule
  cannot silence a card the table does not name.
- :data:`GENERAL`, the rules that hold between all cards (a critical hold silences the
  reminders about its drug, identical cards are sent once, ...), each implemented by
  the function it names below.

``python -m cds_service.rules interplay`` prints both for the README; a test checks that
every rule id named here is a registered rule and that the README shows this output.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cds_service.rules.base import CancelOrder, ChangeDose, Fact, Finding
from cds_service.wire import Indicator
from fhir_mappings.model import Drug


@dataclass(frozen=True, slots=True)
class Silencing:
    """A card of rule ``card`` makes the cards of the ``silenced`` rules redundant."""

    card: str
    silenced: tuple[str, ...]
    why: str
    when: str = "always"
    """When the card carries this silencing (the rule decides; ``always``: every card)."""


# --- 6.1 Testing ---------------------------------------------------------------------------

RETEST_ON_RESISTANCE_IHC = Silencing(
    "test-retest-on-resistance",
    ("test-her2-ihc",),
    "it already suggests HER2 IHC, on the re-biopsy tissue",
)

# --- 6.2 Sequencing ------------------------------------------------------------------------

AMPLIFICATION_ONLY_IHC = Silencing(
    "seq-amplification-only",
    ("test-her2-ihc",),
    "it already suggests HER2 IHC when none is on file",
)
TKI_AFTER_TKI_OPTIONS = Silencing(
    "seq-tki-after-tki",
    ("seq-after-zongertinib",),
    "it speaks about the TKI ordered after zongertinib and offers T-DXd when eligible; the "
    "sevabertinib start card is not silenced (9.1, answer (b))",
)
NOT_HER2_AGENT_OPTIONS = Silencing(
    "seq-not-her2-agent",
    (
        "seq-first-line-tkd",
        "seq-after-platinum",
        "seq-non-tkd",
        "seq-ihc3",
        "seq-after-zongertinib",
        "seq-tki-after-tki",
    ),
    "the order is not a HER2 therapy: the card asks to remove it and offers the HER2 options "
    "itself",
)
OFF_LABEL_TKI_OPTIONS = Silencing(
    "seq-off-label-tki",
    (
        "test-vus",
        "seq-first-line-tkd",
        "seq-non-tkd",
        "seq-ihc3",
        "seq-after-platinum",
        "seq-after-zongertinib",
    ),
    "it names the off-label cause (a VUS among them, 9.1 answer (c)) and offers the on-label "
    "option itself",
)
OFF_LABEL_TDXD_VUS = Silencing(
    "seq-off-label-tdxd",
    ("test-vus",),
    "it names the VUS as the off-label cause (9.1, answer (c))",
)

# --- 6.3 ILD / pneumonitis -----------------------------------------------------------------

ILD_HISTORY_ONE_CARD = Silencing(
    "ild-history-before-tdxd",
    ("ild-baseline-imaging", "ild-vigilance", "seq-after-platinum", "seq-after-zongertinib"),
    "at most one ILD card per T-DXd order: it lists the risk factors and the chest CT, and "
    "offers the alternatives itself",
)
ILD_GRADE1_RESOLVED = Silencing(
    "ild-grade1-tdxd",
    ("ild-vigilance",),
    "at most one ILD card per T-DXd order: it lists the ILD risk factors present",
    when="the episode has resolved and the card states the dose to give (not when it holds "
    "or discontinues T-DXd)",
)
ILD_GRADE1_DOSE_CHANGE = Silencing(
    "ild-grade1-tdxd",
    ("dose-tdxd",),
    "it suggests the dose change itself",
    when="the drafted dose is above the level the episode requires",
)
VIGILANCE_BASELINE_CT = Silencing(
    "ild-vigilance",
    ("ild-baseline-imaging",),
    "it carries the baseline chest CT suggestion",
    when="a first T-DXd order with no recent chest CT",
)

# --- 9.2 T-DM1 -----------------------------------------------------------------------------

TDM1_OWN_LVEF_ROWS = Silencing(
    "tdm1-safety",
    ("cardiac-lvef",),
    "Kadcyla's own LVEF rows apply; the T-DXd table does not",
    when="an LVEF row applies and no heart failure, LV dysfunction or NYHA II-IV after the "
    "start of T-DM1 is on record (a reason `cardiac-lvef` names, kept)",
)

INTERPLAY: tuple[Silencing, ...] = (
    RETEST_ON_RESISTANCE_IHC,
    AMPLIFICATION_ONLY_IHC,
    TKI_AFTER_TKI_OPTIONS,
    NOT_HER2_AGENT_OPTIONS,
    OFF_LABEL_TKI_OPTIONS,
    OFF_LABEL_TDXD_VUS,
    ILD_HISTORY_ONE_CARD,
    ILD_GRADE1_RESOLVED,
    ILD_GRADE1_DOSE_CHANGE,
    VIGILANCE_BASELINE_CT,
    TDM1_OWN_LVEF_ROWS,
)
"""Every silencing between rules, in spec order of the silencing rule."""

_PAIRS = frozenset((e.card, s) for e in INTERPLAY for s in e.silenced)


def silences(*entries: Silencing) -> tuple[str, ...]:
    """The rule ids a card silences, from the table entries that apply to it."""
    return tuple(dict.fromkeys(s for e in entries for s in e.silenced))


MAX_REASON_SOURCES = 3
"""At most this many FHIR sources per silenced reason listed on a card."""

GENERAL: tuple[tuple[str, str], ...] = (
    (
        "Scope",
        "A card silences others only for the same draft order; a card without orders "
        "(patient-view) covers the patient. `_same_scope`",
    ),
    (
        "Holds",
        "A critical hold or discontinuation of a drug silences the other cards about that drug, "
        "except critical ones; a permanent discontinuation also silences critical temporary "
        "holds. Two critical holds of the same kind are both sent. `_halt_silences`",
    ),
    (
        "Other reasons",
        "A card that silences a card about the same drug which was itself a reason to hold or "
        f"change it lists that card under other reasons, with up to {MAX_REASON_SOURCES} "
        "sources (9.1: a critical card never hides a second reason). `_with_other_reasons`",
    ),
    (
        "Held drugs",
        "Cards other than holds do not suggest starting a drug that another card holds. "
        "`_without_halted_options`",
    ),
    (
        "Identical cards",
        "Cards of the same rule with the same indicator, summary and suggestions are sent "
        "once, about every order they concern (9.1). `arrange`",
    ),
    (
        "Text-identified drugs",
        "No suggestion updates the dose of a draft order whose drug was identified by its "
        "text; the suggestion is dropped and the card says why (9.1). "
        "`without_text_dose_updates`",
    ),
    (
        "Order",
        "Cards are sent critical, then warning, then info; ties in registry order. `arrange`",
    ),
)
"""The interplay that holds between all cards, each with the function that implements it."""


def interplay_table() -> str:
    """The README's interplay section (Markdown): the silencings, then the general rules."""
    rows = [
        "| card of rule | silences | when | why |",
        "|---|---|---|---|",
    ]
    for e in INTERPLAY:
        silenced = ", ".join(f"`{s}`" for s in e.silenced)
        rows.append(f"| `{e.card}` | {silenced} | {e.when} | {e.why} |")
    general = [f"- **{name}.** {text}" for name, text in GENERAL]
    footer = (
        "Declared in `cds_service/rules/interplay.py` (the table `INTERPLAY`, the general rules "
        "`GENERAL`); generated by `python -m cds_service.rules interplay`."
    )
    return "\n".join([*rows, "", "Between all cards:", "", *general, "", footer])


# --- Applying the interplay ----------------------------------------------------------------

TEXT_DOSE_NOTE = (
    "The drug of this draft order was identified from its text, not from a drug code: "
    "no dose update is suggested; check the order."
)


def without_text_dose_updates(f: Finding, by_text: frozenset[str]) -> Finding:
    """Drop dose updates of draft orders whose drug was recognised by text alone."""
    if not by_text or not f.proposals:
        return f
    kept = tuple(
        p
        for p in f.proposals
        if not any(isinstance(a, ChangeDose) and a.order_ref in by_text for a in p.actions)
    )
    if kept == f.proposals:
        return f
    return replace(
        f,
        proposals=kept,
        selection=f.selection if kept else None,
        uncertainties=(*f.uncertainties, TEXT_DOSE_NOTE),
    )


def _same_scope(a: Finding, b: Finding) -> bool:
    """Same order(s), or patient-wide (a finding without orders covers the patient)."""
    if not a.order_refs or not b.order_refs:
        return True
    return bool(set(a.order_refs) & set(b.order_refs))


def _table_silences(other: Finding, f: Finding) -> bool:
    """``other`` names ``f``'s rule, and the interplay table lists that silencing."""
    return f.rule_id in other.supersedes and (other.rule_id, f.rule_id) in _PAIRS


def _halt_silences(other: Finding, f: Finding) -> bool:
    """``other`` holds the drug ``f`` is about, and ``f`` is no critical card it must not
    hide (a permanent discontinuation hides temporary critical holds)."""
    return (
        other.halts_drug
        and f.drug is other.drug
        and f.drug is not None
        and (
            f.indicator is not Indicator.CRITICAL
            or (other.permanent and not f.permanent and f.halts_drug)
        )
    )


def _supersedes(other: Finding, f: Finding) -> bool:
    """Whether ``other`` makes ``f`` redundant."""
    if other is f or not _same_scope(other, f):
        return False
    return _table_silences(other, f) or _halt_silences(other, f)


def _superseded(f: Finding, findings: list[Finding]) -> bool:
    return any(_supersedes(other, f) for other in findings)


def _reason_to_hold_or_change(f: Finding) -> bool:
    """A card that asks to hold, stop or change its drug (not a reminder)."""
    if f.drug is None:
        return False
    if f.indicator is not Indicator.INFO or f.halts_drug:
        return True
    return any(isinstance(a, CancelOrder | ChangeDose) for p in f.proposals for a in p.actions)


def _with_other_reasons(f: Finding, findings: list[Finding]) -> Finding:
    """List the reasons to hold or change ``f.drug`` that ``f`` superseded."""
    reasons = [
        Fact(
            f"{other.summary} (rule `{other.rule_id}`)",
            None,
            tuple(dict.fromkeys(s for x in other.facts for s in x.sources))[:MAX_REASON_SOURCES],
        )
        for other in findings
        if other.drug is f.drug and _reason_to_hold_or_change(other) and _supersedes(f, other)
    ]
    if not reasons:
        return f
    unique = tuple(dict.fromkeys(reasons))
    return replace(f, other_reasons=(*f.other_reasons, *unique))


def _without_halted_options(f: Finding, halted: set[Drug]) -> Finding:
    """Drop suggestions that would start a drug another card holds."""
    if not halted or not f.proposals:
        return f
    kept = tuple(p for p in f.proposals if not any(p.creates(d) for d in halted))
    if kept == f.proposals:
        return f
    return replace(f, proposals=kept, selection=f.selection if kept else None)


def arrange(findings: list[Finding]) -> tuple[Finding, ...]:
    """Supersession, de-duplication and card order (critical, warning, info)."""
    kept = [_with_other_reasons(f, findings) for f in findings if not _superseded(f, findings)]
    halted = {f.drug for f in kept if f.halts_drug and f.drug is not None}
    unique: dict[tuple[object, ...], Finding] = {}
    for finding in kept:
        f = finding if finding.halts_drug else _without_halted_options(finding, halted)
        key = (f.rule_id, f.indicator, f.summary, f.proposals)
        first = unique.get(key)
        if first is None:
            unique[key] = f
        else:  # identical card: send it once, about every order it concerns
            refs = tuple(dict.fromkeys((*first.order_refs, *f.order_refs)))
            unique[key] = replace(first, order_refs=refs)
    arranged = sorted(unique.values(), key=lambda f: (-f.indicator.urgency, f.rank))
    return tuple(arranged)

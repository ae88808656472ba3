"""``python -m demo.report [--database-url URL] [--png out.png]``: what clinicians did with
the cards, from the feedback store.

Per rule id: how many cards were accepted and how many overridden, and the override
reasons given (code and display; user comments are never stored). Printed as a table;
with ``--png``, also drawn as a bar chart. Feedback on a card the store cannot tie to a
rule (issued by another deployment, or before the store existed) is counted under
``(unknown rule)``. The default database is the service's own
(``CDS_FEEDBACK_DATABASE_URL``, read by ``Settings.from_env``).
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cds_service.feedback_store import FeedbackRecord, open_feedback_store
from cds_service.settings import Settings
from cds_service.wire import Outcome

UNKNOWN_RULE = "(unknown rule)"


@dataclass(slots=True)
class RuleFeedback:
    rule_id: str
    accepted: int = 0
    overridden: int = 0
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(code, display) of each override reason -> count; ("", "(none given)") when none."""


def summarise(records: Iterable[FeedbackRecord]) -> list[RuleFeedback]:
    """Feedback per rule id, most feedback first, then by rule id."""
    by_rule: dict[str, RuleFeedback] = {}
    for record in records:
        rule = record.rule_id or UNKNOWN_RULE
        row = by_rule.setdefault(rule, RuleFeedback(rule))
        if record.outcome is Outcome.ACCEPTED:
            row.accepted += 1
        else:
            row.overridden += 1
            reason = (
                (record.override_code or "", record.override_display or record.override_code or "")
                if record.override_code or record.override_display
                else ("", "(none given)")
            )
            row.reasons[reason] += 1
    return sorted(by_rule.values(), key=lambda r: (-(r.accepted + r.overridden), r.rule_id))


def table(rows: Sequence[RuleFeedback]) -> str:
    if not rows:
        return "No feedback stored yet."
    width = max(len("rule id"), *(len(r.rule_id) for r in rows))
    lines = [
        f"{'rule id':<{width}}  {'accepted':>8}  {'overridden':>10}  override reasons",
        f"{'-' * width}  {'-' * 8}  {'-' * 10}  {'-' * 16}",
    ]
    for row in rows:
        reasons = "; ".join(
            f"{display}{f' [{code}]' if code else ''} x{count}"
            for (code, display), count in row.reasons.most_common()
        )
        lines.append(f"{row.rule_id:<{width}}  {row.accepted:>8}  {row.overridden:>10}  {reasons}")
    total_accepted = sum(r.accepted for r in rows)
    total_overridden = sum(r.overridden for r in rows)
    lines.append(f"{'total':<{width}}  {total_accepted:>8}  {total_overridden:>10}")
    return "\n".join(lines)


def bar_chart(rows: Sequence[RuleFeedback], path: Path) -> None:
    """Accepted and overridden cards per rule id, side by side, as a PNG."""
    import matplotlib  # noqa: PLC0415 - a dev dependency, loaded only when a chart is asked for

    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    names = [r.rule_id for r in rows] or ["(no feedback)"]
    accepted = [r.accepted for r in rows] or [0]
    overridden = [r.overridden for r in rows] or [0]
    positions = list(range(len(names)))
    figure, axes = pyplot.subplots(figsize=(max(6.0, 1.1 * len(names) + 2.0), 4.8))
    try:
        axes.bar([p - 0.2 for p in positions], accepted, width=0.4, label="accepted")
        axes.bar([p + 0.2 for p in positions], overridden, width=0.4, label="overridden")
        axes.set_xticks(positions, names, rotation=30, ha="right")
        axes.set_ylabel("cards")
        axes.set_title("CDS card feedback per rule")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend()
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=100)
    finally:
        pyplot.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo.report", description="Accepted and overridden cards per rule id."
    )
    parser.add_argument(
        "--database-url",
        help="feedback store: sqlite:///path or postgresql://... "
        "(default: CDS_FEEDBACK_DATABASE_URL or the service's default)",
    )
    parser.add_argument("--png", type=Path, help="also draw a bar chart into this PNG file")
    args = parser.parse_args(argv)
    url = args.database_url or Settings.from_env().feedback_database_url
    store = open_feedback_store(url)
    try:
        rows = summarise(store.feedback_rows())
    finally:
        store.close()
    print(table(rows))
    if args.png is not None:
        bar_chart(rows, args.png)
        print(f"bar chart: {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

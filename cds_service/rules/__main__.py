"""``python -m cds_service.rules table``: print the README's rule table (Markdown)."""

from __future__ import annotations

import sys

from cds_service.rules.table import rules_table


def main(argv: list[str]) -> int:
    if argv != ["table"]:
        print("usage: python -m cds_service.rules table", file=sys.stderr)
        return 2
    print(rules_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

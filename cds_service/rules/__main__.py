"""``python -m cds_service.rules table|interplay``: print a README table (Markdown).

``table``: the rules (``cds_service.rules.table``); ``interplay``: which card silences
which (``cds_service.rules.interplay``).
"""

from __future__ import annotations

import sys

from cds_service.rules.interplay import interplay_table
from cds_service.rules.table import rules_table

COMMANDS = {"table": rules_table, "interplay": interplay_table}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print("usage: python -m cds_service.rules table|interplay", file=sys.stderr)
        return 2
    print(COMMANDS[argv[0]]())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""The thresholds the SMART app draws on its LVEF and ANC lanes are the service's own.

``smart_app/src/thresholds.json`` is bundled into the app (no Python at build time); this
test fails when it and the rule modules disagree, so a threshold is never invented in the
app. The values are the clinical defaults (``ClinicalSettings``: the label's numbers) and
``labels.ANC_GRADE4_BELOW``.
"""

from __future__ import annotations

import json
from pathlib import Path

from cds_service.rules import labels
from cds_service.settings import ClinicalSettings

THRESHOLDS = Path(__file__).resolve().parents[2] / "smart_app" / "src" / "thresholds.json"


def test_the_app_draws_the_label_thresholds_the_rules_use() -> None:
    drawn = json.loads(THRESHOLDS.read_text(encoding="utf-8"))
    clinical = ClinicalSettings()
    assert [t["value"] for t in drawn["lvef"]] == [
        clinical.lvef_min_percent,
        clinical.lvef_interrupt_percent,
    ]
    assert [t["value"] for t in drawn["anc"]] == [
        clinical.anc_min_10e9_per_l,
        labels.ANC_GRADE4_BELOW,
    ]

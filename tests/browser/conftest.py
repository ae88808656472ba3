"""Say loudly, at the very end, when the browser test could not run (no Chromium)."""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.browser.test_smart_app import SKIP_REASON

    for report in terminalreporter.stats.get("skipped", []):
        if SKIP_REASON in str(getattr(report, "longrepr", "")):
            terminalreporter.write_sep("!", SKIP_REASON, red=True, bold=True)
            return

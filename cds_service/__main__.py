"""``python -m cds_service serve``: the local development server (``make run``).

``python -m cds_service migrate``: bring the feedback database and the replay store
(``CDS_FEEDBACK_DATABASE_URL``, ``CDS_REPLAY_STORE_URL``) to the current schema
revision; a deploy step (README, Operations). Exit status 1 when a store cannot be
reached.

``python -m cds_service settings table``: the README's Configuration table, generated
from the settings declaration (``cds_service.settings``).

``python -m cds_service explain FILE [--as-of YYYY-MM-DD] [--hook HOOK] [--set NAME=VALUE]``:
what the service reads from a CDS Hooks request (or Bundle, resource list, resource) and
the findings its rules draw, at a site whose settings are this process's environment
with each ``--set`` on top (any variable of the declaration, checked as at start-up).
A developer tool: it prints to the terminal only; the service never calls it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

from cds_service.app import create_app
from cds_service.catalog import load_order_catalog
from cds_service.errors import ConfigurationError, ServiceError
from cds_service.feedback_store import FeedbackStore, open_feedback_store
from cds_service.logging_setup import configure_logging
from cds_service.pipeline import mapping_options
from cds_service.replay_store import ReplayCache, open_replay_cache
from cds_service.rules import evaluate
from cds_service.settings import Settings, declared_variables
from cds_service.settings_table import settings_table
from cds_service.wire import Hook
from fhir_mappings.explain import explained, patient_model, read_input

logger = logging.getLogger("cds_service")


def announce(settings: Settings) -> None:
    """Say loudly at start-up what this profile relaxes."""
    if settings.is_development:
        logger.warning(
            "DEVELOPMENT PROFILE: Flask development server on %s:%d (loopback only); "
            "CORS open to %s; feedback stored at %s; do not use with real patient data",
            settings.host,
            settings.port,
            ", ".join(settings.cors_origins) or "no origin",
            settings.feedback_database_url,
        )
    if not settings.authentication_required:
        reason = "CDS_AUTH_DISABLED=true" if settings.auth.disabled else "no trusted issuer"
        logger.warning(
            "AUTHENTICATION OFF (%s): any caller that reaches %s:%d is trusted; "
            "set CDS_AUTH_ISSUERS or CDS_AUTH_TRUST_SANDBOX=true to require signed JWTs",
            reason,
            settings.host,
            settings.port,
        )
    else:
        logger.warning(
            "JWT authentication on: trusted issuers %s",
            ", ".join(issuer.iss for issuer in settings.auth.issuers),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cds_service")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the development profile on 127.0.0.1")
    commands.add_parser("migrate", help="bring the stores' schemas to the current revision")
    table = commands.add_parser("settings", help="the settings declaration")
    table.add_argument("what", choices=["table"], help="the README's Configuration table")
    add_explain_command(commands)
    arguments = parser.parse_args(argv)
    if arguments.command == "settings":
        print(settings_table())
        return 0
    if arguments.command == "explain":
        return explain(arguments)

    settings = Settings.from_env()
    configure_logging(settings)
    if arguments.command == "migrate":
        return migrate(settings)
    if not settings.is_development:
        parser.error("`serve` runs the development profile only (CDS_PROFILE=development)")
    if settings.host not in {"127.0.0.1", "localhost", "::1"}:
        parser.error("the development profile binds to loopback only")
    announce(settings)
    app = create_app(settings)
    app.run(host=settings.host, port=settings.port, debug=False, threaded=True)
    return 0


def migrate(settings: Settings) -> int:
    """Alembic ``upgrade head`` on each store's database (the replay store's too)."""
    replay_url = settings.auth.replay_store_url or settings.feedback_database_url
    stores: list[tuple[str, FeedbackStore | ReplayCache]] = [
        ("feedback store", open_feedback_store(settings.feedback_database_url, settings.stores)),
        ("replay store", open_replay_cache(replay_url, settings.stores)),
    ]
    status = 0
    for label, store in stores:
        try:
            store.migrate()
            logger.info("%s: schema at the current revision", label)
        except ServiceError as error:
            logger.error("%s: not migrated: %s", label, error.diagnostics)
            status = 1
        finally:
            store.close()
    return status


def add_explain_command(commands: Any) -> None:
    command = commands.add_parser(
        "explain",
        help="the patient model and the findings for a request, at a site's settings",
        epilog="NAME: any variable of `python -m cds_service settings table`.",
    )
    command.add_argument("file", type=Path, help="CDS Hooks request, Bundle or resource list")
    command.add_argument(
        "--as-of", type=date.fromisoformat, default=None, help="evaluation date (YYYY-MM-DD)"
    )
    command.add_argument(
        "--hook",
        type=Hook,
        choices=list(Hook),
        default=None,
        help="the hook whose rules run (default: the request's, else patient-view)",
    )
    command.add_argument(
        "--set",
        type=_assignment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting, as the environment would give it (repeatable)",
    )


def _assignment(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    if name not in declared_variables():
        raise argparse.ArgumentTypeError(
            f"{name} is not a setting (python -m cds_service settings table lists them)"
        )
    return name, value


def explain(arguments: argparse.Namespace) -> int:
    """Print what ``explain`` shows; 2 for a file it cannot read or a bad setting."""
    try:
        settings = Settings.from_env({**os.environ, **dict(arguments.set)})
        catalog = load_order_catalog(settings.order_catalog) if settings.order_catalog else None
    except ConfigurationError as error:
        print(f"explain: {error}", file=sys.stderr)
        return 2
    try:
        document = json.loads(arguments.file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"cannot read {arguments.file}: {type(error).__name__}", file=sys.stderr)
        return 2
    given = read_input(document)
    as_of: date = arguments.as_of or date.today()
    model = patient_model(given, as_of, mapping_options(settings.clinical, catalog))
    hook = arguments.hook or _hook_of(document)
    findings = evaluate(model, hook, settings.clinical)
    shown = explained(given, model)
    shown["hook"] = hook.value
    shown["findings"] = [
        {"rule_id": f.rule_id, "indicator": f.indicator.value, "summary": f.summary}
        for f in findings
    ]
    print(json.dumps(shown, indent=2, ensure_ascii=False))
    return 0


def _hook_of(document: object) -> Hook:
    named = document.get("hook") if isinstance(document, dict) else None
    known = {hook.value: hook for hook in Hook}
    return known.get(named, Hook.PATIENT_VIEW) if isinstance(named, str) else Hook.PATIENT_VIEW


if __name__ == "__main__":
    raise SystemExit(main())

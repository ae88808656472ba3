"""``python -m cds_service serve``: the local development server (``make run``).

``python -m cds_service migrate``: bring the feedback database and the replay store
(``CDS_FEEDBACK_DATABASE_URL``, ``CDS_REPLAY_STORE_URL``) to the current schema
revision; a deploy step (README, Operations). Exit status 1 when a store cannot be
reached.
"""

from __future__ import annotations

import argparse
import logging

from cds_service.app import create_app
from cds_service.errors import ServiceError
from cds_service.feedback_store import FeedbackStore, open_feedback_store
from cds_service.logging_setup import configure_logging
from cds_service.replay_store import ReplayCache, open_replay_cache
from cds_service.settings import Settings

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
    arguments = parser.parse_args(argv)

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


if __name__ == "__main__":
    raise SystemExit(main())

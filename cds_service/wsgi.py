"""Production entry for gunicorn: ``gunicorn -c gunicorn.conf.py cds_service.wsgi:app``."""

from __future__ import annotations

from cds_service.app import create_app
from cds_service.auth import require_trusted_issuer
from cds_service.logging_setup import configure_logging
from cds_service.settings import Settings

settings = Settings.from_env()
configure_logging(settings)
require_trusted_issuer(settings)  # in any profile: open only with CDS_AUTH_DISABLED=true
app = create_app(settings)

"""Production entry for gunicorn: ``gunicorn -c gunicorn.conf.py cds_service.wsgi:app``."""

from __future__ import annotations

import gc

# Start-up makes objects that live as long as the process: no collection until they are
# frozen below (the gc module's recipe for a server that forks). With collections on, the
# imports trigger a few full ones, each walking everything imported so far: about 0.1 s of
# CPU at every start. The few cycles the imports leave behind are frozen with the rest.
gc.disable()

from cds_service.app import create_app  # noqa: E402
from cds_service.auth import require_trusted_issuer  # noqa: E402
from cds_service.collector import settle_after_start_up  # noqa: E402
from cds_service.logging_setup import configure_logging  # noqa: E402
from cds_service.settings import Settings  # noqa: E402
from fhir_mappings.parse import load_models  # noqa: E402

settings = Settings.from_env()
configure_logging(settings)
require_trusted_issuer(settings)  # in any profile: open only with CDS_AUTH_DISABLED=true
app = create_app(settings)
load_models()  # the R4B models of the resources and their elements
settle_after_start_up()  # start-up frozen; a call's objects freed before any collection

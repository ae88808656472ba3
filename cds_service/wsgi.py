"""Production entry for gunicorn: ``gunicorn -c gunicorn.conf.py cds_service.wsgi:app``."""

from __future__ import annotations

import gc
import importlib
import typing
from collections.abc import Iterator

# Start-up makes objects that live as long as the process: no collection until they are
# frozen below (the gc module's recipe for a server that forks). With collections on, the
# imports trigger a few full ones, each walking everything imported so far: about 0.1 s of
# CPU at every start. The few cycles the imports leave behind are frozen with the rest.
gc.disable()

from fhir_core.types import FhirBase  # noqa: E402

from cds_service.app import create_app  # noqa: E402
from cds_service.auth import require_trusted_issuer  # noqa: E402
from cds_service.logging_setup import configure_logging  # noqa: E402
from cds_service.settings import Settings  # noqa: E402
from fhir_mappings.parse import VALIDATED_TYPES, load_models  # noqa: E402


def load_element_models() -> int:
    """Import the R4B models of the elements the validated resources hold (CodeableConcept,
    Reference, Period, Dosage...), as ``load_models`` imports the resources' own: R4B
    imports an element's model at its first validation, which would be in each worker
    after the fork, outside ``gc.freeze()`` and in memory of its own (about 20 modules,
    2 MB, 40 ms of a worker's first call). An Extension's ``value[x]`` types are left to
    their first use (about 40 more). Returns how many models were reached."""
    pending: list[type[object]] = [
        getattr(importlib.import_module(f"fhir.resources.R4B.{name.lower()}"), name)
        for name in sorted(VALIDATED_TYPES)
    ]
    reached: set[type[object]] = set()
    while pending:
        model = pending.pop()
        if model in reached:
            continue
        reached.add(model)
        if model.__name__ != "Extension":
            for field in getattr(model, "model_fields", {}).values():
                pending.extend(_element_models(field.annotation))
    return len(reached)


def _element_models(annotation: object) -> Iterator[type[object]]:
    if isinstance(annotation, type) and issubclass(annotation, FhirBase):
        yield annotation.get_model_klass()
    for argument in typing.get_args(annotation):
        yield from _element_models(argument)


settings = Settings.from_env()
configure_logging(settings)
require_trusted_issuer(settings)  # in any profile: open only with CDS_AUTH_DISABLED=true
app = create_app(settings)
load_models()
load_element_models()
# Everything built so far (the R4B models included) lives as long as the worker: moved
# out of the garbage collector's reach, so that the collections a large request body
# triggers (a 1 MB body is about 100,000 containers) do not walk the imported modules and
# models each time (about a third of an out-of-scope call with a 2,000-resource record).
gc.freeze()
gc.enable()

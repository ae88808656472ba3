"""``python -m demo`` (``make demo``): a local EHR environment for the service, until Ctrl-C.

On 127.0.0.1 only:

1. SEKMET, a real FHIR R4 server (PyPI ``sekmet-fhir``, pinned), in a temporary
   directory, requiring a bearer token, behind the sandbox proxy (CORS, token added for
   callers that bring none: see ``demo.fhir_server``);
2. the demo patients (``demo.patients``: the ten vignettes and the noisy records) loaded
   into it;
3. the service under gunicorn with the production configuration, JWT authentication off
   (``CDS_AUTH_DISABLED=true``: curl cannot sign), CORS open to the hosted CDS Hooks
   sandbox, a locally built one (``localhost:8080``, ``127.0.0.1:8080``) and
   ``127.0.0.1:3000``, plus any origin in ``CDS_CORS_ORIGINS`` (added, never replacing
   these), the example site order catalog (``demo/order-catalog.example.yaml``, or
   ``CDS_ORDER_CATALOG``), feedback stored in ``var/demo/feedback.sqlite3``.

Then it prints, for each patient, curl commands for patient-view, order-select and
order-sign (the request bodies are written to ``var/demo/requests/``: no prefetch, a
``fhirServer`` and a token SEKMET accepts, so the service fetches the record itself) and
CDS Hooks sandbox URLs, one per hook, each with ``hook`` and ``screen`` (patient-view,
Rx View for order-select, Rx Sign for order-sign) so that the sandbox opens that screen
rather than the one it remembers, and a link that opens the SMART app (the HER2 journey
timeline, ``smart_app/``) standalone for the patient on the demo FHIR server. The cards
carry a ``smart`` link to the same app (``CDS_SMART_LAUNCH_URL``). Ctrl-C stops
everything and removes the temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from types import FrameType
from urllib.parse import urlencode

from demo.fhir_server import FhirServer, demo_fhir_server, load
from demo.hooks import HOOKS, hook_request
from demo.patients import DEFAULT_SEED, DemoPatient, demo_patients
from demo.service import REPOSITORY, SERVICE_APP, RunningApp, running_app, service_environment

SANDBOX = "https://sandbox.cds-hooks.org/"
OUT = REPOSITORY / "var" / "demo"
DEMO_CORS_ORIGINS = (
    "https://sandbox.cds-hooks.org",
    "http://localhost:8080",
    "http://127.0.0.1:8080",
    "http://localhost:3000",
    "http://127.0.0.1:3000",
)
"""Origins the demo always allows: the hosted sandbox, a locally built one (its dev server
or a static copy on 8080 or 3000)."""
SANDBOX_SCREENS = {
    "patient-view": "patient-view",
    "order-select": "rx-view",
    "order-sign": "rx-sign",
}
"""The sandbox's screen for each hook (its ``screen`` query parameter)."""
EXAMPLE_CATALOG = REPOSITORY / "demo" / "order-catalog.example.yaml"


def cors_origins(environment: Mapping[str, str]) -> str:
    """The demo's origins, then those of ``CDS_CORS_ORIGINS`` (added, never replacing)."""
    extra = [o.strip() for o in environment.get("CDS_CORS_ORIGINS", "").split(",") if o.strip()]
    return ",".join(dict.fromkeys([*DEMO_CORS_ORIGINS, *extra]))


def write_requests(patient: DemoPatient, fhir: FhirServer, folder: Path) -> dict[str, Path]:
    """One request file per hook: no prefetch, fhirServer and a token SEKMET accepts."""
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for hook in HOOKS:
        body = hook_request(
            patient, hook, fhir_server=fhir.base_url, access_token=fhir.access_token
        )
        path = folder / f"{hook}.json"
        path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        written[hook] = path
    return written


def sandbox_url(
    service: RunningApp,
    fhir: FhirServer,
    patient_id: str,
    hook: str = "patient-view",
    sandbox: str = SANDBOX,
) -> str:
    """A sandbox link that opens ``hook``'s screen for the patient, with this service."""
    query = urlencode(
        {
            "serviceDiscoveryURL": f"{service.url}/cds-services",
            "fhirServiceUrl": fhir.base_url,
            "patientId": patient_id,
            "hook": hook,
            "screen": SANDBOX_SCREENS[hook],
        }
    )
    return f"{sandbox}?{query}"


def smart_app_url(service_url: str, fhir: FhirServer, patient_id: str) -> str:
    """The SMART app launched standalone for the patient on the demo's open FHIR server
    (the sandbox proxy adds SEKMET's token), so no authorization server is involved."""
    query = urlencode({"fhirServiceUrl": fhir.base_url, "patientId": patient_id})
    return f"{service_url}/smart/launch.html?{query}"


def smart_environment(service_url: str, fhir: FhirServer) -> dict[str, str]:
    """The cards' ``smart`` link (this service's launch page) and the FHIR server the app
    may be launched on (the Content-Security-Policy lets the app reach it)."""
    return {
        "CDS_SMART_LAUNCH_URL": f"{service_url}/smart/launch.html",
        "CDS_SMART_ISSUERS": fhir.base_url,
    }


def guide(
    patients: tuple[DemoPatient, ...], service: RunningApp, fhir: FhirServer, out: Path
) -> str:
    lines = [
        "",
        f"CDS service   {service.url}/cds-services   (gunicorn, log: {_shown(service.log_path)})",
        f"FHIR server   {fhir.base_url}   (SEKMET R4; token in the request files;",
        "              CORS and a token for the sandbox added by the demo proxy)",
        f"Feedback      python -m demo.report --database-url {_feedback_url(out)}"
        f" --png {_shown(out / 'feedback.png')}",
        "",
    ]
    for patient in patients:
        requests_for = write_requests(patient, fhir, out / "requests" / patient.patient_id)
        expected = "; ".join(
            f"{hook}: {', '.join(sorted(rules))}"
            for hook, rules in patient.expected.items()
            if rules
        )
        lines.append(f"== {patient.patient_id}: {patient.title}")
        lines.append(f"   {len(patient.resources)} resources; cards expected: {expected or '-'}")
        for hook, path in requests_for.items():
            url = f"{service.url}/cds-services/{HOOKS[hook]}"
            lines.append(
                f"   curl -s {url} -H 'Content-Type: application/json' "
                f"-d @{shlex.quote(_shown(path))} | python3 -m json.tool"
            )
        for hook in HOOKS:
            lines.append(
                f"   sandbox {hook}: {sandbox_url(service, fhir, patient.patient_id, hook)}"
            )
        lines.append(f"   SMART app: {smart_app_url(service.url, fhir, patient.patient_id)}")
        lines.append("")
    lines.append(
        "A browser may ask permission before the hosted sandbox (a public page) reaches a "
        "service on this machine (Private Network Access / local network access): allow it, "
        "or use a locally built sandbox."
    )
    lines.append("Ctrl-C stops the service and the FHIR server.")
    return "\n".join(lines)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _feedback_url(out: Path) -> str:
    return f"sqlite:///{(out / 'feedback.sqlite3').resolve()}"


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="service port (8080)")
    parser.add_argument("--fhir-port", type=int, default=8090, help="FHIR server port (8090)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _stop)
    patients = demo_patients(args.seed, today=date.today())
    OUT.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="her2-demo-") as tmp,
            ExitStack() as stack,
        ):
            fhir = stack.enter_context(
                demo_fhir_server(Path(tmp), access_token=token, port=args.fhir_port)
            )
            count = load(fhir, [r for p in patients for r in p.resources])
            print(f"Loaded {count} resources of {len(patients)} patients into SEKMET.")
            environment = service_environment(
                feedback_database_url=_feedback_url(OUT),
                cors_origins=cors_origins(os.environ),
                order_catalog=os.environ.get("CDS_ORDER_CATALOG") or str(EXAMPLE_CATALOG),
            )
            environment.update(smart_environment(f"http://127.0.0.1:{args.port}", fhir))
            service = stack.enter_context(
                running_app(
                    SERVICE_APP,
                    environment=environment,
                    workers=args.workers,
                    threads=4,
                    log_path=OUT / "service.log",
                    port=args.port,
                )
            )
            print(guide(patients, service, fhir, OUT), flush=True)
            while service.process.poll() is None:
                time.sleep(0.5)
            print("the service stopped; see its log", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        print("\nStopped; temporary FHIR data removed.")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())

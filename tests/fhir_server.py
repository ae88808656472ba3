"""The seeded SEKMET FHIR server as a pytest fixture (the server itself: ``demo.fhir_server``).

``sekmet_fhir_server`` (session-scoped) runs SEKMET through ``demo.fhir_server.running_sekmet``
(the demo's and the benchmark's launcher) in a temporary directory, seeded with the
scenario below. It requires ``Authorization: Bearer <access_token>`` on every FHIR
interaction, so a test that gets data from it has proved the token was sent; its Bundle
links use its real address, so ``next`` links work. It is killed at the end of the
session, also when a test fails or the session is interrupted. For failures a real
server will not produce on demand, use ``demo.fhir_server.ScriptedFhirServer``.

In a test module or conftest::

    from tests.fhir_server import SekmetServer, sekmet_fhir_server_fixture

    sekmet_fhir_server = sekmet_fhir_server_fixture()  # a fixture named "sekmet_fhir_server"

    @pytest.mark.fhir_server
    def test_something(sekmet_fhir_server: SekmetServer) -> None: ...
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from demo.fhir_server import FhirServer, FhirServerError, load
from demo.fhir_server import running_sekmet as launch_sekmet
from tests.rules import fhir

if TYPE_CHECKING:
    from _pytest.fixtures import FixtureFunctionDefinition

# --- The seeded scenario ------------------------------------------------------------

PATIENT_ID = "her2-nsclc-exon20"
"""A patient with metastatic lung adenocarcinoma (NSCLC) and an ERBB2 exon 20 insertion."""

CONDITION_IDS = ("nsclc-dx", "brain-mets", "hypertension")
"""Her three Conditions (three search pages at ``_count=1``)."""


def _condition(condition_id: str, snomed: str, display: str) -> dict[str, Any]:
    """A Condition of hers, built as the request fixtures' (``tests/rules/fhir.py``)."""
    code = fhir.concept({"system": fhir.SNOMED, "code": snomed}, text=display)
    return {**fhir.condition(condition_id, code), "subject": {"reference": f"Patient/{PATIENT_ID}"}}


SCENARIO: tuple[dict[str, Any], ...] = (
    {
        **fhir.patient("female", "1961-04-02"),
        "id": PATIENT_ID,
        "name": [{"family": "Testpatient", "given": ["Hera"]}],
    },
    _condition("nsclc-dx", "254637007", "Non-small cell lung cancer"),
    _condition("brain-mets", "94225005", "Secondary malignant neoplasm of brain"),
    _condition("hypertension", "38341003", "Hypertensive disorder"),
)


@dataclass(frozen=True, slots=True)
class SekmetServer(FhirServer):
    """The running SEKMET, and the ids of the scenario it holds."""

    patient_id: str = PATIENT_ID
    condition_ids: tuple[str, ...] = CONDITION_IDS


@contextmanager
def running_sekmet(
    workdir: Path, access_token: str = "sekmet-test-token"
) -> Iterator[SekmetServer]:
    """Run SEKMET in ``workdir`` on a free port, seeded with SCENARIO; stop it on exit."""
    with ExitStack() as stack:
        try:
            fhir = stack.enter_context(launch_sekmet(workdir, access_token=access_token))
            load(fhir, SCENARIO)
        except FhirServerError as error:
            pytest.fail(str(error), pytrace=False)
        yield SekmetServer(fhir.base_url, access_token, fhir.direct_url, fhir.log_path)


class _Shared:
    """One SEKMET per test process, however many modules declare the fixture."""

    lock = threading.Lock()
    users = 0
    server: SekmetServer | None = None
    stack: ExitStack | None = None

    @classmethod
    @contextmanager
    def use(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SekmetServer]:
        with cls.lock:
            if cls.server is None:
                stack = ExitStack()
                cls.server = stack.enter_context(running_sekmet(tmp_path_factory.mktemp("sekmet")))
                cls.stack = stack
            cls.users += 1
            server = cls.server
        try:
            yield server
        finally:
            with cls.lock:
                cls.users -= 1
                if cls.users == 0 and cls.stack is not None:
                    cls.stack.close()
                    cls.server, cls.stack = None, None


def sekmet_fhir_server_fixture(
    *,
    scope: Literal["function", "class", "module", "package", "session"] = "session",
    name: str = "sekmet_fhir_server",
) -> FixtureFunctionDefinition:
    """A pytest fixture (named ``name``) giving the seeded SEKMET server (see the module doc)."""

    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SekmetServer]:
        with _Shared.use(tmp_path_factory) as server:
            yield server

    return pytest.fixture(fixture, scope=scope, name=name)

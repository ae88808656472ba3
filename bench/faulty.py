"""The benchmark's faulty FHIR server: normal answers but for one scripted fault.

``FaultyFhirServer`` is the shared scripted server (``demo.fhir_server.ScriptedFhirServer``,
in the benchmark's own process) serving one patient's record -- the read
``Patient/{id}`` and a searchset Bundle of the record's resources for each search the
service makes -- except that the search of one resource type is answered with a
``Fault``:

- ``slow``: the normal answer, after three times the deadline;
- ``500``: an OperationOutcome with status 500;
- ``endless next``: empty pages, each with a ``next`` link to one more (within the base);
- ``trickle``: a large Content-Length, then one byte every 50 ms;
- ``hang``: no answer at all.

A held answer (``slow``, ``hang``, ``trickle``) ends as soon as the client hangs up, or
when the server stops, so no thread outlives the call that caused it by much.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from demo.fhir_server import RecordedRequest, Reply, Responder, ScriptedFhirServer
from demo.hooks import searchset
from demo.patients import DemoPatient

OUTCOME = {"resourceType": "OperationOutcome", "issue": []}
TRICKLE_S = 0.05
"""Seconds between the bytes of a trickling body."""


class Fault(Enum):
    SLOW = "slow past the deadline"
    ERROR_500 = "500"
    ENDLESS_NEXT = "endless next chain"
    TRICKLE = "byte-trickling body"
    HANG = "hangs"


@dataclass(frozen=True, slots=True)
class Case:
    """One benchmark case: which search fails, how, and what the service should answer."""

    name: str
    resource_type: str
    """The search that misbehaves (``MedicationRequest``: required; ``Procedure``: optional)."""
    key: str
    """Its prefetch key."""
    fault: Fault
    expected_status: int


CASES: tuple[Case, ...] = (
    Case("required search slow (3 x deadline)", "MedicationRequest", "medicationRequests",
         Fault.SLOW, 412),
    Case("required search 500", "MedicationRequest", "medicationRequests", Fault.ERROR_500, 412),
    Case("required search endless next chain", "MedicationRequest", "medicationRequests",
         Fault.ENDLESS_NEXT, 412),
    Case("required search trickles (1 B / 50 ms)", "MedicationRequest", "medicationRequests",
         Fault.TRICKLE, 412),
    Case("optional search hangs", "Procedure", "procedures", Fault.HANG, 200),
)  # fmt: skip


class FaultyFhirServer(ScriptedFhirServer):
    """Serves ``patient``'s record at ``{origin}/fhir`` with ``fault`` on ``resource_type``."""

    def __init__(
        self, patient: DemoPatient, *, resource_type: str, fault: Fault, deadline_s: float
    ) -> None:
        super().__init__(record=patient.resources)
        self.fault = fault
        self.resource_type = resource_type
        path = f"/fhir/{resource_type}"
        self.routes[path] = self._fault(path, patient.patient_id, deadline_s)

    def _fault(self, path: str, patient_id: str, deadline_s: float) -> Responder:
        if self.fault is Fault.SLOW:
            return lambda request: replace(self.record_reply(request), delay_s=3 * deadline_s)
        if self.fault is Fault.HANG:
            return Reply(hang=True)
        if self.fault is Fault.ERROR_500:
            return Reply(500, OUTCOME)
        if self.fault is Fault.TRICKLE:
            return Reply(trickle_s=TRICKLE_S, announced_bytes=100_000_000)

        def endless_next(request: RecordedRequest) -> Reply:
            page = int(request.query.get("page", ["1"])[0])
            next_url = f"{self.origin}{path}?patient={patient_id}&page={page + 1}"
            return Reply(body={**searchset([]), "link": [{"relation": "next", "url": next_url}]})

        return endless_next

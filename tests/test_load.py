"""Load: a bounded load test of the production entry on loopback (trust and robustness).

``cds_service.wsgi:app`` runs under gunicorn with ``gunicorn.conf.py`` and 4 workers x 2
threads (``demo.service``), authentication off, on a fresh feedback store: SQLite in
``tmp_path``, or an isolated PostgreSQL schema. ``CLIENTS`` threads, each holding its own
keep-alive ``requests.Session``, walk a fixed, seeded schedule of ``CLIENTS * STEPS``
mixed requests: discovery GETs; patient-view, order-select and order-sign calls with full
prefetch for the generated demo patients (a fresh hookInstance each); and feedback POSTs
of one or two items, each item naming a card the same client was sent (else a fresh
uuid), alternately accepted (with a suggestion) and overridden (with a reason).
``DUPLICATE_PAIRS`` feedback bodies are posted twice, by two clients released together by
a barrier, so that the two copies race through different workers.

Bounded: the schedule is fixed, and the clients stop at ``HARD_CAP_S`` (every read
timeout ends by then too), after which the test fails instead of waiting.

Checked: no transport error; every answer 200 with a JSON body; every hook answer passes
``selfcheck.check_response`` and carries, for each (patient, hook), the same rules
every time (those the vignette calls for among them): no cross-talk between concurrent
calls; every feedback answer counts what it stored; after gunicorn has stopped (exit
status 0), the store holds exactly one row per distinct item posted, each as posted
and tied to the rule of the card it names (so none of those issued cards was dropped);
and the server log has no error, warning (but the authentication-off notice), traceback
or worker timeout.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from cds_service.cards import OVERRIDE_SYSTEM
from cds_service.discovery import SERVICE_ID_BY_HOOK
from cds_service.feedback_store import open_feedback_store
from cds_service.selfcheck import check_response
from demo.hooks import HOOKS, hook_request
from demo.patients import DemoPatient, demo_patients
from demo.service import SERVICE_APP, running_app, service_environment
from tests.postgres import isolated_postgres_url

pytestmark = pytest.mark.load

WORKERS, THREADS = 4, 2
CLIENTS = 6
STEPS = 400
"""Requests per client: ``CLIENTS * STEPS`` in all."""
DUPLICATE_PAIRS = 40
HARD_CAP_S = 90.0
SEED = 20261121

MIX: dict[str, int] = {"discovery": 15, "hook": 50, "feedback": 35}
"""Percent of the schedule, but for the slots of the duplicate posts."""
HOOK_INSTANCE = "00000000-0000-4000-8000-00000000cafe"
"""Placeholder in the encoded hook bodies, replaced by a fresh uuid at each call."""
FALLBACK_REASON = {
    "system": OVERRIDE_SYSTEM,
    "code": "cds-not-applicable",
    "display": "PC CDS does not apply to patient",
}
COMMENT = "Discussed at the tumour board"
JSON_HEADERS = {"Content-Type": "application/json"}


# --- The schedule --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Discovery:
    pass


@dataclass(frozen=True, slots=True)
class HookCall:
    patient: DemoPatient
    hook: str
    body: bytes
    """The encoded request, with ``HOOK_INSTANCE`` for its hookInstance."""


@dataclass(frozen=True, slots=True)
class Feedback:
    service_id: str
    outcomes: tuple[str, ...]
    """accepted | overridden, one per item; the cards are picked when it is sent."""


@dataclass(frozen=True, slots=True, eq=False)
class Duplicate:
    service_id: str
    body: bytes
    items: tuple[Posted, ...]
    barrier: threading.Barrier
    """Of two parties: the two clients posting this body."""


Step = Discovery | HookCall | Feedback | Duplicate


@dataclass(frozen=True, slots=True)
class Posted:
    """One feedback item as posted, in the terms of a stored ``FeedbackRecord``."""

    service_id: str
    card: str
    outcome: str
    accepted: tuple[str, ...]
    override_code: str | None
    comment_given: bool
    rule_id: str | None
    """The rule of the issued card it names; None for a card the service never sent."""


@dataclass(frozen=True, slots=True)
class IssuedCard:
    service_id: str
    uuid: str
    rule_id: str
    suggestions: tuple[str, ...]
    reasons: tuple[dict[str, Any], ...]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def item(posted: Posted, reason: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "card": posted.card,
        "outcome": posted.outcome,
        "outcomeTimestamp": now(),
    }
    if posted.outcome == "accepted":
        body["acceptedSuggestions"] = [{"id": s} for s in posted.accepted]
    else:
        body["overrideReason"] = {"reason": reason or FALLBACK_REASON}
        if posted.comment_given:
            body["overrideReason"]["userComment"] = COMMENT
    return body


def unknown_card(service_id: str, outcome: str, number: int) -> Posted:
    """An item naming a card uuid the service never sent (rule_id stays NULL)."""
    return Posted(
        service_id=service_id,
        card=str(uuid.uuid4()),
        outcome=outcome,
        accepted=(f"suggestion-{number}",) if outcome == "accepted" else (),
        override_code=None if outcome == "accepted" else FALLBACK_REASON["code"],
        comment_given=outcome == "overridden" and number % 2 == 0,
        rule_id=None,
    )


def schedule(patients: tuple[DemoPatient, ...]) -> list[list[Step]]:
    """``CLIENTS`` lists of ``STEPS`` steps: the same for a given seed (but for uuids)."""
    rng = random.Random(SEED)
    bodies = {
        (p.patient_id, hook): json.dumps(
            hook_request(p, hook, prefetch=True, hook_instance=HOOK_INSTANCE)
        ).encode()
        for p in patients
        for hook in HOOKS
    }
    services = tuple(SERVICE_ID_BY_HOOK.values())
    outcomes = ("accepted", "overridden")
    turn = 0  # alternates outcomes over every item in the schedule: half and half

    def next_outcomes(count: int) -> tuple[str, ...]:
        nonlocal turn
        picked = tuple(outcomes[(turn + i) % 2] for i in range(count))
        turn += count
        return picked

    # Each duplicate at one index in two clients' lists, one pair per index: a client
    # waiting at a barrier waits only for a client behind it, so no deadlock.
    duplicates: dict[tuple[int, int], Duplicate] = {}
    for number, index in enumerate(rng.sample(range(STEPS // 10, STEPS), DUPLICATE_PAIRS)):
        service_id = rng.choice(services)
        items = tuple(
            unknown_card(service_id, outcome, number)
            for outcome in next_outcomes(rng.choice((1, 2)))
        )
        body = json.dumps({"feedback": [item(p, None) for p in items]}).encode()
        duplicate = Duplicate(service_id, body, items, threading.Barrier(2))
        for client in rng.sample(range(CLIENTS), 2):
            duplicates[client, index] = duplicate
    kinds = list(MIX)
    plan: list[list[Step]] = []
    for client in range(CLIENTS):
        steps: list[Step] = []
        for index, kind in enumerate(rng.choices(kinds, [MIX[k] for k in kinds], k=STEPS)):
            if (client, index) in duplicates:
                steps.append(duplicates[client, index])
            elif kind == "discovery":
                steps.append(Discovery())
            elif kind == "hook":
                patient, hook = rng.choice(patients), rng.choice(list(HOOKS))
                steps.append(HookCall(patient, hook, bodies[patient.patient_id, hook]))
            else:
                steps.append(Feedback(rng.choice(services), next_outcomes(rng.choice((1, 2)))))
        plan.append(steps)
    return plan


# --- A client --------------------------------------------------------------------------------


@dataclass
class Client:
    """One thread's session, what it saw, and the cards it may still give feedback on."""

    base_url: str
    steps: list[Step]
    deadline: float
    failures: list[str] = field(default_factory=list)
    answered: Counter[str] = field(default_factory=Counter)
    posted: list[Posted] = field(default_factory=list)
    stored: int = 0
    duplicate_stored: dict[int, tuple[int, float, float]] = field(default_factory=dict)
    """id(Duplicate) -> what this client's copy stored, when it was sent and answered."""
    rules: dict[tuple[str, str], set[tuple[str, ...]]] = field(
        default_factory=lambda: defaultdict(set)
    )
    """(patient id, hook) -> every list of (rule id, summary) answered."""
    pending: dict[str, deque[IssuedCard]] = field(default_factory=lambda: defaultdict(deque))

    def run(self) -> None:
        with requests.Session() as session:
            try:
                for index, step in enumerate(self.steps):
                    if time.monotonic() >= self.deadline:
                        self.failures.append(f"hard cap reached at step {index} of {STEPS}")
                        return
                    try:
                        self.take(session, step)
                    except requests.RequestException as error:
                        self.failures.append(f"transport error: {type(error).__name__}: {error}")
                    except (threading.BrokenBarrierError, ValueError, KeyError, TypeError) as error:
                        self.failures.append(f"{type(step).__name__}: {error!r}"[:300])
            finally:  # release any partner still to come to a barrier of ours
                for step in self.steps:
                    if isinstance(step, Duplicate):
                        step.barrier.abort()

    def timeout(self) -> float:
        return max(0.5, min(30.0, self.deadline - time.monotonic()))

    def answer(self, response: requests.Response, what: str) -> Any:
        """The JSON body of a 200 answer; None (and a failure noted) otherwise."""
        kind = response.headers.get("Content-Type", "")
        if response.status_code != 200 or not kind.startswith("application/json"):
            self.failures.append(f"{what}: {response.status_code} {kind} {response.text[:200]}")
            return None
        self.answered[what] += 1
        return response.json()

    def take(self, session: requests.Session, step: Step) -> None:
        if isinstance(step, Discovery):
            document = self.answer(
                session.get(f"{self.base_url}/cds-services", timeout=self.timeout()), "discovery"
            )
            if document is not None:
                ids = {service["id"] for service in document["services"]}
                if ids != set(SERVICE_ID_BY_HOOK.values()):
                    self.failures.append(f"discovery: services {sorted(ids)}")
        elif isinstance(step, HookCall):
            self.call_hook(session, step)
        elif isinstance(step, Feedback):
            self.give_feedback(session, step)
        else:
            step.barrier.wait(timeout=max(0.0, self.deadline - time.monotonic()))
            sent = time.monotonic()
            stored = self.post_feedback(session, step.service_id, step.body, len(step.items))
            if stored is not None:
                self.duplicate_stored[id(step)] = (stored, sent, time.monotonic())

    def call_hook(self, session: requests.Session, step: HookCall) -> None:
        service_id = HOOKS[step.hook]
        body = step.body.replace(HOOK_INSTANCE.encode(), str(uuid.uuid4()).encode(), 1)
        response = session.post(
            f"{self.base_url}/cds-services/{service_id}",
            data=body,
            headers=JSON_HEADERS,
            timeout=self.timeout(),
        )
        payload = self.answer(response, step.hook)
        if payload is None:
            return
        problems = check_response(payload)
        if problems:
            self.failures.append(f"{step.hook} {step.patient.patient_id}: {problems[:3]}")
            return
        cards = payload["cards"]
        self.rules[step.patient.patient_id, step.hook].add(
            tuple(f"{c['source']['topic']['code']}: {c['summary']}" for c in cards)
        )
        for card in cards:
            self.pending[service_id].append(
                IssuedCard(
                    service_id=service_id,
                    uuid=card["uuid"],
                    rule_id=card["source"]["topic"]["code"],
                    suggestions=tuple(s["uuid"] for s in card.get("suggestions", ())),
                    reasons=tuple(card.get("overrideReasons", ())),
                )
            )

    def pick(self, service_id: str, outcome: str) -> IssuedCard | None:
        """A card not yet reported on; for an acceptance, one with a suggestion."""
        cards = self.pending[service_id]
        for index, card in enumerate(cards):
            if outcome == "overridden" or card.suggestions:
                del cards[index]
                return card
        return None

    def give_feedback(self, session: requests.Session, step: Feedback) -> None:
        items: list[Posted] = []
        reasons: list[dict[str, Any] | None] = []
        for outcome in step.outcomes:
            number = len(self.posted) + len(items)
            card = self.pick(step.service_id, outcome)
            if card is None:
                items.append(unknown_card(step.service_id, outcome, number))
                reasons.append(None)
                continue
            reason = card.reasons[number % len(card.reasons)] if card.reasons else None
            items.append(
                Posted(
                    service_id=step.service_id,
                    card=card.uuid,
                    outcome=outcome,
                    accepted=card.suggestions[:1] if outcome == "accepted" else (),
                    override_code=None
                    if outcome == "accepted"
                    else (reason or FALLBACK_REASON)["code"],
                    comment_given=outcome == "overridden" and number % 2 == 0,
                    rule_id=card.rule_id,
                )
            )
            reasons.append(reason)
        body = {"feedback": [item(p, r) for p, r in zip(items, reasons, strict=True)]}
        stored = self.post_feedback(session, step.service_id, json.dumps(body).encode(), len(items))
        if stored is not None:
            self.posted.extend(items)
            self.stored += stored
            if stored != len(items):
                self.failures.append(f"feedback: {stored} of {len(items)} new items stored")

    def post_feedback(
        self, session: requests.Session, service_id: str, body: bytes, count: int
    ) -> int | None:
        response = session.post(
            f"{self.base_url}/cds-services/{service_id}/feedback",
            data=body,
            headers=JSON_HEADERS,
            timeout=self.timeout(),
        )
        answer = self.answer(response, "feedback")
        if answer is None:
            return None
        if answer.get("received") != count or answer.get("stored") not in range(count + 1):
            self.failures.append(f"feedback: {answer} for {count} items")
            return None
        stored: int = answer["stored"]
        return stored


def drive(base_url: str, plan: list[list[Step]]) -> list[Client]:
    """Run every client to the end of its steps or to the hard cap, whichever comes first."""
    deadline = time.monotonic() + HARD_CAP_S
    clients = [Client(base_url, steps, deadline) for steps in plan]
    threads = [threading.Thread(target=c.run, daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    for client, thread in zip(clients, threads, strict=True):
        thread.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
        if thread.is_alive():
            client.failures.append(f"client still running {HARD_CAP_S:.0f} s in")
    return clients


# --- The test -----------------------------------------------------------------------------


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def feedback_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
    else:
        with isolated_postgres_url() as url:
            yield url


def server_problems(log: str) -> list[str]:
    """Log lines showing trouble: any error, a traceback, a warning but the auth notice."""
    problems = []
    for line in log.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            level, message = record.get("level"), record.get("message", "")
            if level in {"INFO", "DEBUG"} or message.startswith("AUTHENTICATION DISABLED"):
                continue
            problems.append(line)
        elif any(mark in line for mark in ("[ERROR]", "[CRITICAL]", "[WARNING]", "Traceback")):
            problems.append(line)
    return problems


def test_thousands_of_mixed_requests_under_gunicorn_no_errors_no_dropped_feedback(
    feedback_database_url: str, tmp_path: Path
) -> None:
    patients = demo_patients(today=date.today())  # the service evaluates on today
    plan = schedule(patients)
    log_path = tmp_path / "gunicorn.log"
    with running_app(
        SERVICE_APP,
        environment=service_environment(
            feedback_database_url=feedback_database_url, log_level="WARNING"
        ),
        workers=WORKERS,
        threads=THREADS,
        log_path=log_path,
    ) as service:
        clients = drive(service.url, plan)
    assert service.process.returncode == 0, "gunicorn did not stop cleanly on SIGTERM"

    failures = [failure for client in clients for failure in client.failures]
    assert failures == [], f"{len(failures)} failures, the first: {failures[:10]}"
    answered = sum((client.answered for client in clients), Counter[str]())
    assert answered.total() == CLIENTS * STEPS
    assert min(answered.values()) > 100, answered  # every kind of request, many times

    # The same rules for the same patient and hook every time: no cross-talk under load.
    seen: dict[tuple[str, str], set[tuple[str, ...]]] = defaultdict(set)
    for client in clients:
        for key, answers in client.rules.items():
            seen[key] |= answers
    by_id = {p.patient_id: p for p in patients}
    for (patient_id, hook), answers in seen.items():
        assert len(answers) == 1, f"{patient_id} {hook}: {answers}"
        rules = {line.split(":", 1)[0] for line in next(iter(answers))}
        assert by_id[patient_id].expected.get(hook, frozenset()) <= rules, (patient_id, hook)

    # Feedback: one row per distinct item, as posted; the duplicates once.
    duplicates = {id(step): step for steps in plan for step in steps if isinstance(step, Duplicate)}
    assert len(duplicates) == DUPLICATE_PAIRS
    copies: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
    for client in clients:
        for number, copy in client.duplicate_stored.items():
            copies[number].append(copy)
    for number, step in duplicates.items():
        stored = sorted(copy[0] for copy in copies[number])
        assert stored == [0, len(step.items)], "a duplicate stored other than once"
    in_flight_together = sum(
        first[1] < second[2] and second[1] < first[2] for first, second in copies.values()
    )
    assert in_flight_together >= DUPLICATE_PAIRS // 2, "the duplicates did not race"
    posted = [p for client in clients for p in client.posted]
    posted += [p for step in duplicates.values() for p in step.items]
    assert len({(p.service_id, p.card) for p in posted}) == len(posted)  # all distinct
    assert sum(c.stored for c in clients) + sum(len(d.items) for d in duplicates.values()) == len(
        posted
    )
    outcomes = Counter(p.outcome for p in posted)
    assert abs(outcomes["accepted"] - outcomes["overridden"]) <= 1, outcomes
    assert sum(p.rule_id is not None for p in posted) > len(posted) // 2  # mostly real cards

    store = open_feedback_store(feedback_database_url)
    try:
        rows = store.feedback_rows()
    finally:
        store.close()
    assert len(rows) == len(posted)
    assert {
        (
            r.service_id,
            r.card_uuid,
            r.outcome.value,
            r.accepted_suggestion_ids,
            r.override_code,
            r.user_comment_given,
            r.rule_id,
        )
        for r in rows
    } == {
        (
            p.service_id,
            p.card,
            p.outcome,
            p.accepted,
            p.override_code,
            p.comment_given,
            p.rule_id,
        )
        for p in posted
    }

    problems = server_problems(log_path.read_text(encoding="utf-8", errors="replace"))
    assert problems == [], problems[:10]

"""The commands of the benchmark, made by the evaluator's own code (``evaluate_event`` over a
rules index): one reminder rule per practice (the demo's), an appointment per waiting run, and
``crm/appointment.updated`` events that move (re-plan) or cancel (cancelOn) one appointment each.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crmflow.commands import ActionCommandDict, SourceRecordDict
from crmflow.demo import REMINDER_RULE
from crmflow.rule_record import Rule
from crmflow_evaluator.evaluation import evaluate_event
from crmflow_evaluator.rules_index import RulesIndex

SOURCE: SourceRecordDict = {"topic": "bench", "partition": 0, "offset": 0, "timestamp": None}
MAX_DEPTH = 3


@dataclass
class Appointment:
    practice_id: str
    id: str
    patient_id: str
    starts_at: datetime
    status: str = "scheduled"

    def as_data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "patientId": self.patient_id,
            "startsAt": self.starts_at.isoformat(),
            "status": self.status,
        }


def reminder_rules(practice_ids: list[str], saved_at: datetime) -> RulesIndex:
    """The evaluator's index holding the demo's reminder rule once per practice."""
    index = RulesIndex()
    for practice_id in practice_ids:
        rule_id = str(uuid.uuid4())
        record = Rule.model_validate(
            {
                **REMINDER_RULE,
                "id": rule_id,
                "practiceId": practice_id,
                "version": 1,
                "createdAt": saved_at.isoformat(),
                "updatedAt": saved_at.isoformat(),
            }
        )
        index.apply(rule_id, record.model_dump_json().encode())
    return index


def _event(a: Appointment, name: str, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """An appointment event as the outbox publishes it."""
    event_id = str(uuid.uuid4())
    data: dict[str, Any] = {"appointment": a.as_data(), "patient": {"id": a.patient_id}}
    if changes is not None:
        data["changes"] = changes
    return {
        "id": event_id,
        "practiceId": a.practice_id,
        "name": name,
        "entityType": "appointment",
        "entityId": a.id,
        "data": data,
        "correlationId": event_id,
        "causationId": None,
        "depth": 0,
        "occurredAt": datetime.now().astimezone().isoformat(),
    }


def commands(event: dict[str, Any], index: RulesIndex) -> list[ActionCommandDict]:
    """What the evaluator sends for ``event`` (its EventEvaluated marker left out)."""
    out = evaluate_event(event, index, max_depth=MAX_DEPTH, source=SOURCE).messages
    return [m for m in out if m["kind"] != "event"]


def appointments(practice_ids: list[str], count: int, now: datetime, rng: random.Random) -> list[Appointment]:
    """``count`` appointments spread over the practices, 2 to 60 days ahead (their reminders are
    at least a day away: nothing comes due during the benchmark)."""
    return [
        Appointment(
            practice_id=practice_ids[i % len(practice_ids)],
            id=str(uuid.uuid4()),
            patient_id=str(uuid.uuid4()),
            starts_at=(now + timedelta(days=2, seconds=rng.randrange(58 * 86400))).replace(microsecond=0),
        )
        for i in range(count)
    ]


def booked(a: Appointment, index: RulesIndex) -> list[ActionCommandDict]:
    return commands(_event(a, "crm/appointment.created"), index)


def moved(a: Appointment, index: RulesIndex) -> list[ActionCommandDict]:
    """The appointment moved by an hour: a ``replan`` command."""
    old = a.starts_at
    a.starts_at = old + timedelta(hours=1)
    changes = {"startsAt": {"from": old.isoformat(), "to": a.starts_at.isoformat()}}
    return commands(_event(a, "crm/appointment.updated", changes), index)


def cancelled(a: Appointment, index: RulesIndex) -> list[ActionCommandDict]:
    """The appointment cancelled: a ``cancel`` command (the rule's cancelOn)."""
    a.status = "cancelled"
    changes = {"status": {"from": "scheduled", "to": "cancelled"}}
    return commands(_event(a, "crm/appointment.updated", changes), index)


def control_stream(
    waiting: list[Appointment], count: int, index: RulesIndex, rng: random.Random
) -> Iterator[ActionCommandDict]:
    """``count`` re-plans and ``count`` cancels, alternating, each cancel on its own appointment;
    re-plans move the others (again, once every one has moved)."""
    order = waiting[:]
    rng.shuffle(order)
    to_cancel, to_move = order[:count], order[count:] or order
    for i in range(count):
        yield from moved(to_move[i % len(to_move)], index)
        yield from cancelled(to_cancel[i % len(to_cancel)], index)

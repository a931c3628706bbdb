"""Stored events for the benchmark, written straight into ``outbox_events`` with COPY.

``practices`` practices; the target one holds ``target`` events of the backtested trigger
(``crm/appointment.created``) and half as many of another name (``crm/patient.updated``), so a
read that does not select by name has to step over them; the other practices share the rest,
mixed names. Times spread evenly over the last ``days`` days. Payloads are envelopes as the
outbox writes them (appointment with the patient embedded), visit types and statuses varied
with a fixed seed: the same rows each run.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg

TRIGGER = "crm/appointment.created"
OTHER = "crm/patient.updated"
NAMES = (TRIGGER, "crm/appointment.updated", "crm/patient.created", OTHER)
VISIT_TYPES = ("Consultation", "Checkup", "Cleaning", "Surgery", "Follow-up", "Vaccination")
STATUSES = ("scheduled", "scheduled", "scheduled", "confirmed", "cancelled")
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken")
COLUMNS = (
    "id",
    "practice_id",
    "aggregate_type",
    "aggregate_id",
    "event_name",
    "payload",
    "status",
    "correlation_id",
    "depth",
    "created_at",
)


def practices(conn: psycopg.Connection[Any], count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with conn.cursor().copy("COPY practices (id, name) FROM STDIN") as copy:
        for i, practice_id in enumerate(ids):
            copy.write_row((practice_id, f"Bench practice {i}"))
    return ids


def _row(rng: random.Random, practice_id: str, name: str, at: datetime) -> tuple[Any, ...]:
    event_id = str(uuid.uuid4())
    patient_id = str(uuid.uuid4())
    patient = {
        "id": patient_id,
        "practiceId": practice_id,
        "firstName": rng.choice(FIRST_NAMES),
        "lastName": "Bench",
        "status": "active",
        "tags": ["bench"],
        "preferredLanguage": "en",
    }
    if name.startswith("crm/appointment."):
        entity_id = str(uuid.uuid4())
        data: dict[str, Any] = {
            "appointment": {
                "id": entity_id,
                "practiceId": practice_id,
                "patientId": patient_id,
                "startsAt": (at + timedelta(days=rng.randint(1, 30))).isoformat(),
                "visitType": rng.choice(VISIT_TYPES),
                "status": rng.choice(STATUSES),
                "provider": "Dr. Bench",
            },
            "patient": patient,
        }
        aggregate = "appointment"
    else:
        entity_id = patient_id
        data = {"patient": patient}
        aggregate = "patient"
    if name.endswith(".updated"):
        data["changes"] = {"tags": {"from": [], "to": ["bench"]}}
    envelope = {
        "id": event_id,
        "practiceId": practice_id,
        "name": name,
        "entityType": aggregate,
        "entityId": entity_id,
        "data": data,
        "correlationId": event_id,
        "causationId": None,
        "depth": 0,
        "occurredAt": at.isoformat(),
    }
    return (
        event_id,
        practice_id,
        aggregate,
        entity_id,
        name,
        json.dumps(envelope),
        "published",
        event_id,
        0,
        at,
    )


def _rows(
    rng: random.Random, ids: list[str], target: int, total: int, start: datetime, days: int
) -> Iterator[tuple[Any, ...]]:
    span = timedelta(days=days).total_seconds()
    others = total - target - target // 2
    plan = [(ids[0], TRIGGER)] * target + [(ids[0], OTHER)] * (target // 2)
    plan += [(rng.choice(ids[1:]), rng.choice(NAMES)) for _ in range(others)]
    rng.shuffle(plan)
    step = span / max(len(plan), 1)
    for i, (practice_id, name) in enumerate(plan):
        yield _row(rng, practice_id, name, start + timedelta(seconds=i * step))


def events(
    conn: psycopg.Connection[Any],
    ids: list[str],
    *,
    target: int,
    total: int,
    now: datetime,
    days: int,
    seed: int,
) -> int:
    """COPY the events (``ids[0]`` is the target practice); returns the rows written."""
    rng = random.Random(seed)
    start = now - timedelta(days=days)
    written = 0
    statement = f"COPY outbox_events ({', '.join(COLUMNS)}) FROM STDIN"
    with conn.cursor().copy(statement) as copy:
        for row in _rows(rng, ids, target, total, start, days):
            copy.write_row(row)
            written += 1
    conn.execute("ANALYZE outbox_events")
    return written

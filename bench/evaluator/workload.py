"""A seeded, realistic workload: practices with rules, and events of the five triggers.

Event data follows the CRM shapes of crmflow.triggers.  Those shapes hold no number, so two
numeric fields are added for the numeric comparisons (``appointment.durationMinutes`` and
``patient.outstandingBalance``); everything else is what the CRM emits.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from crmflow.triggers import TRIGGER_NAMES, get_trigger

PATIENT_STATUSES = ["active", "inactive", "new", "archived"]
TAGS = ["vip", "new-patient", "newsletter", "diabetic", "pediatric", "no-show-risk", "spanish-speaking"]
CONTACT = ["email", "sms", "phone", None]
LANGUAGES = ["en", "es", "fr", "de"]
APPOINTMENT_STATUSES = ["scheduled", "confirmed", "cancelled", "completed", "no-show"]
VISIT_TYPES = ["Consultation", "Follow-up", "Annual Physical", "Telehealth", "Procedure"]
PROVIDERS = ["Dr. Grace Hopper", "Dr. Alan Turing", "Dr. Ada Lovelace", None]
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus"]
DOMAINS = ["example.com", "mail.example.org", "clinic.test"]
BASE = datetime(2025, 3, 1, tzinfo=UTC)


def _ts(rng: random.Random, spread_days: int = 200) -> str:
    moment = BASE + timedelta(minutes=rng.randint(-spread_days * 1440, spread_days * 1440))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def patient(rng: random.Random, practice: str) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    created = _ts(rng)
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "practiceId": practice,
        "firstName": first,
        "lastName": last,
        "email": f"{first}.{last}@{rng.choice(DOMAINS)}".lower() if rng.random() < 0.8 else None,
        "phone": f"+1555{rng.randint(1000000, 9999999)}" if rng.random() < 0.7 else None,
        "dateOfBirth": f"{rng.randint(1940, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "status": rng.choice(PATIENT_STATUSES),
        "tags": rng.sample(TAGS, rng.randint(0, 3)),
        "preferredContactMethod": rng.choice(CONTACT),
        "preferredLanguage": rng.choice(LANGUAGES),
        "nextFollowUpAt": _ts(rng) if rng.random() < 0.5 else None,
        "createdAt": created,
        "updatedAt": created,
        "outstandingBalance": round(rng.uniform(0, 500), 2) if rng.random() < 0.9 else 0,
    }


def appointment(rng: random.Random, practice: str, patient_id: str) -> dict[str, Any]:
    created = _ts(rng)
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "practiceId": practice,
        "patientId": patient_id,
        "startsAt": _ts(rng, 60),
        "visitType": rng.choice(VISIT_TYPES),
        "status": rng.choice(APPOINTMENT_STATUSES),
        "provider": rng.choice(PROVIDERS),
        "createdAt": created,
        "updatedAt": created,
        "durationMinutes": rng.choice([15, 20, 30, 45, 60, 90]),
    }


def message(rng: random.Random, practice: str, p: dict[str, Any]) -> dict[str, Any]:
    channel = rng.choice(["sms", "email"])
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "practiceId": practice,
        "patientId": p["id"],
        "channel": channel,
        "to": p["phone"] if channel == "sms" else p["email"],
        "subject": None if channel == "sms" else "Your upcoming visit",
        "body": f"Hello {p['firstName']}, "
        + rng.choice(["see you soon.", "please confirm.", "urgent: call us."]),
        "status": "draft",
        "runId": str(uuid.UUID(int=rng.getrandbits(128))),
        "createdAt": _ts(rng),
    }


def changes(rng: random.Random, entity: dict[str, Any], choices: dict[str, list[Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in rng.sample(sorted(choices), rng.randint(1, 2)):
        new = rng.choice(choices[field])
        out[field] = {"from": entity.get(field), "to": new}
        entity[field] = new
    return out


def event_data(rng: random.Random, trigger: str, practice: str) -> dict[str, Any]:
    p = patient(rng, practice)
    if trigger == "crm/patient.created":
        return {"patient": p}
    if trigger == "crm/patient.updated":
        ch = changes(
            rng, p, {"status": PATIENT_STATUSES, "preferredLanguage": LANGUAGES, "tags": [["vip"], []]}
        )
        return {"patient": p, "changes": ch}
    if trigger == "crm/message.drafted":
        return {"message": message(rng, practice, p), "patient": p}
    a = appointment(rng, practice, p["id"])
    if trigger == "crm/appointment.created":
        return {"appointment": a, "patient": p}
    ch = changes(
        rng, a, {"status": APPOINTMENT_STATUSES, "startsAt": [_ts(rng, 60)], "visitType": VISIT_TYPES}
    )
    return {"appointment": a, "patient": p, "changes": ch}


# --- conditions -------------------------------------------------------------------------------

# field -> kind: "enum:<domain>", "text", "tags", "number", "date", "id"
PATIENT_KINDS: dict[str, tuple[str, Any]] = {
    "status": ("enum", PATIENT_STATUSES),
    "email": ("text", DOMAINS),
    "phone": ("text", ["+1555"]),
    "firstName": ("enum", FIRST),
    "tags": ("tags", TAGS),
    "preferredContactMethod": ("enum", ["email", "sms", "phone"]),
    "preferredLanguage": ("enum", LANGUAGES),
    "nextFollowUpAt": ("date", None),
    "createdAt": ("date", None),
    "outstandingBalance": ("number", [0, 50, 100, 250]),
}
APPOINTMENT_KINDS: dict[str, tuple[str, Any]] = {
    "status": ("enum", APPOINTMENT_STATUSES),
    "visitType": ("enum", VISIT_TYPES),
    "provider": ("enum", PROVIDERS[:-1]),
    "startsAt": ("date", None),
    "durationMinutes": ("number", [15, 30, 45, 60]),
}
MESSAGE_KINDS: dict[str, tuple[str, Any]] = {
    "channel": ("enum", ["sms", "email"]),
    "body": ("text", ["urgent", "confirm", "Hello"]),
    "to": ("text", ["+1555", "@example.com"]),
}
ROOT_KINDS: dict[str, dict[str, tuple[str, Any]]] = {
    "patient": PATIENT_KINDS,
    "appointment": APPOINTMENT_KINDS,
    "message": MESSAGE_KINDS,
}

OPERATOR_WEIGHTS = {
    "equals": 25,
    "not_equals": 10,
    "contains": 15,
    "exists": 10,
    "greater_than": 10,
    "less_than": 8,
    "in": 12,
    "starts_with": 8,
}


def _leaf(rng: random.Random, trigger: str) -> dict[str, Any]:
    roots = [r for r in get_trigger(trigger).roots if r in ROOT_KINDS]
    while True:
        root = rng.choice(roots)
        field, (kind, domain) = rng.choice(sorted(ROOT_KINDS[root].items()))
        operator = rng.choices(list(OPERATOR_WEIGHTS), weights=list(OPERATOR_WEIGHTS.values()))[0]
        value = _value(rng, operator, kind, domain)
        if value is not _SKIP:
            node = {"field": f"{root}.{field}", "operator": operator}
            if operator != "exists":
                node["value"] = value
            return node


_SKIP = object()


def _value(rng: random.Random, operator: str, kind: str, domain: Any) -> Any:
    if operator == "exists":
        return None
    if operator in ("greater_than", "less_than"):
        if kind == "number":
            return rng.choice(domain)
        if kind == "date":
            return _ts(rng)
        return _SKIP
    if operator == "in":
        if kind in ("enum", "number"):
            return rng.sample(domain, min(len(domain), rng.randint(1, 3)))
        return _SKIP
    if operator == "contains":
        if kind in ("text", "tags"):
            return rng.choice(domain)
        return _SKIP
    if operator == "starts_with":
        if kind in ("enum", "text"):
            return rng.choice(domain)[: rng.randint(1, 4)]
        return _SKIP
    if kind in ("enum", "number"):
        return rng.choice(domain)
    return _SKIP


def condition(rng: random.Random, trigger: str, depth: int = 0) -> dict[str, Any] | None:
    """A random condition tree: groups of 2-3 children, nesting depth <= 4 (about 4 leaves a rule)."""
    if depth == 0 and rng.random() < 0.05:
        return None  # no condition: always matches
    if depth >= 4 or (depth > 0 and rng.random() < 0.6) or (depth == 0 and rng.random() < 0.3):
        return _leaf(rng, trigger)
    children = [condition(rng, trigger, depth + 1) for _ in range(rng.randint(2, 3))]
    return {"operator": rng.choice(["and", "and", "or"]), "conditions": children}


@dataclass(frozen=True)
class Rule:
    practice: int
    trigger: str
    condition: dict[str, Any] | None


@dataclass(frozen=True)
class Event:
    practice: int
    trigger: str
    data: dict[str, Any]


def generate(
    seed: int, practices: int, rules_per_practice: int, events: int
) -> tuple[list[Rule], list[Event]]:
    rng = random.Random(seed)
    triggers = sorted(TRIGGER_NAMES)
    weights = [3 if "appointment" in t else 2 if "patient" in t else 1 for t in triggers]
    rules = [
        Rule(p, trigger, condition(rng, trigger))
        for p in range(practices)
        for trigger in rng.choices(triggers, weights=weights, k=rules_per_practice)
    ]
    practice_ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(practices)]
    out_events = []
    for _ in range(events):
        p = rng.randrange(practices)
        trigger = rng.choices(triggers, weights=weights)[0]
        out_events.append(Event(p, trigger, event_data(rng, trigger, practice_ids[p])))
    return rules, out_events

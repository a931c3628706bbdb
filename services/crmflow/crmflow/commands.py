"""Messages on the crmflow.commands topic, from the evaluator to the action-runner.

Per event, the evaluator emits one ``EventEvaluated`` marker and then one ``RunCommand`` per
(event, rule) evaluated, all keyed by practice + target patient, so one partition carries a
patient's work in event order. Matched runs carry their ordered actions; skipped and blocked
runs carry only their trace, so the runner records every evaluation in one place. When a delay
comes due, the runner's scheduler sends a ``ResumeCommand`` with the run's key, so the rest of
the run executes in that same line.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RUN_NAMESPACE = uuid.UUID("6f1d2a4e-8c1b-5f0e-9a57-3c2b8e4d1f00")


def run_id_for(event_id: str, rule_id: str) -> str:
    """Deterministic run id: a redelivered event maps to the same run, never a second one."""
    return str(uuid.uuid5(RUN_NAMESPACE, f"{event_id}/{rule_id}"))


def command_key(practice_id: str, patient_id: str | None, entity_id: str) -> bytes:
    return f"{practice_id}:{patient_id or entity_id}".encode()


class SourceRecord(BaseModel):
    """Where the event was read from: the trace view's outbox -> Kafka hop."""

    topic: str
    partition: int
    offset: int
    timestamp: float | None = Field(None, description="Kafka record timestamp, seconds since epoch.")


class EventEvaluated(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["event"] = "event"
    eventId: str
    practiceId: str
    eventName: str
    runsExpected: int = Field(ge=0, description="How many RunCommands follow for this event.")
    source: SourceRecord


class RunCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["run"] = "run"
    runId: str
    eventId: str
    practiceId: str
    ruleId: str
    ruleVersion: int
    ruleName: str
    eventName: str
    patientId: str | None
    status: Literal["matched", "skipped", "blocked", "failed"] = Field(
        description="matched: execute actions; skipped: conditions false; blocked: loop "
        "protection; failed: the condition could not be evaluated (reason in error)."
    )
    trace: dict[str, Any] | None = None
    error: str | None = None
    actions: list[dict[str, Any]] = Field(default_factory=list)
    event: dict[str, Any] | None = Field(
        None, description="The event envelope (matched runs only): context of the placeholders."
    )
    correlationId: str
    causationId: str
    depth: int = Field(ge=0)


class ResumeCommand(BaseModel):
    """Continue run ``runId`` at ``actionIndex`` (the action after its delay)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["resume"] = "resume"
    runId: str
    actionIndex: int = Field(ge=0)
    practiceId: str


ActionCommand = Annotated[RunCommand | EventEvaluated | ResumeCommand, Field(discriminator="kind")]

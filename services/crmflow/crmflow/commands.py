"""Messages on the crmflow.commands topic, from the evaluator to the action-runner.

Per event, the evaluator emits one ``EventEvaluated`` marker and then one ``RunCommand`` per
(event, rule) evaluated, all keyed by practice + target patient, so one partition carries a
patient's work in event order. Matched runs carry their ordered actions; skipped and blocked
runs carry only their trace, so the runner records every evaluation in one place. When a delay
comes due, the runner's scheduler sends a ``ResumeCommand`` with the run's key, so the rest of
the run executes in that same line. ``ReplanCommand`` (a date field a ``delay_until`` follows has
changed) and ``CancelCommand`` (a ``cancelOn`` event arrived) are emitted by the evaluator with the
event's other commands, so they reach the waiting runs in event order (SPEC section 8); so is
``SignalCommand`` (an event a ``wait_for_event`` awaits, SPEC section 13).

The pydantic models are the contract (they generate ``schemas/action-command.schema.json`` and
validate what the runner consumes); the ``...Dict`` TypedDicts beside them are the same messages
as the plain dicts the hot path builds and reads, typed at no runtime cost. A unit test holds
the two equal: a field added to a model and not to its TypedDict fails it.
"""

import uuid
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from crmflow.statuses import Evaluation

Reenrolling = Literal["never", "after_finish"]
"""The limiting policies of ``crmflow.enrollment.Reenroll`` (``always`` sends no key)."""

RUN_NAMESPACE = uuid.UUID("6f1d2a4e-8c1b-5f0e-9a57-3c2b8e4d1f00")


def run_id_for(event_id: str, rule_id: str) -> str:
    """Deterministic run id: a redelivered event maps to the same run, never a second one."""
    return str(uuid.uuid5(RUN_NAMESPACE, f"{event_id}/{rule_id}"))


def command_key(practice_id: str, patient_id: str | None, entity_id: str) -> bytes:
    """The Kafka key of an event's commands: one partition carries a patient's work in order."""
    return f"{practice_id}:{patient_id or entity_id}".encode()


def run_command_key(command: "RunCommandDict") -> bytes:
    """The key a run's commands were sent with (a resume of the run is sent with it too)."""
    event = command.get("event") or {}
    return command_key(command["practiceId"], command.get("patientId"), str(event.get("entityId")))


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
    status: Evaluation = Field(
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
    cancelKeys: list[str] = Field(
        default_factory=list,
        description="The rule's cancelOn entries applied to this event ('<index>:<JSON value at "
        "match>'): a waiting run is cancelled by a CancelCommand with one of them.",
    )
    waitedEvent: dict[str, Any] | None = Field(
        None,
        description="Never sent by the evaluator: the runner sets it on a stored run when a "
        "wait_for_event took an event ({id, name, occurredAt, entityType, entityId, data}).",
    )
    enrollmentKey: str | None = Field(
        None,
        description="Matched runs of a rule with an enrollment policy (SPEC section 13): the value "
        "the run enrolls (JSON of the value at the policy's key, or 'patient:<id>'); the runner "
        "claims it for the run or records the run skipped (already_enrolled).",
    )
    reenroll: Reenrolling | None = Field(None, description="The policy's reenroll, with enrollmentKey.")
    held: bool = Field(
        False, description="The rule is paused with hold: the run is kept (status held) until unpaused."
    )


class ResumeCommand(BaseModel):
    """Continue run ``runId`` at ``actionIndex`` (the action after its delay)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["resume"] = "resume"
    runId: str
    actionIndex: int = Field(ge=0)
    practiceId: str


class ReplanCommand(BaseModel):
    """Field ``field`` of entity ``entityId`` changed to ``value``: move the waiting runs of rule
    ``ruleId`` whose ``delay_until`` follows it (a value that is not a date-time cancels them)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["replan"] = "replan"
    practiceId: str
    ruleId: str
    entityType: str
    entityId: str
    field: str
    value: Any = None
    eventId: str


class CancelCommand(BaseModel):
    """Event ``eventId`` matched entry ``cancelKey`` of rule ``ruleId``'s cancelOn: cancel the rule's
    waiting runs carrying that key."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["cancel"] = "cancel"
    practiceId: str
    ruleId: str
    cancelKey: str
    eventId: str


class SignalCommand(BaseModel):
    """Event ``eventId`` is one that action ``actionIndex`` (a ``wait_for_event``) of rule ``ruleId``
    awaits, for runs whose wait key is ``waitKey``: the runner records it (a run reaching the wait
    later takes it) and resumes the runs already waiting (SPEC section 13)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["signal"] = "signal"
    practiceId: str
    ruleId: str
    actionIndex: int = Field(ge=0)
    waitKey: str
    eventId: str
    occurredAt: str = Field(description="The awaited event's time: it counts for runs triggered earlier.")
    event: dict[str, Any] = Field(description="What later actions see as waitedEvent.")


class RedeliverCommand(BaseModel):
    """Queue dead-lettered delivery ``deliveryId`` again (SPEC section 9): what a delivery's dead
    letter holds, so ``crmflow dlq replay`` retries it (same idempotency key, attempts from 0)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["redeliver"] = "redeliver"
    deliveryId: str
    practiceId: str


ActionCommand = Annotated[
    RunCommand
    | EventEvaluated
    | ResumeCommand
    | ReplanCommand
    | CancelCommand
    | SignalCommand
    | RedeliverCommand,
    Field(discriminator="kind"),
]


# The same messages as plain dicts. Keys whose model field has a default are NotRequired (a valid
# message may omit them), except ``kind``, without which no message validates. (No ``from
# __future__ import annotations`` in this module: TypedDict sees NotRequired only unquoted.)


class SourceRecordDict(TypedDict):
    topic: str
    partition: int
    offset: int
    timestamp: NotRequired[float | None]


class EventEvaluatedDict(TypedDict):
    kind: Literal["event"]
    eventId: str
    practiceId: str
    eventName: str
    runsExpected: int
    source: SourceRecordDict


class RunCommandDict(TypedDict):
    kind: Literal["run"]
    runId: str
    eventId: str
    practiceId: str
    ruleId: str
    ruleVersion: int
    ruleName: str
    eventName: str
    patientId: str | None
    status: Evaluation
    trace: NotRequired[dict[str, Any] | None]
    error: NotRequired[str | None]
    actions: NotRequired[list[dict[str, Any]]]
    event: NotRequired[dict[str, Any] | None]
    correlationId: str
    causationId: str
    depth: int
    cancelKeys: NotRequired[list[str]]
    waitedEvent: NotRequired[dict[str, Any] | None]
    enrollmentKey: NotRequired[str | None]
    reenroll: NotRequired[Reenrolling | None]
    held: NotRequired[bool]


class ResumeCommandDict(TypedDict):
    kind: Literal["resume"]
    runId: str
    actionIndex: int
    practiceId: str


class ReplanCommandDict(TypedDict):
    kind: Literal["replan"]
    practiceId: str
    ruleId: str
    entityType: str
    entityId: str
    field: str
    value: NotRequired[Any]
    eventId: str


class CancelCommandDict(TypedDict):
    kind: Literal["cancel"]
    practiceId: str
    ruleId: str
    cancelKey: str
    eventId: str


class SignalCommandDict(TypedDict):
    kind: Literal["signal"]
    practiceId: str
    ruleId: str
    actionIndex: int
    waitKey: str
    eventId: str
    occurredAt: str
    event: dict[str, Any]


class RedeliverCommandDict(TypedDict):
    kind: Literal["redeliver"]
    deliveryId: str
    practiceId: str


ControlCommandDict = ReplanCommandDict | CancelCommandDict
"""Commands that change waiting runs rather than execute actions."""

ActionCommandDict = (
    RunCommandDict
    | EventEvaluatedDict
    | ResumeCommandDict
    | ReplanCommandDict
    | CancelCommandDict
    | SignalCommandDict
    | RedeliverCommandDict
)

"""Response (and small request) models of the rules-api: the OpenAPI contract the web page and
schemathesis check against. Timestamps are ISO-8601 strings as the database wrote them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.json_schema import JsonDict

from crmflow.crm.models import UUID_PATTERN
from crmflow.history_record import RuleDefinition
from crmflow.rule_record import Rule
from crmflow.rule_validation import Conditions
from crmflow.statuses import ActionStatus, RunStatus
from crmflow.timezones import DEFAULT_ZONE, LOCAL_TIME_PATTERN


class RuleStats(BaseModel):
    lastRunStatus: RunStatus | None
    lastRunAt: str | None
    runsLast24h: int


class RuleWithStats(Rule):
    stats: RuleStats


class RulePage(BaseModel):
    items: list[RuleWithStats]
    total: int
    limit: int
    offset: int


class ActionLog(BaseModel):
    index: int
    type: str
    status: ActionStatus
    args: Any = Field(description="Resolved args, PHI-minimal (free text redacted).")
    result: Any
    error: str | None
    attempt: int
    createdAt: str


class RunSummary(BaseModel):
    id: str
    practiceId: str
    ruleId: str
    ruleVersion: int
    eventId: str
    eventName: str
    status: RunStatus
    error: str | None
    startedAt: str
    finishedAt: str | None


class Delivery(BaseModel):
    """A message a send action handed to a sender (SPEC section 9), without address or body."""

    id: str
    index: int = Field(description="The send action's index in the run.")
    channel: str
    status: str = Field(description="pending (queued or between attempts), delivered or failed.")
    attempts: int
    providerId: str | None = Field(description="The provider's id (SMS sid, e-mail Message-ID).")
    error: str | None
    createdAt: str
    finishedAt: str | None


class RunDetail(RunSummary):
    trace: dict[str, Any] | None = Field(description="Null once pruned by retention (SPEC section 10).")
    correlationId: str | None
    causationId: str | None
    depth: int
    actions: list[ActionLog]
    ruleDefinition: RuleDefinition | None = Field(
        None,
        description="The rule as it was at ruleVersion (null when that version predates kept versions).",
    )
    deliveries: list[Delivery] = Field(default_factory=list)


class RunPage(BaseModel):
    items: list[RunSummary]
    total: int
    limit: int
    offset: int


class OutboxHop(BaseModel):
    createdAt: str
    publishedAt: str | None


class KafkaHop(BaseModel):
    topic: str
    partition: int
    offset: int
    timestamp: str | None


class CausedEvent(BaseModel):
    id: str
    name: str
    createdAt: str


class EventTrace(BaseModel):
    id: str
    name: str
    entityType: str | None
    entityId: str
    practiceId: str
    correlationId: str | None
    causationId: str | None
    depth: int
    status: str = Field(description="pending (not yet seen by the evaluator) | published")
    outbox: OutboxHop
    kafka: KafkaHop | None
    runs: list[RunDetail]
    causedEvents: list[CausedEvent]


class PipelineTestResult(BaseModel):
    """200: every announced run is done; 202: the wait ended first (runs so far)."""

    eventId: str
    runs: list[RunDetail]


class DryRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conditionsJson: Conditions = None
    data: dict[str, Any]


class DryRunResult(BaseModel):
    matched: bool
    trace: dict[str, Any] | None


# Shapes only: the values are checked by crmflow.practice_settings (one check for every writer),
# whose errors answer 422 at the same paths (body.timeZone, body.quietHours.start...).
LocalTime = Annotated[
    str, WithJsonSchema({"type": "string", "pattern": LOCAL_TIME_PATTERN, "examples": ["21:00"]})
]
TimeZoneName = Annotated[
    str | None,  # null passes the shape and is refused by the check
    WithJsonSchema(
        {
            "type": "string",
            "description": "An IANA time zone name of the tzdata crmflow ships.",
            "examples": ["Europe/Berlin"],
        }
    ),
]


def _no_default(schema: JsonDict) -> None:
    """Absent means unchanged; the null default is not a value to send."""
    schema.pop("default", None)


class QuietHours(BaseModel):
    """In the practice's zone; ``end`` before ``start`` wraps midnight; ``start == end`` is refused."""

    model_config = ConfigDict(extra="forbid")

    start: LocalTime
    end: LocalTime


class MessageCaps(BaseModel):
    """Frequency caps (SPEC section 13): messages (send_email, send_sms) per patient per day / per
    week on the practice's clocks; a send over a cap is logged ``skipped`` (``capped``)."""

    model_config = ConfigDict(extra="forbid")

    perPatientPerDay: int | None = Field(None, ge=0, le=10_000, strict=True)
    perPatientPerWeek: int | None = Field(None, ge=0, le=10_000, strict=True)


class PracticeUpdate(BaseModel):
    """Body of ``PATCH /api/practice``: only the fields sent change; ``quietHours: null`` clears them."""

    model_config = ConfigDict(extra="forbid")

    timeZone: TimeZoneName = Field(None, json_schema_extra=_no_default)
    quietHours: QuietHours | None = None
    messageCaps: MessageCaps | None = None


class Practice(BaseModel):
    id: str
    name: str
    timeZone: str = Field(description=f"IANA time zone name (default {DEFAULT_ZONE!r}).")
    quietHours: QuietHours | None = Field(description="null: none (the default).")
    messageCaps: MessageCaps | None = Field(None, description="null: no caps (the default).")
    createdAt: str
    updatedAt: str


class BulkFilter(BaseModel):
    """Which runs of the caller's practice: all given conditions hold (``since`` <= startedAt <
    ``until``). ``cancel`` applies to waiting and held runs, ``retry`` to failed ones."""

    model_config = ConfigDict(extra="forbid")

    ruleId: Annotated[str, Field(pattern=UUID_PATTERN)] | None = None
    status: RunStatus | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None


class BulkRequest(BaseModel):
    """Body of ``POST /api/runs/bulk``."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["cancel", "retry"]
    filter: BulkFilter = Field(default_factory=BulkFilter)


class BulkOperation(BaseModel):
    """A bulk operation and its progress: ``matched`` runs when requested, ``processed`` so far,
    ``changed`` (cancelled, or queued for retry) of those; status queued | running | done."""

    id: str
    action: Literal["cancel", "retry"]
    filter: dict[str, Any]
    status: Literal["queued", "running", "done"]
    matched: int
    processed: int
    changed: int
    createdAt: str
    finishedAt: str | None

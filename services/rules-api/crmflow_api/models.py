"""Response (and small request) models of the rules-api: the OpenAPI contract the web page and
schemathesis check against. Timestamps are ISO-8601 strings as the database wrote them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from crmflow.rule_validation import Conditions
from crmflow.rules_repo import Rule
from crmflow.statuses import ActionStatus, RunStatus


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


class RunDetail(RunSummary):
    trace: dict[str, Any] | None
    correlationId: str | None
    causationId: str | None
    depth: int
    actions: list[ActionLog]


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

"""The backtest's contract (SPEC section 10), defined once: the rules-api's request and result,
and their JSON Schemas in ``schemas/`` (``crmflow schemas write``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from crmflow.rule_validation import Actions, Conditions, TriggerName

SAMPLE_SIZE = 50
"""Matched events a result shows, the latest ones."""


class BacktestRule(BaseModel):
    """An unsaved definition (as the rule form holds it)."""

    model_config = ConfigDict(extra="forbid")

    triggerEvent: TriggerName
    conditionsJson: Conditions = None
    actionsJson: Actions = Field(min_length=1)


class BacktestRequest(BaseModel):
    """Body of ``POST /api/automations/backtest``: exactly one of ``ruleId`` (a saved rule: its
    current definition) and ``rule``."""

    model_config = ConfigDict(extra="forbid", title="BacktestRequest")

    ruleId: str | None = None
    rule: BacktestRule | None = None
    since: AwareDatetime = Field(description="Start of the window (ISO-8601 with an offset), inclusive.")
    until: AwareDatetime | None = Field(
        None, description="End of the window, exclusive; default (and at most) now."
    )

    @model_validator(mode="after")
    def _one_rule(self) -> BacktestRequest:
        if (self.ruleId is None) == (self.rule is None):
            raise ValueError("give exactly one of ruleId and rule")
        return self


class BacktestStarted(BaseModel):
    id: str


class DayCount(BaseModel):
    day: str = Field(description="A date (YYYY-MM-DD) in the practice's time zone.")
    scanned: int
    matched: int


class WouldBeAction(BaseModel):
    index: int
    type: str
    outcome: Literal["would_run", "would_fail", "not_reached"]
    args: Any = Field(None, description="The args with their placeholders resolved (would_run).")
    error: str | None = None


class SampleMatch(BaseModel):
    eventId: str
    occurredAt: str
    trace: dict[str, Any] | None
    actions: list[WouldBeAction]


class Backtest(BaseModel):
    """``GET /api/backtests/{id}``: progress while running, the result when done."""

    model_config = ConfigDict(title="Backtest")

    id: str
    ruleId: str | None = Field(description="The saved rule backtested; null for an unsaved definition.")
    ruleVersion: int | None = Field(description="The saved rule's version whose definition was used.")
    rule: dict[str, Any] = Field(
        description="The definition backtested: triggerEvent, conditionsJson, actionsJson."
    )
    status: Literal["running", "done", "failed", "cancelled"]
    since: str
    until: str
    eventsScanned: int = Field(description="Events of the trigger in the window read so far.")
    matched: int
    capped: bool = Field(description="The scan stopped at CRMFLOW_BACKTEST_MAX_EVENTS.")
    byDay: list[DayCount]
    sample: list[SampleMatch] = Field(
        max_length=SAMPLE_SIZE, description="The latest matches (at most 50), newest first; when done."
    )
    error: str | None
    createdAt: str
    finishedAt: str | None

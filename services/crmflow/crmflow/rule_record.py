"""The rule record, defined once: ``crmflow.rules_repo`` writes it, the API returns it, and the
evaluator's rules index reads it from crm.rule."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Rule(BaseModel):
    """A rule as the API returns it and as it travels on crm.rule (schemas/rule.schema.json)."""

    id: str
    practiceId: str
    name: str
    enabled: bool
    triggerEvent: str
    conditionsJson: dict[str, Any] | None
    actionsJson: list[dict[str, Any]]
    cancelOn: list[dict[str, Any]] | None = Field(
        None, description="Events that cancel the rule's waiting runs (SPEC section 8); null = none."
    )
    enrollment: dict[str, Any] | None = Field(
        None, description="Enrollment policy {key?, reenroll} (SPEC section 13); null = always."
    )
    paused: Literal["hold", "skip"] | None = Field(
        None, description="hold | skip | null (SPEC section 13): what happens to new runs."
    )
    version: int = Field(ge=1, description="Bumped by every change.")
    createdAt: str
    updatedAt: str

"""The history records (SPEC section 10), defined once: a rule's version and an audit entry, as
the API returns them (schemas/rule-version.schema.json, schemas/audit-entry.schema.json)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RuleDefinition(BaseModel):
    """What a version keeps: everything a user edits of a rule."""

    name: str
    enabled: bool
    triggerEvent: str
    conditionsJson: dict[str, Any] | None
    actionsJson: list[dict[str, Any]]
    cancelOn: list[dict[str, Any]] | None = None
    enrollment: dict[str, Any] | None = None
    paused: Literal["hold", "skip"] | None = None


class RuleVersion(BaseModel):
    """One version of a rule (``GET /api/automations/{id}/versions``, newest first)."""

    version: int = Field(ge=1)
    definition: RuleDefinition
    changedAt: str
    changedBy: str | None = Field(
        description="The API key's prefix, or 'cli'; null for versions from before versions were kept."
    )
    change: Literal["create", "update", "enable", "disable", "delete", "restore"] = Field(
        description="What made this version."
    )
    restoredFrom: int | None = Field(None, description="The version a restore copied.")


class RestoreRequest(BaseModel):
    """``POST /api/automations/{id}/restore``."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2_147_483_647, description="The version whose definition comes back.")


class AuditEntry(BaseModel):
    """One audit-log entry (``GET /api/audit``). ``before``/``after`` hold the changed settings,
    never a secret nor patient data; null before a create and after a delete."""

    id: int
    at: str
    actor: str = Field(description="The API key's prefix, or 'cli'.")
    action: str = Field(description="<entityType>.<verb>, e.g. rule.update, api_key.revoke.")
    entityType: str
    entityId: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(BaseModel):
    items: list[AuditEntry]
    total: int
    limit: int
    offset: int

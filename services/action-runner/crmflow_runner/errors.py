"""How the runner classifies failures (SPEC section 7), and how it words validation errors."""

from __future__ import annotations

from pydantic import ValidationError


class PermanentActionError(Exception):
    """The action can never succeed as given (validation, forbidden field, foreign patient...).

    Raised before the action wrote anything: the run fails at once, later actions are skipped.
    """


class SkipAction(Exception):
    """The action is not to be done (e.g. a draft over the practice's frequency caps): logged
    ``skipped`` with the reason, and the run goes on. Raised before the action wrote anything."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def field_errors(exc: ValidationError, limit: int | None = None) -> str:
    """``loc: message`` of each problem (the first ``limit``), joined with ``; ``."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:limit])

"""The error type shared by every pure validator of crmflow.

Validators collect *all* problems of a value as :class:`FieldError` items instead of stopping at the
first one, then raise a single :class:`DomainValidationError`.  A ``loc`` starts at the root of the
validated value; callers that embed the value (e.g. the rules-api, under ``body.conditionsJson``)
prefix it with :meth:`FieldError.with_prefix` to get FastAPI's 422 ``detail`` format.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class FieldError:
    """One problem: where (``loc``), what for a human (``msg``), and a machine-readable ``type``."""

    loc: Loc
    msg: str
    type: str

    def with_prefix(self, *prefix: str | int) -> FieldError:
        return FieldError((*prefix, *self.loc), self.msg, self.type)

    def to_dict(self) -> dict[str, Any]:
        """FastAPI's ``detail`` item shape: ``{"loc": [...], "msg": ..., "type": ...}``."""
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


class DomainValidationError(ValueError):
    """A value failed validation; ``errors`` lists every problem found, each with its path."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: list[FieldError] = list(errors)
        super().__init__(self._summary())

    def _summary(self) -> str:
        if not self.errors:
            return "invalid value"
        parts = [f"{'.'.join(map(str, e.loc)) or '<root>'}: {e.msg}" for e in self.errors[:5]]
        more = len(self.errors) - len(parts)
        return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")

    def detail(self, *prefix: str | int) -> list[dict[str, Any]]:
        """The errors as FastAPI 422 ``detail`` items, each ``loc`` prefixed with ``prefix``."""
        return [e.with_prefix(*prefix).to_dict() for e in self.errors]


def extra_field_errors(value: Mapping[str, Any], allowed: Collection[str]) -> list[FieldError]:
    """One error per key of ``value`` outside ``allowed`` (unknown fields are refused, not ignored)."""
    return [
        FieldError((str(key),), "extra fields not permitted", "extra_forbidden")
        for key in value
        if key not in allowed
    ]

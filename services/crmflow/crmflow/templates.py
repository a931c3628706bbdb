"""Placeholders in action arguments (SPEC section 6): ``"Hello {patient.firstName}"``.

Syntax: ``{path}`` where ``path`` is dot-separated names of letters, digits, ``_`` and ``-``
(digits index into arrays: ``{patient.tags.0}``).  ``{{`` renders ``{`` and ``}}`` renders ``}``; a
lone ``}`` is kept literally (it cannot start anything), while any other ``{`` must open a valid
placeholder, so a typo is reported at save time instead of being sent to a patient.

Rendering: strings as-is, numbers as JSON numbers, booleans ``true``/``false``, arrays and objects
as compact JSON.  A missing path *or a null value* is unresolved: an action should fail clearly
rather than say "Dear null".  Error messages name the placeholder but never contain data values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from crmflow.conditions.paths import MISSING, lookup

CONTEXT_ALIASES: Final = (
    "eventId",
    "eventName",
    "practiceId",
    "entityType",
    "entityId",
    "correlationId",
    "depth",
    "patientId",
)
"""Names the context adds on top of the event data (they win over same-named data keys)."""

_ENVELOPE_KEYS: Final = {"eventId": "id", "eventName": "name"}
_PATH: Final = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


class TemplateSyntaxError(ValueError):
    """The template itself is malformed (e.g. an unclosed ``{``)."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.position = position


class UnresolvedPlaceholder(ValueError):
    """A placeholder has no value in the event context; the message names it, not the data."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"unresolved placeholder {{{path}}}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text and placeholder paths, alternating."""

    parts: tuple[str | tuple[str, ...], ...]  # str = literal, tuple = path segments

    @property
    def placeholders(self) -> list[str]:
        seen: dict[str, None] = {}
        for part in self.parts:
            if isinstance(part, tuple):
                seen.setdefault(".".join(part))
        return list(seen)

    def render(self, context: Mapping[str, Any]) -> str:
        out: list[str] = []
        for part in self.parts:
            out.append(part if isinstance(part, str) else _format(part, resolve(context, part)))
        return "".join(out)


@lru_cache(maxsize=4096)
def parse(template: str) -> Template:
    """Parse ``template`` once (cached: templates come from rules, not from events)."""
    parts: list[str | tuple[str, ...]] = []
    literal: list[str] = []
    i, n = 0, len(template)
    while i < n:
        ch = template[i]
        if ch == "}":
            literal.append("}")
            i += 2 if template.startswith("}}", i) else 1
        elif ch != "{":
            j = min((k for k in (template.find("{", i), template.find("}", i)) if k != -1), default=n)
            literal.append(template[i:j])
            i = j
        elif template.startswith("{{", i):
            literal.append("{")
            i += 2
        else:
            end = template.find("}", i + 1)
            if end == -1:
                raise TemplateSyntaxError("unclosed '{' (write '{{' for a literal brace)", i)
            path = template[i + 1 : end]
            if not _PATH.fullmatch(path):
                raise TemplateSyntaxError(
                    "invalid placeholder: use {name.name} with letters, digits, '_' or '-' "
                    "(write '{{' for a literal brace)",
                    i,
                )
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(tuple(path.split(".")))
            i = end + 1
    if literal:
        parts.append("".join(literal))
    return Template(tuple(parts))


def placeholders(template: str) -> list[str]:
    """The placeholder paths ``template`` uses, in order of first use (raises TemplateSyntaxError)."""
    return parse(template).placeholders


def render(template: str, context: Mapping[str, Any]) -> str:
    """Fill the placeholders of ``template`` from ``context``.

    Raises TemplateSyntaxError for a malformed template, UnresolvedPlaceholder for a missing value.
    """
    return parse(template).render(context)


def render_args(args: Any, context: Mapping[str, Any]) -> Any:
    """A copy of ``args`` with every string (in nested dicts and lists too) rendered; keys are not."""
    if isinstance(args, str):
        return render(args, context)
    if isinstance(args, Mapping):
        return {key: render_args(value, context) for key, value in args.items()}
    if isinstance(args, list | tuple):
        return [render_args(item, context) for item in args]
    return args


def resolve(context: Any, segments: tuple[str, ...]) -> Any:
    """The value at ``segments``, found as a condition finds it (:func:`lookup`);
    raises UnresolvedPlaceholder saying which step failed."""
    value = lookup(context, segments)
    if value is MISSING:
        raise UnresolvedPlaceholder(".".join(segments), _failed_step(context, segments))
    if value is None:
        raise UnresolvedPlaceholder(".".join(segments), f'"{".".join(segments)}" is null')
    return value


def _failed_step(context: Any, segments: tuple[str, ...]) -> str:
    """Why ``lookup`` found nothing at ``segments``: its first step that does not exist (only
    on this error path, so looking each prefix up again costs nothing that matters)."""
    depth = next(d for d in range(len(segments)) if lookup(context, segments[: d + 1]) is MISSING)
    node = lookup(context, segments[:depth])
    where, parent = ".".join(segments[: depth + 1]), ".".join(segments[:depth])
    if isinstance(node, dict):
        return f'"{where}" not in ' + (f'"{parent}"' if depth else "event")
    if isinstance(node, list):
        return f'"{where}" is not an index of the array'
    return f'"{parent}" is {_kind(node)}, not an object'


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"  # not JSON: only a caller's own data can hold it


def _format(segments: tuple[str, ...], value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)
    except (ValueError, TypeError, RecursionError):
        raise UnresolvedPlaceholder(".".join(segments), "value cannot be rendered as text") from None


def _patient_id(data: Mapping[str, Any], envelope: Mapping[str, Any]) -> Any:
    for root, key in (("patient", "id"), ("appointment", "patientId"), ("message", "patientId")):
        entity = data.get(root)
        if isinstance(entity, Mapping) and entity.get(key) is not None:
            return entity[key]
    if envelope.get("entityType") == "patient":
        return envelope.get("entityId")
    return None


def build_context(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The placeholder context of an event: its ``data`` plus the aliases of CONTEXT_ALIASES.

    ``patientId`` is ``data.patient.id``, else ``data.appointment.patientId``, else
    ``data.message.patientId``, else the entity id of a patient event.  An alias the envelope has
    no value for is absent (a same-named data key is removed too, so aliases never lie).
    """
    raw = envelope.get("data")
    data: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    context = dict(data)
    for alias in CONTEXT_ALIASES:
        if alias == "patientId":
            value = _patient_id(data, envelope)
        else:
            value = envelope.get(_ENVELOPE_KEYS.get(alias, alias))
        if value is None:
            context.pop(alias, None)
        else:
            context[alias] = value
    return context

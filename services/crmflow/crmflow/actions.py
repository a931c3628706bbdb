"""Action argument schemas (SPEC section 6) and the save-time validation of ``actionsJson``.

Models validate *unrendered* arguments at save time and rendered ones in the runner: string
limits apply to both.  Numbers are strict (``"60"`` and ``true`` are not integers).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from crmflow.due_time import (
    MAX_AT_CHARS,
    MAX_OFFSET_SECONDS,
    IfPast,
    at_error,
    delay_until_errors,
    local_time_error,
)
from crmflow.templates import TemplateSyntaxError, parse
from crmflow.timezones import LOCAL_TIME_PATTERN
from crmflow.triggers import TRIGGER_NAMES, placeholder_can_resolve
from crmflow.validation import FieldError, Loc
from crmflow.wait_for_event import (
    WAIT_FOR_EVENT,
    WAITED_EVENT,
    OnTimeout,
    match_error,
    wait_errors,
    waited_placeholder_ok,
    when_errors,
)
from crmflow.webhook_policy import MAX_URL_CHARS, IPNetwork, url_errors
from crmflow.webhook_signing import SIGNATURE_HEADERS

MAX_ACTIONS: Final = 50
DEFAULT_PATIENT_FIELD_ALLOWLIST: Final = (
    "status",
    "tags",
    "preferredContactMethod",
    "preferredLanguage",
    "nextFollowUpAt",
)
"""The patient fields ``update_patient_fields`` may change unless configured
(``CRMFLOW_PATIENT_FIELD_ALLOWLIST``, SPEC)."""
MAX_ARGS_DEPTH: Final = 16  # nesting of arrays/objects inside args (render_args recurses)
MAX_DELAY_SECONDS: Final = 31_536_000  # one year
MAX_DUE_IN_SECONDS: Final = 10 * MAX_DELAY_SECONDS

Id = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
Description = Annotated[str, StringConstraints(max_length=10_000)]


class ActionArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CreateTaskArgs(ActionArgs):
    title: Title
    description: Description | None = None
    dueInSeconds: int | None = Field(None, ge=0, le=MAX_DUE_IN_SECONDS)
    patientId: Id | None = None
    assignee: Id | None = None


class CreateNoteArgs(ActionArgs):
    patientId: Id
    body: Body


class DraftSmsArgs(ActionArgs):
    patientId: Id
    body: Annotated[str, StringConstraints(min_length=1, max_length=1_600)]  # ten SMS segments


class DraftEmailArgs(ActionArgs):
    patientId: Id
    subject: Title
    body: Body


class SendSmsArgs(DraftSmsArgs):
    """``send_sms`` (SPEC section 9): delivered to the patient's phone (consent applies)."""


class SendEmailArgs(DraftEmailArgs):
    """``send_email`` (SPEC section 9): delivered to the patient's e-mail address (consent applies)."""


class UpdatePatientFieldsArgs(ActionArgs):
    patientId: Id
    fields: dict[str, Any] = Field(min_length=1, max_length=len(DEFAULT_PATIENT_FIELD_ALLOWLIST) * 4)


class DelaySecondsArgs(ActionArgs):
    seconds: int = Field(ge=0, le=MAX_DELAY_SECONDS)


class DelayUntilArgs(ActionArgs):
    """``delay_until`` (SPEC section 8): wait until ``at + offsetSeconds`` (at ``atLocalTime`` in the
    practice's zone). Saved rules are checked by ``crmflow.due_time.delay_until_errors``; this model
    checks the rendered args in the runner (``at`` is then a date-time, no longer a placeholder)."""

    at: Annotated[str, StringConstraints(min_length=1, max_length=MAX_AT_CHARS)] = Field(
        description="An ISO-8601 date-time with an offset, or a placeholder such as {appointment.startsAt}."
    )
    offsetSeconds: int = Field(0, ge=-MAX_OFFSET_SECONDS, le=MAX_OFFSET_SECONDS)
    atLocalTime: str | None = Field(
        None, pattern=LOCAL_TIME_PATTERN, description="HH:MM in the practice's zone."
    )
    ifPast: IfPast = "run"

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        message = at_error(value)
        if message is not None:
            raise ValueError(message)
        return value

    @field_validator("atLocalTime")
    @classmethod
    def _local_time(cls, value: str | None) -> str | None:
        message = None if value is None else local_time_error(value)
        if message is not None:
            raise ValueError(message)
        return value


class WaitForEventArgs(ActionArgs):
    """``wait_for_event`` (SPEC section 13): wait until an event named ``eventName`` with the same
    value at ``match`` as the triggering event (and satisfying ``conditionsJson``) arrives, or
    ``timeoutSeconds`` pass; then go on (``continue``) or end the run (``stop``). Saved rules are
    also checked by ``crmflow.wait_for_event.wait_errors`` (match resolves, condition compiles)."""

    eventName: str = Field(
        json_schema_extra={"enum": sorted(TRIGGER_NAMES)}, description="The awaited event's name."
    )
    match: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="Dotted path into both events' data whose values must be equal (appointment.id)."
    )
    conditionsJson: dict[str, Any] | None = Field(
        None, description="A condition on the awaited event's data (SPEC section 5); null = any."
    )
    timeoutSeconds: int = Field(ge=1, le=MAX_DELAY_SECONDS)
    onTimeout: OnTimeout = Field(
        "continue",
        description="continue: run the later actions (waitedEvent absent); stop: end the run "
        "(succeeded, the later actions logged skipped, wait_timed_out).",
    )

    @field_validator("eventName")
    @classmethod
    def _event_name(cls, value: str) -> str:
        if value not in TRIGGER_NAMES:
            raise ValueError(f"unknown event; one of {sorted(TRIGGER_NAMES)}")
        return value

    @field_validator("match")
    @classmethod
    def _match(cls, value: str) -> str:
        message = match_error(value)
        if message is not None:
            raise ValueError(message)
        return value


HEADER_NAME_PATTERN: Final = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$"
FORBIDDEN_WEBHOOK_HEADERS: Final = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", *SIGNATURE_HEADERS}
)
HeaderName = Annotated[str, StringConstraints(pattern=HEADER_NAME_PATTERN)]
HeaderValue = Annotated[str, StringConstraints(max_length=1_000, pattern=r"^[^\r\n\x00]*$")]


class SendWebhookArgs(ActionArgs):
    """``send_webhook`` (SPEC section 9): a signed JSON POST. Where it may go is checked by
    ``crmflow.webhook_policy`` (save time: a literal URL; send time: every resolved address)."""

    url: Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL_CHARS)] = Field(
        description="https URL (plain http only to CRMFLOW_WEBHOOK_ALLOWED_NETWORKS); may hold placeholders."
    )
    body: dict[str, Any] | list[Any] | None = Field(
        None, description="JSON to send; its strings may hold placeholders. Default: the event envelope."
    )
    headers: dict[HeaderName, HeaderValue] | None = Field(
        None,
        max_length=20,
        description="Extra request headers; not Host, Content-Length, Transfer-Encoding, Connection "
        "or the webhook-* signature headers.",
    )

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        refused = sorted(name for name in value or {} if name.lower() in FORBIDDEN_WEBHOOK_HEADERS)
        if refused:
            raise ValueError(f"header(s) {', '.join(refused)} may not be set (crmflow sets them)")
        return value


SEND_WEBHOOK: Final = "send_webhook"
DELAY_SECONDS: Final = "delay_seconds"
DELAY_UNTIL: Final = "delay_until"
DELAY_TYPES: Final = frozenset({DELAY_SECONDS, DELAY_UNTIL})
"""The action types the runner executes itself (a durable wait), not through a handler."""

SEND_EMAIL: Final = "send_email"
SEND_SMS: Final = "send_sms"
SEND_CHANNELS: Final[Mapping[str, str]] = {SEND_EMAIL: "email", SEND_SMS: "sms", SEND_WEBHOOK: "webhook"}
"""Actions that deliver a message (SPEC section 9) -> their channel: the runner hands them to its
delivery queue instead of executing them in line."""

ACTION_TYPES: Final[Mapping[str, type[ActionArgs]]] = {
    "create_task": CreateTaskArgs,
    "create_note": CreateNoteArgs,
    "draft_sms": DraftSmsArgs,
    "draft_email": DraftEmailArgs,
    "update_patient_fields": UpdatePatientFieldsArgs,
    DELAY_SECONDS: DelaySecondsArgs,
    DELAY_UNTIL: DelayUntilArgs,
    WAIT_FOR_EVENT: WaitForEventArgs,
    SEND_EMAIL: SendEmailArgs,
    SEND_SMS: SendSmsArgs,
    SEND_WEBHOOK: SendWebhookArgs,
}
WAIT_TYPES: Final = frozenset({WAIT_FOR_EVENT})
"""Action types that wait for an event (the runner executes them itself, like the delays)."""

_ITEM_KEYS: Final = frozenset({"type", "args", "when"})


def check_patient_fields(fields: Any, allowlist: Sequence[str]) -> list[FieldError]:
    """Errors for every key of ``fields`` outside ``allowlist`` (locs ``("fields", key)``)."""
    if not isinstance(fields, Mapping):
        return [FieldError(("fields",), "fields must be an object", "dict_type")]
    allowed = ", ".join(allowlist) or "none"
    return [
        FieldError(
            ("fields", str(key)),
            f"field {key!r} may not be updated (allowed: {allowed})",
            "field_not_allowed",
        )
        for key in fields
        if key not in allowlist
    ]


def _item_errors(item: Any) -> tuple[str | None, list[FieldError]]:
    """The action type of ``item`` and the problems of its shape (locs relative to the item)."""
    if not isinstance(item, Mapping):
        return None, [FieldError((), "action must be an object with 'type' and 'args'", "dict_type")]
    errors = [
        FieldError((str(k),), "extra fields not permitted", "extra_forbidden")
        for k in item
        if k not in _ITEM_KEYS
    ]
    action_type = item.get("type")
    if "type" not in item:
        errors.append(FieldError(("type",), "type is required", "missing"))
    elif not isinstance(action_type, str) or action_type not in ACTION_TYPES:
        shown = repr(action_type)[:40] if isinstance(action_type, str) else type(action_type).__name__
        known = ", ".join(ACTION_TYPES)
        errors.append(
            FieldError(
                ("type",), f"unknown action type {shown}; expected one of {known}", "unknown_action_type"
            )
        )
        action_type = None
    if "args" not in item:
        errors.append(FieldError(("args",), "args is required", "missing"))
    elif not isinstance(item["args"], Mapping):
        errors.append(FieldError(("args",), "args must be an object", "dict_type"))
    return action_type, errors


def _model_errors(model: type[ActionArgs], args: Any) -> tuple[ActionArgs | None, list[FieldError]]:
    try:
        return model.model_validate(args), []
    except ValidationError as exc:
        return None, [
            FieldError(("args", *e["loc"]), e["msg"], e["type"]) for e in exc.errors(include_url=False)
        ]


def _strings(value: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    """Every string inside ``value`` with its loc, in document order (iterative: no recursion)."""
    stack: list[tuple[Any, Loc]] = [(value, loc)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            yield where, node
        elif isinstance(node, Mapping):
            stack.extend(reversed([(item, (*where, str(key))) for key, item in node.items()]))
        elif isinstance(node, list):
            stack.extend(reversed([(item, (*where, i)) for i, item in enumerate(node)]))


def _too_deep(value: Any) -> bool:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping | list):
            if depth >= MAX_ARGS_DEPTH:
                return True
            stack.extend((item, depth + 1) for item in (node.values() if isinstance(node, Mapping) else node))
    return False


def _placeholder_errors(
    args: Mapping[str, Any], trigger: str | None, waited_events: Sequence[str] = ()
) -> list[FieldError]:
    errors: list[FieldError] = []
    for loc, text in _strings(args, ("args",)):
        try:
            paths = parse(text).placeholders
        except TemplateSyntaxError as exc:
            errors.append(FieldError(loc, str(exc), "template_syntax"))
            continue
        if trigger is not None:
            errors.extend(
                FieldError(
                    loc, f"placeholder {{{path}}} can never resolve for {trigger}", "unresolvable_placeholder"
                )
                for path in paths
                if not placeholder_can_resolve(trigger, path)
                and not (path.split(".")[0] == WAITED_EVENT and waited_placeholder_ok(path, waited_events))
            )
    return errors


def validate_action(
    item: Any,
    trigger: str | None = None,
    patient_field_allowlist: Sequence[str] | None = None,
    webhook_allowed_networks: Sequence[IPNetwork] = (),
    *,
    waited_events: Sequence[str] = (),
) -> list[FieldError]:
    """Every problem of one ``{type, args, when?}`` item (locs relative to the item);
    a ``send_webhook`` URL that is a literal refused address is one (``webhook_allowed_networks``:
    the setting).
    ``waited_events``: the event names of the ``wait_for_event`` actions before it (their
    ``{waitedEvent...}`` placeholders can resolve)."""
    action_type, errors = _item_errors(item)
    if action_type is None or errors:
        return errors
    errors = [e.with_prefix("when") for e in when_errors(item.get("when"))]
    args = item["args"]
    if _too_deep(args):
        return [FieldError(("args",), f"args nested deeper than {MAX_ARGS_DEPTH} levels", "too_deep")]
    if action_type == DELAY_UNTIL:  # the model would accept a placeholder in at only if it resolved
        model, found = None, [e.with_prefix("args") for e in delay_until_errors(args)]
    else:
        model, found = _model_errors(ACTION_TYPES[action_type], args)
    errors += found
    if action_type == WAIT_FOR_EVENT:
        known = trigger if trigger in TRIGGER_NAMES else None
        errors += [e.with_prefix("args") for e in wait_errors(args, known)]
    errors += _placeholder_errors(args, trigger if trigger in TRIGGER_NAMES else None, waited_events)
    if (
        model is not None
        and patient_field_allowlist is not None
        and isinstance(model, UpdatePatientFieldsArgs)
    ):
        errors += [e.with_prefix("args") for e in check_patient_fields(model.fields, patient_field_allowlist)]
    url = args.get("url")
    if action_type == SEND_WEBHOOK and isinstance(url, str) and url:
        errors += [
            FieldError(("args", "url"), message, "webhook_url")
            for message in url_errors(url, webhook_allowed_networks)
        ]
    return errors


def validate_actions(
    actions_json: Any,
    trigger: str | None,
    *,
    patient_field_allowlist: Sequence[str] | None = None,
    webhook_allowed_networks: Sequence[IPNetwork] = (),
) -> list[FieldError]:
    """Every problem of ``actionsJson``, with locs like ``(2, "args", "subject")``.

    With a known ``trigger``, placeholders that can never resolve for it are errors too; with an
    unknown one they are only parsed (the unknown trigger is reported by the caller).  With a
    ``patient_field_allowlist``, ``update_patient_fields`` is checked against it as well.
    """
    if not isinstance(actions_json, list):
        return [FieldError((), "actions must be an array of {type, args}", "list_type")]
    if len(actions_json) > MAX_ACTIONS:
        return [FieldError((), f"at most {MAX_ACTIONS} actions are allowed", "too_long")]
    errors: list[FieldError] = []
    waited: list[str] = []
    for index, item in enumerate(actions_json):
        found = validate_action(
            item, trigger, patient_field_allowlist, webhook_allowed_networks, waited_events=tuple(waited)
        )
        errors += [e.with_prefix(index) for e in found]
        if isinstance(item, Mapping) and item.get("type") == WAIT_FOR_EVENT:
            args = item.get("args")
            event_name = args.get("eventName") if isinstance(args, Mapping) else None
            if isinstance(event_name, str) and event_name in TRIGGER_NAMES:
                waited.append(event_name)
    return errors

"""The statuses of runs, action logs and durable delays: defined here once, used by the evaluator,
the runner, the API (its OpenAPI enums) and the JSON Schemas. A new status is one line here.

``StrEnum`` members are their strings: they compare equal to, serialize as and bind as the plain
values stored in the database.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class RunStatus(StrEnum):
    """``automation_runs.status``."""

    SKIPPED = "skipped"  # the conditions were false
    RUNNING = "running"  # executing its actions
    WAITING = "waiting"  # parked in a durable delay
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # an action failed, or the conditions could not be evaluated
    BLOCKED = "blocked"  # loop protection: the event chain is too deep
    CANCELLED = "cancelled"  # a waiting run stopped: its due time became null, or a cancelOn event
    HELD = "held"  # its rule is paused with "hold": queued until the rule is unpaused (SPEC section 13)


class Evaluation(StrEnum):
    """A RunCommand's status, the evaluator's verdict on (event, rule): a matched run is executed,
    the others are recorded as runs with that status."""

    MATCHED = "matched"
    SKIPPED = RunStatus.SKIPPED.value
    BLOCKED = RunStatus.BLOCKED.value
    FAILED = RunStatus.FAILED.value


FINAL_AT_EVALUATION: Final = frozenset(RunStatus(e.value) for e in Evaluation if e is not Evaluation.MATCHED)
"""Run statuses a run is recorded with when it is not executed (its ``finished_at`` is set)."""


class ActionStatus(StrEnum):
    """``automation_action_logs.status``: one log row per action attempt."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SCHEDULED = "scheduled"  # a delay: the rest of the run resumes when it comes due
    SKIPPED = "skipped"  # an earlier action of the run failed, or the run was cancelled
    RESCHEDULED = "rescheduled"  # a delay_until re-planned: its date field moved (result: from, to)
    DEFERRED = "deferred"  # a send held until quiet hours end (SPEC section 9)
    QUEUED = "queued"  # a send handed to the delivery queue: its outcome is logged when known


class ResumeStatus(StrEnum):
    """``scheduled_resumes.status``: pending until due, emitted once sent, done once executed,
    cancelled when its run was (a resume of a cancelled row does nothing). Two park a run's rest
    until someone acts (SPEC section 13): ``held`` (its rule is paused with "hold"; unpausing makes
    it pending) and ``failed`` (from the action that failed; a bulk retry makes it pending)."""

    PENDING = "pending"
    EMITTED = "emitted"
    DONE = "done"
    CANCELLED = "cancelled"
    HELD = "held"
    FAILED = "failed"


class SkipReason(StrEnum):
    """``automation_runs.error`` of a run skipped by flow control (SPEC section 13)."""

    ALREADY_ENROLLED = "already_enrolled"  # the rule's enrollment policy refused the event
    PAUSED = "paused"  # the rule is paused with "skip"


class DeliveryStatus(StrEnum):
    """``message_deliveries.status``: pending (queued, or between attempts) until the sender's
    outcome is final: delivered, or failed (refused, or its last attempt failed)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"

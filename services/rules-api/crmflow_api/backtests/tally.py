"""The pure part of a backtest: each event judged as the evaluator judges it, then counted.

Verdicts come from ``crmflow_evaluator.evaluation.judge`` (the function that sets every live
run's status) on the rule compiled by ``crmflow_evaluator.rules_index.build_rule`` (the
evaluator's compilation), so a backtest and the live pipeline cannot disagree on a definition.
Each event is judged at its own time (``now`` = when it was written): ``within_*`` conditions
see the clock the live evaluator saw, give or take the pipeline's latency.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from crmflow.actions import ACTION_TYPES
from crmflow.backtest_record import SAMPLE_SIZE
from crmflow.rule_record import Rule
from crmflow.statuses import Evaluation
from crmflow.templates import TemplateSyntaxError, UnresolvedPlaceholder, build_context, render_args
from crmflow_evaluator.evaluation import judge
from crmflow_evaluator.rules_index import IndexedRule, build_rule
from crmflow_runner.errors import PermanentActionError
from crmflow_runner.handlers import parse_args


def compile_definition(
    practice_id: str, definition: dict[str, Any], rule_id: str | None = None, version: int = 0
) -> IndexedRule:
    """The rule as the evaluator indexes it (conditions compiled once)."""
    record = Rule(
        id=rule_id or "00000000-0000-0000-0000-000000000000",
        practiceId=practice_id,
        name="backtest",
        enabled=True,
        triggerEvent=definition["triggerEvent"],
        conditionsJson=definition.get("conditionsJson"),
        actionsJson=definition.get("actionsJson") or [],
        version=version or 1,
        createdAt="",
        updatedAt="",
    )
    return build_rule(record)


def would_be_actions(actions: list[Any], event: dict[str, Any]) -> list[dict[str, Any]]:
    """The rule's actions with their args rendered from the event as the runner renders them
    (``build_context`` + ``render_args`` + the action's args model): ``would_run`` with the args,
    ``would_fail`` with the runner's error, later ones ``not_reached`` (a failed action ends a run).
    Nothing is executed; delays are shown with their rendered args, not waited."""
    context = build_context(event)
    out: list[dict[str, Any]] = []
    failed: int | None = None
    for index, action in enumerate(actions):
        action = action if isinstance(action, dict) else {}
        action_type = str(action.get("type"))
        item: dict[str, Any] = {"index": index, "type": action_type}
        if failed is not None:
            out.append({**item, "outcome": "not_reached", "error": f"action {failed} would fail"})
            continue
        try:
            rendered = render_args(action.get("args") or {}, context)
            model = ACTION_TYPES.get(action_type)
            if model is None:
                raise PermanentActionError(f"unknown action type {action_type!r}")
            parse_args(model, rendered)
        except (PermanentActionError, UnresolvedPlaceholder, TemplateSyntaxError) as exc:
            failed = index
            out.append({**item, "outcome": "would_fail", "error": str(exc)})
            continue
        out.append({**item, "outcome": "would_run", "args": rendered})
    return out


@dataclass
class Tally:
    """Counts of one backtest so far: scanned and matched, in total and per day of the practice's
    time zone (every day of the window, empty ones too), and the latest matches."""

    rule: IndexedRule
    since: datetime
    until: datetime
    zone: ZoneInfo
    max_depth: int
    scanned: int = 0
    matched: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)  # status -> count
    days: dict[date, list[int]] = field(init=False)
    _sample: deque[tuple[str, datetime]] = field(init=False)

    def __post_init__(self) -> None:
        first = self.since.astimezone(self.zone).date()
        last = (self.until - timedelta(microseconds=1)).astimezone(self.zone).date()
        self.days = {first + timedelta(days=i): [0, 0] for i in range((last - first).days + 1)}
        self._sample = deque(maxlen=SAMPLE_SIZE)

    def add(self, event: dict[str, Any], occurred_at: datetime) -> Evaluation:
        """Judge one event of the window and count it: ``event`` holds at least its ``id``,
        ``data`` and ``depth``; ``occurred_at`` is when it was written."""
        verdict = judge(self.rule, event, max_depth=self.max_depth, now=occurred_at, explain=False)
        self.scanned += 1
        self.verdicts[verdict.status] = self.verdicts.get(verdict.status, 0) + 1
        day = self.days.setdefault(occurred_at.astimezone(self.zone).date(), [0, 0])
        day[0] += 1
        if verdict.status == Evaluation.MATCHED:
            self.matched += 1
            day[1] += 1
            self._sample.append((str(event["id"]), occurred_at))
        return verdict.status

    def by_day(self) -> list[dict[str, Any]]:
        return [{"day": d.isoformat(), "scanned": s, "matched": m} for d, (s, m) in sorted(self.days.items())]

    def sample_ids(self) -> list[str]:
        """The ids of the latest matches (at most SAMPLE_SIZE), oldest first."""
        return [event_id for event_id, _ in self._sample]

    def sample(self, envelopes: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """The latest matches, newest first, each explained (trace) and with its would-be actions
        rendered from its whole stored envelope (``envelopes``: id -> envelope)."""
        out = []
        for event_id, occurred_at in reversed(self._sample):
            event = envelopes.get(event_id)
            if event is None:  # pruned meanwhile: nothing to show
                continue
            verdict = judge(self.rule, event, max_depth=self.max_depth, now=occurred_at)
            out.append(
                {
                    "eventId": event_id,
                    "occurredAt": occurred_at.isoformat(),
                    "trace": verdict.trace,
                    "actions": would_be_actions(self.rule.actions, event),
                }
            )
        return out

"""Events x rules -> the messages for the action-runner (pure; the Faust agent does the I/O).

Per event: the EventEvaluated marker, then the re-plans and cancellations the event causes (SPEC
section 8: before its own runs, so an event never cancels the run it starts), then the signals of
the waits it ends (SPEC section 13), then one RunCommand per rule triggered. All share the event's
key, so they reach the runner in event order with the patient's other commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crmflow.cancel_on import cancel_key, match_value
from crmflow.commands import (
    ActionCommandDict,
    CancelCommandDict,
    ControlCommandDict,
    EventEvaluatedDict,
    ReplanCommandDict,
    RunCommandDict,
    SignalCommandDict,
    SourceRecordDict,
    command_key,
    run_id_for,
)
from crmflow.conditions.paths import MISSING, lookup, split_path
from crmflow.enrollment import Reenroll, enrollment_key
from crmflow.pause import Pause
from crmflow.statuses import Evaluation, SkipReason
from crmflow.templates import build_context
from crmflow.wait_for_event import wait_key, waited_event
from crmflow_evaluator.rules_index import IndexedRule, RulesIndex


@dataclass(frozen=True)
class Outcome:
    key: bytes
    messages: list[ActionCommandDict]  # the marker, then re-plans, cancels and signals, then the runs


def rules_for(event: dict[str, Any], index: RulesIndex) -> list[IndexedRule]:
    only = event.get("onlyRuleId")
    if only:
        rule = index.get(event["practiceId"], only)
        return [rule] if rule is not None and rule.trigger == event["name"] else []
    return index.for_event(event["practiceId"], event["name"])


def evaluate_event(
    event: dict[str, Any], index: RulesIndex, *, max_depth: int, source: SourceRecordDict
) -> Outcome:
    rules = rules_for(event, index)
    patient_id = build_context(event).get("patientId")
    patient_id = patient_id if isinstance(patient_id, str) else None
    depth = event.get("depth", 0)
    marker: EventEvaluatedDict = {
        "kind": "event",
        "eventId": event["id"],
        "practiceId": event["practiceId"],
        "eventName": event["name"],
        "runsExpected": len(rules),
        "source": source,
    }
    messages: list[ActionCommandDict] = [marker]
    if not event.get("onlyRuleId"):  # a Test-button event changes no other run
        messages += replans(event, index)
        messages += cancels(event, index)
        messages += signals(event, index)
    for rule in rules:
        run: RunCommandDict = {
            "kind": "run",
            "runId": run_id_for(event["id"], rule.id),
            "eventId": event["id"],
            "practiceId": event["practiceId"],
            "ruleId": rule.id,
            "ruleVersion": rule.version,
            "ruleName": rule.name,
            "eventName": event["name"],
            "patientId": patient_id,
            "status": Evaluation.MATCHED,
            "trace": None,
            "error": None,
            "actions": [],
            "event": None,
            "correlationId": event.get("correlationId") or event["id"],
            "causationId": event["id"],
            "depth": depth,
        }
        verdict = judge(rule, event, max_depth=max_depth)
        run["status"], run["trace"], run["error"] = verdict.status, verdict.trace, verdict.error
        if verdict.status == Evaluation.MATCHED:
            if rule.paused == Pause.SKIP and not event.get("onlyRuleId"):
                run["status"] = Evaluation.SKIPPED
                run["error"] = SkipReason.PAUSED.value
            else:
                run["actions"] = rule.actions
                run["event"] = event
                keys = cancel_keys(rule, event["data"])
                if keys:
                    run["cancelKeys"] = keys
                if not event.get("onlyRuleId"):  # the Test button is neither limited nor held
                    flow_control(run, rule, event["data"], patient_id)
        messages.append(run)
    return Outcome(command_key(event["practiceId"], patient_id, event["entityId"]), messages)


@dataclass(frozen=True)
class Verdict:
    status: Evaluation  # matched | skipped | blocked | failed
    trace: dict[str, Any] | None = None
    error: str | None = None


def judge(
    rule: IndexedRule,
    event: dict[str, Any],
    *,
    max_depth: int,
    now: datetime | None = None,
    explain: bool = True,
) -> Verdict:
    """What ``rule`` makes of ``event``: the one decision of a run's status, shared by the
    evaluator and the backtests (which pass the event's own time as ``now`` and, where only the
    verdict counts, ``explain=False``: the compiled fast path, no trace)."""
    depth = event.get("depth", 0)
    if depth > max_depth:
        return Verdict(Evaluation.BLOCKED, error=f"event depth {depth} exceeds MAX_CHAIN_DEPTH={max_depth}")
    if rule.condition is None:
        return Verdict(Evaluation.FAILED, error=f"conditions cannot be evaluated: {rule.compile_error}")
    if not explain:
        matched = rule.condition.evaluate(event["data"], now=now)
        return Verdict(Evaluation.MATCHED if matched else Evaluation.SKIPPED)
    explanation = rule.condition.explain(event["data"], now=now)
    status = Evaluation.MATCHED if explanation.matched else Evaluation.SKIPPED
    return Verdict(status, trace=explanation.trace)


def flow_control(run: RunCommandDict, rule: IndexedRule, data: Any, patient_id: str | None) -> None:
    """A matched run's enrollment key (a limiting policy, the key found) and hold (SPEC 13)."""
    if rule.reenroll != Reenroll.ALWAYS:
        key = enrollment_key(rule.enrollment_path, data, patient_id)
        if key is not None:
            run["enrollmentKey"] = key
            run["reenroll"] = "never" if rule.reenroll == Reenroll.NEVER else "after_finish"
    if rule.paused == Pause.HOLD:
        run["held"] = True


def cancel_keys(rule: IndexedRule, data: Any) -> list[str]:
    """The keys a waiting run of ``rule`` triggered by ``data`` is cancelled by."""
    keys = []
    for entry in rule.cancel_on:
        value = match_value(data, entry.match)
        if value is not None:
            keys.append(cancel_key(entry.index, value))
    return keys


def replans(event: dict[str, Any], index: RulesIndex) -> list[ControlCommandDict]:
    """A ReplanCommand per (rule, field) whose delay_until follows a field this update changed."""
    changes = event["data"].get("changes") if isinstance(event.get("data"), dict) else None
    entity_type = event.get("entityType")
    if not isinstance(changes, dict) or not changes or not isinstance(entity_type, str):
        return []
    entity = event["data"].get(entity_type)
    out: list[ControlCommandDict] = []
    for rule in index.following(event["practiceId"], entity_type):
        for field in rule.followed_fields:
            if field.split(".")[0] not in changes:
                continue
            value = lookup(entity, split_path(field))
            replan: ReplanCommandDict = {
                "kind": "replan",
                "practiceId": event["practiceId"],
                "ruleId": rule.id,
                "entityType": entity_type,
                "entityId": str(event["entityId"]),
                "field": field,
                "value": None if value is MISSING else value,
                "eventId": event["id"],
            }
            out.append(replan)
    return out


def cancels(event: dict[str, Any], index: RulesIndex) -> list[ControlCommandDict]:
    """A CancelCommand per cancelOn entry this event satisfies (its value at ``match`` not null)."""
    out: list[ControlCommandDict] = []
    for rule in index.cancelled_by(event["practiceId"], event["name"]):
        for entry in rule.cancel_on:
            if entry.event_name != event["name"] or entry.condition is None:
                continue
            value = match_value(event["data"], entry.match)
            if value is None or not entry.condition.evaluate(event["data"]):
                continue
            cancel: CancelCommandDict = {
                "kind": "cancel",
                "practiceId": event["practiceId"],
                "ruleId": rule.id,
                "cancelKey": cancel_key(entry.index, value),
                "eventId": event["id"],
            }
            out.append(cancel)
    return out


def signals(event: dict[str, Any], index: RulesIndex) -> list[ActionCommandDict]:
    """A SignalCommand per wait_for_event this event satisfies (its value at ``match`` not null):
    the runner records it and resumes the runs waiting with its key."""
    out: list[ActionCommandDict] = []
    occurred_at = event.get("occurredAt")
    if not isinstance(occurred_at, str):
        return out
    awaited: dict[str, Any] | None = None
    for rule in index.awaiting(event["practiceId"], event["name"]):
        for entry in rule.waits:
            if entry.event_name != event["name"] or entry.condition is None:
                continue
            value = match_value(event["data"], entry.match)
            if value is None or not entry.condition.evaluate(event["data"]):
                continue
            awaited = awaited or waited_event(event)
            signal: SignalCommandDict = {
                "kind": "signal",
                "practiceId": event["practiceId"],
                "ruleId": rule.id,
                "actionIndex": entry.index,
                "waitKey": wait_key(entry.index, value),
                "eventId": event["id"],
                "occurredAt": occurred_at,
                "event": awaited,
            }
            out.append(signal)
    return out

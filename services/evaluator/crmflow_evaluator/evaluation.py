"""Events x rules -> the messages for the action-runner (pure; the Faust agent does the I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crmflow.commands import (
    ActionCommandDict,
    EventEvaluatedDict,
    RunCommandDict,
    SourceRecordDict,
    command_key,
    run_id_for,
)
from crmflow.statuses import Evaluation
from crmflow.templates import build_context
from crmflow_evaluator.rules_index import IndexedRule, RulesIndex


@dataclass(frozen=True)
class Outcome:
    key: bytes
    messages: list[ActionCommandDict]  # the EventEvaluated marker first, then one RunCommand per rule


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
        if depth > max_depth:
            run["status"] = Evaluation.BLOCKED
            run["error"] = f"event depth {depth} exceeds MAX_CHAIN_DEPTH={max_depth}"
        elif rule.condition is None:
            run["status"] = Evaluation.FAILED
            run["error"] = f"conditions cannot be evaluated: {rule.compile_error}"
        else:
            explanation = rule.condition.explain(event["data"])
            run["trace"] = explanation.trace
            if explanation.matched:
                run["actions"] = rule.actions
                run["event"] = event
            else:
                run["status"] = Evaluation.SKIPPED
        messages.append(run)
    return Outcome(command_key(event["practiceId"], patient_id, event["entityId"]), messages)

import json

from crmflow.commands import EventEvaluated, RunCommand, run_id_for
from crmflow_evaluator.evaluation import evaluate_event
from crmflow_evaluator.rules_index import RulesIndex
from tests.support.rules import NOTE_ACTION, rule_record

SOURCE = {"topic": "crm.patient", "partition": 0, "offset": 7, "timestamp": 1.0}


def rule(
    rule_id="r1",
    practice="p1",
    trigger="crm/patient.created",
    version=1,
    enabled=True,
    conditions=None,
    actions=None,
):
    record = rule_record(
        id=rule_id,
        practiceId=practice,
        name=f"rule {rule_id}",
        enabled=enabled,
        triggerEvent=trigger,
        conditionsJson=conditions,
        version=version,
        actionsJson=actions or [NOTE_ACTION],
    )
    return json.dumps(record).encode()


def event(depth=0, practice="p1", name="crm/patient.created", **extra):
    return {
        "id": "e1",
        "practiceId": practice,
        "name": name,
        "entityType": "patient",
        "entityId": "pat1",
        "occurredAt": "2026-11-25T10:00:00+00:00",
        "data": {"patient": {"id": "pat1", "email": "a@b.c"}},
        "correlationId": "c1",
        "causationId": None,
        "depth": depth,
        **extra,
    }


def evaluate(index, ev, max_depth=3):
    return evaluate_event(ev, index, max_depth=max_depth, source=SOURCE)


def test_matched_skipped_and_other_practices_rules():
    index = RulesIndex()
    index.apply("r1", rule("r1", conditions={"field": "patient.email", "operator": "exists"}))
    index.apply("r2", rule("r2", conditions={"field": "patient.phone", "operator": "exists"}))
    index.apply("r3", rule("r3", practice="p2"))
    outcome = evaluate(index, event())
    marker, *runs = outcome.messages
    EventEvaluated.model_validate(marker)
    assert marker["runsExpected"] == 2
    by_rule = {r["ruleId"]: RunCommand.model_validate(r) for r in runs}
    assert by_rule.keys() == {"r1", "r2"}
    assert by_rule["r1"].status == "matched" and by_rule["r1"].actions
    assert by_rule["r1"].event is not None and by_rule["r1"].runId == run_id_for("e1", "r1")
    assert by_rule["r2"].status == "skipped" and by_rule["r2"].trace and not by_rule["r2"].actions
    assert by_rule["r1"].causationId == "e1" and by_rule["r1"].correlationId == "c1"
    assert outcome.key == b"p1:pat1"


def test_events_deeper_than_the_limit_are_blocked():
    index = RulesIndex()
    index.apply("r1", rule())
    runs = evaluate(index, event(depth=4)).messages[1:]
    assert [r["status"] for r in runs] == ["blocked"]
    assert "MAX_CHAIN_DEPTH" in runs[0]["error"]
    assert [r["status"] for r in evaluate(index, event(depth=3)).messages[1:]] == ["matched"]


def test_disabled_deleted_and_updated_rules():
    index = RulesIndex()
    index.apply("r1", rule(enabled=False))
    assert evaluate(index, event()).messages[0]["runsExpected"] == 0
    index.apply("r1", rule(version=2, enabled=True))
    assert evaluate(index, event()).messages[1]["ruleVersion"] == 2
    index.apply("r1", rule(version=1, enabled=False))  # a stale version never wins
    assert evaluate(index, event()).messages[1]["ruleVersion"] == 2
    index.apply("r1", None)
    assert evaluate(index, event()).messages == evaluate(index, event()).messages[:1]


def test_only_rule_id_runs_that_rule_even_disabled_but_never_another_practices():
    index = RulesIndex()
    index.apply("r1", rule(enabled=False))
    index.apply("r2", rule("r2"))
    index.apply("r9", rule("r9", practice="p2"))
    runs = evaluate(index, event(onlyRuleId="r1")).messages[1:]
    assert [r["ruleId"] for r in runs] == ["r1"]
    assert evaluate(index, event(onlyRuleId="r9")).messages[1:] == []


def test_a_rule_whose_conditions_cannot_compile_fails_its_runs_with_the_reason():
    index = RulesIndex()
    index.apply("r1", rule(conditions={"field": "x", "operator": "no_such_op", "value": 1}))
    (run,) = evaluate(index, event()).messages[1:]
    assert run["status"] == "failed"
    assert run["error"].startswith("conditions cannot be evaluated: operator: unknown operator 'no_such_op'")

"""The evaluator's side of SPEC section 13: a paused rule's matched runs are skipped (paused) or
held; a rule with an enrollment policy sends the key each run claims. The Test button's events
are neither limited nor paused."""

from __future__ import annotations

from typing import Any

from crmflow.statuses import Evaluation, SkipReason
from tests.unit.evaluator.test_timed_runs import appointment_event, index_with, messages

NEVER = {"key": "appointment.id", "reenroll": "never"}


def run_of(event: dict[str, Any] | None = None, **rule: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {"triggerEvent": "crm/appointment.updated", "cancelOn": None}
    (_, run) = messages(
        index_with(**{**defaults, **rule}), event or appointment_event("crm/appointment.updated")
    )
    assert run["kind"] == "run"
    return dict(run)


def test_a_rule_paused_with_skip_records_its_matched_runs_skipped_paused() -> None:
    run = run_of(paused="skip")
    assert run["status"] == Evaluation.SKIPPED and run["error"] == SkipReason.PAUSED
    assert run["actions"] == []


def test_a_rule_paused_with_skip_still_records_unmatched_runs_without_a_reason() -> None:
    run = run_of(
        paused="skip", conditionsJson={"field": "appointment.id", "operator": "equals", "value": "x"}
    )
    assert run["status"] == Evaluation.SKIPPED and run["error"] is None


def test_a_rule_paused_with_hold_sends_its_runs_held() -> None:
    run = run_of(paused="hold")
    assert run["status"] == Evaluation.MATCHED and run["held"] is True and run["actions"]
    assert "held" not in run_of()


def test_a_policy_sends_the_key_and_how_to_reenroll() -> None:
    run = run_of(enrollment=NEVER)
    assert (run["enrollmentKey"], run["reenroll"]) == ('"a1"', "never")
    by_patient = run_of(enrollment={"reenroll": "after_finish"})
    assert (by_patient["enrollmentKey"], by_patient["reenroll"]) == ("patient:pat1", "after_finish")


def test_always_or_a_missing_key_value_limits_nothing() -> None:
    assert "enrollmentKey" not in run_of(enrollment={"key": "appointment.id", "reenroll": "always"})
    assert "enrollmentKey" not in run_of(enrollment={"key": "appointment.provider", "reenroll": "never"})


def test_the_test_button_is_neither_paused_nor_limited() -> None:
    event = {**appointment_event("crm/appointment.updated"), "onlyRuleId": "r1"}
    for rule in ({"paused": "skip"}, {"paused": "hold"}, {"enrollment": NEVER}):
        run = run_of(event, **rule)
        assert run["status"] == Evaluation.MATCHED and "held" not in run and "enrollmentKey" not in run

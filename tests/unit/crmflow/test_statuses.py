"""The statuses are defined once: the evaluator's verdicts are run statuses (but ``matched``)."""

from __future__ import annotations

from crmflow.statuses import FINAL_AT_EVALUATION, Evaluation, RunStatus


def test_every_verdict_but_matched_is_a_final_run_status() -> None:
    verdicts = {e.value for e in Evaluation} - {Evaluation.MATCHED.value}
    assert verdicts == {s.value for s in FINAL_AT_EVALUATION}
    assert verdicts <= {s.value for s in RunStatus}
    assert RunStatus.RUNNING not in FINAL_AT_EVALUATION and RunStatus.WAITING not in FINAL_AT_EVALUATION


def test_statuses_are_their_strings() -> None:
    """What the database stores, JSON carries and SQL compares: the plain value."""
    assert RunStatus.WAITING == "waiting" and f"{RunStatus.WAITING}" == "waiting"
    assert "skipped" in FINAL_AT_EVALUATION

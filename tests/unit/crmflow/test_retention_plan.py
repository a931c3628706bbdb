"""The retention plan: what may be pruned, from when, and the batch loop that stops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crmflow.retention_plan import (
    KEPT_RUN_STATUSES,
    STEPS,
    backtest_sample_prunable,
    cutoff,
    drain,
    outbox_prunable,
    run_prunable,
)
from crmflow.statuses import RunStatus

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
BEFORE = cutoff(NOW, 30)
OLD = NOW - timedelta(days=31)
RECENT = NOW - timedelta(days=29)


def test_cutoff_is_the_window_before_now_and_at_least_a_day():
    assert datetime(2026, 11, 7, 12, 0, tzinfo=UTC) == BEFORE
    with pytest.raises(ValueError):
        cutoff(NOW, 0)


def test_steps_name_the_four_kinds_of_data_and_only_payload_columns():
    assert [(s.name, s.table, s.column) for s in STEPS] == [
        ("outboxPayloads", "outbox_events", "payload"),
        ("runTraces", "automation_runs", "trace"),
        ("actionLogArgs", "automation_action_logs", "args"),
        ("backtestSamples", "backtests", "sample"),
    ]


@pytest.mark.parametrize(
    ("status", "aggregate", "created", "prunable"),
    [
        ("published", "patient", OLD, True),
        ("published", "appointment", OLD, True),
        ("published", "patient", RECENT, False),  # inside the window: backtests read it
        ("pending", "patient", OLD, False),  # not streamed yet
        ("published", "rule", OLD, False),
    ],
)
def test_outbox_rows_still_needed_are_kept(status, aggregate, created, prunable):
    assert (
        outbox_prunable(status=status, aggregate_type=aggregate, created_at=created, before=BEFORE)
        is prunable
    )


@pytest.mark.parametrize("status", list(RunStatus))
def test_runs_that_still_execute_keep_their_trace_at_any_age(status):
    kept = status.value in KEPT_RUN_STATUSES
    assert run_prunable(status=status.value, created_at=OLD, before=BEFORE) is not kept
    assert run_prunable(status=status.value, created_at=RECENT, before=BEFORE) is False
    assert kept == (status in (RunStatus.RUNNING, RunStatus.WAITING))


@pytest.mark.parametrize(
    ("status", "until", "prunable"),
    [
        ("done", OLD, True),
        ("failed", OLD, True),
        ("cancelled", OLD, True),
        ("done", RECENT, False),  # its newest events are still inside the window
        ("running", OLD, False),  # its worker writes the sample when it ends
    ],
)
def test_a_backtest_sample_goes_once_its_window_ended_before_the_cutoff(status, until, prunable):
    assert backtest_sample_prunable(status=status, until=until, before=BEFORE) is prunable


def test_drain_prunes_batches_until_one_comes_back_short():
    remaining = [2500]
    calls: list[int] = []
    progress: list[tuple[int, int]] = []

    def batch(limit: int) -> int:
        calls.append(limit)
        pruned = min(limit, remaining[0])
        remaining[0] -= pruned
        return pruned

    assert drain(batch, 1000, progress=lambda n, total: progress.append((n, total))) == 2500
    assert calls == [1000, 1000, 1000]
    assert progress == [(1000, 1000), (1000, 2000), (500, 2500)]


def test_drain_of_an_exact_multiple_makes_one_empty_batch_and_reports_none_for_it():
    remaining = [2000]

    def batch(limit: int) -> int:
        pruned = min(limit, remaining[0])
        remaining[0] -= pruned
        return pruned

    progress: list[int] = []
    assert drain(batch, 1000, progress=lambda n, _t: progress.append(n)) == 2000
    assert progress == [1000, 1000]


def test_drain_stops_when_asked_and_refuses_an_empty_batch_size():
    stop = iter([False, True])
    assert drain(lambda limit: limit, 10, should_stop=lambda: next(stop)) == 10
    with pytest.raises(ValueError):
        drain(lambda limit: 0, 0)

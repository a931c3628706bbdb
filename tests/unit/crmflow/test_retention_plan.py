"""The retention plan: what may be pruned, from when, and the batch loop that stops."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crmflow.retention_plan import (
    KEPT_RUN_STATUSES,
    STEPS,
    cutoff,
    drain,
)
from crmflow.statuses import RunStatus

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
BEFORE = cutoff(NOW, 30)


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


def test_only_runs_that_still_execute_keep_their_trace_at_any_age():
    assert set(KEPT_RUN_STATUSES) == {RunStatus.RUNNING.value, RunStatus.WAITING.value}


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

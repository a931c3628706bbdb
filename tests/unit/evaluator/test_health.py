"""The evaluator's /readyz: 503 until the rules are loaded and while the worker rebalances."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from crmflow_evaluator.health import readiness


@dataclass
class Worker:
    rebalancing: bool
    rebalancing_count: int


@pytest.mark.parametrize(
    ("worker", "rules_loaded", "status"),
    [
        (Worker(rebalancing=False, rebalancing_count=0), True, "rebalancing"),  # never joined yet
        (Worker(rebalancing=True, rebalancing_count=1), True, "rebalancing"),  # first join
        (Worker(rebalancing=True, rebalancing_count=3), True, "rebalancing"),  # a later one
        (Worker(rebalancing=False, rebalancing_count=1), False, "loading rules"),
    ],
)
def test_not_ready_without_rules_or_a_settled_assignment(
    worker: Worker, rules_loaded: bool, status: str
) -> None:
    ready, body = readiness(worker, rules_loaded=rules_loaded, rules=4, partitions=6)
    assert not ready
    assert body["status"] == status


def test_not_ready_while_rebalancing_holds_no_partitions() -> None:
    _, body = readiness(
        Worker(rebalancing=True, rebalancing_count=2), rules_loaded=True, rules=4, partitions=6
    )
    assert (body["assigned"], body["partitions"]) == (False, 0)


def test_ready_with_rules_and_a_settled_assignment_even_of_no_partition() -> None:
    worker = Worker(rebalancing=False, rebalancing_count=2)
    assert readiness(worker, rules_loaded=True, rules=4, partitions=6) == (
        True,
        {"status": "ready", "rules": 4, "assigned": True, "partitions": 6},
    )
    assert readiness(worker, rules_loaded=True, rules=4, partitions=0)[0]  # more workers than partitions

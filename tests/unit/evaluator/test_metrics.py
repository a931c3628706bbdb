from __future__ import annotations

from typing import NamedTuple

from prometheus_client import REGISTRY

from crmflow_evaluator.metrics import update_consumer_lag


class TP(NamedTuple):
    topic: str
    partition: int


def _lag(topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value(
        "crmflow_evaluator_consumer_lag", {"topic": topic, "partition": str(partition)}
    )


def test_lag_is_end_minus_committed_or_read_and_released_partitions_disappear():
    a, b, c = TP("crm.patient", 0), TP("crm.patient", 1), TP("crm.message", 2)
    update_consumer_lag(
        [a, b, c],
        end_offsets={a: 120, b: 40, c: 9},
        committed={a: 100},
        read={a: 119, b: 30},  # b not committed yet: last read + 1
    )
    assert (_lag(*a), _lag(*b), _lag(*c)) == (20, 9, None)  # c: nothing known yet
    update_consumer_lag([b], end_offsets={a: 120, b: 40}, committed={b: 40}, read={})
    assert (_lag(*a), _lag(*b)) == (None, 0)

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


def test_lag_is_end_minus_committed_read_or_position_and_released_partitions_disappear():
    a, b, c = TP("crm.patient", 0), TP("crm.patient", 1), TP("crm.message", 2)
    update_consumer_lag(
        [a, b, c],
        end_offsets={a: 120, b: 40, c: 9},
        committed={a: 100},
        read={a: 119, b: 30},  # b not committed yet: last read + 1
        positions={a: 120, b: 31, c: 4},  # c read nothing yet: from its position
    )
    assert (_lag(*a), _lag(*b), _lag(*c)) == (20, 9, 5)
    update_consumer_lag([b], end_offsets={a: 120, b: 40}, committed={b: 40}, read={}, positions={})
    assert (_lag(*a), _lag(*b)) == (None, 0)


def test_a_partition_without_a_known_end_has_no_lag_yet():
    d = TP("crm.appointment", 3)
    update_consumer_lag([d], end_offsets={d: None}, committed={}, read={}, positions={d: 0})
    assert _lag(*d) is None

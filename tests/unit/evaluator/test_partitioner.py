"""The evaluator (Faust, through aiokafka) partitions keys like the Java client and librdkafka's
``murmur2_random``: murmur2 of the key bytes, sign bit cleared, modulo the partition count.
(tests/integration/test_evaluator_partitioner.py checks confluent-kafka on a real broker.)"""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner, murmur2

from crmflow.commands import command_key

# Reference values of Kafka's Java Utils.murmur2 (its UtilsTest), as signed 32-bit ints.
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("key", "expected"), JAVA_MURMUR2.items())
def test_aiokafka_murmur2_is_javas(key: bytes, expected: int) -> None:
    assert murmur2(key) & 0xFFFFFFFF == expected & 0xFFFFFFFF


@pytest.mark.parametrize("partitions", [1, 6, 7, 12])
def test_default_partitioner_is_positive_murmur2_modulo_partitions(partitions: int) -> None:
    all_partitions = list(range(partitions))
    for i in range(500):
        key = command_key(f"practice-{i % 7}", f"patient-{i}", "entity")
        expected = (murmur2(key) & 0x7FFFFFFF) % partitions
        assert DefaultPartitioner()(key, all_partitions, all_partitions) == expected

"""aiokafka's default partitioner with its hash memoised per key.

aiokafka hashes every key with a pure-Python murmur2 (~7% of the evaluator's samples in the
previous profile); a patient's commands share their key, so the hash of a key seen lately is
looked up instead. Same partitions as ``aiokafka.partitioner.DefaultPartitioner`` (so as
librdkafka's ``murmur2_random``: tests/integration/test_evaluator_partitioner.py,
tests/unit/evaluator/test_partitioner.py).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache

from aiokafka.partitioner import murmur2

CACHED_KEYS = 65_536


@lru_cache(maxsize=CACHED_KEYS)
def _positive_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


class CachedPartitioner:
    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        return all_partitions[_positive_hash(bytes(key)) % len(all_partitions)]

"""A key lands on the same partition whichever crmflow client produces it: the evaluator leaves
partitioning to aiokafka's default (murmur2, as Kafka's Java client) and crmflow's librdkafka
producers ask for ``murmur2_random``, its librdkafka name. That the two agree on a real broker is
tests/integration/test_evaluator_partitioner.py's to show; here: crmflow's side of it."""

from __future__ import annotations

from crmflow.kafka import producer_config
from crmflow.settings import Settings
from crmflow_evaluator.app import build_app


def test_the_evaluator_sets_no_partitioner_of_its_own() -> None:
    # None: Faust's aiokafka producer falls back to aiokafka's DefaultPartitioner (murmur2).
    assert build_app(Settings()).conf.producer_partitioner is None


def test_crmflows_librdkafka_producers_partition_by_murmur2() -> None:
    assert producer_config(Settings())["partitioner"] == "murmur2_random"

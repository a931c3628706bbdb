"""The evaluator's broker long poll: aiokafka's fetch wait, which Faust fixes at 1.5 s.

aiokafka keeps one fetch in flight per broker and leaves out of it the partitions whose records
are still buffered. When every busy partition is buffered as a fetch is sent (a burst), that
fetch holds only idle partitions (trigger topics without traffic), the broker keeps it for the
whole wait, and the busy partitions' next records wait behind it. Faust creates the worker's
consumer with ``fetch_max_wait_ms=1500`` and no setting to change it: at the start of an
800 events/s step events waited 1-1.5 s before evaluation while the evaluator was idle
(bench/README.md). This bounds that stall by ``CRMFLOW_EVALUATOR_FETCH_WAIT_MS``.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

_Thread: Any = faust_aiokafka.AIOKafkaConsumerThread
_faust_create = _Thread._create_worker_consumer


def bound_fetch_wait(ms: int) -> None:
    """Make the consumers Faust creates from now on in this process wait at most ``ms``."""

    def create(self: Any, transport: Any) -> Any:
        consumer = _faust_create(self, transport)
        consumer._fetch_max_wait_ms = ms  # read by the Fetcher aiokafka builds in start()
        return consumer

    _Thread._create_worker_consumer = create

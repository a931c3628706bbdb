"""/readyz is 503 while an instance holds no settled assignment (SPEC 11): a second instance
joining the group takes the first through a rebalance, and it is ready again once the group has
settled. For the runner, a plain group member that stops polling holds the rebalance open (the
group waits for every member to rejoin), so the 503 is observed for as long as the test likes,
not caught in a window of milliseconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from confluent_kafka import Consumer

from crmflow import topics
from crmflow.kafka import consumer_config
from crmflow.settings import Settings
from crmflow_runner.bootstrap import GROUP_ID
from tests.support.processes import Service, wait_for
from tests.support.slot import make_service

pytestmark = pytest.mark.e2e


def readyz(service: Service) -> int:
    try:
        return httpx.get(f"{service.url}/readyz", timeout=2).status_code
    except httpx.HTTPError:
        return 0


@contextmanager
def member_of_the_runners_group(settings: Settings) -> Iterator[Consumer]:
    """A member of the runners' group, assigned its share of the commands; it commits nothing."""
    member = Consumer(consumer_config(settings, GROUP_ID))
    member.subscribe([topics.COMMANDS])
    try:
        wait_for(lambda: member.poll(0.2) is None and member.assignment(), 60, 0, "the member's assignment")
        yield member
    finally:
        member.close()


def test_the_runner_is_503_from_a_revocation_until_the_group_has_settled(
    services: dict[str, Service], settings: Settings
) -> None:
    runner = services["runner"]
    second = make_service("runner", settings, second=True)
    with member_of_the_runners_group(settings):
        wait_for(runner.ready, 60, 0.1, "the runner to settle beside the member")
        second.launch()  # joins: the group rebalances, and waits for the member that does not poll
        wait_for(lambda: readyz(runner) == 503, 60, 0.05, "the runner's 503 after its revocation")
        for _ in range(20):  # as long as the rebalance lasts
            assert readyz(runner) == 503
            assert readyz(second) == 503
    # the member has left: the group settles on the two runners
    wait_for(runner.ready, 60, 0.1, "the runner to be ready again")
    wait_for(second.ready, 60, 0.1, "the second runner to be ready")
    second.stop()
    wait_for(runner.ready, 60, 0.1, "the runner to be ready alone again")


class ReadyzRecorder(threading.Thread):
    """Polls a service's /readyz as fast as it answers, keeping each change of status and when."""

    def __init__(self, service: Service) -> None:
        super().__init__(daemon=True)
        self.url = f"{service.url}/readyz"
        self.changes: list[tuple[int, float]] = []
        self.halt = threading.Event()

    @property
    def statuses(self) -> list[int]:
        return [status for status, _ in self.changes]

    def run(self) -> None:
        with httpx.Client(timeout=2) as client:
            while not self.halt.is_set():
                try:
                    status = client.get(self.url).status_code
                except httpx.HTTPError:
                    status = 0
                if not self.changes or self.changes[-1][0] != status:
                    self.changes.append((status, time.monotonic()))


def test_the_evaluator_is_503_while_a_second_instance_rebalances_the_group(
    services: dict[str, Service], settings: Settings
) -> None:
    """Faust's worker is ready again within moments of its revocation (no tables to recover), so
    the test records every status change of /readyz rather than polling at intervals; a second
    instance joins and leaves (two rebalances) up to three times until a 503 was seen, since on a
    busy machine one poll can outlast a whole rebalance. Every time, both end ready with partitions."""
    evaluator = services["evaluator"]
    wait_for(evaluator.ready, 60, 0.1, "the evaluator to be ready")
    seen: list[list[int]] = []
    for _ in range(3):
        second = make_service("evaluator", settings, second=True)
        recorder = ReadyzRecorder(evaluator)
        recorder.start()
        try:
            second.launch()
            wait_for(second.ready, 90, 0.1, "the second evaluator to be ready")
            wait_for(evaluator.ready, 60, 0.1, "the evaluator to be ready again")
            assert httpx.get(f"{evaluator.url}/readyz", timeout=2).json()["partitions"] > 0
            assert httpx.get(f"{second.url}/readyz", timeout=2).json()["partitions"] > 0
            second.stop()
            wait_for(evaluator.ready, 60, 0.1, "the evaluator to be ready alone again")
        finally:
            recorder.halt.set()
            recorder.join()
            second.stop()
        seen.append(recorder.statuses)
        assert recorder.statuses[0] == 200 and recorder.statuses[-1] == 200, recorder.statuses
        assert set(recorder.statuses) <= {200, 503}, recorder.statuses  # never down, never another code
        if 503 in recorder.statuses:
            break
    assert any(503 in statuses for statuses in seen), f"no 503 seen in three rebalance pairs: {seen}"

"""How the runner takes a batch off its consumer: it blocks on the broker until a first command
comes (no idle polling every few ms), then takes what was fetched with it, up to the batch size."""

from __future__ import annotations

import threading
from typing import Any

from crmflow_runner.consumer import IDLE_POLL_SECONDS, CommandConsumer


class FakeConsumer:
    def __init__(self, queued: list[str]) -> None:
        self.queued = queued
        self.calls: list[tuple[str, Any, float]] = []

    def poll(self, timeout: float) -> str | None:
        self.calls.append(("poll", 1, timeout))
        return self.queued.pop(0) if self.queued else None

    def consume(self, num_messages: int, timeout: float) -> list[str]:
        self.calls.append(("consume", num_messages, timeout))
        taken, self.queued = self.queued[:num_messages], self.queued[num_messages:]
        return taken


def _runner(fake: FakeConsumer, batch_size: int, poll_seconds: float = 0.0) -> CommandConsumer:
    unused: Any = None
    consumer: Any = fake
    return CommandConsumer(
        consumer=consumer,
        producer=unused,
        engine=unused,
        executor=unused,
        topic="crmflow.commands",
        batch_size=batch_size,
        poll_seconds=poll_seconds,
        max_retries=1,
        stop=threading.Event(),
    )


def test_idle_blocks_in_one_long_poll_and_takes_nothing_more() -> None:
    fake = FakeConsumer([])
    assert _runner(fake, 500)._poll_batch() == []
    assert fake.calls == [("poll", 1, IDLE_POLL_SECONDS)]
    assert IDLE_POLL_SECONDS >= 0.1  # an idle runner wakes a few times a second at most


def test_first_command_then_what_was_fetched_with_it_up_to_the_batch_size() -> None:
    fake = FakeConsumer([f"m{i}" for i in range(7)])
    assert _runner(fake, 5)._poll_batch() == ["m0", "m1", "m2", "m3", "m4"]
    assert fake.calls == [("poll", 1, IDLE_POLL_SECONDS), ("consume", 4, 0.0)]
    assert _runner(fake, 5, poll_seconds=0.01)._poll_batch() == ["m5", "m6"]
    assert fake.calls[-1] == ("consume", 4, 0.01)


def test_batch_of_one_never_consumes_more() -> None:
    fake = FakeConsumer(["m0", "m1"])
    assert _runner(fake, 1)._poll_batch() == ["m0"]
    assert [c[0] for c in fake.calls] == ["poll"]

"""publish_batch: nothing of a batch is lost, order is kept, unpublishable events dead-lettered."""

from __future__ import annotations

import asyncio

from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from crmflow_evaluator.publisher import Out, publish_batch


class FakeBroker:
    """Queues records; ``failures`` maps a value to the errors its next deliveries raise."""

    def __init__(self, failures=None, refuse=()):
        self.failures = {k: list(v) for k, v in (failures or {}).items()}
        self.refuse = set(refuse)  # values refused before queueing (client-side size check)
        self.log: list[bytes] = []

    async def send(self, out: Out):
        if out.value in self.refuse:
            raise MessageSizeTooLargeError("too large for the client")
        future = asyncio.get_running_loop().create_future()
        errors = self.failures.get(out.value)
        if errors:
            future.set_exception(errors.pop(0))
        else:
            self.log.append(out.value)
            future.set_result(None)
        return future


def dead_letter(event, reason, detail):
    return Out("dlq", None, f"dlq:{event}:{reason}".encode(), is_dead_letter=True)


def run(pending, broker):
    asyncio.run(publish_batch(pending, broker.send, dead_letter, backoff=0.001))


def outs(*values):
    return [Out("commands", b"k", v.encode()) for v in values]


def test_everything_is_published_in_order_when_nothing_fails():
    broker = FakeBroker()
    run([("e1", outs("a", "b")), ("e2", outs("c"))], broker)
    assert broker.log == [b"a", b"b", b"c"]


def test_a_transient_failure_resends_that_event_and_every_later_one_in_order():
    broker = FakeBroker(failures={b"b": [KafkaTimeoutError(), KafkaTimeoutError()]})
    run([("e1", outs("a")), ("e2", outs("b", "c")), ("e3", outs("d"))], broker)
    # Delivered once in the first round except b; e2 and e3 again, in order, until b gets through.
    assert broker.log == [b"a", b"c", b"d", b"c", b"d", b"b", b"c", b"d"]


def test_a_record_the_broker_can_never_take_dead_letters_its_event():
    broker = FakeBroker(failures={b"big": [MessageSizeTooLargeError()]}, refuse={b"huge"})
    run([("e1", outs("big", "x")), ("e2", outs("huge")), ("e3", outs("y"))], broker)
    assert broker.log[-3:] == [b"dlq:e1:publish_failed", b"dlq:e2:publish_failed", b"y"]
    assert b"big" not in broker.log and b"huge" not in broker.log

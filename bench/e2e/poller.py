"""The seed's design, for comparison only: a polling outbox publisher (bench-only).

Every ``--interval`` seconds it publishes the pending outbox rows of one practice, oldest
first, in batches until none is left: SELECT ... FOR UPDATE SKIP LOCKED, produce each row to
the topic Debezium's EventRouter would route it to, with the same key (aggregate id), value
(the payload's JSON text, byte for byte as Debezium sends it) and headers (id, practiceId,
eventName, correlationId, causationId, rulesSeq), wait until the broker has acknowledged all of them,
then mark them published and commit. A crash between the broker's ack and the commit
publishes them again on the next poll (at-least-once, like CDC; the runner dedupes).

Ticks are on a fixed schedule (a slow poll does not push the next one back), and a tick drains
everything pending: a kinder publisher than a cron job calling a route every few minutes.
The harness pauses the Debezium connector while this runs (bench/e2e/stack.py).

Runs as ``python -m bench.e2e.poller``; stops on SIGTERM and prints one JSON line with what it
did and its own CPU time.
"""

from __future__ import annotations

import argparse
import json
import resource
import signal
import sys
import threading
import time
from typing import Any

import psycopg
from confluent_kafka import KafkaError, Message, Producer

from bench.e2e.stack import dsn
from crmflow import cdc
from crmflow.kafka import producer_config
from crmflow.settings import Settings
from crmflow.topics import topic_for_aggregate

_PENDING = """
SELECT id::text, aggregate_type, aggregate_id, payload::text, practice_id::text, event_name,
       correlation_id, causation_id, rules_seq::text
FROM outbox_events
WHERE status = 'pending' AND practice_id = %s
ORDER BY created_at
LIMIT %s
FOR UPDATE SKIP LOCKED
"""
_MARK = """
UPDATE outbox_events SET status = 'published', published_at = clock_timestamp()
WHERE id = ANY(%s::uuid[])
"""
FLUSH_TIMEOUT = 30.0


class Undelivered(RuntimeError):
    pass


def publish_batch(conn: psycopg.Connection[Any], producer: Producer, practice_id: str, limit: int) -> int:
    """Publish and mark one batch in one transaction; returns how many rows it held."""
    errors: list[KafkaError] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(err)

    with conn.transaction():
        rows = conn.execute(_PENDING, (practice_id, limit)).fetchall()
        for event_id, aggregate, aggregate_id, payload, practice, name, correlation, causation, seq in rows:
            producer.produce(
                topic_for_aggregate(aggregate),
                key=aggregate_id,
                value=payload,
                headers=[
                    (cdc.EVENT_ID_HEADER, event_id),
                    (cdc.PRACTICE_ID_HEADER, practice),
                    (cdc.EVENT_NAME_HEADER, name),
                    (cdc.CORRELATION_ID_HEADER, correlation),
                    (cdc.CAUSATION_ID_HEADER, causation),
                    (cdc.RULES_SEQ_HEADER, seq),
                ],
                on_delivery=delivered,
            )
        if rows:
            if producer.flush(FLUSH_TIMEOUT) > 0 or errors:
                raise Undelivered(f"{len(errors)} not delivered: {errors[:1]}")  # rolls back
            conn.execute(_MARK, ([r[0] for r in rows],))
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--practice", required=True)
    p.add_argument("--interval", type=float, required=True, help="seconds between polls")
    p.add_argument("--batch", type=int, default=1000, help="rows per SELECT")
    args = p.parse_args(argv)

    settings = Settings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    producer = Producer(producer_config(settings))
    published = polls = failures = 0
    with psycopg.connect(dsn(settings), application_name="bench-poller") as conn:
        tick = time.monotonic()
        while not stop.is_set():
            polls += 1
            try:
                while (n := publish_batch(conn, producer, args.practice, args.batch)) > 0:
                    published += n
                    if n < args.batch:
                        break
            except (Undelivered, psycopg.Error) as exc:
                failures += 1
                print(f"poll failed: {exc}", file=sys.stderr, flush=True)
            tick += args.interval
            stop.wait(max(0.0, tick - time.monotonic()))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    sys.stdout.write(
        json.dumps(
            {
                "final": True,
                "published": published,
                "polls": polls,
                "failures": failures,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "max_rss_kib": usage.ru_maxrss,
            }
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

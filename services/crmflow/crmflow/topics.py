"""Kafka topic names and their configuration: the one source of truth.

CDC topics are named ``crm.<aggregate_type>`` by the Debezium EventRouter
(``route.topic.replacement=crm.${routedByValue}`` in deploy/connect/crmflow-outbox.json).
"""

from __future__ import annotations

from dataclasses import dataclass, field

CDC_TOPIC_PREFIX = "crm."

PATIENT = "crm.patient"
APPOINTMENT = "crm.appointment"
MESSAGE = "crm.message"
RULES = "crm.rule"
COMMANDS = "crmflow.commands"
DEAD_LETTERS = "crmflow.dlq"

EVENT_TOPICS: tuple[str, ...] = (PATIENT, APPOINTMENT, MESSAGE)

# Record size limits (topic ``max.message.bytes``). Events over 1 MiB are refused by the
# evaluator (envelope.MAX_EVENT_BYTES), so the event topics must hold larger records for them to
# be dead-lettered whole; a command carries an event plus actions and trace; the dead-letter
# topic holds any of these plus its x-dlq-* headers. Producers size their requests to DLQ_MAX_BYTES.
EVENT_MAX_BYTES = 2 * 1024 * 1024
COMMAND_MAX_BYTES = 4 * 1024 * 1024
DLQ_MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int | None  # None: the deployment's default (CRMFLOW_TOPIC_PARTITIONS)
    config: dict[str, str] = field(default_factory=dict)


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(PATIENT, None, {"max.message.bytes": str(EVENT_MAX_BYTES)}),
    TopicSpec(APPOINTMENT, None, {"max.message.bytes": str(EVENT_MAX_BYTES)}),
    TopicSpec(MESSAGE, None, {"max.message.bytes": str(EVENT_MAX_BYTES)}),
    TopicSpec(COMMANDS, None, {"max.message.bytes": str(COMMAND_MAX_BYTES)}),
    # Rules are read from the start by every evaluator worker: compaction keeps the latest
    # version of every rule forever (auto-created topics would expire them after 7 days), and
    # a deleted rule's tombstone too: its rulesSeq header is how a worker loading the topic learns
    # the practice's latest rule change when that change was a deletion.
    TopicSpec(
        RULES,
        1,
        {
            "cleanup.policy": "compact",
            "min.compaction.lag.ms": "0",
            "segment.ms": "3600000",
            # ~100 years, not Long.MAX: the cleaner adds it to the clock (KIP-534 delete horizon)
            "delete.retention.ms": str(100 * 365 * 24 * 3600 * 1000),
        },
    ),
    TopicSpec(
        DEAD_LETTERS,
        1,
        {"retention.ms": str(30 * 24 * 3600 * 1000), "max.message.bytes": str(DLQ_MAX_BYTES)},
    ),
)


def topic_for_aggregate(aggregate_type: str) -> str:
    return f"{CDC_TOPIC_PREFIX}{aggregate_type}"

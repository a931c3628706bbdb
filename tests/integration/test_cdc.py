"""The outbox through real Debezium into real Kafka: key, headers, value, tombstones; only inserts
are published; the replication slot moves on while only other tables are written."""

from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka import Message
from sqlalchemy import text

from crmflow import cdc, topics
from crmflow.envelope import EventEnvelope
from crmflow.outbox import RULE_AGGREGATE, RULE_CHANGED, emit, publish_state
from tests.support.kafka import TopicTail
from tests.support.outbox import write_patient_event
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def tail(settings):
    tails = []

    def open_tail(topic):
        tails.append(TopicTail(settings.kafka_bootstrap, topic))
        return tails[-1]

    yield open_tail
    for t in tails:
        t.close()


def test_an_outbox_row_becomes_a_keyed_record_with_headers(engine, practice, tail):
    patients = tail(topics.PATIENT)
    entity_id, correlation_id, causation_id = (str(uuid.uuid4()) for _ in range(3))
    with engine.begin() as conn:
        conn.execute(  # as if the practice had changed its rules 41 times
            text("UPDATE practices SET rules_seq = 41 WHERE id = :p"), {"p": practice["id"]}
        )
    # JSON that must come through as written: escapes, non-ASCII, a decimal, an exponent, a list
    data = {"patient": {"id": entity_id, "note": 'café "q" \\ \n', "balance": 12.50, "n": 1e3, "tags": ["a"]}}
    with engine.begin() as conn:
        envelope = write_patient_event(
            conn,
            practice["id"],
            entity_id=entity_id,
            data=data,
            correlation_id=correlation_id,
            causation_id=causation_id,
            depth=1,
        )
    msg = patients.find(lambda m: m.key() == entity_id.encode())
    headers = {k: v.decode() if v is not None else None for k, v in msg.headers() or []}
    # The placed headers and nothing else (no __debezium ones: extended.headers.enabled=false).
    assert set(headers) == {"id", "practiceId", "eventName", "correlationId", "causationId", "rulesSeq"}
    assert headers["id"] == envelope["id"]
    assert headers["practiceId"] == practice["id"]
    assert headers["eventName"] == "crm/patient.created"
    assert (headers["correlationId"], headers["causationId"]) == (correlation_id, causation_id)
    assert headers["rulesSeq"] == "41"  # the practice's rule changes committed before the event
    EventEnvelope.model_validate_json(msg.value() or b"", strict=True)  # the contract, as streamed
    value = json.loads(msg.value() or b"")
    assert value == envelope and value["data"] == data
    assert value["occurredAt"]  # set by the database
    assert (value["correlationId"], value["causationId"], value["depth"]) == (correlation_id, causation_id, 1)


def test_a_rolled_back_write_never_reaches_kafka(engine, practice, tail):
    patients = tail(topics.PATIENT)
    lost, kept = str(uuid.uuid4()), str(uuid.uuid4())
    with pytest.raises(RuntimeError), engine.begin() as conn:
        emit(conn, practice["id"], "crm/patient.created", lost, {})
        raise RuntimeError("entity write failed")
    with engine.begin() as conn:
        emit(conn, practice["id"], "crm/patient.created", kept, {})
    seen: list[bytes | None] = []

    def is_kept(m: Message) -> bool:
        seen.append(m.key())
        return m.key() == kept.encode()

    msg = patients.find(is_kept)
    assert lost.encode() not in seen
    # A user's event as the library writes it: no cause, so a null header and a null causationId.
    assert dict(msg.headers() or [])["causationId"] is None
    assert EventEnvelope.model_validate_json(msg.value() or b"", strict=True).causationId is None


def test_only_inserts_are_published(engine, practice, tail):
    """Updates and deletes of outbox rows (status changes, clean-ups) never reach Kafka."""
    patients = tail(topics.PATIENT)
    entity_id = str(uuid.uuid4())
    with engine.begin() as conn:
        first = write_patient_event(conn, practice["id"], entity_id=entity_id)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE outbox_events SET status = 'published' WHERE id = :id"), {"id": first["id"]}
        )
        conn.execute(text("DELETE FROM outbox_events WHERE id = :id"), {"id": first["id"]})
    with engine.begin() as conn:
        second = write_patient_event(conn, practice["id"], entity_id=entity_id)
    # The entity's records in order (one key, one partition): the two inserts and nothing between.
    ids = [
        dict(patients.find(lambda m: m.key() == entity_id.encode()).headers() or [])["id"] for _ in range(2)
    ]
    assert ids == [first["id"].encode(), second["id"].encode()]


def test_the_slot_moves_on_while_only_other_tables_are_written(engine, practice):
    """Debezium's heartbeat (heartbeat.action.query) confirms the slot past WAL that holds no
    outbox insert, so a quiet outbox never makes PostgreSQL keep WAL without end."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE practices SET name = name WHERE id = :p"), {"p": practice["id"]})
    with engine.connect() as conn:
        written = conn.execute(text("SELECT pg_current_wal_lsn()")).scalar_one()

    def confirmed_past_it() -> bool:
        with engine.connect() as conn:
            return bool(
                conn.execute(
                    text(
                        "SELECT confirmed_flush_lsn >= CAST(:lsn AS pg_lsn) FROM pg_replication_slots "
                        "WHERE slot_name = :slot"
                    ),
                    {"lsn": written, "slot": cdc.SLOT},
                ).scalar_one()
            )

    # The heartbeat runs every 10 s (deploy/connect/crmflow-outbox.json), Connect flushes offsets
    # every second.
    wait_for(confirmed_past_it, 40, 0.5, "the slot confirmed past the last write")


def test_rule_state_and_tombstones_reach_the_compacted_rules_topic(engine, practice, tail):
    rules = tail(topics.RULES)
    rule_id = str(uuid.uuid4())
    # the rule, then its deletion, as the practice's rule changes number 7 and 8
    for rules_seq, rule_state in ((7, {"id": rule_id, "version": 1}), (8, None)):
        with engine.begin() as conn:
            publish_state(
                conn,
                practice_id=practice["id"],
                aggregate_type=RULE_AGGREGATE,
                aggregate_id=rule_id,
                name=RULE_CHANGED,
                state=rule_state,
                rules_seq=rules_seq,
            )
    state = rules.find(lambda m: m.key() == rule_id.encode())
    assert json.loads(state.value()) == {"id": rule_id, "version": 1}
    assert dict(state.headers())["rulesSeq"] == b"7"
    tombstone = rules.find(lambda m: m.key() == rule_id.encode())
    assert tombstone.value() is None
    assert dict(tombstone.headers())["rulesSeq"] == b"8"  # deletions are numbered too
    with engine.connect() as conn:  # state rows never accumulate in the outbox table
        assert (
            conn.execute(
                text("SELECT count(*) FROM outbox_events WHERE aggregate_id = :r"), {"r": rule_id}
            ).scalar_one()
            == 0
        )

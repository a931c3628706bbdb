"""The outbox through real Debezium into real Kafka: key, headers, value, tombstones."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text

from crmflow import topics
from crmflow.outbox import RULE_AGGREGATE, RULE_CHANGED, emit, event_row, publish_state, write_event
from tests.support.kafka import TopicTail

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
    with engine.begin() as conn:
        envelope = write_event(
            conn,
            event_row(
                practice_id=practice["id"],
                aggregate_type="patient",
                name="crm/patient.created",
                entity_type="patient",
                entity_id=entity_id,
                data={"patient": {"id": entity_id}},
                correlation_id=correlation_id,
                causation_id=causation_id,
                depth=1,
            ),
        )
    msg = patients.find(lambda m: m.key() == entity_id.encode())
    headers = {k: v.decode() if v is not None else None for k, v in msg.headers()}
    assert headers["id"] == envelope["id"]
    assert headers["practiceId"] == practice["id"]
    assert headers["eventName"] == "crm/patient.created"
    assert (headers["correlationId"], headers["causationId"]) == (correlation_id, causation_id)
    assert headers["rulesSeq"] == "41"  # the practice's rule changes committed before the event
    value = json.loads(msg.value())
    assert value == envelope
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
    seen = []
    patients.find(lambda m: seen.append(m.key()) or m.key() == kept.encode())
    assert lost.encode() not in seen


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

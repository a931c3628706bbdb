"""The rules repository on real PostgreSQL (and, for what it publishes, Debezium and Kafka): the
rule record it writes, and rule reads that lock (a PATCH validates against a state no other PATCH
can replace meanwhile)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from crmflow import topics
from crmflow.rule_record import Rule
from crmflow.rules_repo import create_rule, get_rule
from crmflow.settings import Settings
from crmflow_evaluator.rules_index import RulesIndex
from tests.support.kafka import TopicTail
from tests.support.rules import NOTE_ACTION

pytestmark = pytest.mark.integration


def test_a_locked_rule_waits_for_the_holder_and_a_plain_read_does_not(engine, practice):
    with engine.begin() as conn:
        rule = create_rule(
            conn,
            practice["id"],
            {"name": "r", "enabled": True, "triggerEvent": "crm/patient.created", "actionsJson": []},
        )
    with engine.begin() as holder:
        assert get_rule(holder, practice["id"], rule["id"], lock=True) == rule
        with engine.connect() as other:
            other.execute(text("SET lock_timeout = '200ms'"))
            assert get_rule(other, practice["id"], rule["id"]) == rule  # reading is never blocked
            with pytest.raises(OperationalError, match="lock timeout"):
                get_rule(other, practice["id"], rule["id"], lock=True)
            other.rollback()


def test_the_saved_rule_reaches_crm_rule_as_the_record_the_evaluator_reads(
    engine: Engine, practice: dict[str, str], settings: Settings
) -> None:
    tail = TopicTail(settings.kafka_bootstrap, topics.RULES)
    try:
        with engine.begin() as conn:
            rule = create_rule(
                conn,
                practice["id"],
                {
                    "name": "record",
                    "enabled": True,
                    "triggerEvent": "crm/patient.created",
                    "conditionsJson": {"field": "patient.email", "operator": "exists"},
                    "actionsJson": [NOTE_ACTION],
                },
            )
        record = tail.find(lambda m: m.key() == rule["id"].encode())
    finally:
        tail.close()
    assert Rule.model_validate_json(record.value()).model_dump() == rule == Rule(**rule).model_dump()
    index = RulesIndex()
    index.apply(rule["id"], record.value())
    indexed = index.get(practice["id"], rule["id"])
    assert indexed is not None and indexed.compile_error is None
    assert (indexed.name, indexed.version, indexed.actions) == ("record", 1, rule["actionsJson"])

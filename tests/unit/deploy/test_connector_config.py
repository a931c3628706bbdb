"""deploy/connect/crmflow-outbox.json (read verbatim by every deployment) agrees with the names and
topic configs crmflow's own code holds (crmflow.topics, crmflow.settings): JSON cannot import them."""

from __future__ import annotations

import json
import re

from crmflow import topics
from crmflow.settings import Settings
from tests.support.processes import ROOT

CONNECTOR = json.loads((ROOT / "deploy" / "connect" / "crmflow-outbox.json").read_text())
CONFIG = CONNECTOR["config"]


def test_the_connector_name_is_the_settings_default():
    assert CONNECTOR["name"] == Settings.model_fields["connector_name"].default


def test_events_are_routed_to_the_cdc_topics():
    replacement = CONFIG["transforms.outbox.route.topic.replacement"]
    assert replacement == topics.CDC_TOPIC_PREFIX + "${routedByValue}"
    assert topics.topic_for_aggregate("patient") == topics.PATIENT


def test_a_crm_rule_topic_created_by_connect_has_the_topic_config_of_crmflow_topics():
    """Connect creates a topic it writes to if it is missing (`crmflow topics create` not run yet):
    crm.rule must then still be compacted and keep tombstones as crmflow.topics says, not expire."""
    [rules] = [spec for spec in topics.TOPICS if spec.name == topics.RULES]
    groups = CONFIG["topic.creation.groups"].split(",")
    assert groups == ["rules"]
    include = re.compile(CONFIG["topic.creation.rules.include"])
    assert include.fullmatch(topics.RULES)
    assert [t for t in topics.EVENT_TOPICS if include.fullmatch(t)] == []
    prefix = "topic.creation.rules."
    created = {key.removeprefix(prefix): v for key, v in CONFIG.items() if key.startswith(prefix)}
    partitions = created.pop("partitions", CONFIG["topic.creation.default.partitions"])
    assert int(partitions) == rules.partitions
    for not_a_topic_config in ("include", "exclude", "replication.factor"):
        created.pop(not_a_topic_config, None)
    assert created == rules.config

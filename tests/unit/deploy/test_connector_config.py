"""deploy/connect/crmflow-outbox.json (read verbatim by every deployment) agrees with the names and
topic configs crmflow's own code holds (crmflow.cdc, crmflow.topics, crmflow.settings): JSON cannot
import them."""

from __future__ import annotations

import json
import re

import pytest

from crmflow import cdc, topics
from crmflow.db.tables import outbox_events
from crmflow.settings import Settings
from tests.support.processes import ROOT

CONNECTOR = json.loads((ROOT / "deploy" / "connect" / "crmflow-outbox.json").read_text())
CONFIG = CONNECTOR["config"]
CDC_TOPICS = [spec for spec in topics.TOPICS if spec.name.startswith(topics.CDC_TOPIC_PREFIX)]


def test_the_connector_name_is_the_settings_default():
    assert CONNECTOR["name"] == Settings.model_fields["connector_name"].default


def test_events_are_routed_to_the_cdc_topics():
    replacement = CONFIG["transforms.outbox.route.topic.replacement"]
    assert replacement == topics.CDC_TOPIC_PREFIX + "${routedByValue}"
    assert topics.topic_for_aggregate("patient") == topics.PATIENT


def test_the_connector_streams_the_publication_and_slot_of_crmflow_cdc() -> None:
    assert CONFIG["publication.name"] == cdc.PUBLICATION
    assert CONFIG["slot.name"] == cdc.SLOT


def test_the_connector_places_the_headers_of_crmflow_cdc() -> None:
    placement = CONFIG["transforms.outbox.table.fields.additional.placement"]
    placed = dict(entry.split(":header:") for entry in placement.split(","))
    assert placed == dict(cdc.PLACED_HEADERS)
    assert set(placed) <= set(outbox_events.c.keys())
    assert CONFIG["transforms.outbox.table.field.event.id"] == "id"  # the id header's source


def _creation_group(topic: str) -> str:
    """The topic-creation group Connect applies to ``topic``: the first listed group whose
    include pattern matches it (the topics of crmflow.topics use no exclude), else default."""
    for group in CONFIG["topic.creation.groups"].split(","):
        assert f"topic.creation.{group}.exclude" not in CONFIG
        if re.fullmatch(CONFIG[f"topic.creation.{group}.include"], topic):
            return group
    return "default"


@pytest.mark.parametrize("spec", CDC_TOPICS, ids=[spec.name for spec in CDC_TOPICS])
def test_a_cdc_topic_created_by_connect_has_the_partitions_and_config_of_crmflow_topics(
    spec: topics.TopicSpec,
) -> None:
    """Connect creates a topic it writes to if it is missing (`crmflow topics create` not run yet):
    crm.rule must then still be compacted and keep tombstones, and an event topic must take the
    records crmflow.topics sizes it for and have the default partition count of the settings
    (Connect does not see CRMFLOW_TOPIC_PARTITIONS)."""
    group = _creation_group(spec.name)
    assert group != "default", f"{spec.name} would be created with no topic config"
    prefix = f"topic.creation.{group}."
    created = {key.removeprefix(prefix): v for key, v in CONFIG.items() if key.startswith(prefix)}
    partitions = created.pop("partitions", CONFIG["topic.creation.default.partitions"])
    assert int(partitions) == (spec.partitions or Settings.model_fields["topic_partitions"].default)
    for not_a_topic_config in ("include", "replication.factor"):
        created.pop(not_a_topic_config, None)
    assert created == spec.config

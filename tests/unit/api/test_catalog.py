"""Every action type has a catalog entry the web page's forms can render (schemaform.js argFields)."""

from __future__ import annotations

from typing import Any

from crmflow.actions import ACTION_TYPES
from crmflow.cancel_on import MAX_ENTRIES as MAX_CANCEL_ON
from crmflow.conditions import MAX_DEPTH
from crmflow.settings import Settings
from crmflow_api.routers.catalog import catalog

# The JSON types argFields turns into inputs ("string"/"text", "number", "json").
RENDERABLE = {"string", "integer", "number", "object", "array"}


def main_variant(prop: dict[str, Any]) -> dict[str, Any]:
    """As argFields picks it: the first non-null variant of anyOf/oneOf, or the property."""
    variants = prop.get("anyOf") or prop.get("oneOf") or [prop]
    return next((v for v in variants if v.get("type") != "null"), {})


def test_every_action_type_has_a_form_the_page_can_render() -> None:
    entries = {a.type: a.argsSchema for a in catalog("practice", Settings()).actions}
    assert entries.keys() == ACTION_TYPES.keys()
    for action_type, schema in entries.items():
        properties = schema.get("properties", {})
        assert properties, action_type
        assert set(schema.get("required", [])) <= properties.keys(), action_type
        for name, prop in properties.items():
            assert main_variant(prop).get("type") in RENDERABLE, (action_type, name, prop)


def test_a_property_the_page_cannot_render_is_caught() -> None:
    assert main_variant({"anyOf": [{"$ref": "#/$defs/Channel"}, {"type": "null"}]}).get("type") is None
    assert main_variant({"anyOf": [{"type": "integer"}, {"type": "null"}]})["type"] == "integer"


def test_the_limits_the_page_enforces_are_the_validators() -> None:
    limits = catalog("practice", Settings()).limits
    assert (limits.maxConditionDepth, limits.maxCancelOn) == (MAX_DEPTH, MAX_CANCEL_ON)


def test_wait_for_event_offers_its_events_and_timeout_choices() -> None:
    [entry] = [a for a in catalog("practice", Settings()).actions if a.type == "wait_for_event"]
    properties = entry.argsSchema["properties"]
    assert "crm/appointment.updated" in properties["eventName"]["enum"]
    assert properties["onTimeout"]["enum"] == ["continue", "stop"]
    assert entry.argsSchema["required"] == ["eventName", "match", "timeoutSeconds"]

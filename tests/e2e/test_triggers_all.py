"""All five trigger events through the real pipeline: every (event, rule) evaluation is a run.

crm/patient.created|updated and crm/appointment.created|updated come from the CRM API;
crm/message.drafted comes from a draft_sms action. Conditions that are false give a skipped run
with its trace, true ones a run whose actions executed, and the ids chain: an event's
correlation id reaches its runs and every event they cause, whose causation id is the run id
and whose depth is one more. A rule that updates the patient on crm/patient.updated is a real
loop, stopped by a blocked run once the depth exceeds MAX_CHAIN_DEPTH.
"""

from __future__ import annotations

import pytest

from tests.support.pipeline import evaluated, runs_of
from tests.support.rules import create_rule

pytestmark = pytest.mark.e2e


def _rule(api, services, trigger: str, condition: dict | None, action: dict) -> str:
    return create_rule(
        api, services["evaluator"], triggerEvent=trigger, conditionsJson=condition, actionsJson=[action]
    )["id"]


def _note_rule(api, services, trigger: str, field: str, operator: str, value: str, body: str) -> str:
    """A rule of one condition whose action is a note with ``body``."""
    note = {"type": "create_note", "args": {"patientId": "{patientId}", "body": body}}
    return _rule(api, services, trigger, {"field": field, "operator": operator, "value": value}, note)


def _only_run(engine, event, rule_id: str):
    runs = runs_of(engine, event.id)
    assert event.runs_expected == len(runs), "every (event, rule) evaluation is one run"
    (run,) = [r for r in runs if r.rule_id == rule_id]
    return run


def _assert_skipped_with_trace(run) -> None:
    assert run.status == "skipped"
    assert run.trace and run.trace["passed"] is False, run.trace


def test_five_triggers_matched_and_skipped_with_ids_chained(api, services, engine, settings):
    sms = _rule(
        api,
        services,
        "crm/patient.created",
        {"field": "patient.tags", "operator": "contains", "value": "vip"},
        {"type": "draft_sms", "args": {"patientId": "{patientId}", "body": "Welcome"}},
    )
    drafted = _note_rule(
        api, services, "crm/message.drafted", "message.channel", "equals", "sms", "drafted {message.id}"
    )
    updated = _note_rule(
        api, services, "crm/patient.updated", "status", "changed_to", "inactive", "went inactive"
    )
    appt_created = _note_rule(
        api,
        services,
        "crm/appointment.created",
        "appointment.visitType",
        "equals",
        "checkup",
        "checkup booked",
    )
    appt_updated = _note_rule(
        api, services, "crm/appointment.updated", "appointment.status", "equals", "cancelled", "cancelled"
    )

    vip = api.post(
        "/api/patients", json={"firstName": "V", "lastName": "Ip", "phone": "+15550100", "tags": ["vip"]}
    ).json()
    plain = api.post(
        "/api/patients", json={"firstName": "P", "lastName": "Lain", "phone": "+15550101"}
    ).json()

    # crm/patient.created: matched -> draft_sms, which emits crm/message.drafted (depth 1).
    (created,) = evaluated(engine, vip["id"], "crm/patient.created")
    sms_run = _only_run(engine, created, sms)
    assert (sms_run.status, sms_run.depth) == ("succeeded", 0)
    assert sms_run.correlation_id == created.correlation_id and sms_run.causation_id == created.id
    _assert_skipped_with_trace(
        _only_run(engine, evaluated(engine, plain["id"], "crm/patient.created")[0], sms)
    )

    (draft,) = api.get(f"/api/patients/{vip['id']}/drafts").json()
    (message_event,) = evaluated(engine, draft["id"], "crm/message.drafted")
    assert message_event.correlation_id == created.correlation_id
    assert message_event.causation_id == sms_run.id, "a caused event's causation id is the run id"
    assert message_event.depth == 1
    drafted_run = _only_run(engine, message_event, drafted)
    assert drafted_run.status == "succeeded"
    assert (drafted_run.correlation_id, drafted_run.causation_id, drafted_run.depth) == (
        created.correlation_id,
        message_event.id,
        1,
    )
    assert [n["body"] for n in api.get(f"/api/patients/{vip['id']}/notes").json()] == [
        f"drafted {draft['id']}"
    ]

    # crm/patient.updated: a change to inactive matches, a tags change is skipped.
    assert api.patch(f"/api/patients/{plain['id']}", json={"tags": ["x"]}).status_code == 200
    assert api.patch(f"/api/patients/{plain['id']}", json={"status": "inactive"}).status_code == 200
    tags_change, status_change = evaluated(engine, plain["id"], "crm/patient.updated", count=2)
    _assert_skipped_with_trace(_only_run(engine, tags_change, updated))
    assert _only_run(engine, status_change, updated).status == "succeeded"

    # crm/appointment.created and crm/appointment.updated.
    def appointment(visit_type: str) -> dict:
        r = api.post(
            "/api/appointments",
            json={
                "patientId": plain["id"],
                "startsAt": "2030-01-02T09:00:00Z",
                "visitType": visit_type,
                "status": "booked",
            },
        )
        assert r.status_code == 201, r.text
        return r.json()

    checkup, other = appointment("checkup"), appointment("surgery")
    assert (
        _only_run(engine, evaluated(engine, checkup["id"], "crm/appointment.created")[0], appt_created).status
        == "succeeded"
    )
    _assert_skipped_with_trace(
        _only_run(engine, evaluated(engine, other["id"], "crm/appointment.created")[0], appt_created)
    )
    assert api.patch(f"/api/appointments/{checkup['id']}", json={"status": "cancelled"}).status_code == 200
    assert api.patch(f"/api/appointments/{other['id']}", json={"provider": "Dr Who"}).status_code == 200
    (cancelled,) = evaluated(engine, checkup["id"], "crm/appointment.updated")
    (moved,) = evaluated(engine, other["id"], "crm/appointment.updated")
    assert _only_run(engine, cancelled, appt_updated).status == "succeeded"
    _assert_skipped_with_trace(_only_run(engine, moved, appt_updated))

    bodies = sorted(n["body"] for n in api.get(f"/api/patients/{plain['id']}/notes").json())
    assert bodies == ["cancelled", "checkup booked", "went inactive"]


def test_a_rule_that_updates_its_own_trigger_loops_until_blocked(api, services, engine, settings):
    max_depth = settings.max_chain_depth
    rule = _rule(
        api,
        services,
        "crm/patient.updated",
        None,
        {
            "type": "update_patient_fields",
            "args": {"patientId": "{patientId}", "fields": {"preferredLanguage": "{eventId}"}},
        },
    )
    patient = api.post("/api/patients", json={"firstName": "L", "lastName": "Oop"}).json()
    assert api.patch(f"/api/patients/{patient['id']}", json={"status": "looping"}).status_code == 200

    # Depth 0 (the user's change) .. max_depth run the rule; the event at max_depth + 1 is blocked.
    chain = evaluated(engine, patient["id"], "crm/patient.updated", count=max_depth + 2)
    runs = [_only_run(engine, event, rule) for event in chain]
    print(f"loop: {len(chain)} crm/patient.updated events, runs {[(r.depth, r.status) for r in runs]}")
    assert [e.depth for e in chain] == list(range(max_depth + 2))
    assert [r.status for r in runs] == ["succeeded"] * (max_depth + 1) + ["blocked"]
    assert "MAX_CHAIN_DEPTH" in runs[-1].error
    origin = chain[0]
    assert origin.causation_id is None and origin.correlation_id == origin.id
    for event, run in zip(chain, runs, strict=True):
        assert (run.correlation_id, run.causation_id, run.depth) == (origin.id, event.id, event.depth)
    for parent_run, child in zip(runs, chain[1:], strict=False):
        assert (child.correlation_id, child.causation_id) == (origin.id, parent_run.id)

    # The blocked run caused nothing: the chain stops there.
    final = api.get(f"/api/patients/{patient['id']}").json()
    assert final["preferredLanguage"] == chain[-2].id

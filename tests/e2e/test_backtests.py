"""Backtests through the real stack (SPEC section 10): a rule's verdicts over 300 real events
agree with the runs the live pipeline recorded, and a backtest writes nothing but its own row.

A saved rule's backtest uses its CURRENT definition (documented in services/rules-api/README.md):
for the events evaluated live with that version the verdicts equal the recorded runs; for the
events evaluated with the earlier version they are the current definition's verdicts, so they
differ exactly where the two versions disagree. The earlier definition, backtested as an unsaved
rule, agrees with the runs of that version.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from crmflow.apikeys import create_key, create_practice
from tests.support.processes import Service, wait_for
from tests.support.rules import create_rule, evaluator_holds
from tests.support.slot import make_service

pytestmark = pytest.mark.e2e

TRIGGER = "crm/appointment.created"
VISIT_TYPES = ("Consultation", "Checkup", "Cleaning", "Surgery", "Follow-up")
PER_VERSION = 150
ACTIONS = [
    {"type": "create_note", "args": {"patientId": "{patientId}", "body": "Booked {appointment.visitType}"}},
    {"type": "create_task", "args": {"title": "Call {patient.firstName}", "patientId": "{patientId}"}},
]
V1 = {"field": "appointment.visitType", "operator": "equals", "value": "Consultation"}
V2 = {"field": "appointment.visitType", "operator": "in", "value": ["Consultation", "Checkup"]}
COUNTED = ("automation_runs", "automation_action_logs", "outbox_events", "notes", "tasks", "message_drafts")


def _book(api: httpx.Client, patients: list[str], count: int, offset: int) -> None:
    for i in range(count):
        r = api.post(
            "/api/appointments",
            json={
                "patientId": patients[i % len(patients)],
                "startsAt": "2027-01-05T10:00:00Z",
                "visitType": VISIT_TYPES[(i + offset) % len(VISIT_TYPES)],
                "status": "scheduled",
            },
        )
        assert r.status_code == 201, r.text


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in COUNTED}


def _events(engine: Engine, practice_id: str) -> list[Any]:
    """The practice's trigger events with the run of each (version, status), oldest first."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT e.id::text AS id, e.created_at, r.rule_version, r.status, "
                    "e.payload #>> '{data,appointment,visitType}' AS visit "
                    "FROM outbox_events e LEFT JOIN automation_runs r ON r.event_id = e.id "
                    "WHERE e.practice_id = CAST(:p AS uuid) AND e.event_name = :n "
                    "AND NOT e.payload ? 'onlyRuleId' ORDER BY e.created_at, e.id"
                ),
                {"p": practice_id, "n": TRIGGER},
            ).all()
        )


def _wait_done(api: httpx.Client, backtest_id: str, timeout: float = 60) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        r = api.get(f"/api/backtests/{backtest_id}")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body if body["status"] != "running" else None

    return wait_for(done, timeout, 0.1, f"backtest {backtest_id} to finish")


def _backtest(api: httpx.Client, **body: Any) -> dict[str, Any]:
    r = api.post("/api/automations/backtest", json=body)
    assert r.status_code == 202, r.text
    return _wait_done(api, r.json()["id"])


@pytest.fixture(scope="module")
def history(engine: Engine, settings, services: dict[str, Service]) -> Iterator[dict[str, Any]]:
    """A practice whose rule saw 150 appointments at version 1 and 150 at version 2, and a second
    practice with appointments of its own in the same window."""
    with engine.begin() as conn:
        practice_id = create_practice(conn, f"Backtest practice {uuid.uuid4().hex[:6]}")
        key = create_key(conn, practice_id, settings.api_key_secret)
        other_id = create_practice(conn, f"Other practice {uuid.uuid4().hex[:6]}")
        other_key = create_key(conn, other_id, settings.api_key_secret)
    headers = {"Authorization": f"Bearer {key}"}
    with (
        httpx.Client(base_url=services["api"].url, timeout=20, headers=headers) as api,
        httpx.Client(
            base_url=services["api"].url, timeout=20, headers={"Authorization": f"Bearer {other_key}"}
        ) as other,
    ):
        evaluator = services["evaluator"]
        rule = create_rule(api, evaluator, triggerEvent=TRIGGER, conditionsJson=V1, actionsJson=ACTIONS)
        patients = [
            api.post("/api/patients", json={"firstName": f"Pat{i}", "lastName": "Backtest"}).json()["id"]
            for i in range(3)
        ]
        api.post(f"/api/automations/{rule['id']}/test", json={"waitSeconds": 0})  # not history
        other_patient = other.post("/api/patients", json={"firstName": "O", "lastName": "Ther"}).json()["id"]
        _book(other, [other_patient], 20, 0)
        _book(api, patients, PER_VERSION, 0)
        r = api.patch(f"/api/automations/{rule['id']}", json={"conditionsJson": V2})
        assert r.status_code == 200 and r.json()["version"] == 2, r.text
        wait_for(lambda: evaluator_holds(evaluator, rule["id"], 2), 10, what="rule version 2")
        _book(api, patients, PER_VERSION, 2)

        def all_run() -> list[Any] | None:
            rows = _events(engine, practice_id)
            return rows if len(rows) == 2 * PER_VERSION and all(r.status for r in rows) else None

        events = wait_for(all_run, 120, 0.5, "the 300 runs to be recorded")
        yield {"api": api, "other": other, "rule": rule, "events": events, "practice": practice_id}


def _expected_v2(visit: str) -> bool:
    return visit in ("Consultation", "Checkup")


def test_verdicts_agree_with_the_recorded_runs(history, engine):
    api, events = history["api"], history["events"]
    assert {e.rule_version for e in events} == {1, 2}
    assert {e.status for e in events} == {"succeeded", "skipped"}
    before = _counts(engine)
    # Windows of 60 events: each has at most 50 matches, so its sample lists every match and
    # every event's verdict is known (matched: in the sample; skipped: scanned, not in it).
    verdicts: dict[str, bool] = {}
    for start in range(0, len(events), 60):
        chunk = events[start : start + 60]
        until = events[start + 60].created_at.isoformat() if start + 60 < len(events) else None
        result = _backtest(
            api, ruleId=history["rule"]["id"], since=chunk[0].created_at.isoformat(), until=until
        )
        assert result["status"] == "done" and result["ruleVersion"] == 2
        assert result["eventsScanned"] == len(chunk)
        assert result["matched"] == len(result["sample"]) <= 50
        matched = {s["eventId"] for s in result["sample"]}
        assert matched <= {e.id for e in chunk}
        verdicts.update({e.id: e.id in matched for e in chunk})
    recorded = {e.id: e.status == "succeeded" for e in events}
    current = [e for e in events if e.rule_version == 2]
    earlier = [e for e in events if e.rule_version == 1]
    assert all(verdicts[e.id] == recorded[e.id] for e in current)
    assert all(verdicts[e.id] == _expected_v2(e.visit) for e in events)
    differing = {e.id for e in earlier if verdicts[e.id] != recorded[e.id]}
    assert differing == {e.id for e in earlier if e.visit == "Checkup"} and differing
    assert _counts(engine) == before  # no run, log, event, effect


def test_the_earlier_definition_as_an_unsaved_rule_agrees_with_its_runs(history):
    api, events = history["api"], history["events"]
    earlier = [e for e in events if e.rule_version == 1]
    first_v2 = next(e for e in events if e.rule_version == 2)
    assert earlier[-1].created_at < first_v2.created_at
    matched_ids: set[str] = set()
    for start in range(0, len(earlier), 75):
        chunk = earlier[start : start + 75]
        end = earlier[start + 75] if start + 75 < len(earlier) else first_v2
        result = _backtest(
            api,
            rule={"triggerEvent": TRIGGER, "conditionsJson": V1, "actionsJson": ACTIONS},
            since=chunk[0].created_at.isoformat(),
            until=end.created_at.isoformat(),
        )
        assert result["ruleId"] is None and result["eventsScanned"] == len(chunk)
        assert result["matched"] == len(result["sample"])
        matched_ids |= {s["eventId"] for s in result["sample"]}
    assert matched_ids == {e.id for e in earlier if e.status == "succeeded"}


def test_whole_window_counts_days_and_would_be_actions(history):
    api, events = history["api"], history["events"]
    result = _backtest(api, ruleId=history["rule"]["id"], since=events[0].created_at.isoformat())
    expected = sum(_expected_v2(e.visit) for e in events)
    assert (result["eventsScanned"], result["matched"]) == (len(events), expected)  # not the other practice's
    assert sum(d["scanned"] for d in result["byDay"]) == len(events)
    assert sum(d["matched"] for d in result["byDay"]) == expected
    assert len(result["sample"]) == 50 and result["capped"] is False
    newest = result["sample"][0]
    assert newest["eventId"] == next(e.id for e in reversed(events) if _expected_v2(e.visit))
    assert newest["trace"]["passed"] is True
    note, task = newest["actions"]
    assert note["outcome"] == "would_run" and note["args"]["body"].startswith("Booked ")
    assert task["outcome"] == "would_run" and task["args"]["title"].startswith("Call Pat")


def test_validation_tenancy_and_retention(history, settings):
    api, other, events = history["api"], history["other"], history["events"]
    since = events[0].created_at.isoformat()
    assert (
        other.post(
            "/api/automations/backtest", json={"ruleId": history["rule"]["id"], "since": since}
        ).status_code
        == 404
    )
    r = api.post(
        "/api/automations/backtest", json={"ruleId": history["rule"]["id"], "since": "2000-01-01T00:00:00Z"}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "since"]
    r = api.post(
        "/api/automations/backtest",
        json={
            "rule": {
                "triggerEvent": TRIGGER,
                "conditionsJson": {"field": "a", "operator": "nope"},
                "actionsJson": ACTIONS,
            },
            "since": since,
        },
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][:3] == ["body", "rule", "conditionsJson"]
    r = api.post("/api/automations/backtest", json={"since": since})
    assert r.status_code == 422
    r = api.post(
        "/api/automations/backtest", json={"ruleId": history["rule"]["id"], "since": "2026-01-01T00:00:00"}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "since"]
    started = api.post(
        "/api/automations/backtest", json={"ruleId": history["rule"]["id"], "since": since}
    ).json()
    assert other.get(f"/api/backtests/{started['id']}").status_code == 404
    assert other.delete(f"/api/backtests/{started['id']}").status_code == 404
    _wait_done(api, started["id"])


@pytest.fixture
def slow_api(history, settings) -> Iterator[httpx.Client]:
    """A second rules-api reading one event per page, capped at 250 events: a backtest of the 300
    events runs long enough to be seen running, refused twice, and cancelled."""
    service = make_service(
        "api", settings, second=True, CRMFLOW_BACKTEST_PAGE_SIZE="1", CRMFLOW_BACKTEST_MAX_EVENTS="250"
    )
    service.start()
    headers = {"Authorization": history["api"].headers["Authorization"]}
    with httpx.Client(base_url=service.url, timeout=20, headers=headers) as client:
        yield client
    service.stop()


def test_progress_one_at_a_time_cancel_and_cap(history, slow_api):
    since = history["events"][0].created_at.isoformat()
    body = {"ruleId": history["rule"]["id"], "since": since}
    first = slow_api.post("/api/automations/backtest", json=body)
    assert first.status_code == 202, first.text
    backtest_id = first.json()["id"]
    second = history["api"].post("/api/automations/backtest", json=body)  # another process, same practice
    assert second.status_code == 409 and second.json()["runningId"] == backtest_id
    seen = []
    for _ in itertools.count():
        state = slow_api.get(f"/api/backtests/{backtest_id}").json()
        seen.append(state["eventsScanned"])
        if len(set(seen)) >= 3 or state["status"] != "running":
            break
        time.sleep(0.05)
    assert state["status"] == "running" and seen == sorted(seen) and seen[-1] > seen[0]
    cancelled = slow_api.delete(f"/api/backtests/{backtest_id}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    time.sleep(0.5)
    final = slow_api.get(f"/api/backtests/{backtest_id}").json()
    assert final["status"] == "cancelled" and final["eventsScanned"] < 300 and final["sample"] == []
    capped = slow_api.post("/api/automations/backtest", json=body)
    assert capped.status_code == 202, capped.text
    result = _wait_done(slow_api, capped.json()["id"])
    assert result["status"] == "done" and result["capped"] is True and result["eventsScanned"] == 250


def test_a_backtest_whose_process_died_does_not_block_the_practice(history, engine, settings):
    """A running row that stopped moving (its rules-api died) is marked failed once it is older
    than CRMFLOW_BACKTEST_STALE_SECONDS: the practice can start the next one."""
    with engine.begin() as conn:
        stale = conn.execute(
            text(
                "INSERT INTO backtests (practice_id, definition, since, until, updated_at) "
                "VALUES (CAST(:p AS uuid), '{}', now() - interval '1 day', now(), "
                "now() - make_interval(secs => :age)) RETURNING id::text"
            ),
            {"p": history["practice"], "age": settings.backtest_stale_seconds + 5},
        ).scalar_one()
    api = history["api"]
    result = _backtest(api, ruleId=history["rule"]["id"], since=history["events"][0].created_at.isoformat())
    assert result["status"] == "done"
    dead = api.get(f"/api/backtests/{stale}").json()
    assert dead["status"] == "failed" and dead["error"].startswith("stopped: its rules-api process ended")

"""Sends on the real stack (SPEC section 9): a runner with its delivery worker, a real SMTP server
and a Twilio-shaped SMS provider (tests/support/reach.py). Commands travel through a private
one-partition topic, so every patient shares a partition."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from crmflow import dlq
from crmflow.commands import command_key
from crmflow.crm.entities import create_patient
from crmflow.practice_settings import update_settings
from crmflow.settings import Settings
from tests.support.processes import wait_for
from tests.support.reach import ReachServers
from tests.support.rules import rule_record
from tests.support.runner import (
    appointment_event,
    create_topic,
    evaluated,
    note,
    note_bodies,
    rows,
    run_command,
    run_status,
    runner_starter,
    send,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def reach_settings(reach: ReachServers) -> Settings:
    return Settings()  # read after the reach fixture pointed the environment at its servers


@pytest.fixture
def start_runner(reach_settings):
    yield from runner_starter(reach_settings)


def send_email(subject: str = "Your visit", body: str = "Hello {patient.firstName}") -> dict[str, Any]:
    return {"type": "send_email", "args": {"patientId": "{patientId}", "subject": subject, "body": body}}


def send_sms(body: str = "Reminder for {patient.firstName}") -> dict[str, Any]:
    return {"type": "send_sms", "args": {"patientId": "{patientId}", "body": body}}


def unique_address() -> str:
    return f"p{uuid.uuid4().hex[:10]}@example.test"


def unique_number() -> str:
    return f"+1555{uuid.uuid4().int % 10**7:07d}"


def patient(engine, practice_id: str, **values: Any) -> dict[str, Any]:
    with engine.begin() as conn:
        return create_patient(conn, practice_id, {"firstName": "Ann", "lastName": "Reach", **values})


def succeeded(engine, run_id: str) -> bool:
    return run_status(engine, run_id) == "succeeded"


def logs(engine, run_id: str) -> list[Any]:
    return rows(
        engine,
        "SELECT action_index, action_type, status, result, error, args FROM automation_action_logs "
        "WHERE run_id = :r ORDER BY id",
        r=run_id,
    )


def deliveries(engine, run_id: str) -> list[Any]:
    return rows(engine, "SELECT * FROM message_deliveries WHERE run_id = :r ORDER BY action_index", r=run_id)


def test_an_email_arrives_once_with_its_headers(reach, reach_settings, engine, practice, start_runner):
    topic = create_topic(reach_settings, partitions=1)
    address = unique_address()
    ann = patient(engine, practice["id"], email=address, emailOptIn=True)
    command = run_command(practice["id"], ann, [send_email(), note("after")])
    start_runner(topic, deliveries=True)
    send(reach_settings, topic, [command])
    wait_for(lambda: run_status(engine, command["runId"]) == "succeeded", 30, what="the run after its e-mail")
    mails = reach.smtp.sink.to(address)
    assert len(mails) == 1
    mail = mails[0]
    assert mail["Message-ID"] == f"<{command['runId']}.0@crmflow.test>"
    assert mail["From"] == "clinic@crmflow.test"
    assert mail["Subject"] == "Your visit"
    assert mail.get_payload().strip() == "Hello Ann"
    assert note_bodies(engine, command["runId"]) == ["after"]
    (delivery,) = deliveries(engine, command["runId"])
    assert (delivery.status, delivery.attempts, delivery.channel) == ("delivered", 1, "email")
    assert delivery.message is None and delivery.provider_id == mail["Message-ID"]
    assert [(r.action_index, r.status) for r in logs(engine, command["runId"])] == [
        (0, "queued"),
        (0, "succeeded"),
        (1, "succeeded"),
    ]
    queued = logs(engine, command["runId"])[0]
    assert queued.args["body"] == {"redacted": True, "chars": len("Hello Ann")}
    # a redelivered command (and a second copy of it) sends nothing again
    send(reach_settings, topic, [command, command])
    time.sleep(3)
    assert len(reach.smtp.sink.to(address)) == 1
    assert len(deliveries(engine, command["runId"])) == 1


def test_a_slow_provider_does_not_hold_the_partition(reach, reach_settings, engine, practice, start_runner):
    topic = create_topic(reach_settings, partitions=1)
    number = unique_number()
    reach.sms.delay[number] = 5.0
    ann = patient(engine, practice["id"], phone=number, smsOptIn=True)
    bob = patient(engine, practice["id"], firstName="Bob")
    slow = run_command(practice["id"], ann, [send_sms(), note("after the text")])
    start_runner(topic, deliveries=True)
    send(reach_settings, topic, [slow])
    wait_for(lambda: reach.sms.to(number), 20, what="the SMS request at the slow provider")
    asked = time.monotonic()
    other = run_command(practice["id"], bob, [note("x")])
    send(reach_settings, topic, [other])
    wait_for(lambda: note_bodies(engine, other["runId"]) == ["x"], 10, what="the other patient's note")
    elapsed = time.monotonic() - asked
    print(f"\nslow provider (5 s per request): another patient's note on the partition took {elapsed:.3f} s")
    assert elapsed < 1.0
    assert run_status(engine, slow["runId"]) == "waiting"
    wait_for(lambda: run_status(engine, slow["runId"]) == "succeeded", 30, what="the slow run")
    (request,) = reach.sms.to(number)
    assert request.form["Body"] == "Reminder for Ann" and request.form["From"] == "+15550000000"
    assert request.idempotency_key == f"{slow['runId']}.0"
    (delivery,) = deliveries(engine, slow["runId"])
    assert delivery.status == "delivered" and delivery.provider_id.startswith("SM")


def test_without_consent_or_address_the_send_is_skipped_and_the_run_goes_on(
    reach, reach_settings, engine, practice, start_runner
):
    topic = create_topic(reach_settings, partitions=1)
    address = unique_address()
    no_consent = patient(engine, practice["id"], email=address, phone=unique_number())
    no_phone = patient(engine, practice["id"], email=address, smsOptIn=True)
    first = run_command(practice["id"], no_consent, [send_email(), send_sms(), note("went on")])
    second = run_command(practice["id"], no_phone, [send_sms(), note("went on")])
    start_runner(topic, deliveries=True)
    send(reach_settings, topic, [first, second])
    for c in (first, second):
        wait_for(partial(succeeded, engine, c["runId"]), 20, what="the run")
        assert note_bodies(engine, c["runId"]) == ["went on"]
        assert deliveries(engine, c["runId"]) == []
    assert [(r.status, r.error) for r in logs(engine, first["runId"])][:2] == [
        ("skipped", "no_consent"),
        ("skipped", "no_consent"),
    ]
    assert (logs(engine, second["runId"])[0].status, logs(engine, second["runId"])[0].error) == (
        "skipped",
        "no_address",
    )
    assert reach.smtp.sink.to(address) == []


def test_a_send_over_the_daily_cap_is_skipped(reach, reach_settings, engine, practice, start_runner):
    topic = create_topic(reach_settings, partitions=1)
    with engine.begin() as conn:
        update_settings(conn, practice["id"], {"messageCaps": {"perPatientPerDay": 2}})
    address = unique_address()
    ann = patient(engine, practice["id"], email=address, emailOptIn=True)
    commands = [run_command(practice["id"], ann, [send_email(f"n{i}")]) for i in range(3)]
    start_runner(topic, deliveries=True)
    send(reach_settings, topic, commands)
    for c in commands:
        wait_for(partial(succeeded, engine, c["runId"]), 30, what="the runs")
    assert sorted(m["Subject"] for m in reach.smtp.sink.to(address)) == ["n0", "n1"]
    assert [(r.status, r.error) for r in logs(engine, commands[2]["runId"])] == [("skipped", "capped")]


def test_drafts_over_the_weekly_cap_are_skipped(reach_settings, engine, practice, start_runner):
    topic = create_topic(reach_settings, partitions=1)
    with engine.begin() as conn:
        update_settings(conn, practice["id"], {"messageCaps": {"perPatientPerWeek": 1}})
    ann = patient(engine, practice["id"], email=unique_address())
    draft = {"type": "draft_email", "args": {"patientId": "{patientId}", "subject": "s", "body": "b"}}
    first = run_command(practice["id"], ann, [draft, note("one")])
    second = run_command(practice["id"], ann, [draft, note("two")])
    start_runner(topic)
    send(reach_settings, topic, [first, second])
    for c in (first, second):
        wait_for(partial(succeeded, engine, c["runId"]), 20, what="the runs")
    assert [(r.status, r.error) for r in logs(engine, second["runId"])] == [
        ("skipped", "capped"),
        ("succeeded", None),
    ]
    assert len(rows(engine, "SELECT id FROM message_drafts WHERE patient_id = :p", p=ann["id"])) == 1


def test_a_send_in_quiet_hours_is_deferred_until_they_end(
    reach, reach_settings, engine, practice, start_runner
):
    now = datetime.now(UTC)
    if (60 - now.second) < 10:  # leave the quiet minute long enough to see the deferral
        time.sleep(60 - now.second + 1)
        now = datetime.now(UTC)
    end = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    quiet = {"start": (now - timedelta(minutes=1)).strftime("%H:%M"), "end": end.strftime("%H:%M")}
    with engine.begin() as conn:
        update_settings(conn, practice["id"], {"quietHours": quiet})
    topic = create_topic(reach_settings, partitions=1)
    address = unique_address()
    ann = patient(engine, practice["id"], email=address, emailOptIn=True)
    command = run_command(practice["id"], ann, [send_email("Quiet"), note("after")])
    start_runner(topic, deliveries=True)
    send(reach_settings, topic, [command])
    wait_for(lambda: logs(engine, command["runId"]), 20, what="the deferral")
    (deferred,) = logs(engine, command["runId"])
    assert deferred.status == "deferred"
    assert datetime.fromisoformat(deferred.result["dueAt"]) == end
    assert run_status(engine, command["runId"]) == "waiting"
    assert reach.smtp.sink.to(address) == []
    wait_for(
        lambda: run_status(engine, command["runId"]) == "succeeded", 90, what="the send after quiet hours"
    )
    (mail,) = reach.smtp.sink.to(address)
    assert mail["Subject"] == "Quiet"
    assert [r.status for r in logs(engine, command["runId"])] == [
        "deferred",
        "queued",
        "succeeded",
        "succeeded",
    ]
    sent_at = rows(engine, "SELECT finished_at FROM message_deliveries WHERE run_id = :r", r=command["runId"])
    assert sent_at[0].finished_at >= end


def test_transient_answers_are_retried_with_the_same_key(
    reach, reach_settings, engine, practice, start_runner
):
    topic = create_topic(reach_settings, partitions=1)
    number = unique_number()
    reach.sms.fail[number] = [503, 429]
    ann = patient(engine, practice["id"], phone=number, smsOptIn=True)
    command = run_command(practice["id"], ann, [send_sms()])
    start_runner(topic, deliveries=True)
    send(reach_settings, topic, [command])
    wait_for(lambda: run_status(engine, command["runId"]) == "succeeded", 30, what="the run")
    requests = reach.sms.to(number)
    assert len(requests) == 3
    assert {r.idempotency_key for r in requests} == {f"{command['runId']}.0"}
    (delivery,) = deliveries(engine, command["runId"])
    assert (delivery.status, delivery.attempts) == ("delivered", 3)


def test_a_refusal_fails_the_run_at_once(reach, reach_settings, engine, practice, start_runner):
    topic = create_topic(reach_settings, partitions=1)
    number = unique_number()
    reach.sms.fail[number] = [400]
    ann = patient(engine, practice["id"], phone=number, smsOptIn=True)
    command = run_command(practice["id"], ann, [send_sms(), note("never")])
    start_runner(topic, deliveries=True)
    send(reach_settings, topic, [command])
    wait_for(lambda: run_status(engine, command["runId"]) == "failed", 30, what="the failed run")
    assert len(reach.sms.to(number)) == 1
    assert note_bodies(engine, command["runId"]) == []
    assert [(r.action_index, r.status) for r in logs(engine, command["runId"])] == [
        (0, "queued"),
        (0, "failed"),
        (1, "skipped"),
    ]
    (delivery,) = deliveries(engine, command["runId"])
    assert delivery.status == "failed" and "http 400" in delivery.error and delivery.message is None


def test_exhausted_retries_dead_letter_and_a_replay_delivers(
    reach, reach_settings, engine, practice, start_runner
):
    topic = create_topic(reach_settings, partitions=1)
    address = unique_address()
    reach.smtp.sink.reply_for[address] = "421 4.3.2 Service not available"
    ann = patient(engine, practice["id"], email=address, emailOptIn=True)
    command = run_command(practice["id"], ann, [send_email("Retry me"), note("after")])
    start_runner(topic, deliveries=True)
    send(reach_settings, topic, [command])
    wait_for(lambda: run_status(engine, command["runId"]) == "failed", 30, what="the failed run")
    (delivery,) = deliveries(engine, command["runId"])
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert delivery.error.startswith("failed after 3 attempts, last: smtp 421")
    letters = [
        dl
        for dl in dlq.read_dead_letters(reach_settings)
        if dl.reason == "delivery_failed" and str(delivery.id) in dl.detail
    ]
    assert len(letters) == 1 and address not in letters[0].detail
    # the SMTP server is back: the replayed letter queues the delivery again, and the run finishes
    del reach.smtp.sink.reply_for[address]
    replayed = [dl.__class__(**{**dl.__dict__, "source_topic": topic}) for dl in letters]
    assert dlq.replay(reach_settings, replayed) == 1
    wait_for(lambda: run_status(engine, command["runId"]) == "succeeded", 30, what="the replayed delivery")
    (mail,) = reach.smtp.sink.to(address)
    assert mail["Message-ID"] == f"<{command['runId']}.0@crmflow.test>"
    assert note_bodies(engine, command["runId"]) == ["after"]


def test_a_cancel_while_the_message_waits_sends_nothing(
    reach, reach_settings, engine, practice, start_runner
):
    """A reminder queued for delivery and retrying (provider down) when its appointment is cancelled:
    the run is cancelled, the message never goes out, the rest of the run never runs."""
    number = unique_number()
    reach.sms.fail[number] = [503] * 50
    reach.sms.retry_after[number] = "6"  # the next attempt waits: the cancel comes first
    ann = patient(engine, practice["id"], phone=number, smsOptIn=True)
    cancel_on = [
        {
            "eventName": "crm/appointment.updated",
            "match": "appointment.id",
            "conditionsJson": {"field": "changes.status", "operator": "changed_to", "value": "cancelled"},
        }
    ]
    rule = rule_record(
        id=str(uuid.uuid4()),
        practiceId=practice["id"],
        triggerEvent="crm/appointment.created",
        actionsJson=[send_sms("Your appointment is tomorrow"), note("after")],
        cancelOn=cancel_on,
    )
    appointment = {"id": str(uuid.uuid4()), "patientId": ann["id"], "startsAt": "2031-01-01T10:00:00Z"}
    (run,) = evaluated(rule, appointment_event(practice["id"], {**appointment, "status": "scheduled"}))
    changed = appointment_event(
        practice["id"],
        {**appointment, "status": "cancelled"},
        name="crm/appointment.updated",
        changes={"status": {"from": "scheduled", "to": "cancelled"}},
    )
    (cancel,) = evaluated(rule, changed)
    topic = create_topic(reach_settings, partitions=1)
    key = command_key(practice["id"], ann["id"], "")
    start_runner(topic, deliveries=True)
    send(reach_settings, topic, [run], key=key)
    wait_for(lambda: reach.sms.to(number), 20, what="a first, failing attempt")
    send(reach_settings, topic, [cancel], key=key)
    wait_for(lambda: run_status(engine, run["runId"]) == "cancelled", 20, what="the cancelled run")
    (delivery,) = wait_for(
        lambda: [d for d in deliveries(engine, run["runId"]) if d.status == "failed"], 30, what="no delivery"
    )
    assert delivery.error == "not sent: the run was cancelled" and delivery.message is None
    attempts = len(reach.sms.to(number))
    time.sleep(2)
    assert len(reach.sms.to(number)) == attempts == 1  # no attempt after the cancel
    assert note_bodies(engine, run["runId"]) == []
    assert [(r.action_index, r.status) for r in logs(engine, run["runId"])] == [
        (0, "queued"),
        (1, "skipped"),
        (0, "skipped"),
    ]

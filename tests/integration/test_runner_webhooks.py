"""send_webhook on the real stack (SPEC section 9): a runner with its delivery worker, receivers on
this machine's loopback (allow-listed for these tests) that verify every request's Standard
Webhooks signature with the independent ``standardwebhooks`` package. Commands travel through a
private one-partition topic, so every patient shares a partition."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from crmflow.crm.entities import create_patient
from crmflow.logs import QUIET_LOGGERS
from crmflow.settings import Settings
from crmflow.webhook_secrets import SecretBox, rotate
from tests.support.processes import wait_for
from tests.support.reach import ReachServers
from tests.support.runner import (
    create_topic,
    note,
    note_bodies,
    rows,
    run_command,
    run_status,
    runner_starter,
    send,
)
from tests.support.webhook_receiver import Answer, Receiver, receiver

pytestmark = pytest.mark.integration


@pytest.fixture
def hook_settings(reach: ReachServers) -> Settings:
    """The runner's settings (quick retries from the reach fixture's environment); the receivers
    listen on loopback, which only these tests allow-list."""
    return Settings(webhook_allowed_networks="127.0.0.0/8", webhook_timeout_seconds=10)


@pytest.fixture
def start_runner(hook_settings: Settings) -> Iterator[Any]:
    yield from runner_starter(hook_settings)


@pytest.fixture
def secret(engine: Engine, hook_settings: Settings, practice: dict[str, str]) -> str:
    with engine.begin() as conn:
        return rotate(conn, practice["id"], SecretBox(hook_settings.secret_key), grace_seconds=0)


@pytest.fixture
def hook(secret: str) -> Iterator[Receiver]:
    with receiver(secrets=[secret]) as rec:
        yield rec


def webhook(url: str, **args: Any) -> dict[str, Any]:
    return {"type": "send_webhook", "args": {"url": url, **args}}


def patient(engine: Engine, practice_id: str, first_name: str = "Ann") -> dict[str, Any]:
    with engine.begin() as conn:
        return create_patient(conn, practice_id, {"firstName": first_name, "lastName": "Hook"})


def logs(engine: Engine, run_id: str) -> list[Any]:
    return rows(
        engine,
        "SELECT action_index, action_type, status, result, error, args FROM automation_action_logs "
        "WHERE run_id = :r ORDER BY id",
        r=run_id,
    )


def deliveries(engine: Engine, run_id: str) -> list[Any]:
    return rows(engine, "SELECT * FROM message_deliveries WHERE run_id = :r ORDER BY action_index", r=run_id)


def test_500_twice_then_200_one_success_three_attempts_one_webhook_id(
    hook_settings, engine, practice, hook, start_runner, secret, caplog
):
    caplog.set_level(logging.INFO)
    for name in QUIET_LOGGERS:  # as the runner's logging configuration sets them (crmflow.logs)
        caplog.set_level(logging.WARNING, logger=name)
    hook.answers = [Answer(status=500), Answer(status=500, headers={"retry-after": "1"})]
    topic = create_topic(hook_settings, partitions=1)
    ann = patient(engine, practice["id"])
    command = run_command(
        practice["id"],
        ann,
        [
            webhook(
                hook.url("/patients/{patientId}"),
                body={"patient": "{patientId}", "event": "{eventName}"},
                headers={"Authorization": "Bearer receiver-token"},
            ),
            note("after the webhook"),
        ],
    )
    start_runner(topic, deliveries=True)
    send(hook_settings, topic, [command])
    wait_for(
        lambda: run_status(engine, command["runId"]) == "succeeded", 45, what="the run after its webhook"
    )

    assert len(hook.requests) == 3
    assert all(r.verified for r in hook.requests), "every attempt verifies with the practice's secret"
    assert {r.headers["webhook-id"] for r in hook.requests} == {f"{command['runId']}.0"}
    assert {r.body for r in hook.requests} == {
        json.dumps({"patient": ann["id"], "event": "crm/patient.created"}, separators=(",", ":")).encode()
    }
    assert {r.path for r in hook.requests} == {f"/patients/{ann['id']}"}
    assert all(r.headers["authorization"] == "Bearer receiver-token" for r in hook.requests)
    assert hook.requests[2].at - hook.requests[1].at >= 0.9, "Retry-After: 1 honoured"

    (delivery,) = deliveries(engine, command["runId"])
    assert (delivery.channel, delivery.status, delivery.attempts) == ("webhook", "delivered", 3)
    assert delivery.provider_id == "200" and delivery.detail == '{"ok":true}'
    assert delivery.message is None  # the URL, headers and body are not kept once delivered
    assert [(r.action_index, r.status) for r in logs(engine, command["runId"])] == [
        (0, "queued"),
        (0, "succeeded"),
        (1, "succeeded"),
    ]
    succeeded = logs(engine, command["runId"])[1]
    assert succeeded.result["providerId"] == "200" and succeeded.result["response"] == '{"ok":true}'
    queued = logs(engine, command["runId"])[0]
    assert queued.args["url"]["redacted"] and queued.args["headers"]["redacted"]  # no address, no token
    assert note_bodies(engine, command["runId"]) == ["after the webhook"]

    # Nothing of the request reached a log: not the secret, the URL, the token or the body. (In a
    # full `make test` the e2e session's action-runner shares this database, and its delivery
    # threads may be the ones that took the attempts: their logs are test_webhook_phi_logs'.)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for needle in (secret, secret.removeprefix("whsec_"), "receiver-token", "/patients/", f":{hook.port}"):
        assert needle not in logged, [m for m in logged.splitlines() if needle in m][:2]

    # A redelivered command (twice) sends nothing again.
    send(hook_settings, topic, [command, command])
    time.sleep(3)
    assert len(hook.requests) == 3
    assert len(deliveries(engine, command["runId"])) == 1


def test_the_default_body_is_the_event_envelope(hook_settings, engine, practice, hook, start_runner):
    topic = create_topic(hook_settings, partitions=1)
    ann = patient(engine, practice["id"])
    command = run_command(practice["id"], ann, [webhook(hook.url())])
    start_runner(topic, deliveries=True)
    send(hook_settings, topic, [command])
    wait_for(lambda: run_status(engine, command["runId"]) == "succeeded", 30, what="the run")
    (request,) = hook.requests
    envelope = json.loads(request.body)
    assert envelope["id"] == command["eventId"] and envelope["name"] == "crm/patient.created"
    assert envelope["data"]["patient"]["id"] == ann["id"]
    assert request.verified


def test_a_4xx_fails_the_run_at_once(hook_settings, engine, practice, hook, start_runner):
    hook.default = Answer(status=422, body=b'{"error":"unknown patient"}')
    topic = create_topic(hook_settings, partitions=1)
    command = run_command(
        practice["id"], patient(engine, practice["id"]), [webhook(hook.url()), note("never")]
    )
    start_runner(topic, deliveries=True)
    send(hook_settings, topic, [command])
    wait_for(lambda: run_status(engine, command["runId"]) == "failed", 30, what="the failed run")
    assert len(hook.requests) == 1
    assert note_bodies(engine, command["runId"]) == []
    assert [(r.action_index, r.status) for r in logs(engine, command["runId"])] == [
        (0, "queued"),
        (0, "failed"),
        (1, "skipped"),
    ]
    (delivery,) = deliveries(engine, command["runId"])
    assert delivery.status == "failed" and "HTTP 422" in delivery.error and delivery.attempts == 1


def test_without_a_secret_the_webhook_fails_and_nothing_is_sent(
    hook_settings, engine, practice, start_runner
):
    with receiver() as bare:
        topic = create_topic(hook_settings, partitions=1)
        command = run_command(practice["id"], patient(engine, practice["id"]), [webhook(bare.url())])
        start_runner(topic, deliveries=True)
        send(hook_settings, topic, [command])
        wait_for(lambda: run_status(engine, command["runId"]) == "failed", 30, what="the failed run")
        assert bare.requests == []
    (delivery,) = deliveries(engine, command["runId"])
    assert "no webhook secret" in delivery.error


def test_a_slow_receiver_does_not_hold_the_partition(hook_settings, engine, practice, hook, start_runner):
    hook.default = Answer(delay=5.0)
    topic = create_topic(hook_settings, partitions=1)
    ann, bob = patient(engine, practice["id"]), patient(engine, practice["id"], "Bob")
    slow = run_command(practice["id"], ann, [webhook(hook.url()), note("after the webhook")])
    start_runner(topic, deliveries=True)
    send(hook_settings, topic, [slow])
    wait_for(lambda: hook.requests, 20, what="the request at the slow receiver")
    asked = time.monotonic()
    other = run_command(practice["id"], bob, [note("x")])
    send(hook_settings, topic, [other])
    wait_for(lambda: note_bodies(engine, other["runId"]) == ["x"], 10, what="the other patient's note")
    elapsed = time.monotonic() - asked
    print(
        f"\nslow webhook receiver (5 s per request): "
        f"another patient's note on the partition took {elapsed:.3f} s"
    )
    assert elapsed < 1.0
    assert run_status(engine, slow["runId"]) == "waiting"
    wait_for(lambda: run_status(engine, slow["runId"]) == "succeeded", 30, what="the slow run")
    assert note_bodies(engine, slow["runId"]) == ["after the webhook"]
    (delivery,) = deliveries(engine, slow["runId"])
    assert delivery.status == "delivered" and delivery.attempts == 1

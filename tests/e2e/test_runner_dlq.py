"""Dead letters on the real broker with the running runner, and the `crmflow dlq` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from confluent_kafka import Producer

from crmflow import topics
from crmflow.deadletter import dead_letter_headers
from crmflow.kafka import producer_config
from tests.support.processes import ROOT, wait_for
from tests.support.runner import note, note_bodies, run_command, run_status, send

pytestmark = pytest.mark.e2e


def cli(*args: str) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "crmflow", "dlq", *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_a_poison_command_is_listed_with_its_reason_and_never_its_body(services, settings):
    marker = f"secret-{uuid.uuid4().hex}"
    producer = Producer(producer_config(settings))
    delivered: list = []
    producer.produce(
        topics.COMMANDS,
        key=b"p:poison",
        value=f"not json {marker}".encode(),
        on_delivery=lambda err, msg: delivered.append((err, msg)),
    )
    assert producer.flush(10) == 0
    ((err, sent),) = delivered
    assert err is None
    # This record's dead letter, by where it came from: earlier not_json commands (test_metrics',
    # a previous run's) are on the topic too.
    source = (topics.COMMANDS, sent.partition(), sent.offset())

    def listed() -> dict | None:
        for entry in cli("list", "--json", "--reason", "not_json"):
            if (entry["sourceTopic"], entry["sourcePartition"], entry["sourceOffset"]) == source:
                return entry
        return None

    entry = wait_for(listed, 30, 1, "the poison command on the dead-letter topic")
    assert entry["service"] == "action-runner"
    assert {"offset", "time", "reason", "detail", "sourcePartition", "sourceOffset"} <= entry.keys()
    table = subprocess.run(
        [sys.executable, "-m", "crmflow", "dlq", "list"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert table.returncode == 0 and "not_json" in table.stdout
    assert marker not in table.stdout and marker not in json.dumps(entry)
    assert services["runner"].ready()  # the runner kept running


def test_replaying_a_dead_letter_twice_has_its_effect_once(api, services, engine, settings, practice):
    patient = api.post("/api/patients", json={"firstName": "Gil", "lastName": "Replay"}).json()
    command = run_command(practice["id"], patient, [note("replayed")])
    reason = f"test-{uuid.uuid4().hex[:8]}"  # a reason no other dead letter has
    producer = Producer(producer_config(settings))
    producer.produce(
        topics.DEAD_LETTERS,
        key=f"{practice['id']}:{patient['id']}".encode(),
        value=json.dumps(command).encode(),
        headers=dead_letter_headers(
            reason=reason,
            detail="parked during a test outage",
            service="action-runner",
            topic=topics.COMMANDS,
            partition=0,
            offset=0,
        ),
    )
    assert producer.flush(10) == 0
    (entry,) = wait_for(lambda: cli("list", "--json", "--reason", reason), 20, 1, "the dead letter")

    (first,) = cli("replay", "--offset", str(entry["offset"]))
    assert first == {"replayed": 1, "offsets": [entry["offset"]]}
    wait_for(lambda: run_status(engine, command["runId"]) == "succeeded", 20, what="the replayed run")
    (again,) = cli("replay", "--all", "--reason", reason)
    assert again["replayed"] == 1
    # A later command on the same partition: once it ran, the second replay was consumed too.
    sentinel = run_command(practice["id"], patient, [note("sentinel")])
    send(settings, topics.COMMANDS, [sentinel])
    wait_for(lambda: run_status(engine, sentinel["runId"]) == "succeeded", 20, what="the sentinel")
    assert note_bodies(engine, command["runId"]) == ["replayed"]
    # Each replay is in the practice's audit log: where the letter sat and why, never its body.
    audit = api.get("/api/audit", params={"entityType": "dead_letter"}).json()["items"]
    assert [(e["action"], e["actor"]) for e in audit] == [("dead_letter.replay", "cli")] * 2
    assert {e["after"]["offset"] for e in audit} == {entry["offset"]}
    assert audit[0]["after"]["reason"] == reason and "replayed" not in json.dumps(audit)


def test_replay_of_an_unknown_offset_fails_clearly(stack):
    out = subprocess.run(
        [sys.executable, "-m", "crmflow", "dlq", "replay", "--offset", str(10**12)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 2 and "no dead letter at offset" in out.stderr

"""Chaos: events stream through the real pipeline while its parts are killed and restarted.

~50 patients get a stream of ``crm/patient.updated`` events (through the API, the realistic
path) that two rules of two actions each act on: note + task, and SMS draft + (a 1 s delay) + a
patient update (which emits its own event). Two evaluator and two action-runner instances share
the work. Meanwhile instances are SIGKILLed, a third runner joins and leaves, Kafka Connect is
restarted and SIGKILLed, PostgreSQL is restarted (once while Connect's task is starting, the
sequence that leaves a Debezium task FAILED until the connector supervisor restarts it) and Kafka
is restarted. No step of the test repairs anything. Afterwards every expected effect must exist
exactly once, in event order per patient, no run may be left unfinished, and the connector and
its tasks must be RUNNING; each fault's heal time (from the fault to the first effect of an event
written after it) is reported.

Events: ``CRMFLOW_CHAOS_EVENTS`` (CI: 2,000; ``make chaos``: 20,000). The producer retries a
failed request with the same value: a request that committed but lost its response then changes
nothing and emits no event, so each value is one committed event, counted from the database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import pytest

from crmflow.commands import run_id_for
from tests.support.processes import ROOT, Service, wait_for
from tests.support.rules import create_rule
from tests.support.runner import rows
from tests.support.slot import make_service

pytestmark = pytest.mark.chaos

EVENTS = int(os.environ.get("CRMFLOW_CHAOS_EVENTS", "2000"))
PATIENTS = 50
WRITERS = 4
# Paced so that the faults (about two minutes of them in all) land while events stream.
RATE = max(12.0, EVENTS / 150)
DRAIN_SECONDS = float(os.environ.get("CRMFLOW_CHAOS_DRAIN_SECONDS", str(120 + EVENTS / 40)))
STACK = str(ROOT / "deploy" / "local" / "stack.sh")
REPORTS = ROOT / "test-artifacts" / "chaos"  # one JSON summary per run (tests/chaos/busy.py reads them)
CHANGED = {"field": "changes.preferredLanguage", "operator": "exists"}


@dataclass
class Stream:
    """What the producer sent: per patient, its values in order."""

    sent: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    failed_requests: int = 0
    done: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def stream_events(base_url: str, api_key: str, patients: list[str], stream: Stream) -> None:
    started = time.monotonic()
    counter = iter(range(EVENTS))
    counter_lock = threading.Lock()

    def writer(mine: list[str]) -> None:
        client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
        turn = 0
        while True:
            with counter_lock:
                seq = next(counter, None)
            if seq is None:
                break
            time.sleep(max(0.0, started + seq / RATE - time.monotonic()))
            patient = mine[turn % len(mine)]
            turn += 1
            while True:  # the same value until it commits: a lost response changes nothing twice
                try:
                    r = client.patch(f"/api/patients/{patient}", json={"preferredLanguage": f"s{seq:07d}"})
                    if r.status_code == 200:
                        break
                    assert r.status_code >= 500, r.text
                except httpx.HTTPError:
                    pass
                with stream.lock:
                    stream.failed_requests += 1
                time.sleep(0.2)
            with stream.lock:
                stream.sent[patient].append(seq)
                stream.done += 1
        client.close()

    threads = [
        threading.Thread(target=writer, args=(patients[i::WRITERS],), daemon=True) for i in range(WRITERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def stack(*args: str) -> None:
    subprocess.run([STACK, *args], check=True, cwd=ROOT, capture_output=True, timeout=180)


def kill_and_restart(service: Service) -> Callable[[], None]:
    def fault() -> None:
        service.kill()  # SIGKILL: no chance to finish a batch or commit anything
        service.start()

    return fault


def pg_restart_while_connect_starts() -> None:
    """The CI incident of issue 13: PostgreSQL restarts while the Debezium task is starting, which
    Debezium treats as final (task FAILED); only the supervisor brings it back."""
    stack("restart", "connect")  # returns once Connect's REST API answers, before the task runs
    stack("restart", "pg")


def sigkill_connect(run_dir: Path) -> None:
    pid = int((run_dir / "pids" / "connect.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), 30, 0.1, "Kafka Connect to die")
    stack("start", "connect")


class ConnectorWatch(threading.Thread):
    """Samples the connector's task states (a FAILED one must be healed by the supervisor)."""

    def __init__(self, connect_url: str, name: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{connect_url}/connectors/{name}/status"
        self.states: set[str] = set()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(1):
            try:
                status = httpx.get(self.url, timeout=2).json()
                self.states.update(t["state"] for t in status.get("tasks", []))
            except (httpx.HTTPError, ValueError):
                self.states.add("UNREACHABLE")  # Connect itself is restarting


def effects(engine, practice_id: str, rule_a: str, rule_b: str) -> dict:
    events = rows(
        engine,
        "SELECT id::text FROM outbox_events WHERE practice_id = :p "
        "AND event_name = 'crm/patient.updated' AND depth = 0",
        p=practice_id,
    )

    def per_run(sql: str) -> dict[str, int]:
        return {r.run: r.n for r in rows(engine, sql, p=practice_id)}

    counts = {
        "note": per_run(
            "SELECT run_id::text AS run, count(*) AS n FROM notes WHERE practice_id = :p GROUP BY 1"
        ),
        "task": per_run(
            "SELECT run_id::text AS run, count(*) AS n FROM tasks WHERE practice_id = :p GROUP BY 1"
        ),
        "draft": per_run(
            "SELECT run_id::text AS run, count(*) AS n FROM message_drafts WHERE practice_id = :p GROUP BY 1"
        ),
        "update": per_run(
            "SELECT causation_id AS run, count(*) AS n FROM outbox_events WHERE practice_id = :p "
            "AND event_name = 'crm/patient.updated' AND depth = 1 GROUP BY 1"
        ),
    }
    expected = {
        "note": {run_id_for(e.id, rule_a) for e in events},
        "task": {run_id_for(e.id, rule_a) for e in events},
        "draft": {run_id_for(e.id, rule_b) for e in events},
        "update": {run_id_for(e.id, rule_b) for e in events},
    }
    lost = {k: len(expected[k] - counts[k].keys()) for k in counts}
    duplicated = {k: sum(n - 1 for n in counts[k].values() if n > 1) for k in counts}
    unexpected = {k: len(counts[k].keys() - expected[k]) for k in counts}
    found = {k: sum(counts[k].values()) for k in counts}
    return {
        "events": len(events),
        "effects": found,
        "lost": lost,
        "duplicated": duplicated,
        "unexpected": unexpected,
    }


def heal_seconds(engine, practice_id: str, fault_at: float) -> float | None:
    """From a fault's start to the first effect (a note) of an event written after it began: how
    long the whole pipeline, not just what was already in flight, stood still."""
    found = rows(
        engine,
        "SELECT extract(epoch FROM min(n.created_at)) AS first_at FROM notes n "
        "JOIN automation_runs r ON r.id = n.run_id JOIN outbox_events e ON e.id = r.event_id "
        "WHERE n.practice_id = :p AND e.created_at > to_timestamp(:t)",
        p=practice_id,
        t=fault_at,
    )
    first = found[0].first_at if found else None
    return None if first is None else round(float(first) - fault_at, 1)


def connector_running(connect_url: str, name: str) -> bool:
    try:
        status = httpx.get(f"{connect_url}/connectors/{name}/status", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return False
    states = [status.get("connector", {}).get("state")] + [t.get("state") for t in status.get("tasks", [])]
    return len(states) > 1 and all(s == "RUNNING" for s in states)


def run_states(engine, practice_id: str) -> dict[str, int]:
    found = rows(
        engine,
        "SELECT status, count(*) AS n FROM automation_runs WHERE practice_id = :p GROUP BY status",
        p=practice_id,
    )
    return {r.status: r.n for r in found}


# Per action type: the patient and the value ("s0000042") its effect carries, by action log.
_EFFECT_VALUE = {
    "create_note": "SELECT e.patient_id::text AS patient, e.body AS text FROM automation_action_logs l "
    "JOIN notes e ON e.run_id = l.run_id",
    "draft_sms": "SELECT e.patient_id::text AS patient, e.body AS text FROM automation_action_logs l "
    "JOIN message_drafts e ON e.run_id = l.run_id",
    "update_patient_fields": "SELECT e.aggregate_id AS patient, "
    "e.payload->'data'->'patient'->'tags'->>0 AS text FROM automation_action_logs l "
    "JOIN outbox_events e ON e.causation_id = l.run_id::text AND e.event_name = 'crm/patient.updated'",
}


def seqs_in_execution_order(engine, practice_id: str, action_type: str) -> dict[str, list[int]]:
    """Per patient, the values its actions of ``action_type`` saw, in the order they executed."""
    found = rows(
        engine,
        _EFFECT_VALUE[action_type]
        + " WHERE l.practice_id = :p AND l.action_type = :t AND l.status = 'succeeded' ORDER BY l.id",
        p=practice_id,
        t=action_type,
    )
    out: dict[str, list[int]] = defaultdict(list)
    for r in found:
        out[r.patient].append(int(r.text.rsplit("s", 1)[1]))
    return out


def test_every_effect_exactly_once_in_order_through_kills_and_restarts(
    api, services, engine, settings, practice, run_dir, capsys
):
    wall = time.monotonic()

    def seq_rule(name: str, actions: list[dict]) -> dict:
        """A rule acting on every change of the sequence value (preferredLanguage)."""
        return create_rule(
            api,
            services["evaluator"],
            name=name,
            triggerEvent="crm/patient.updated",
            conditionsJson=CHANGED,
            actionsJson=actions,
        )

    patient_id, seq = "{patientId}", "seq {patient.preferredLanguage}"
    rule_a = seq_rule(
        "chaos note + task",
        [
            {"type": "create_note", "args": {"patientId": patient_id, "body": seq}},
            {"type": "create_task", "args": {"title": seq, "patientId": patient_id}},
        ],
    )
    rule_b = seq_rule(
        "chaos sms + delay + update",
        [
            {"type": "draft_sms", "args": {"patientId": patient_id, "body": seq}},
            {"type": "delay_seconds", "args": {"seconds": 1}},
            {
                "type": "update_patient_fields",
                "args": {"patientId": patient_id, "fields": {"tags": ["{patient.preferredLanguage}"]}},
            },
        ],
    )
    patients = []
    for i in range(PATIENTS):
        r = api.post(
            "/api/patients", json={"firstName": f"C{i}", "lastName": "Chaos", "phone": f"+1555{i:07d}"}
        )
        assert r.status_code == 201, r.text
        patients.append(r.json()["id"])

    # Two evaluators and two runners: each consumer group has two members, two schedulers race.
    runner, evaluator = services["runner"], services["evaluator"]
    runner2 = make_service("runner", settings, second=True)
    evaluator2 = make_service(  # its own run folder: its own Faust data folder
        "evaluator", settings, second=True, CRMFLOW_RUN_DIR=str(run_dir / "evaluator2")
    )
    port3 = runner2.port + 1  # a third runner, joining and leaving mid-stream
    runner3 = Service(
        "runner3", runner.module, port3, runner.log_dir, env={"CRMFLOW_RUNNER_PORT": str(port3)}
    )
    extra = [runner2, evaluator2, runner3]
    runner2.start()
    evaluator2.start()
    faults: list[tuple[float, str, Callable[[], object]]] = [
        (0.06, "SIGKILL runner 1", kill_and_restart(runner)),
        (0.12, "add runner 3", runner3.start),
        (0.18, "SIGKILL evaluator 1", kill_and_restart(evaluator)),
        (0.24, "restart Kafka Connect", lambda: stack("restart", "connect")),
        (0.30, "SIGKILL runner 2", kill_and_restart(runner2)),
        (0.36, "remove runner 3", runner3.stop),
        (0.42, "restart PostgreSQL while Connect starts", pg_restart_while_connect_starts),
        (0.50, "SIGKILL evaluator 2", kill_and_restart(evaluator2)),
        (0.58, "restart Kafka", lambda: stack("restart", "kafka")),
        (0.66, "SIGKILL Kafka Connect", lambda: sigkill_connect(run_dir)),
        (0.74, "SIGKILL runner 1", kill_and_restart(runner)),
        (0.80, "restart PostgreSQL", lambda: stack("restart", "pg")),
        (0.88, "SIGKILL evaluator 1", kill_and_restart(evaluator)),
        (0.94, "SIGKILL runner 2", kill_and_restart(runner2)),
    ]
    stream = Stream()
    watch = ConnectorWatch(settings.connect_url, settings.connector_name)
    watch.start()
    producer = threading.Thread(
        target=stream_events, args=(services["api"].url, practice["apiKey"], patients, stream), daemon=True
    )
    streamed_from = time.monotonic()
    producer.start()

    def reached(at: float) -> bool:
        return stream.done >= at * EVENTS or not producer.is_alive()

    done_faults: list[tuple[str, int, float, float]] = []  # name, events so far, start (epoch), seconds
    for at, name, fault in faults:
        wait_for(partial(reached, at), 600, 0.2, name)
        t0, at_events = time.time(), stream.done
        fault()
        done_faults.append((name, at_events, t0, time.time() - t0))
    producer.join(timeout=1800)
    assert not producer.is_alive(), "the producer did not finish"
    streamed = time.monotonic() - streamed_from

    def drained() -> dict | None:
        result = effects(engine, practice["id"], rule_a["id"], rule_b["id"])
        states = run_states(engine, practice["id"])
        settled = not states.get("running") and not states.get("waiting")
        complete = settled and result["events"] == EVENTS and not any(result["lost"].values())
        return (
            result if complete and connector_running(settings.connect_url, settings.connector_name) else None
        )

    try:
        wait_for(drained, DRAIN_SECONDS, 2, "every expected effect")
        drain_error = None
    except AssertionError as exc:  # report the counts first
        drain_error = str(exc)
    finally:
        watch.halt.set()
        for service in extra:
            service.stop()
    result = effects(engine, practice["id"], rule_a["id"], rule_b["id"])
    states = run_states(engine, practice["id"])
    in_order = {
        t: seqs_in_execution_order(engine, practice["id"], t)
        for t in ("create_note", "draft_sms", "update_patient_fields")
    }
    out_of_order = {t: [p for p in patients if seen[p] != stream.sent[p]] for t, seen in in_order.items()}
    final_tags = {
        r.id: r.tags
        for r in rows(engine, "SELECT id::text, tags FROM patients WHERE practice_id = :p", p=practice["id"])
    }
    wrong_last = [p for p in patients if final_tags[p] != [f"s{stream.sent[p][-1]:07d}"]]
    summary = {
        "events": EVENTS,
        "committedEvents": result["events"],
        "patients": PATIENTS,
        "faults": [
            {
                "fault": name,
                "atEvents": at_events,
                "faultSeconds": round(took, 1),
                "healSeconds": heal_seconds(engine, practice["id"], t0),
            }
            for name, at_events, t0, took in done_faults
        ],
        "failedRequestsRetried": stream.failed_requests,
        "effects": result["effects"],
        "lost": result["lost"],
        "duplicated": result["duplicated"],
        "unexpected": result["unexpected"],
        "runs": states,
        "patientsOutOfOrder": {t: len(ps) for t, ps in out_of_order.items()},
        "patientsWithWrongLastUpdate": len(wrong_last),
        "connectorTaskStatesSeen": sorted(watch.states),
        "connectorRunningAtEnd": connector_running(settings.connect_url, settings.connector_name),
        "streamSeconds": round(streamed, 1),
        "wallSeconds": round(time.monotonic() - wall, 1),
    }
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"{time.strftime('%Y%m%dT%H%M%S')}-{EVENTS}.json").write_text(json.dumps(summary, indent=2))
    with capsys.disabled():
        print("\nchaos summary:", json.dumps(summary, indent=2))
    assert drain_error is None, drain_error
    assert result["events"] == EVENTS == sum(len(v) for v in stream.sent.values())
    assert result["lost"] == dict.fromkeys(result["lost"], 0)
    assert result["duplicated"] == dict.fromkeys(result["duplicated"], 0)
    assert result["unexpected"] == dict.fromkeys(result["unexpected"], 0)
    assert not states.get("running") and not states.get("waiting") and not states.get("failed")
    assert not any(out_of_order.values()) and wrong_last == []
    assert summary["connectorRunningAtEnd"], "the connector or a task is not RUNNING: nothing healed it"

"""Register (create or update) a Kafka Connect connector from a JSON file and wait until it runs.

    python deploy/docker/register_connector.py deploy/connect/crmflow-outbox.json [--timeout 180]
    crmflow connector register deploy/connect/crmflow-outbox.json   # the same

The file is ``{"name": ..., "config": {...}}`` (deploy/connect/crmflow-outbox.json, unchanged); the
Connect REST URL comes from CRMFLOW_CONNECT_URL, as for every crmflow process. PUT on
/connectors/<name>/config is idempotent, so the docker-compose one-shot and the Helm job can run it
on every start/upgrade. Exits non-zero, with the connector's trace, when it does not reach RUNNING.
The REST calls are crmflow.connect's (the client every crmflow tool shares).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from crmflow.connect import ConnectClient, ConnectError, ConnectorStatus
from crmflow.settings import Settings

STABLE_POLLS = 3  # a reconfigured task restarts asynchronously: RUNNING must hold for 3 polls
# Known failure traces -> what to do about them.
HINTS = {
    "Publication autocreation is disabled": "the publication the connector streams must exist "
    "first: run `crmflow migrate` (the project's Alembic migration creates it)",
    "but this is no longer available on the server": "Connect kept offsets of an earlier connector "
    "of this name whose WAL is gone (slot dropped or database re-created): "
    "`crmflow connector recover` (docs/operations.md, section 3)",
}


def say(message: str) -> None:
    print(f"register-connector: {message}", file=sys.stderr, flush=True)


def wait_for_connect(client: ConnectClient, deadline: float) -> None:
    while not client.alive():
        if time.monotonic() > deadline:
            raise SystemExit(f"register-connector: Kafka Connect not reachable at {client.url}")
        time.sleep(1)


def put_config(client: ConnectClient, name: str, config: dict[str, str], deadline: float) -> None:
    while True:
        code = client.put_config(name, config)
        if code in (200, 201):
            say(f"connector {name}: {'created' if code == 201 else 'config updated'}")
            return
        # 409: the worker group is rebalancing; 5xx: the worker is still starting.
        retryable = code == 409 or code >= 500
        if not retryable or time.monotonic() > deadline:
            raise SystemExit(f"register-connector: PUT {name} answered HTTP {code}")
        time.sleep(1)


def traces(status: ConnectorStatus) -> str:
    text = status.traces
    hints = [f"hint: {hint}" for needle, hint in HINTS.items() if needle in text]
    return "\n".join([text, *hints])


def wait_running(client: ConnectClient, name: str, deadline: float) -> None:
    stable = 0
    restarted = False
    while True:
        status = client.status(name)
        if status is not None and status.running:
            stable += 1
            if stable >= STABLE_POLLS:
                say(f"connector {name}: RUNNING ({len(status.tasks)} task(s))")
                return
        else:
            stable = 0
        if status is not None and status.failed:
            if restarted:
                raise SystemExit(f"register-connector: connector {name} FAILED:\n{traces(status)}")
            # An unchanged config does not restart a failed task: restart it once.
            client.restart_failed(name)
            restarted = True
        if time.monotonic() > deadline:
            found = status.summary() if status else "not found"
            raise SystemExit(f"register-connector: connector {name} not RUNNING in time (states: {found})")
        time.sleep(0.5)


def register(url: str, connector: dict, timeout: float) -> None:
    """PUT ``connector`` ({name, config}) and wait until it and its tasks are RUNNING."""
    deadline = time.monotonic() + timeout
    with ConnectClient(url, timeout=30) as client:
        try:
            wait_for_connect(client, deadline)
            put_config(client, connector["name"], connector["config"], deadline)
            wait_running(client, connector["name"], deadline)
        except ConnectError as exc:
            raise SystemExit(f"register-connector: {exc}") from exc


def load(path: str) -> dict:
    """A connector file: ``{"name": ..., "config": {...}}``."""
    with open(path) as f:
        connector = json.load(f)
    if not isinstance(connector, dict) or "name" not in connector or "config" not in connector:
        raise SystemExit(f"register-connector: {path} is not {{name, config}}")
    return connector


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", help="connector JSON: {name, config}")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds for the whole registration")
    args = parser.parse_args(argv)
    register(Settings().connect_url, load(args.file), args.timeout)
    return 0

"""Register (create or update) a Kafka Connect connector from a JSON file and wait until it runs.

    python register_connector.py deploy/connect/crmflow-outbox.json [--timeout 180]

The file is ``{"name": ..., "config": {...}}`` (deploy/connect/crmflow-outbox.json, unchanged); the
Connect REST URL comes from CRMFLOW_CONNECT_URL, as for every crmflow process. PUT on
/connectors/<name>/config is idempotent, so the docker-compose one-shot and the Helm job can run it
on every start/upgrade. Exits non-zero, with the connector's trace, when it does not reach RUNNING.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import httpx

from crmflow.settings import Settings

STABLE_POLLS = 3  # a reconfigured task restarts asynchronously: RUNNING must hold for 3 polls
# Known failure traces -> what to do about them.
HINTS = {
    "Publication autocreation is disabled": "the publication the connector streams must exist "
    "first: run `crmflow migrate` (the project's Alembic migration creates it)",
    "but this is no longer available on the server": "Connect kept offsets of an earlier connector "
    "of this name whose WAL is gone (slot dropped or database re-created): "
    "`deploy/local/stack.sh unregister NAME` (deletes its offsets), then register again",
}


def say(message: str) -> None:
    print(f"register-connector: {message}", file=sys.stderr, flush=True)


def wait_for_connect(client: httpx.Client, deadline: float) -> None:
    while True:
        try:
            if client.get("/").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"register-connector: Kafka Connect not reachable at {client.base_url}")
        time.sleep(1)


def put_config(client: httpx.Client, name: str, config: dict, deadline: float) -> None:
    while True:
        response = client.put(f"/connectors/{name}/config", json=config)
        if response.status_code in (200, 201):
            say(f"connector {name}: {'created' if response.status_code == 201 else 'config updated'}")
            return
        # 409: the worker group is rebalancing; 5xx: the worker is still starting.
        retryable = response.status_code == 409 or response.status_code >= 500
        if not retryable or time.monotonic() > deadline:
            raise SystemExit(
                f"register-connector: PUT {name} answered HTTP {response.status_code}: {response.text}"
            )
        time.sleep(1)


def states(status: dict) -> list[str]:
    return [status["connector"]["state"]] + [task["state"] for task in status.get("tasks", [])]


def traces(status: dict) -> str:
    parts = [status["connector"], *status.get("tasks", [])]
    text = "\n".join(p["trace"] for p in parts if p.get("trace"))
    hints = [f"hint: {hint}" for needle, hint in HINTS.items() if needle in text]
    return "\n".join([text, *hints])


def wait_running(client: httpx.Client, name: str, deadline: float) -> None:
    stable = 0
    restarted = False
    while True:
        response = client.get(f"/connectors/{name}/status")
        status = response.json() if response.status_code == 200 else None
        found = states(status) if status else ["UNKNOWN"]
        if len(found) > 1 and all(s == "RUNNING" for s in found):
            stable += 1
            if stable >= STABLE_POLLS:
                say(f"connector {name}: RUNNING ({len(found) - 1} task(s))")
                return
        else:
            stable = 0
        if status and "FAILED" in found:
            if restarted:
                raise SystemExit(f"register-connector: connector {name} FAILED:\n{traces(status)}")
            # An unchanged config does not restart a failed task: restart it once.
            client.post(f"/connectors/{name}/restart", params={"includeTasks": "true", "onlyFailed": "true"})
            restarted = True
        if time.monotonic() > deadline:
            raise SystemExit(f"register-connector: connector {name} not RUNNING in time (states: {found})")
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", help="connector JSON: {name, config}")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds for the whole registration")
    args = parser.parse_args(argv)

    with open(args.file) as f:
        connector = json.load(f)
    url = Settings().connect_url
    deadline = time.monotonic() + args.timeout
    with httpx.Client(base_url=url, timeout=30) as client:
        wait_for_connect(client, deadline)
        put_config(client, connector["name"], connector["config"], deadline)
        wait_running(client, connector["name"], deadline)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark's stack: started with deploy/local/stack.sh + services.sh in a test slot of its
own, and stopped afterwards (only what this run started). Also the switches between CDC and
the polling publisher.

Pausing the Debezium connector alone would not keep an event from being published twice: the
replication slot keeps the WAL, and on resume Debezium streams every insert made during the
pause. So while the poller runs, the outbox table is also taken out of the publication:
pgoutput decodes each change with the catalog as of that change, so inserts made meanwhile are
never streamed, even after the table is added back (checked after every polling step).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from bench.e2e.records import end_offsets
from crmflow.settings import Settings
from crmflow.topics import EVENT_TOPICS

ROOT = Path(__file__).resolve().parents[2]
STACK_SH = ROOT / "deploy" / "local" / "stack.sh"
SERVICES_SH = ROOT / "deploy" / "local" / "services.sh"
CONNECTOR_FILE = ROOT / "deploy" / "connect" / "crmflow-outbox.json"
STACK_COMPONENTS = ("pg", "kafka", "connect")
SERVICES = ("evaluator", "runner")
# libpq reads PGAPPNAME: the monitor tells the runner's backends by it
SERVICE_ENV = {"runner": {"PGAPPNAME": "crmflow-runner"}}


def slot_env(slot: int) -> dict[str, str]:
    """The environment of test slot ``slot`` (deploy/local/test-env.sh), as a dict."""
    out = subprocess.run(
        ["bash", "-c", f'. "{ROOT}/deploy/local/test-env.sh" {int(slot)} >/dev/null && env -0'],
        check=True,
        capture_output=True,
    ).stdout
    env = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    return {k: v for k, v in env.items() if k.startswith("CRMFLOW_")}


def dsn(settings: Settings) -> str:
    return (
        f"host={settings.pg_host} port={settings.pg_port} dbname={settings.pg_db} "
        f"user={settings.pg_user} password={settings.pg_password}"
    )


def _alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _sh(*args: str | Path, env: dict[str, str] | None = None) -> None:
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, env={**os.environ, **(env or {})})


class Stack:
    def __init__(
        self, settings: Settings, *, connector_overrides: dict[str, str], restart_services: bool
    ) -> None:
        self.settings = settings
        self.run_dir = Path(os.environ["CRMFLOW_RUN_DIR"])
        self.pids_dir = self.run_dir / "pids"
        self.connector = json.loads(CONNECTOR_FILE.read_text())
        self.connector["config"].update(connector_overrides)
        self.restart_services = restart_services
        self.started: list[str] = []
        self.connect_url = settings.connect_url
        self.notes: list[str] = []

    # -- lifecycle ------------------------------------------------------------------------
    def pid(self, name: str) -> int | None:
        return _alive(self.pids_dir / f"{name}.pid")

    def running(self) -> list[str]:
        return [n for n in (*STACK_COMPONENTS, *SERVICES) if self.pid(n) is not None]

    def reset(self) -> None:
        """Delete the slot's data (refused while anything of the slot runs)."""
        if busy := self.running():
            raise RuntimeError(f"--fresh: {', '.join(busy)} of {self.run_dir} still run; stop them first")
        _sh(STACK_SH, "reset")

    def up(self, *, pg_set: dict[str, str]) -> None:
        missing = [c for c in STACK_COMPONENTS if self.pid(c) is None]
        if missing:
            _sh(STACK_SH, "start", *missing)
            self.started += missing
        _sh(sys.executable, "-m", "crmflow", "migrate")
        _sh(sys.executable, "-m", "crmflow", "topics", "create")
        config_file = self.run_dir / "bench-connector.json"
        config_file.write_text(json.dumps(self.connector, indent=2))
        _sh(STACK_SH, "register", config_file)
        self.set_publication(True)  # an interrupted earlier run may have left it out
        self._alter_database(pg_set, reset=False)  # before the services connect
        for service in SERVICES:
            if self.pid(service) is not None:
                if not self.restart_services:
                    if pg_set:
                        raise RuntimeError(
                            f"--pg-set needs new connections: {service} runs; --restart-services"
                        )
                    self.notes.append(f"{service} was already running: its settings are not this run's")
                    continue
                _sh(SERVICES_SH, "stop", service)
            _sh(SERVICES_SH, "start", service, env=SERVICE_ENV.get(service))
            self.started.append(service)

    def restore(self, *, pg_set: dict[str, str]) -> None:
        """Back to CDC and the database's own settings (also after a failed or interrupted run)."""
        if self.pid("pg") is None:
            return
        self._alter_database(pg_set, reset=True)
        self.set_publication(True)
        if self.pid("connect") is not None and self._connector_state() == "PAUSED":
            self._connector("resume", "RUNNING")

    def _alter_database(self, values: dict[str, str], *, reset: bool) -> None:
        if not values:
            return
        with psycopg.connect(dsn(self.settings), autocommit=True, application_name="bench-harness") as conn:
            db = self.settings.pg_db
            for key, value in values.items():
                if reset:
                    conn.execute(
                        sql.SQL("ALTER DATABASE {} RESET {}").format(sql.Identifier(db), sql.Identifier(key))
                    )
                else:
                    conn.execute(
                        sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                            sql.Identifier(db), sql.Identifier(key), sql.Literal(value)
                        )
                    )

    def down(self) -> None:
        for service in reversed(SERVICES):
            if service in self.started:
                _sh(SERVICES_SH, "stop", service)
        stack = [c for c in STACK_COMPONENTS if c in self.started]
        if stack:
            _sh(STACK_SH, "stop", *stack)
        self.started.clear()

    # -- CDC <-> polling ------------------------------------------------------------------
    def _connector_state(self) -> str:
        name = self.connector["name"]
        r = httpx.get(f"{self.connect_url}/connectors/{name}/status", timeout=10)
        r.raise_for_status()
        st = r.json()
        states = {st["connector"]["state"], *(t["state"] for t in st["tasks"])}
        return states.pop() if len(states) == 1 else "/".join(sorted(states))

    def _connector(self, action: str, want: str, timeout: float = 60.0) -> None:
        name = self.connector["name"]
        httpx.put(f"{self.connect_url}/connectors/{name}/{action}", timeout=30).raise_for_status()
        deadline = time.monotonic() + timeout
        while (state := self._connector_state()) != want:
            if time.monotonic() > deadline:
                raise RuntimeError(f"connector {name}: {state} {timeout:.0f} s after {action}")
            time.sleep(0.2)

    def set_publication(self, with_outbox: bool) -> None:
        publication = self.connector["config"]["publication.name"]
        with psycopg.connect(dsn(self.settings), autocommit=True, application_name="bench-harness") as conn:
            has = conn.execute(
                "SELECT 1 FROM pg_publication_tables WHERE pubname = %s AND tablename = 'outbox_events'",
                (publication,),
            ).fetchone()
            if with_outbox != bool(has):
                verb = "ADD" if with_outbox else "DROP"
                conn.execute(
                    sql.SQL("ALTER PUBLICATION {} {} TABLE outbox_events").format(
                        sql.Identifier(publication), sql.SQL(verb)
                    )
                )

    def pause_connector(self) -> None:
        self._connector("pause", "PAUSED")

    def resume_connector(self) -> None:
        self._connector("resume", "RUNNING")

    def to_polling(self) -> None:
        self.pause_connector()
        self.set_publication(False)

    def to_cdc(self) -> None:
        self.set_publication(True)
        self.resume_connector()

    def event_topic_ends(self) -> int:
        """Records ever written to the event topics (checks that CDC re-published nothing)."""
        return sum(sum(end_offsets(self.settings.kafka_bootstrap, t).values()) for t in EVENT_TOPICS)

    def describe(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "connector": self.connector["config"],
            "started_by_bench": list(self.started),
            "notes": self.notes,
        }

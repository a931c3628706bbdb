"""A test slot's ports (deploy/local/test-env.sh), and the check a session makes before it starts
anything: the services' ports are free, and the stack's are free or held by the slot's own stack
(deploy/local/stack.sh, which the session then uses as it is)."""

from __future__ import annotations

import os
import subprocess
from urllib.parse import urlsplit

from crmflow.settings import Settings
from tests.support.ports import holders, parent_pid
from tests.support.processes import PID_DIR, PID_PREFIX, ROOT, RUN_DIR, SPARE_PORT_OFFSET, Service

STACK = ROOT / "deploy" / "local" / "stack.sh"

# (name, module, the Settings field of its port): the services an end-to-end session runs.
SERVICES = (
    ("api", "crmflow_api", "api_port"),
    ("evaluator", "crmflow_evaluator", "evaluator_port"),
    ("runner", "crmflow_runner", "runner_port"),
)


def stack_sh(*args: str) -> None:
    """deploy/local/stack.sh with ``args``, for this slot (its environment)."""
    subprocess.run([str(STACK), *args], check=True, cwd=ROOT)


def make_service(name: str, settings: Settings, *, second: bool = False, **env: str) -> Service:
    """The service ``name`` of SERVICES, or (``second``) another instance on its spare port."""
    module, field = next((m, f) for n, m, f in SERVICES if n == name)
    port = getattr(settings, field) + (SPARE_PORT_OFFSET if second else 0)
    if second:
        env = {f"CRMFLOW_{field.upper()}": str(port), **env}
    return Service(f"{name}2" if second else name, module, port, RUN_DIR / "logs", env=env)


def stack_ports(settings: Settings) -> dict[str, int]:
    """The ports of the slot's stack: PostgreSQL, Kafka and Connect as the services reach them,
    and every other ``CRMFLOW_*_PORT`` of the environment (deploy/local/test-env.sh exports one per
    process it starts, e.g. Kafka's controller) that is not a service's."""
    connect = urlsplit(settings.connect_url)
    ports = {
        "PostgreSQL": settings.pg_port,
        "Kafka": int(settings.kafka_bootstrap.rsplit(":", 1)[1]),
        "Kafka Connect": connect.port or 80,
    }
    services = {f"CRMFLOW_{field.upper()}" for _, _, field in SERVICES}
    for name, value in sorted(os.environ.items()):
        own = name.startswith("CRMFLOW_") and name.endswith("_PORT") and name not in services
        if own and value.isdigit() and int(value) not in ports.values():
            ports[name] = int(value)
    return ports


def service_ports(settings: Settings) -> dict[str, int]:
    """Each service's port, and the spare one tests start a second instance on."""
    ports = {}
    for name, _, field in SERVICES:
        port = getattr(settings, field)
        ports[name] = port
        ports[f"second {name}"] = port + SPARE_PORT_OFFSET
    return ports


def _stack_pids() -> set[int]:
    """The processes stack.sh started for this slot (its pid files in the slot's run folder)."""
    pids = set()
    for path in PID_DIR.glob("*.pid"):
        if path.name.startswith(PID_PREFIX):
            continue
        try:
            pids.add(int(path.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def taken_ports(settings: Settings) -> list[str]:
    """One line per port of the slot that a session cannot use, naming who holds it."""
    problems = []
    ours = _stack_pids()
    for name, port in stack_ports(settings).items():
        for holder in holders(port):
            if holder.pid is None or not ({holder.pid, parent_pid(holder.pid)} & ours):
                problems.append(f"{name} port {port}: {holder} (not this slot's stack)")
    for name, port in service_ports(settings).items():
        problems.extend(f"{name} port {port}: {holder}" for holder in holders(port))
    return problems

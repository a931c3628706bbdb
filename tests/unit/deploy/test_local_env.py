"""deploy/local/env.sh (defaults of the shell scripts) and crmflow.settings (defaults of the Python
processes) are written in two languages: with nothing set, both must name the same stack."""

from __future__ import annotations

import subprocess

from tests.support.processes import ROOT
from tests.support.settings_env import settings_defaults


def _env_sh_exports() -> dict[str, str]:
    """What sourcing env.sh exports in an empty environment."""
    out = subprocess.run(
        ["bash", "-c", ". deploy/local/env.sh && env -0"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
        capture_output=True,
        check=True,
    ).stdout.decode()
    return dict(line.split("=", 1) for line in out.split("\0") if line.startswith("CRMFLOW_"))


def test_env_sh_defaults_are_the_settings_defaults():
    exported = _env_sh_exports()
    defaults = settings_defaults()
    # The run folder: env.sh names it from the repo root, Settings from the working directory.
    defaults["CRMFLOW_RUN_DIR"] = str(ROOT / defaults["CRMFLOW_RUN_DIR"])
    shared = sorted(set(exported) & set(defaults))
    # The names the local stack and the services must agree on, at least.
    assert {"CRMFLOW_PG_PORT", "CRMFLOW_KAFKA_BOOTSTRAP", "CRMFLOW_CONNECT_URL", "CRMFLOW_API_PORT"} <= set(
        shared
    )
    assert {name: exported[name] for name in shared} == {name: defaults[name] for name in shared}


def _test_env_ports(slot: int) -> dict[str, str]:
    out = subprocess.run(
        ["bash", "-c", f". deploy/local/test-env.sh {slot} && env -0"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
        capture_output=True,
        check=True,
    ).stdout.decode()
    env = dict(line.split("=", 1) for line in out.split("\0") if line.startswith("CRMFLOW_"))
    return {name: value for name, value in env.items() if name.endswith("_PORT")}


def test_test_slots_never_share_a_port():
    """Ten test slots side by side (the supervisor's port included): every port is taken once."""
    ports = [(slot, name, port) for slot in range(10) for name, port in _test_env_ports(slot).items()]
    assert {"CRMFLOW_SUPERVISOR_PORT", "CRMFLOW_CONNECT_PORT"} <= {name for _, name, _ in ports}
    taken: dict[str, tuple[int, str]] = {}
    for slot, name, port in ports:
        assert port not in taken, f"slot {slot} {name} = slot {taken[port][0]} {taken[port][1]} = {port}"
        taken[port] = (slot, name)

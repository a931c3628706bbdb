"""The image's entrypoints are the console scripts of pyproject.toml: docker-compose.yml runs each
long-running one as its service's command, the jobs call the ``crmflow`` CLI, and the image's CMD and
HEALTHCHECK name scripts it installs. (The Helm chart runs compose's commands:
tests/integration/test_deploy_helm.py; the image runs them: tests/image.)

A new service (say, a connector supervisor) is a console script, a compose service running it, a
chart component and, if it serves HTTP, its port in crmflow.healthcheck.SERVICE_PORTS.
"""

from __future__ import annotations

import re
import tomllib

from crmflow.healthcheck import SERVICE_PORTS
from tests.support.containers import compose_services
from tests.support.processes import ROOT

SCRIPTS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
TOOLS = {"crmflow", "crmflow-healthcheck"}  # the CLI (jobs, operators) and the image's HEALTHCHECK
JOBS = {
    "migrate": ["sh", "-c", "crmflow migrate && crmflow topics create"],
    "connect-register": [
        "python",
        "/opt/crmflow/register_connector.py",
        "/etc/crmflow/connect/crmflow-outbox.json",
    ],
}
DOCKERFILE = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()


def _crmflow_services() -> dict[str, list[str]]:
    """compose service -> command, for the services built from the crmflow image."""
    return {
        name: spec["command"]
        for name, spec in compose_services().items()
        if "deploy/docker/Dockerfile" in str(spec.get("build", {}).get("dockerfile", ""))
    }


def test_every_long_running_entrypoint_is_a_compose_service_and_nothing_else_is():
    services = {name: cmd for name, cmd in _crmflow_services().items() if name not in JOBS}
    assert all(len(cmd) == 1 for cmd in services.values()), services
    assert sorted(cmd[0] for cmd in services.values()) == sorted(set(SCRIPTS) - TOOLS)


def test_the_jobs_run_the_cli_and_the_registration_script():
    services = _crmflow_services()
    assert {name: services[name] for name in JOBS} == JOBS
    assert "COPY deploy/docker/register_connector.py /opt/crmflow/register_connector.py" in DOCKERFILE


def test_each_service_entrypoint_is_its_packages_main():
    for script in set(SCRIPTS) - TOOLS:
        module, _, function = SCRIPTS[script].partition(":")
        assert re.fullmatch(r"crmflow_\w+\.__main__", module) and function == "main", script


def test_the_healthcheck_knows_the_port_of_every_service_entrypoint():
    assert set(SERVICE_PORTS) == set(SCRIPTS) - TOOLS


def test_the_image_cmd_and_healthcheck_are_entrypoints():
    cmd = re.search(r'^CMD \["([^"]+)"\]$', DOCKERFILE, re.M)
    health = re.search(r'^HEALTHCHECK .* CMD \["([^"]+)"\]$', DOCKERFILE, re.M)
    assert cmd and cmd.group(1) in SCRIPTS
    assert health and health.group(1) == "crmflow-healthcheck"
    assert "crmflow-healthcheck" in SCRIPTS

"""The container image's HEALTHCHECK (``crmflow-healthcheck``): GET /healthz of the service the
container runs.

One image runs every role, so the check finds the role from the command of the container's first
process (``/proc/1/cmdline``): the console script ``crmflow-api``, ``crmflow-evaluator``,
``crmflow-runner`` or ``crmflow-supervisor`` names the service, whose port comes from the settings
(the same environment).
Any other command (the migration and connector-registration jobs) serves no HTTP: healthy.
"""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

from crmflow.settings import Settings, get_settings

# Console script (pyproject.toml [project.scripts]) -> the settings field of its HTTP port.
SERVICE_PORTS = {
    "crmflow-api": "api_port",
    "crmflow-evaluator": "evaluator_port",
    "crmflow-runner": "runner_port",
    "crmflow-supervisor": "supervisor_port",
}
TIMEOUT_S = 2.0


def service_port(argv: list[str], settings: Settings) -> int | None:
    """The HTTP port of the service ``argv`` runs (``[python, /path/crmflow-api]`` or
    ``[/path/crmflow-api]``), or None for a command that serves no HTTP."""
    for arg in argv[:2]:
        field = SERVICE_PORTS.get(Path(arg).name)
        if field:
            return int(getattr(settings, field))
    return None


def main() -> int:
    argv = Path("/proc/1/cmdline").read_bytes().decode(errors="replace").split("\0")
    port = service_port(argv, get_settings())
    if port is None:
        return 0
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT_S) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"crmflow-healthcheck: http://127.0.0.1:{port}/healthz: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Entry point: ``python -m crmflow_api`` serves the rules-api with uvicorn."""

from __future__ import annotations

from types import FrameType

import uvicorn

from crmflow.logs import configure_logging
from crmflow.settings import get_settings
from crmflow.shutdown import arm_exit_deadline
from crmflow_api.app import create_app

# Requests still running this long after SIGTERM are cancelled (a database call that hangs).
GRACEFUL_SECONDS = 5


class _Server(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        arm_exit_deadline()
        super().handle_exit(sig, frame)


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, service="rules-api")
    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    _Server(config).run()


if __name__ == "__main__":
    main()

"""Entry point: ``python -m crmflow_api`` serves the rules-api with uvicorn."""

from __future__ import annotations

import uvicorn

from crmflow.logs import configure_logging
from crmflow.settings import get_settings
from crmflow_api.app import create_app


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, service="rules-api")
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()

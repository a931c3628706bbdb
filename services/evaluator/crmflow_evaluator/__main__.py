"""Entry point: ``python -m crmflow_evaluator`` runs one Faust worker."""

from __future__ import annotations

import os

import faust

from crmflow.logs import configure_logging
from crmflow.settings import get_settings
from crmflow_evaluator.app import build_app


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, service="evaluator")
    data_dir = os.path.join(os.environ.get("CRMFLOW_RUN_DIR", ".run"), "evaluator-data")
    app = build_app(settings, data_dir=data_dir)
    worker = faust.Worker(app, loglevel=settings.log_level, redirect_stdouts=False, quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()

"""Entry point: ``python -m crmflow_evaluator`` runs one Faust worker."""

from __future__ import annotations

import os

import faust

from crmflow.logs import configure_logging, logging_config
from crmflow.settings import get_settings
from crmflow.shutdown import arm_exit_deadline
from crmflow_evaluator.app import build_app
from crmflow_evaluator.processor import SERVICE


class _Worker(faust.Worker):
    """Faust's worker, ended by the stop deadline if its graceful stop hangs (its consumer
    thread can die in aiokafka's fetcher close while Kafka is away, and the stop then waits for
    it for ever)."""

    def _on_sigterm(self) -> None:
        arm_exit_deadline()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        arm_exit_deadline()
        super()._on_sigint()


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, service=SERVICE)
    # Faust makes its data folder but not the folders above it (a fresh CRMFLOW_RUN_DIR).
    os.makedirs(settings.evaluator_data_dir, exist_ok=True)
    app = build_app(settings)
    # The worker re-initialises logging at start: hand it the same JSON config.
    worker = _Worker(
        app,
        loglevel=settings.log_level,
        logging_config=logging_config(settings.log_level, service=SERVICE),
        redirect_stdouts=False,
        quiet=True,
    )
    # Faust's terminal spinner would add a handler to the root logger and set it to DEBUG.
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()

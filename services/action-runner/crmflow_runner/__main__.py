"""Entry point: ``python -m crmflow_runner`` runs the action-runner until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import threading

from crmflow.db.engine import make_engine
from crmflow.logs import configure_logging
from crmflow.retention import retention_loop
from crmflow.settings import get_settings
from crmflow.shutdown import arm_exit_deadline
from crmflow_runner.bootstrap import bootstrap
from crmflow_runner.consumer import SERVICE
from crmflow_runner.http import serve

log = logging.getLogger("crmflow_runner")


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, service=SERVICE)
    runner = bootstrap(settings)

    def stop(*_: object) -> None:
        runner.stop.set()
        arm_exit_deadline()  # closing the consumer can block while Kafka is away

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    consumer = runner.consumer
    server = serve(
        settings.api_host,
        settings.runner_port,
        lambda: (consumer.assigned, {"assigned": consumer.assigned, "partitions": consumer.partitions}),
    )
    threading.Thread(target=runner.scheduler.run, name="scheduler", daemon=True).start()
    threading.Thread(
        target=retention_loop,
        args=(lambda: make_engine(settings, pool_size=2), settings, runner.stop),
        name="retention",
        daemon=True,
    ).start()
    threading.Thread(target=runner.bulk.run, name="bulk", daemon=True).start()
    runner.deliveries.start()
    log.info("action-runner started", extra={"port": settings.runner_port})
    try:
        runner.consumer.run()
    finally:
        runner.consumer.consumer.close()
        runner.consumer.producer.flush(10)
        server.shutdown()
        log.info("action-runner stopped")


if __name__ == "__main__":
    main()

"""Entry point: ``python -m crmflow_supervisor`` supervises the connector until SIGTERM/SIGINT.

Polls Kafka Connect every CRMFLOW_SUPERVISOR_INTERVAL_SECONDS; each HTTP call gives up after
CRMFLOW_SUPERVISOR_CONNECT_TIMEOUT_SECONDS, so a stop takes at most that long, Connect up or down.
"""

from __future__ import annotations

import logging
import signal
import threading

from crmflow.connect import ConnectClient
from crmflow.logs import configure_logging
from crmflow.settings import get_settings
from crmflow_supervisor.backoff import BackoffPolicy
from crmflow_supervisor.http import start_server
from crmflow_supervisor.supervisor import Supervisor

SERVICE = "connect-supervisor"
log = logging.getLogger("crmflow_supervisor")


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, service=SERVICE)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    policy = BackoffPolicy(
        initial_seconds=settings.supervisor_backoff_initial_seconds,
        max_seconds=settings.supervisor_backoff_max_seconds,
        healthy_seconds=settings.supervisor_healthy_seconds,
    )
    with ConnectClient(settings.connect_url, timeout=settings.supervisor_connect_timeout_seconds) as client:
        supervisor = Supervisor(client, settings.connector_name, policy)
        server = start_server(settings.api_host, settings.supervisor_port, supervisor.status)
        log.info(
            "connect-supervisor started",
            extra={
                "port": settings.supervisor_port,
                "connectUrl": settings.connect_url,
                "connector": settings.connector_name,
            },
        )
        try:
            supervisor.run(stop, settings.supervisor_interval_seconds)
        finally:
            server.shutdown()
            log.info("connect-supervisor stopped")


if __name__ == "__main__":
    main()
